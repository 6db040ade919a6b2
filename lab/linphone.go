package lab

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Linphone is linphonec (Debian's linphone-cli 5.1), a second real softphone far end beside baresip,
// registered as a user on the lab's registrar. It runs with a HOME of its own (it never listens unless
// $HOME/.local/share/linphone exists) and a configuration file of its own, plays a 440 Hz tone from a WAV
// file and records what it hears into another (`soundcard use files`: no sound card needed), and is
// driven by commands on its standard input ("call", "answer", "pause", "resume", "terminate", digits for
// DTMF). What it prints is read line by line (Expect); its -d 6 log (Log) holds the SIP messages, oRTP's
// packet counters each time a stream stops (RTPStats) and its receive and send rates each second
// (Bandwidths).
type Linphone struct {
	User    string
	SIPPort int
	RTPPort int
	dir     string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	done    chan struct{}
	logPath string
	outPath string
	rec     string
	watch   *exec.Cmd

	mu     sync.Mutex
	lines  []string // what it printed, line by line
	cursor int      // lines before it are consumed (Expect)
	notify chan struct{}

	writeMu  sync.Mutex
	stopOnce sync.Once
}

// StartLinphone runs linphonec in dir as user, registered at registrar (host:port) through it, and
// returns once the registration is confirmed.
func StartLinphone(dir, user, registrar string) (*Linphone, error) {
	bin, err := exec.LookPath("linphonec")
	if err != nil {
		return nil, fmt.Errorf("linphonec is not installed (apt-get install linphone-cli): %w", err)
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".local", "share", "linphone"), 0o755); err != nil {
		return nil, err
	}
	// SIP, audio RTP (and RTCP on the next port), video RTP (video is off, but linphonec names a port).
	var ports [3]int
	for i := range ports {
		for clash := true; clash; {
			if ports[i], err = FreePort(); err != nil {
				return nil, err
			}
			clash = false
			for _, p := range ports[:i] {
				clash = clash || (ports[i] >= p-1 && ports[i] <= p+1)
			}
		}
	}
	rcPath := filepath.Join(dir, "linphonerc")
	if err := os.WriteFile(rcPath, []byte(linphoneConfig(ports[0], ports[1], ports[2])), 0o644); err != nil {
		return nil, err
	}
	tone := filepath.Join(dir, "tone.wav")
	if err := os.WriteFile(tone, toneWAV(8000, 440, 60*time.Second), 0o644); err != nil {
		return nil, err
	}
	l := &Linphone{User: user, SIPPort: ports[0], RTPPort: ports[1], dir: dir, done: make(chan struct{}),
		logPath: filepath.Join(dir, "linphone.log"), outPath: filepath.Join(dir, "linphonec.out"),
		rec: filepath.Join(dir, "heard.wav"), notify: make(chan struct{}, 1)}
	out, err := os.Create(l.outPath)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		out.Close()
		return nil, err
	}
	cmd := exec.Command(bin, "-c", rcPath, "-d", "6", "-l", l.logPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if l.stdin, err = cmd.StdinPipe(); err != nil {
		out.Close()
		pr.Close()
		pw.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start linphonec: %w", err)
	}
	pw.Close() // the child holds the write end now
	l.cmd = cmd
	// linphonec does not exit when its standard input closes (it says "Terminating..." and hangs): a
	// watchdog kills it if this process dies without stopping it.
	l.watch = startWatchdog(cmd.Process.Pid)
	go l.read(pr, out)
	go func() { cmd.Wait(); close(l.done) }()

	host, _, _ := net.SplitHostPort(registrar)
	for _, c := range []string{
		"soundcard use files",
		"play " + tone, // what it sends
		"record " + l.rec,
		fmt.Sprintf("register sip:%s@%s sip:%s %s", user, host, registrar, Password),
	} {
		if err := l.Command(c); err != nil {
			l.Stop()
			return nil, err
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := l.Command("status register"); err != nil {
			l.Stop()
			return nil, err
		}
		line, err := l.Expect("registered", 300*time.Millisecond)
		if err == nil && strings.Contains(line, "registered, identity=") && !strings.Contains(line, "unregistered") {
			return l, nil
		}
		if errors.Is(err, errLinphoneExited) || time.Now().After(deadline) {
			l.Stop()
			return nil, fmt.Errorf("linphonec did not register: %q %v (output: %s)", line, err, lastLines(l.outPath, 5))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// linphoneConfig is linphonec's configuration: SIP and RTP on loopback on the given ports, UDP only, no
// video, no echo canceller, and no GRUU (a Kamailio without GRUU routing would relay in-dialog requests to
// the GRUU's host, 127.0.0.1:5060). linphonec adds its own defaults and the registration to the file.
func linphoneConfig(sipPort, audioPort, videoPort int) string {
	return strings.Join([]string{
		"[sip]",
		"bind_address=127.0.0.1",
		"sip_port=" + strconv.Itoa(sipPort),
		"sip_tcp_port=0",
		"sip_tls_port=0",
		"supported=replaces, outbound",
		"guess_hostname=1",
		"use_ipv6=0",
		"[rtp]",
		"bind_address=127.0.0.1",
		"audio_rtp_port=" + strconv.Itoa(audioPort),
		"video_rtp_port=" + strconv.Itoa(videoPort),
		"[sound]",
		"echocancellation=0",
		"[video]",
		"enabled=0",
		"capture=0",
		"display=0",
		"",
	}, "\n")
}

// toneWAV is a WAV file (16-bit mono PCM) of a sine wave of freq Hz lasting d at rate samples a second.
func toneWAV(rate, freq int, d time.Duration) []byte {
	n := int(int64(rate) * int64(d) / int64(time.Second))
	b := make([]byte, 44+2*n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*rate))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i := 0; i < n; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*float64(freq)*float64(i)/float64(rate)))
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return b
}

// read keeps what linphonec prints, line by line, and copies it to linphonec.out.
func (l *Linphone) read(r io.ReadCloser, out *os.File) {
	defer r.Close()
	defer out.Close()
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 1<<20)
	for s.Scan() {
		line := s.Text()
		fmt.Fprintln(out, line)
		l.mu.Lock()
		l.lines = append(l.lines, line)
		l.mu.Unlock()
		select {
		case l.notify <- struct{}{}:
		default:
		}
	}
}

