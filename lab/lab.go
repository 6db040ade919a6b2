// Package lab runs Stayline's test lab: real Kamailio registrars on loopback, each in its own directory with
// its own log and pid file, started and stopped by process id (the whole process group, since Kamailio
// forks workers that keep its ports otherwise). Tests, `make run` and users all use it.
package lab

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
)

//go:embed kamailio.cfg
var kamailioCfg string

var cfgTemplate = template.Must(template.New("kamailio.cfg").Parse(kamailioCfg))

// Password is the one password the lab's registrars accept, for every user.
const Password = "secret"

// ServerOptions tune one registrar.
type ServerOptions struct {
	// AuthAlgorithm is the digest algorithm of the challenge: "" (MD5) or "SHA-256".
	AuthAlgorithm string
	// Aliases are other host:port names the server treats as itself.
	Aliases []string
	// EchoAddr (host:port) receives calls to 600, the echo test.
	EchoAddr string
	// VoicemailAddr (host:port) receives message-summary SUBSCRIBEs.
	VoicemailAddr string
	// TLS, when set, adds a TLS listener (on TLSPort) serving this certificate.
	TLS *TLSFiles
	// Netns, when set, runs the server inside that network namespace, on its PeerIP.
	Netns *Netns
	// RegisterRate caps new REGISTERs (those without credentials: an attempt's first message) at this
	// many a second with Kamailio's ratelimit module; beyond it the server answers 503 with
	// Retry-After: RetryAfter seconds (default 2) and logs a "stayline-lab: 503" line. 0: no cap.
	RegisterRate int
	RetryAfter   int
	// SessionExpires, when set, makes the server behave like a PBX that enforces session timers (RFC 4028):
	// Kamailio's sst module sets Session-Expires to this many seconds on every call, and the dialog module
	// ends (BYE both ways) a call that no re-INVITE or UPDATE refreshes within it.
	SessionExpires int
	// HideTopology hides the route and the far ends behind the server (Kamailio's topoh), as an SBC does.
	HideTopology bool
	// DieWithMe stops the server when the process that started it exits, even by a crash or a test
	// timeout: a small watchdog shell kills the server's process group then.
	DieWithMe bool
}

// Server is one Kamailio instance.
type Server struct {
	Name     string
	IP       string
	Port     int
	Dir      string
	opts     ServerOptions
	cmd      *exec.Cmd
	done     chan struct{}
	watchdog *exec.Cmd
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.IP, strconv.Itoa(s.Port)) }

// TLSPort is the TLS listener's port, when the server has one: the SIP port + 1 (5061 beside 5060).
func (s *Server) TLSPort() int { return s.Port + 1 }

// TLSAddr is the TLS listener's host:port.
func (s *Server) TLSAddr() string { return net.JoinHostPort(s.IP, strconv.Itoa(s.TLSPort())) }

// PidFile is where the running instance's process id is kept (it is also its process group).
func (s *Server) PidFile() string { return filepath.Join(s.Dir, "kamailio.pid") }

// LogFile is the instance's standard error.
func (s *Server) LogFile() string { return filepath.Join(s.Dir, "kamailio.log") }

// NewServer prepares (does not start) a registrar named name in dir/name on port.
func NewServer(dir, name string, port int, opts ServerOptions) *Server {
	ip := "127.0.0.1"
	if opts.Netns != nil {
		ip = opts.Netns.PeerIP
	}
	return &Server{Name: name, IP: ip, Port: port, Dir: filepath.Join(dir, name), opts: opts}
}

