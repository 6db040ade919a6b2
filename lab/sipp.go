package lab

import (
	"embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed scenarios/*.xml
var scenarios embed.FS

// SIPp is a running SIPp process, stopped by its process id. It traces every message it sends and
// receives, so tests can count them.
type SIPp struct {
	Port     int
	cmd      *exec.Cmd
	done     chan struct{}
	log      string
	messages string
}

// FarEnd is a SIPp user agent server that answers every call and echoes its RTP (scenarios/uas-echo.xml
// with -rtp_echo), registered as a user on the lab's servers.
type FarEnd struct {
	*SIPp
	User      string
	MediaPort int
}

// StartFarEnd runs an echoing SIPp UAS on a free port and registers it as user on each registrar.
func StartFarEnd(dir, user string, registrars ...string) (*FarEnd, error) {
	return startFarEnd(dir, "uas-echo", "127.0.0.1", user, registrars)
}

// StartFarEndAt is StartFarEnd listening on ip instead of 127.0.0.1 (for servers in other namespaces).
func StartFarEndAt(dir, ip, user string, registrars ...string) (*FarEnd, error) {
	return startFarEnd(dir, "uas-echo", ip, user, registrars)
}

// StartFarEndWithoutEvents is StartFarEnd with a far end that offers no telephone-event (so DTMF must
// go by SIP INFO).
func StartFarEndWithoutEvents(dir, user string, registrars ...string) (*FarEnd, error) {
	return startFarEnd(dir, "uas-echo-noevents", "127.0.0.1", user, registrars)
}

func startFarEnd(dir, scenario, ip, user string, registrars []string) (*FarEnd, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	mport, err := freeEvenPortPair()
	if err != nil {
		return nil, err
	}
	uas, err := StartSIPp(dir, scenario, port, "-i", ip, "-rtp_echo", "-mp", strconv.Itoa(mport))
	if err != nil {
		return nil, err
	}
	for _, reg := range registrars {
		if err := registerWith(dir, ip, user, port, reg); err != nil {
			uas.Stop()
			return nil, err
		}
	}
	return &FarEnd{SIPp: uas, User: user, MediaPort: mport}, nil
}

// Received counts the messages SIPp received whose first line starts with start: a method ("BYE") or a
// response ("SIP/2.0 480").
func (s *SIPp) Received(start string) int {
	b, _ := os.ReadFile(s.messages)
	n := 0
	for _, block := range strings.Split(string(b), "message received") {
		if i := strings.Index(block, ":\n\n"); i >= 0 && strings.HasPrefix(block[i+3:], start+" ") {
			n++
		}
	}
	return n
}

// Wait waits for SIPp to finish and returns its exit code (-1 if it did not finish in time).
func (s *SIPp) Wait(within time.Duration) int {
	select {
	case <-s.done:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		return -1
	}
}

// StartEcho runs the echo test (see Echo) on 127.0.0.1:port, the registrars route 600 to it, logging to
// dir/echo-PORT.log. Started by stayline-lab, it runs as a process of its own (`stayline-lab echo -port
// PORT`, in a session of its own) that outlives `stayline-lab up` and that `down` kills by its pid. From any
// other program (stayline-bench, a test binary) it runs in this process, and Pid is 0.
func StartEcho(dir string, port int) (*EchoProcess, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(dir, fmt.Sprintf("echo-%d.log", port))
	bin, ok := labBinary()
	if !ok {
		return startEchoHere(addr, logPath)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "echo", "-port", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: no terminal to take signals from, and a process group to kill as one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the echo test: %w", err)
	}
	p := &EchoProcess{Addr: addr, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); close(p.done) }()
	if err := waitEchoReady(addr, 5*time.Second, p.done); err != nil {
		p.Stop()
		return nil, fmt.Errorf("echo test: %w (log: %s)", err, lastLines(logPath, 5))
	}
	return p, nil
}

// StartVoicemail runs the lab's voicemail (message-summary subscriptions) on 127.0.0.1:port.
func StartVoicemail(dir string, port int) (*SIPp, error) {
	return StartSIPp(dir, "voicemail", port)
}

