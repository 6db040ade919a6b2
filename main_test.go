package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stayline/lab"
	"stayline/lab/labtest"
)

// The real binary, run headless against the real lab: the contract of DESIGN.md §4 end to end.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stayline-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "stayline")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build stayline: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan map[string]any
	stderr *strings.Builder
	start  time.Time
}

func startPhone(t *testing.T, cfgPath string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "-headless", "-config", cfgPath)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	p := &proc{t: t, cmd: cmd, stdin: stdin, events: make(chan map[string]any, 256), stderr: &strings.Builder{}}
	cmd.Stderr = p.stderr
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("stdout line is not JSON: %q", sc.Text())
				continue
			}
			ev["_received"] = time.Now()
			p.events <- ev
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

func (p *proc) send(line string) {
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("write %q: %v", line, err)
	}
}

func (p *proc) wait(within time.Duration, what string, match func(map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				p.t.Fatalf("stdout closed before %s; stderr:\n%s", what, p.stderr)
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			p.t.Fatalf("no %s within %s; stderr:\n%s", what, within, p.stderr)
		}
	}
}

func stageIs(stage, server string) func(map[string]any) bool {
	return func(ev map[string]any) bool {
		return ev["event"] == "stage" && ev["stage"] == stage && (server == "" || ev["server"] == server)
	}
}

func TestHeadlessBinaryFailsOverAndQuits(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{})
	cfgPath := filepath.Join(t.TempDir(), "phone.toml")
	if err := os.WriteFile(cfgPath, []byte(pair.PhoneConfig("1001", lab.LabTimers, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPhone(t, cfgPath)
	reg := p.wait(5*time.Second, "registered on home", func(ev map[string]any) bool {
		return ev["event"] == "registered" && ev["server"] == "home"
	})
	t.Logf("FIGURE start.registered_ms %d (process start -> registered event, headless)",
		reg["_received"].(time.Time).Sub(p.start).Milliseconds())
	p.wait(2*time.Second, "normal", stageIs("normal", "home"))

	p.send("status")
	st := p.wait(2*time.Second, "status", func(ev map[string]any) bool { return ev["event"] == "status" })
	if listen, _ := st["listen"].(string); !strings.HasPrefix(listen, "127.0.0.1:") || strings.HasSuffix(listen, ":0") {
		t.Errorf("status listen = %v, want the phone's SIP host:port", st["listen"])
	}
	if regs, _ := st["registrations"].([]any); len(regs) != 2 {
		t.Errorf("status registrations = %v", st["registrations"])
	}
	if calls, ok := st["calls"].([]any); !ok || calls == nil {
		t.Errorf("status calls = %v, want a list", st["calls"])
	}

	killed := time.Now()
	if err := pair.Home.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(5*time.Second, "transition", stageIs("transition", ""))
	alt := p.wait(5*time.Second, "alternate", stageIs("alternate", "alternate"))
	t.Logf("FIGURE failover.alternate.recover_ms %d (binary, kill -9 of home -> stage alternate)",
		alt["_received"].(time.Time).Sub(killed).Milliseconds())

	p.send("logoff")
	ref := p.wait(2*time.Second, "refused logoff", func(ev map[string]any) bool { return ev["event"] == "refused" })
	if ref["action"] != "logoff" || ref["reason"] != "Log off is not available during failover" {
		t.Errorf("refused = %v", ref)
	}
	p.send("nonsense")
	p.wait(2*time.Second, "error for a bad command", func(ev map[string]any) bool { return ev["event"] == "error" })

	p.send("quit")
	last := p.wait(5*time.Second, "last stage event", func(ev map[string]any) bool {
		return ev["event"] == "stage" && ev["reason"] != nil && strings.HasPrefix(ev["reason"].(string), "quit")
	})
	if last["stage"] != "alternate" {
		t.Errorf("quit during failover: last stage %v, want alternate (registration kept)", last["stage"])
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v; stderr:\n%s", err, p.stderr)
	}
	for _, l := range pair.Alternate.RegisterLines() {
		if strings.Contains(l, "expires=0") {
			t.Errorf("quit during failover unregistered from the alternate: %s", l)
		}
	}
}

func TestBadConfigurationExitsNamingTheLine(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "phone.toml")
	os.WriteFile(cfgPath, []byte("[account]\nuser = \"1001\"\n[[server]]\nname = \"home\"\naddress = \"127.0.0.1\"\ntransport = \"carrier-pigeon\"\n"), 0o600)
	out, err := exec.Command(binary, "-headless", "-config", cfgPath).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("exit %v, want non-zero", err)
	}
	if want := cfgPath + ":6: server[0].transport"; !strings.Contains(string(out), want) {
		t.Fatalf("output %q does not name %q", out, want)
	}
}

func TestHeadlessBinaryPlacesACall(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{EchoAddr: labtest.Echo(t)})
	cfgPath := filepath.Join(t.TempDir(), "phone.toml")
	if err := os.WriteFile(cfgPath, []byte(pair.PhoneConfig("1001", lab.LabTimers, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPhone(t, cfgPath)
	p.wait(5*time.Second, "normal", stageIs("normal", "home"))
	dialed := time.Now()
	p.send("dial 600")
	active := p.wait(5*time.Second, "call active", func(ev map[string]any) bool {
		return ev["event"] == "call" && ev["state"] == "active"
	})
	t.Logf("FIGURE call.setup_ms %d (binary: dial command -> call active event, through Kamailio to the echo)",
		active["_received"].(time.Time).Sub(dialed).Milliseconds())
	time.Sleep(time.Second)
	p.send("status")
	st := p.wait(2*time.Second, "status", func(ev map[string]any) bool { return ev["event"] == "status" })
	calls, _ := st["calls"].([]any)
	if len(calls) != 1 {
		t.Fatalf("status calls %v", st["calls"])
	}
	c := calls[0].(map[string]any)
	if c["codec"] != "PCMU" || c["rx_packets"].(float64) < 30 || c["tx_packets"].(float64) < 30 || c["lost"].(float64) != 0 {
		t.Fatalf("call figures %v", c)
	}
	p.send("hangup")
	ended := p.wait(3*time.Second, "call ended", func(ev map[string]any) bool {
		return ev["event"] == "call" && ev["state"] == "ended"
	})
	if ended["reason"] != "hung up" {
		t.Fatalf("ended %v", ended)
	}
	p.send("quit")
	if err := p.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
