package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// event is one line of the headless contract (README.md, "Headless control"), with the phone's own timestamp.
type event struct {
	fields map[string]any
	at     time.Time // the event's "time"
}

func (e event) str(k string) string { s, _ := e.fields[k].(string); return s }

// headless is a Stayline run with -headless, its events read as they come.
type headless struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	events  chan event
	started time.Time
	stderr  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startHeadless runs binary -headless -config cfgPath, with env added to the environment.
func startHeadless(binary, cfgPath string, env ...string) (*headless, error) {
	cmd := exec.Command(binary, "-headless", "-config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	h := &headless{cmd: cmd, stdin: stdin, events: make(chan event, 1024), stderr: &lockedBuffer{}}
	cmd.Stderr = h.stderr
	h.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", binary, err)
	}
	go func() {
		defer close(h.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var f map[string]any
			if json.Unmarshal(sc.Bytes(), &f) != nil {
				continue
			}
			at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(f["time"]))
			h.events <- event{fields: f, at: at}
		}
	}()
	return h, nil
}

func (h *headless) pid() int { return h.cmd.Process.Pid }

func (h *headless) send(line string) error {
	_, err := io.WriteString(h.stdin, line+"\n")
	return err
}

// wait returns the first event that matches, or an error naming what did not come.
func (h *headless) wait(within time.Duration, what string, match func(event) bool) (event, error) {
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-h.events:
			if !ok {
				return event{}, fmt.Errorf("stayline exited before %s: %s", what, tail(h.stderr.String(), 5))
			}
			if match(ev) {
				return ev, nil
			}
		case <-deadline:
			return event{}, fmt.Errorf("no %s within %s: %s", what, within, tail(h.stderr.String(), 5))
		}
	}
}

func stageIs(stage, server string) func(event) bool {
	return func(ev event) bool {
		return ev.str("event") == "stage" && ev.str("stage") == stage && (server == "" || ev.str("server") == server)
	}
}

func registeredOn(server string) func(event) bool {
	return func(ev event) bool { return ev.str("event") == "registered" && ev.str("server") == server }
}

func callIs(state string) func(event) bool {
	return func(ev event) bool { return ev.str("event") == "call" && ev.str("state") == state }
}

// quit asks the phone to stop, and kills it if it does not within 5 s.
func (h *headless) quit() {
	h.send("quit")
	done := make(chan struct{})
	go func() { h.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		h.cmd.Process.Kill()
		<-done
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
