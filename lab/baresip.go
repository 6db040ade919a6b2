package lab

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Baresip is a real softphone far end (Debian's baresip-core), registered as a user on the lab's
// registrar and driven through its ctrl_tcp module: netstring-framed JSON commands in, events out. It
// plays a 440 Hz tone (ausine) and needs no sound card (or, with BaresipOptions.Pulse, uses PulseAudio's).
type Baresip struct {
	User     string
	SIPPort  int
	dir      string
	cmd      *exec.Cmd
	done     chan struct{}
	ctrl     net.Conn
	mu       sync.Mutex
	events   []map[string]any
	notify   chan struct{}
	replies  chan map[string]any
	writeMu  sync.Mutex
	logPath  string
	stopOnce sync.Once
}

// StartBaresip runs baresip in dir as user, registered at registrar (host:port).
func StartBaresip(dir, user, registrar string) (*Baresip, error) {
	return StartBaresipWith(dir, user, registrar, BaresipOptions{})
}

// BaresipOptions adjust a baresip far end.
type BaresipOptions struct {
	// MediaEnc is the account's media encryption: "" (none), "srtp" (best effort), "srtp-mand" (RTP/SAVP).
	MediaEnc string
	// Codecs limits the account's audio codecs (baresip's audio_codecs, e.g. "PCMU"); "" offers all.
	Codecs string
	// Outbound2 is a second outbound proxy (host:port): with it the account uses RFC 5626 outbound
	// (sipnat=outbound) and keeps a registration flow through each proxy, baresip's failover.
	Outbound2 string
	// Regint is the registration interval in seconds (default 600).
	Regint int
	// Transport for the outbound proxies: "" (UDP) or "tcp".
	Transport string
	// Netns, when set, runs baresip inside that namespace, listening on its PeerIP (lab.NAT's Internet).
	Netns *Netns
	// SndPath, when set, loads baresip's sndfile module, which writes each call's audio there as WAV files:
	// dump-TIME-dec.wav what it received (decoded), dump-TIME-enc.wav what it sent (aufile cannot record).
	SndPath string
	// Pulse, when set, puts baresip's sound on PulseAudio devices instead of the tone and the file.
	Pulse *BaresipPulse
}

// BaresipPulse is a baresip on a PulseAudio daemon: Debian's baresip-core ships no pulse module, so its
// alsa module plays and records through ALSA's pulse plugin (libasound2-plugins), device "pulse:NAME",
// at the codec's rate (8 kHz mono for G.711; the daemon resamples to the device's).
type BaresipPulse struct {
	Server string // the daemon (Pulse.Server), for PULSE_SERVER
	Player string // the sink it plays to ("speaker")
	Source string // the source it records from ("mic.monitor")
}

// StartBaresipWith is StartBaresip with options.
func StartBaresipWith(dir, user, registrar string, opts BaresipOptions) (*Baresip, error) {
	bin, err := exec.LookPath("baresip")
	if err != nil {
		return nil, fmt.Errorf("baresip is not installed (apt-get install baresip-core): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sipPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	ctrlPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	ip := "127.0.0.1"
	if opts.Netns != nil {
		ip = opts.Netns.PeerIP
	}
	// No sound card: a sine tone in, received audio written to a file.
	source, player := "ausine,440", "aufile,"+filepath.Join(dir, "played.wav")
	if opts.Pulse != nil {
		source, player = "alsa,pulse:"+opts.Pulse.Source, "alsa,pulse:"+opts.Pulse.Player
	}
	config := strings.Join([]string{
		"poll_method epoll",
		"sip_listen " + ip + ":" + strconv.Itoa(sipPort),
		"audio_source " + source,
		"audio_player " + player,
		"audio_alert aufile," + filepath.Join(dir, "alert.wav"),
		"rtp_stats yes",
		"module_path " + baresipModules(),
		"module g711.so",
		"module g722.so",
		"module opus.so",
		"module ausine.so",
		"module aufile.so",
		"module ctrl_tcp.so",
		"module srtp.so",
		"module uuid.so", // RFC 5626 outbound needs an instance id
		"module_app account.so",
		"module_app menu.so",
		"ctrl_tcp_listen " + ip + ":" + strconv.Itoa(ctrlPort),
		"",
	}, "\n")
	if opts.Pulse != nil {
		config += "module alsa.so\n"
	} else {
		config += "ausrc_srate 48000\nausrc_channels 2\n"
	}
	if opts.SndPath != "" {
		config += "module sndfile.so\nsnd_path " + opts.SndPath + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o644); err != nil {
		return nil, err
	}
	// The address of record is on the lab's domain (127.0.0.1, as the phone's is); every request goes
	// through the registrar as outbound proxy, so calls to user@127.0.0.1 reach the lab.
	host, _, _ := net.SplitHostPort(registrar)
	regint, tp := opts.Regint, ""
	if regint == 0 {
		regint = 600
	}
	if opts.Transport != "" {
		tp = ";transport=" + opts.Transport
	}
	account := fmt.Sprintf("<sip:%s@%s>;auth_pass=%s;outbound=\"sip:%s%s;lr\";regint=%d;answermode=manual",
		user, host, Password, registrar, tp, regint)
	if opts.MediaEnc != "" {
		account += ";mediaenc=" + opts.MediaEnc
	}
	if opts.Codecs != "" {
		account += ";audio_codecs=" + opts.Codecs
	}
	if opts.Outbound2 != "" {
		account += fmt.Sprintf(";outbound2=\"sip:%s%s;lr\";sipnat=outbound", opts.Outbound2, tp)
	}
	account += "\n"
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "baresip.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	argv := []string{bin, "-4", "-f", dir}
	if opts.Netns != nil {
		argv = opts.Netns.Exec(argv...) // ip netns exec replaces itself with baresip: same pid
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	if opts.Pulse != nil {
		cmd.Env = append(os.Environ(), "PULSE_SERVER="+opts.Pulse.Server)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start baresip: %w", err)
	}
	b := &Baresip{User: user, SIPPort: sipPort, dir: dir, cmd: cmd, done: make(chan struct{}), notify: make(chan struct{}, 1),
		replies: make(chan map[string]any, 16), logPath: logPath}
	go func() { cmd.Wait(); close(b.done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort(ip, strconv.Itoa(ctrlPort)))
		if err == nil {
			b.ctrl = c
			break
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("baresip exited at start (log: %s)", lastLines(logPath, 5))
		default:
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("baresip control port never opened (log: %s)", lastLines(logPath, 5))
		}
		time.Sleep(20 * time.Millisecond)
	}
	go b.read()
	// The REGISTER_OK event may come before the control connection: ask instead.
	for {
		info, err := b.Command("reginfo", "")
		if err == nil && strings.Contains(info, "OK") {
			return b, nil
		}
		if time.Now().After(deadline) {
			b.Stop()
			return nil, fmt.Errorf("baresip did not register: %q %v (log: %s)", info, err, lastLines(logPath, 5))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func baresipModules() string {
	for _, p := range []string{"/usr/lib/baresip/modules", "/usr/lib/x86_64-linux-gnu/baresip/modules", "/usr/local/lib/baresip/modules"} {
		if _, err := os.Stat(filepath.Join(p, "g711.so")); err == nil {
			return p
		}
	}
	return "/usr/lib/baresip/modules"
}

// read splits the control stream into netstrings and sorts replies from events.
func (b *Baresip) read() {
	r := bufio.NewReader(b.ctrl)
	for {
		lenStr, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenStr[:len(lenStr)-1]))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		buf := make([]byte, n+1) // the payload and the trailing comma
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		var msg map[string]any
		if json.Unmarshal(buf[:n], &msg) != nil {
			continue
		}
		if msg["response"] == true {
			b.replies <- msg
			continue
		}
		b.mu.Lock()
		b.events = append(b.events, msg)
		b.mu.Unlock()
		select {
		case b.notify <- struct{}{}:
		default:
		}
	}
}

// Command runs a baresip command ("dial", "accept", "hangup", "hold", ...) and returns its reply data.
func (b *Baresip) Command(command, params string) (string, error) {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	msg, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": "lab"})
	if _, err := fmt.Fprintf(b.ctrl, "%d:%s,", len(msg), msg); err != nil {
		return "", err
	}
	select {
	case rep := <-b.replies:
		data, _ := rep["data"].(string)
		if ok, _ := rep["ok"].(bool); !ok {
			return data, fmt.Errorf("baresip %s %s: %s", command, params, data)
		}
		return data, nil
	case <-time.After(5 * time.Second):
		return "", fmt.Errorf("baresip %s: no reply", command)
	}
}

// WaitEvent waits for an event of type typ ("CALL_INCOMING", "CALL_ESTABLISHED", "CALL_CLOSED",
// "CALL_DTMF_START", ...) not yet consumed, and consumes it.
func (b *Baresip) WaitEvent(typ string, within time.Duration) (map[string]any, error) {
	deadline := time.After(within)
	for {
		b.mu.Lock()
		for i, ev := range b.events {
			if ev["type"] == typ {
				b.events = append(b.events[:i], b.events[i+1:]...)
				b.mu.Unlock()
				return ev, nil
			}
		}
		b.mu.Unlock()
		select {
		case <-b.notify:
		case <-deadline:
			return nil, fmt.Errorf("no baresip %s event within %s", typ, within)
		case <-b.done:
			return nil, errors.New("baresip exited")
		}
	}
}

// Log is baresip's output so far (rtp_stats prints its packet counts there when a call ends).
func (b *Baresip) Log() string {
	data, _ := os.ReadFile(b.logPath)
	return string(data)
}

// Pid is baresip's process id.
func (b *Baresip) Pid() int { return b.cmd.Process.Pid }

// Stop ends baresip by its process id: SIGTERM, then SIGKILL after a deadline (it may hang on exit when
// its server is gone).
func (b *Baresip) Stop() {
	b.stopOnce.Do(func() {
		if b.ctrl != nil {
			b.ctrl.Close()
		}
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(2 * time.Second):
			syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-b.done
		}
	})
}