// RegisterWith registers user at registrar with its Contact on 127.0.0.1:contactPort (lab password).
func RegisterWith(dir, user string, contactPort int, registrar string) error {
	return registerWith(dir, "127.0.0.1", user, contactPort, registrar)
}

func registerWith(dir, ip, user string, contactPort int, registrar string) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	reg, err := StartSIPp(dir, "register", port, "-i", ip, "-m", "1", "-s", user, "-au", user, "-ap", Password, "-key", "contact_port",
		strconv.Itoa(contactPort), "-timeout", "5s", "-timeout_error", registrar)
	if err != nil {
		return err
	}
	code := reg.Wait(6 * time.Second)
	if code < 0 {
		reg.Stop()
		return fmt.Errorf("registering %s at %s: SIPp did not finish", user, registrar)
	}
	if code != 0 {
		return fmt.Errorf("registering %s at %s: SIPp exit %d (log: %s)", user, registrar, code, lastLines(reg.log, 5))
	}
	return nil
}

// Caller runs the lab's caller scenario once: it calls user through proxy (host:port), talks for talk,
// echoing the callee's RTP, and hangs up. extra goes to SIPp (-i ADDRESS to call from another address).
func Caller(dir, user, proxy string, talk time.Duration, extra ...string) (*SIPp, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	mport, err := freeEvenPortPair()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-m", "1", "-s", user, "-rtp_echo", "-mp", strconv.Itoa(mport),
		"-d", strconv.Itoa(int(talk / time.Millisecond))}, extra...)
	return StartSIPp(dir, "uac-call", port, append(args, proxy)...)
}

func freeEvenPortPair() (int, error) {
	for try := 0; try < 100; try++ {
		p, err := FreePort()
		if err != nil {
			return 0, err
		}
		p &^= 1
		if portFree("127.0.0.1", p) && portFree("127.0.0.1", p+1) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free even port pair")
}

// StartSIPp runs SIPp with one of the project's scenarios (lab/scenarios/NAME.xml) listening on
// 127.0.0.1:port, writing its files in dir.
func StartSIPp(dir, scenario string, port int, extra ...string) (*SIPp, error) {
	xml, err := scenarios.ReadFile("scenarios/" + scenario + ".xml")
	if err != nil {
		return nil, fmt.Errorf("no SIPp scenario %q: %w", scenario, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sf := filepath.Join(dir, scenario+".xml")
	if err := os.WriteFile(sf, xml, 0o644); err != nil {
		return nil, err
	}
	return startSIPpArgs(dir, scenario, port, append([]string{"-sf", sf}, extra...)...)
}

// startSIPpArgs runs SIPp with the given scenario arguments, listening on 127.0.0.1:port.
func startSIPpArgs(dir, name string, port int, extra ...string) (*SIPp, error) {
	bin, err := exec.LookPath("sipp")
	if err != nil {
		return nil, fmt.Errorf("sipp is not installed (apt-get install sip-tester): %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("sipp-%s-%d.log", name, port))
	msgPath := filepath.Join(dir, fmt.Sprintf("sipp-%s-%d-messages.log", name, port))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	ip := "127.0.0.1"
	for i := 0; i+1 < len(extra); i++ {
		if extra[i] == "-i" { // the caller chose its own address
			ip = extra[i+1]
			extra = append(extra[:i:i], extra[i+2:]...)
			break
		}
	}
	args := append([]string{"-i", ip, "-p", strconv.Itoa(port), "-nostdin", "-trace_msg",
		"-message_file", msgPath}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sipp: %w", err)
	}
	s := &SIPp{Port: port, cmd: cmd, done: make(chan struct{}), log: logPath, messages: msgPath}
	go func() { cmd.Wait(); close(s.done) }()
	// Ready once its UDP port is taken (or, for a client that finishes quickly, once it is done).
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case <-s.done:
			return s, nil
		default:
		}
		c, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			return s, nil
		}
		c.Close()
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("sipp did not bind port %d", port)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Pid is SIPp's process id.
func (s *SIPp) Pid() int { return s.cmd.Process.Pid }

// Stop kills SIPp (by its process group) and waits for it.
func (s *SIPp) Stop() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
}

// MessagesFile is SIPp's message trace.
func (s *SIPp) MessagesFile() string { return s.messages }