// Start runs Kamailio and waits until it answers OPTIONS.
func (s *Server) Start() error {
	if pid, err := s.Pid(); err == nil && alive(pid) {
		return fmt.Errorf("%s: already running as pid %d", s.Name, pid)
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	// A kill -9 leaves the pid file behind, and Kamailio refuses to start over it.
	os.Remove(s.PidFile())
	cfgPath := filepath.Join(s.Dir, "kamailio.cfg")
	var cfg bytes.Buffer
	err := cfgTemplate.Execute(&cfg, map[string]any{
		"IP": s.IP, "Port": s.Port, "Aliases": s.opts.Aliases, "AuthAlgorithm": s.opts.AuthAlgorithm,
		"EchoAddr": s.opts.EchoAddr, "VoicemailAddr": s.opts.VoicemailAddr, "TLS": s.opts.TLS, "TLSPort": s.TLSPort(),
		"ModulePath": ModulePath(), "RegisterRate": s.opts.RegisterRate, "RetryAfter": cmp.Or(s.opts.RetryAfter, 2),
		"SessionExpires": s.opts.SessionExpires, "HideTopology": s.opts.HideTopology,
	})
	if err != nil {
		return fmt.Errorf("%s: write configuration: %w", s.Name, err)
	}
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o644); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	logf, err := os.OpenFile(s.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	defer logf.Close()
	bin, err := exec.LookPath("kamailio")
	if err != nil {
		return fmt.Errorf("%s: kamailio is not installed (apt-get install kamailio): %w", s.Name, err)
	}
	argv := []string{bin, "-f", cfgPath, "-DD", "-E", "-m", "32", "-M", "4", "-Y", s.Dir, "-w", s.Dir}
	if s.opts.Netns != nil {
		argv = s.opts.Netns.Exec(argv...) // ip netns exec replaces itself with kamailio: same pid
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own session: a process group to kill as one, and no terminal to take signals from.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start kamailio: %w", s.Name, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(s.done)
	if err := os.WriteFile(s.PidFile(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	if s.opts.DieWithMe {
		s.watchdog = startWatchdog(cmd.Process.Pid)
	}
	if err := waitReady(s.Addr(), 5*time.Second, s.done); err != nil {
		s.Kill()
		return fmt.Errorf("%s: %w (log: %s)", s.Name, err, lastLines(s.LogFile(), 5))
	}
	return nil
}

// startWatchdog runs a shell that kills process group pgid once this process is gone.
func startWatchdog(pgid int) *exec.Cmd {
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 0.5; done; kill -9 -%d 2>/dev/null", os.Getpid(), pgid)
	w := exec.Command("/bin/sh", "-c", script)
	w.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := w.Start(); err != nil {
		return nil
	}
	return w
}

// Pid is the running instance's process id, from its pid file.
func (s *Server) Pid() (int, error) {
	b, err := os.ReadFile(s.PidFile())
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// Kill is kill -9 of the instance: its process group, so the forked workers die with it. It returns once
// the ports are free again.
func (s *Server) Kill() error { return s.signal(syscall.SIGKILL) }

// Stop ends the instance with SIGTERM, then SIGKILL if it lingers.
func (s *Server) Stop() error { return s.signal(syscall.SIGTERM) }

func (s *Server) signal(sig syscall.Signal) error {
	if s.watchdog != nil {
		s.watchdog.Process.Kill()
		s.watchdog.Wait()
		s.watchdog = nil
	}
	pid, err := s.Pid()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("%s: read pid file: %w", s.Name, err)
	}
	if pid <= 1 {
		return fmt.Errorf("%s: bad pid %d in %s", s.Name, pid, s.PidFile())
	}
	syscall.Kill(-pid, sig)
	deadline := time.Now().Add(3 * time.Second)
	for groupAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if groupAlive(pid) {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
	if s.done != nil {
		select {
		case <-s.done:
		case <-time.After(3 * time.Second):
		}
	}
	for groupAlive(pid) && time.Now().Before(deadline.Add(3*time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	os.Remove(s.PidFile())
	return waitPortFree(s.IP, s.Port, 3*time.Second)
}

// Running reports whether the instance's process is alive.
func (s *Server) Running() bool {
	pid, err := s.Pid()
	return err == nil && alive(pid)
}

// RegisterLines returns the log lines Kamailio wrote for each REGISTER it received.
func (s *Server) RegisterLines() []string { return s.LogLines("stayline-lab: REGISTER") }

// OverloadLines are the server's "stayline-lab: 503 user=... t=..." lines: new REGISTERs it refused
// with 503 (ServerOptions.RegisterRate).
func (s *Server) OverloadLines() []string { return s.LogLines("stayline-lab: 503") }

// LogLines are the lines of the server's log that contain marker, from the marker on.
func (s *Server) LogLines(marker string) []string {
	b, _ := os.ReadFile(s.LogFile())
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, marker); i >= 0 {
			out = append(out, line[i:])
		}
	}
	return out
}

// ModulePath is where Debian installs Kamailio's modules.
func ModulePath() string {
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/aarch64-linux-gnu/kamailio/modules",
		"/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules"} {
		if _, err := os.Stat(filepath.Join(p, "tm.so")); err == nil {
			return p
		}
	}
	return "/usr/lib/x86_64-linux-gnu/kamailio/modules"
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil && !zombie(pid) }

func groupAlive(pgid int) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid && !zombie(pid) {
			return true
		}
	}
	return false
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}

func lastLines(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
