package lab

import (
	"embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

//go:embed scenarios/*.xml
var scenarios embed.FS

// SIPp is a running SIPp process, stopped by its process id.
type SIPp struct {
	Port int
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// StartSIPp runs SIPp with one of the project's scenarios (lab/scenarios/NAME.xml) listening on
// 127.0.0.1:port, writing its files in dir.
func StartSIPp(dir, scenario string, port int, extra ...string) (*SIPp, error) {
	bin, err := exec.LookPath("sipp")
	if err != nil {
		return nil, fmt.Errorf("sipp is not installed (apt-get install sip-tester): %w", err)
	}
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
	logPath := filepath.Join(dir, fmt.Sprintf("sipp-%s-%d.log", scenario, port))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := append([]string{"-sf", sf, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-nostdin"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sipp: %w", err)
	}
	s := &SIPp{Port: port, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); close(s.done) }()
	// Ready once its UDP port is taken.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return s, nil
		}
		c.Close()
		select {
		case <-s.done:
			return nil, fmt.Errorf("sipp exited at start (log: %s)", lastLines(logPath, 5))
		default:
		}
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