var errLinphoneExited = errors.New("linphonec exited")

// Command writes one command line to linphonec. What it printed before is passed over: Expect then
// waits for what comes after the command.
func (l *Linphone) Command(line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return fmt.Errorf("linphonec command %q spans lines", line)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	select {
	case <-l.done:
		return errLinphoneExited
	default:
	}
	l.mu.Lock()
	l.cursor = len(l.lines)
	l.mu.Unlock()
	if _, err := io.WriteString(l.stdin, line+"\n"); err != nil {
		return fmt.Errorf("linphonec %s: %w", line, err)
	}
	return nil
}

// Expect waits for a line linphonec prints containing text, past the last one Expect matched and the
// last command, and returns it; the lines up to it are consumed.
func (l *Linphone) Expect(text string, within time.Duration) (string, error) {
	deadline := time.After(within)
	for {
		l.mu.Lock()
		for i := l.cursor; i < len(l.lines); i++ {
			if strings.Contains(l.lines[i], text) {
				l.cursor = i + 1
				line := l.lines[i]
				l.mu.Unlock()
				return line, nil
			}
		}
		l.mu.Unlock()
		select {
		case <-l.notify:
		case <-deadline:
			return "", fmt.Errorf("linphonec printed no %q within %s", text, within)
		case <-l.done:
			return "", errLinphoneExited
		}
	}
}

// Call calls uri (sip:user@host) through the registrar.
func (l *Linphone) Call(uri string) error { return l.Command("call " + uri) }

// Answer answers the call ringing here.
func (l *Linphone) Answer() error { return l.Command("answer") }

// Pause puts the current call on hold (a re-INVITE offering sendonly); Resume takes it off.
func (l *Linphone) Pause() error  { return l.Command("pause") }
func (l *Linphone) Resume() error { return l.Command("resume") }

// Terminate hangs up the current call.
func (l *Linphone) Terminate() error { return l.Command("terminate") }

// SendDTMF sends digits on the current call (RFC 4733, linphonec's default): a line of digits alone is
// linphonec's DTMF command.
func (l *Linphone) SendDTMF(digits string) error {
	if digits == "" || strings.Trim(digits, "0123456789*#") != "" {
		return fmt.Errorf("linphonec sends only the digits 0-9, * and #, not %q", digits)
	}
	return l.Command(digits)
}

// WaitDigit waits for linphonec to report a DTMF digit it received ("Receiving tone 5 from ...").
func (l *Linphone) WaitDigit(within time.Duration) (string, error) {
	const marker = "Receiving tone "
	line, err := l.Expect(marker, within)
	if err != nil {
		return "", err
	}
	i := strings.Index(line, marker) + len(marker)
	if i >= len(line) {
		return "", fmt.Errorf("linphonec's digit line %q names no digit", line)
	}
	return line[i : i+1], nil
}

// Output is everything linphonec printed.
func (l *Linphone) Output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// Log is linphonec's -d 6 log so far.
func (l *Linphone) Log() string {
	data, _ := os.ReadFile(l.logPath)
	return string(data)
}

// LogMark is the size of linphonec's log now, for WaitLog.
func (l *Linphone) LogMark() int {
	st, err := os.Stat(l.logPath)
	if err != nil {
		return 0
	}
	return int(st.Size())
}

