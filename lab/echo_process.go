package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// EchoProcess is the echo test StartEcho started.
type EchoProcess struct {
	Addr string // host:port
	log  string

	cmd  *exec.Cmd // nil when it runs in this process
	done chan struct{}
	stop context.CancelFunc
}

// Pid is the echo test's process id, the id of its process group too (0: it runs in this process).
func (p *EchoProcess) Pid() int {
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// LogFile is where the echo test logs its calls.
func (p *EchoProcess) LogFile() string { return p.log }

// Stop ends the echo test and waits for it: SIGTERM, then SIGKILL of its process group if it lingers.
func (p *EchoProcess) Stop() {
	if p.cmd == nil {
		p.stop()
		<-p.done
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// labBinary is this program's path when it is stayline-lab, the one that knows `echo`.
func labBinary() (string, bool) {
	self, err := os.Executable()
	if err != nil || filepath.Base(self) != "stayline-lab" {
		return "", false
	}
	return self, true
}

// startEchoHere runs the echo test in this process, logging to logPath.
func startEchoHere(addr, logPath string) (*EchoProcess, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	e, err := ListenEcho(addr, EchoOptions{Logger: slog.New(slog.NewTextHandler(logf, nil))})
	if err != nil {
		logf.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &EchoProcess{Addr: e.Addr(), log: logPath, done: make(chan struct{}), stop: cancel}
	go func() {
		defer close(p.done)
		defer logf.Close()
		e.Serve(ctx)
	}()
	return p, nil
}

// waitEchoReady waits for the echo test to answer OPTIONS on addr.
func waitEchoReady(addr string, within time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(within)
	for {
		err := Ping(addr, 100*time.Millisecond)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("it exited during start")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to OPTIONS on %s after %s: %w", addr, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
