package lab

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Pulse is a private PulseAudio daemon for tests: its own socket, runtime and state directories, its log
// at debug level (the underruns are read from it), started and stopped by its process id. Null sinks stand
// for sound cards: a sink is a speaker (what is played to it is recorded from its ".monitor"), and a sink's
// monitor is a microphone (what is played into the sink is what a program capturing the monitor hears).
// Debian's pulseaudio runs so as root without --system; it needs no D-Bus, no sound card, no session.
type Pulse struct {
	Dir    string
	Socket string
	cmd    *exec.Cmd
	done   chan struct{}
	log    string
	once   sync.Once
	watch  *exec.Cmd // kills the daemon if this process dies first
}

// StartPulse runs a daemon in dir and waits until it answers.
func StartPulse(dir string) (*Pulse, error) {
	bin, err := exec.LookPath("pulseaudio")
	if err != nil {
		return nil, fmt.Errorf("pulseaudio is not installed (apt-get install pulseaudio pulseaudio-utils): %w", err)
	}
	if _, err := exec.LookPath("pactl"); err != nil {
		return nil, fmt.Errorf("pactl is not installed (apt-get install pulseaudio-utils): %w", err)
	}
	for _, d := range []string{"run", "state", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	p := &Pulse{Dir: dir, Socket: filepath.Join(dir, "native"), log: filepath.Join(dir, "pulse.log"), done: make(chan struct{})}
	script := "load-module module-native-protocol-unix socket=" + p.Socket + " auth-anonymous=1\n"
	if err := os.WriteFile(filepath.Join(dir, "default.pa"), []byte(script), 0o644); err != nil {
		return nil, err
	}
	out, err := os.Create(filepath.Join(dir, "pulse.out"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	p.cmd = exec.Command(bin, "-n", "-F", filepath.Join(dir, "default.pa"), "--daemonize=no", "--exit-idle-time=-1",
		"--use-pid-file=no", "--disallow-exit", "--log-target=file:"+p.log, "--log-level=debug")
	p.cmd.Env = append(os.Environ(), "HOME="+filepath.Join(dir, "home"), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
		"PULSE_RUNTIME_PATH="+filepath.Join(dir, "run"), "PULSE_STATE_PATH="+filepath.Join(dir, "state"))
	p.cmd.Stdout, p.cmd.Stderr = out, out
	// Not Pdeathsig: it follows the thread that started the child, and a Go thread ends when a goroutine
	// locked to it does (a call's media tick, audio.Port.RaisePriority): the daemon would die mid-test. A
	// watchdog kills it if this process dies without stopping it; its players and recorders end with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pulseaudio: %w", err)
	}
	p.watch = startWatchdog(p.cmd.Process.Pid)
	go func() { p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := p.Pactl("info"); err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			data, _ := os.ReadFile(filepath.Join(dir, "pulse.out"))
			return nil, fmt.Errorf("pulseaudio exited at start: %s", strings.TrimSpace(string(data)))
		default:
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, errors.New("pulseaudio did not answer within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Server is the daemon's address, for PULSE_SERVER.
func (p *Pulse) Server() string { return "unix:" + p.Socket }

// Pid is the daemon's process id.
func (p *Pulse) Pid() int { return p.cmd.Process.Pid }

// Stop ends the daemon by its process id (SIGTERM, then SIGKILL after 2 s).
func (p *Pulse) Stop() {
	p.once.Do(func() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if p.watch != nil {
			p.watch.Process.Kill()
			p.watch.Wait()
		}
	})
}

func (p *Pulse) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "PULSE_SERVER="+p.Server())
	return cmd
}

// Pactl runs pactl against the daemon and returns its output.
func (p *Pulse) Pactl(args ...string) (string, error) {
	out, err := p.command("pactl", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("pactl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// NullSink loads a null sink called name at rate (mono; its description, the name programs show, is name
// too) and returns its module's index, for Unload. Its rewinds are off: a rewind (a stream starting on the
// sink) takes back audio its monitor had recorded, and a recording then falls behind the clock.
func (p *Pulse) NullSink(name string, rate int) (int, error) {
	out, err := p.Pactl("load-module", "module-null-sink", "sink_name="+name, "rate="+strconv.Itoa(rate), "channels=1",
		"norewinds=1", "sink_properties=device.description="+name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(out))
}

// Unload unloads a module (a null sink: the device is unplugged).
func (p *Pulse) Unload(module int) error {
	_, err := p.Pactl("unload-module", strconv.Itoa(module))
	return err
}

// SetDefaults makes sink and source (a sink's monitor) the system's defaults; "" leaves one as it is.
func (p *Pulse) SetDefaults(sink, source string) error {
	if sink != "" {
		if _, err := p.Pactl("set-default-sink", sink); err != nil {
			return err
		}
	}
	if source != "" {
		if _, err := p.Pactl("set-default-source", source); err != nil {
			return err
		}
	}
	return nil
}

// Stream is a playback (sink input) or capture (source output) stream the daemon holds.
type Stream struct {
	Index  int
	Device string // the sink's or source's name
	Name   string // media.name ("miniaudio:1" for malgo's)
	// LatencyUs is the stream's buffered audio ("Buffer Latency") plus the device's ("Sink Latency" or
	// "Source Latency"), in microseconds.
	LatencyUs int
}

// SinkInputs lists the playback streams.
func (p *Pulse) SinkInputs() ([]Stream, error) { return p.streams("sink-inputs", "sinks") }

// SourceOutputs lists the capture streams.
func (p *Pulse) SourceOutputs() ([]Stream, error) { return p.streams("source-outputs", "sources") }

func (p *Pulse) streams(kind, devices string) ([]Stream, error) {
	names := map[string]string{}
	short, err := p.Pactl("list", "short", devices)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(short, "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			names[f[0]] = f[1]
		}
	}
	out, err := p.Pactl("list", kind)
	if err != nil {
		return nil, err
	}
	var list []Stream
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		key, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		switch {
		case strings.HasPrefix(key, "Sink Input #") || strings.HasPrefix(key, "Source Output #"):
			i, _ := strconv.Atoi(key[strings.Index(key, "#")+1:])
			list = append(list, Stream{Index: i})
		case len(list) == 0:
		case key == "Sink" || key == "Source":
			list[len(list)-1].Device = names[value]
		case strings.HasPrefix(line, "media.name = "):
			list[len(list)-1].Name = strings.Trim(strings.TrimPrefix(line, "media.name = "), `"`)
		case key == "Buffer Latency" || key == "Sink Latency" || key == "Source Latency":
			us, _ := strconv.Atoi(strings.TrimSuffix(value, " usec"))
			list[len(list)-1].LatencyUs += us
		}
	}
	return list, nil
}

// LogMark is the daemon's log so far, for Underruns to count from.
func (p *Pulse) LogMark() int {
	st, err := os.Stat(p.log)
	if err != nil {
		return 0
	}
	return int(st.Size())
}

// Underruns counts the playback underruns the daemon logged since mark: each time a stream that ran dry
// gets audio again ("end of underrun"). The log does not name the stream; a stream's start counts one, so
// take the mark after the streams measured have started.
func (p *Pulse) Underruns(mark int) int {
	data, err := os.ReadFile(p.log)
	if err != nil || mark > len(data) {
		return 0
	}
	return strings.Count(string(data[mark:]), "due to end of underrun")
}

// Log is the daemon's log.
func (p *Pulse) Log() string {
	data, _ := os.ReadFile(p.log)
	return string(data)
}

// Player plays a WAV file into a sink (paplay) until it ends or Stop.
type Player struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Play starts playing the WAV file path into sink.
func (p *Pulse) Play(sink, path string) (*Player, error) {
	cmd := p.command("paplay", "-d", sink, "--latency-msec=200", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("paplay: %w", err)
	}
	pl := &Player{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(pl.done) }()
	return pl, nil
}

// Stop ends the player by its process id.
func (pl *Player) Stop() {
	syscall.Kill(-pl.cmd.Process.Pid, syscall.SIGKILL)
	<-pl.done
}

// Recording is what a source (a sink's monitor) gave from its start, as 16-bit mono samples, with the
// time each was recorded, read from parecord's raw output as it comes.
type Recording struct {
	Rate    int
	cmd     *exec.Cmd
	done    chan struct{}
	mu      sync.Mutex
	samples []int16
	stamps  []stamp // each chunk's end and arrival
	err     error
}

// stamp is a chunk of a recording: its samples end at end, and it arrived at the time at.
type stamp struct {
	end int
	at  time.Time
}

// Record starts recording source at rate (mono, 16-bit) with a short fragment, so that each chunk reaches
// the test about when it was recorded.
func (p *Pulse) Record(source string, rate int) (*Recording, error) {
	cmd := p.command("parecord", "--raw", "--format=s16le", "--channels=1", "--rate="+strconv.Itoa(rate),
		"--latency-msec=10", "-d", source)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("parecord: %w", err)
	}
	r := &Recording{Rate: rate, cmd: cmd, done: make(chan struct{})}
	go r.read(out)
	return r, nil
}

func (r *Recording) read(out io.Reader) {
	defer close(r.done)
	br := bufio.NewReaderSize(out, 4096)
	buf := make([]byte, 4096)
	var odd []byte
	for {
		n, err := br.Read(buf)
		now := time.Now()
		if n > 0 {
			data := append(odd, buf[:n]...)
			k := len(data) / 2 * 2
			r.mu.Lock()
			for i := 0; i < k; i += 2 {
				r.samples = append(r.samples, int16(binary.LittleEndian.Uint16(data[i:])))
			}
			r.stamps = append(r.stamps, stamp{end: len(r.samples), at: now})
			r.mu.Unlock()
			odd = append([]byte(nil), data[k:]...)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = err
			}
			return
		}
	}
}

// Samples is a copy of what was recorded so far.
func (r *Recording) Samples() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.samples...)
}

// TimeOf is when sample i was recorded: the arrival of the first chunk that holds it, less the samples
// after it in that chunk (late by the recorder's latency, 10-20 ms, at most).
func (r *Recording) TimeOf(i int) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := sort.Search(len(r.stamps), func(k int) bool { return r.stamps[k].end > i })
	if k == len(r.stamps) {
		if k == 0 {
			return time.Time{}
		}
		k--
	}
	s := r.stamps[k]
	return s.at.Add(-time.Duration(s.end-i) * time.Second / time.Duration(r.Rate))
}

// IndexAt is the index of the first sample recorded at t or after (len of the samples if none yet).
func (r *Recording) IndexAt(t time.Time) int {
	r.mu.Lock()
	n := len(r.samples)
	r.mu.Unlock()
	return sort.Search(n, func(i int) bool { return !r.TimeOf(i).Before(t) })
}

// Stop ends the recording by parecord's process id and returns what it holds.
func (r *Recording) Stop() []int16 {
	syscall.Kill(-r.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(2 * time.Second):
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
	r.cmd.Wait()
	return r.Samples()
}