// WaitLog waits until linphonec's log past mark (LogMark) holds every one of texts, and returns that
// part of the log.
func (l *Linphone) WaitLog(mark int, within time.Duration, texts ...string) (string, error) {
	deadline := time.Now().Add(within)
	for {
		log := l.Log()
		part := log[min(mark, len(log)):]
		missing := ""
		for _, t := range texts {
			if !strings.Contains(part, t) {
				missing = t
				break
			}
		}
		if missing == "" {
			return part, nil
		}
		if time.Now().After(deadline) {
			return part, fmt.Errorf("linphonec logged no %q within %s", missing, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RecordSize is the size in bytes of the WAV file linphonec writes what it hears into.
func (l *Linphone) RecordSize() int64 {
	st, err := os.Stat(l.rec)
	if err != nil {
		return 0
	}
	return st.Size()
}

// LinphoneRTPStats are oRTP's counters of one audio session, as linphonec logs them when the stream
// stops (on hold, on resume, at the end of a call): cumulative over the call.
type LinphoneRTPStats struct {
	Sent, Received, Lost int64 // RTP packets
}

// RTPStats are the counters linphonec has logged so far, oldest first.
func (l *Linphone) RTPStats() []LinphoneRTPStats { return parseRTPStats(l.Log()) }

// WaitRTPStats waits until linphonec has logged more than n blocks of counters and returns the newest.
func (l *Linphone) WaitRTPStats(n int, within time.Duration) (LinphoneRTPStats, error) {
	deadline := time.Now().Add(within)
	for {
		if s := l.RTPStats(); len(s) > n {
			return s[len(s)-1], nil
		}
		if time.Now().After(deadline) {
			return LinphoneRTPStats{}, fmt.Errorf("linphonec logged no RTP statistics past %d within %s", n, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	ortpMessage  = regexp.MustCompile(`ortp-message-(.*)$`)
	ortpCounter  = regexp.MustCompile(`^(sent|received|incoming cumulative lost)\s+(-?\d+) packets$`)
	bandwidthRTP = regexp.MustCompile(`\(audio\)[^\n]*RTP : \[d=([0-9.]+),u=([0-9.]+)\]`)
)

// parseRTPStats reads the blocks oRTP writes under "AUDIO SESSION'S RTP STATISTICS".
func parseRTPStats(log string) []LinphoneRTPStats {
	var out []LinphoneRTPStats
	var cur *LinphoneRTPStats
	for _, line := range strings.Split(log, "\n") {
		m := ortpMessage.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		msg := strings.TrimSpace(m[1])
		switch {
		case strings.Contains(msg, "AUDIO SESSION'S RTP STATISTICS"):
			out = append(out, LinphoneRTPStats{})
			cur = &out[len(out)-1]
		case cur == nil:
		case strings.HasPrefix(msg, "====="):
			cur = nil
		default:
			c := ortpCounter.FindStringSubmatch(msg)
			if c == nil {
				continue
			}
			v, _ := strconv.ParseInt(c[2], 10, 64)
			switch c[1] {
			case "sent":
				cur.Sent = v
			case "received":
				cur.Received = v
			default:
				cur.Lost = v
			}
		}
	}
	return out
}

// LinphoneBandwidth is one of linphonec's once-a-second readings of its audio stream's RTP rates.
type LinphoneBandwidth struct {
	Down, Up float64 // kbit/s received and sent
}

// Bandwidths are linphonec's readings of its audio RTP rates so far, oldest first: a live view of
// whether it receives, where RTPStats come only when a stream stops.
func (l *Linphone) Bandwidths() []LinphoneBandwidth { return parseBandwidths(l.Log()) }

// WaitBandwidth waits for a reading past the first n with at least down kbit/s received and returns it.
func (l *Linphone) WaitBandwidth(n int, down float64, within time.Duration) (LinphoneBandwidth, error) {
	deadline := time.Now().Add(within)
	for {
		bs := l.Bandwidths()
		for i := n; i < len(bs); i++ {
			if bs[i].Down >= down {
				return bs[i], nil
			}
		}
		if time.Now().After(deadline) {
			return LinphoneBandwidth{}, fmt.Errorf("linphonec received under %.0f kbit/s in every reading past %d within %s: %v",
				down, n, within, bs[min(n, len(bs)):])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func parseBandwidths(log string) []LinphoneBandwidth {
	var out []LinphoneBandwidth
	for _, m := range bandwidthRTP.FindAllStringSubmatch(log, -1) {
		d, _ := strconv.ParseFloat(m[1], 64)
		u, _ := strconv.ParseFloat(m[2], 64)
		out = append(out, LinphoneBandwidth{Down: d, Up: u})
	}
	return out
}

// Pid is linphonec's process id.
func (l *Linphone) Pid() int { return l.cmd.Process.Pid }

// Stop ends linphonec by its process id: "quit" (it unregisters), then SIGTERM, then SIGKILL of its
// process group, each after a deadline.
func (l *Linphone) Stop() {
	l.stopOnce.Do(func() {
		pid := l.cmd.Process.Pid
		l.Command("quit")
		select {
		case <-l.done:
		case <-time.After(2 * time.Second):
			syscall.Kill(-pid, syscall.SIGTERM)
			select {
			case <-l.done:
			case <-time.After(2 * time.Second):
				syscall.Kill(-pid, syscall.SIGKILL)
				<-l.done
			}
		}
		l.stdin.Close()
		if l.watch != nil {
			l.watch.Process.Kill()
			l.watch.Wait()
		}
	})
}
