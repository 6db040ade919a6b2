package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"stayline/config"
	"stayline/history"
	"stayline/lab"
	"stayline/lab/labtest"
	"stayline/phone"
)

// The real binary, run headless against the real lab: the contract of README.md, "Headless control" end to end.

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
	stdout *syncBuffer // every line written, events included
	stderr *syncBuffer
	start  time.Time
}

// syncBuffer is a strings.Builder that the process's writer and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startPhone(t *testing.T, cfgPath string, flags ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"-headless", "-config", cfgPath}, flags...)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	p := &proc{t: t, cmd: cmd, stdin: stdin, events: make(chan map[string]any, 256), stdout: &syncBuffer{},
		stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.stdout.Write(append(sc.Bytes(), '\n'))
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

// kill -9 of the phone loses nothing: the configuration and the instance id are as they were, and the next
// start registers cleanly, its binding replacing the one the killed run left (no stale contact rings).
func TestKilledPhoneRestartsCleanly(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "phone.toml")
	cfgText := []byte(pair.PhoneConfig("1001", lab.LabTimers, ""))
	if err := os.WriteFile(cfgPath, cfgText, 0o600); err != nil {
		t.Fatal(err)
	}
	first := startPhone(t, cfgPath)
	first.wait(5*time.Second, "normal", stageIs("normal", "home"))
	instance, err := os.ReadFile(filepath.Join(dir, "instance-id"))
	if err != nil {
		t.Fatal(err)
	}
	first.cmd.Process.Signal(syscall.SIGKILL)
	first.cmd.Wait()

	next := startPhone(t, cfgPath)
	reg := next.wait(5*time.Second, "registered on home after kill -9", func(ev map[string]any) bool {
		return ev["event"] == "registered" && ev["server"] == "home"
	})
	t.Logf("FIGURE restart.registered_ms %d (kill -9, restart -> registered on home)",
		reg["_received"].(time.Time).Sub(next.start).Milliseconds())
	if got, _ := os.ReadFile(cfgPath); string(got) != string(cfgText) {
		t.Errorf("configuration changed by kill -9 and restart:\n%s", got)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "instance-id")); string(again) != string(instance) {
		t.Errorf("instance id %q became %q", instance, again)
	}

	// What the registrar holds for 1001 now: ask it as a second device would.
	cfg, err := config.Parse("probe.toml", cfgText)
	if err != nil {
		t.Fatal(err)
	}
	probe, err := phone.Start(phone.Options{Account: cfg.Account, Servers: cfg.Servers[:1], Listen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := probe.Register(ctx, 0, 60*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Contacts) != 2 {
		t.Errorf("home holds %d bindings for 1001 (%v), want 2: the restarted phone and the probe", len(b.Contacts), b.Contacts)
	}
	next.send("quit")
	if err := next.cmd.Wait(); err != nil {
		t.Fatalf("exit: %v; stderr:\n%s", err, next.stderr)
	}
}

// Passwords never reach the logs (even at debug level), the events or the timeline built from them: not
// the right one through a failover, a call and a status, not a wrong one through the refusals.
func TestPasswordsNeverInLogsOrEvents(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{EchoAddr: labtest.Echo(t)})
	dir := t.TempDir()
	run := func(name, password string, script func(p *proc)) string {
		cfgPath := filepath.Join(dir, name+".toml")
		text := strings.Replace(pair.PhoneConfig("1001", lab.LabTimers, ""), "password = \""+lab.Password+"\"",
			"password = \""+password+"\"", 1)
		if !strings.Contains(text, password) {
			t.Fatal("the lab configuration has no password line to replace")
		}
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		p := startPhone(t, cfgPath, "-log-level", "debug")
		script(p)
		p.send("quit")
		p.cmd.Wait()
		return p.stdout.String() + p.stderr.String()
	}
	good := run("good", lab.Password, func(p *proc) {
		p.wait(5*time.Second, "normal", stageIs("normal", "home"))
		p.send("dial 600")
		p.wait(5*time.Second, "call active", func(ev map[string]any) bool { return ev["event"] == "call" && ev["state"] == "active" })
		p.send("status")
		p.wait(2*time.Second, "status", func(ev map[string]any) bool { return ev["event"] == "status" })
		pair.Home.Kill()
		p.wait(5*time.Second, "alternate", stageIs("alternate", "alternate"))
		p.send("hangup")
		p.wait(3*time.Second, "ended", func(ev map[string]any) bool { return ev["event"] == "call" && ev["state"] == "ended" })
	})
	const wrong = "Wr0ng-Pa55word-9q"
	bad := run("bad", wrong, func(p *proc) {
		p.wait(5*time.Second, "auth failure", func(ev map[string]any) bool {
			return ev["event"] == "server" && ev["state"] == "auth_failed"
		})
	})
	for _, c := range []struct{ out, password string }{{good, lab.Password}, {bad, wrong}} {
		if n := strings.Count(c.out, c.password); n != 0 {
			i := strings.Index(c.out, c.password)
			t.Errorf("password %q appears %d times in the output, first at: %q", c.password, n, c.out[max(0, i-200):i+len(c.password)])
		}
	}
	if lines := strings.Count(good, "\n") + strings.Count(bad, "\n"); lines < 50 {
		t.Errorf("only %d lines of output: debug logging did not run, the check proves nothing", lines)
	}
	t.Logf("FIGURE passwords.checked_lines %d (debug log + events, no password)", strings.Count(good+bad, "\n"))
}

// Every call goes to the history beside the configuration as it ends, so a kill -9 right after keeps it.
func TestCallHistorySurvivesAKill(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{EchoAddr: labtest.Echo(t)})
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "phone.toml")
	if err := os.WriteFile(cfgPath, []byte(pair.PhoneConfig("1001", lab.LabTimers, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPhone(t, cfgPath)
	p.wait(5*time.Second, "normal", stageIs("normal", "home"))
	p.send("dial 600")
	p.wait(5*time.Second, "call active", func(ev map[string]any) bool { return ev["event"] == "call" && ev["state"] == "active" })
	time.Sleep(1100 * time.Millisecond)
	p.send("hangup")
	ended := p.wait(3*time.Second, "call ended", func(ev map[string]any) bool { return ev["event"] == "call" && ev["state"] == "ended" })
	if ended["direction"] != "out" || ended["server"] != "home" {
		t.Errorf("call event %v lacks direction out and server home", ended)
	}
	p.send("dial 1099") // nobody: a failed call
	p.wait(5*time.Second, "second call ended", func(ev map[string]any) bool { return ev["event"] == "call" && ev["state"] == "ended" })
	time.Sleep(100 * time.Millisecond) // the recorder writes as the event goes by
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()

	hist, err := history.Open(history.Path(cfgPath), 0)
	if err != nil {
		t.Fatal(err)
	}
	calls := hist.Entries()
	if len(calls) != 2 {
		t.Fatalf("history after kill -9: %+v, want the two calls", calls)
	}
	if c := calls[1]; c.Direction != "out" || !strings.HasPrefix(c.Party, "600@") || c.Result != history.Answered ||
		c.Talk < time.Second || c.Server != "home" {
		t.Errorf("first call recorded as %+v", c)
	}
	if c := calls[0]; !strings.HasPrefix(c.Party, "1099@") || c.Result != history.Failed || c.Reason == "" {
		t.Errorf("second call recorded as %+v", c)
	}
}

// Click-to-dial: a link given to a second run is dialled by the running phone; with none running, the
// run that got the link starts and dials it once it has service.
func TestLinksAreDialledByTheRunningPhone(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{EchoAddr: labtest.Echo(t)})
	cfgPath := filepath.Join(t.TempDir(), "phone.toml")
	if err := os.WriteFile(cfgPath, []byte(pair.PhoneConfig("1001", lab.LabTimers, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	// None running: this run starts with the link and places the call itself.
	first := startPhone(t, cfgPath, "tel:600")
	active := first.wait(5*time.Second, "the link's call", func(ev map[string]any) bool {
		return ev["event"] == "call" && ev["state"] == "active"
	})
	if !strings.HasPrefix(fmt.Sprint(active["remote"]), "600@") {
		t.Fatalf("the link's call went to %v", active["remote"])
	}
	first.send("hangup")
	first.wait(3*time.Second, "ended", func(ev map[string]any) bool { return ev["event"] == "call" && ev["state"] == "ended" })

	// A second run with a link hands it over and exits at once.
	handed := time.Now()
	out, err := exec.Command(binary, "-config", cfgPath, "sip:600@"+pair.Home.Addr()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "calling sip:600@") {
		t.Fatalf("second run: %v, %s", err, out)
	}
	first.wait(5*time.Second, "the handed link's call", func(ev map[string]any) bool {
		return ev["event"] == "call" && ev["state"] == "active"
	})
	t.Logf("FIGURE link.handover_ms %d (second run with a sip: link -> call active in the running phone)",
		time.Since(handed).Milliseconds())
	// A refusal comes back to the run that asked.
	first.send("logoff")
	out, err = exec.Command(binary, "-config", cfgPath, "tel:600").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refused") {
		t.Errorf("a link while the phone cannot call: %v, %s", err, out)
	}
	first.send("quit")
	first.cmd.Wait()
}

// A deskphone settings file served over HTTP becomes the configuration, and the phone runs on it: the
// provisioning path an administrator uses, end to end.
func TestProvisionedPhoneRegistersOnHome(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{})
	settings := pair.SettingsFile(lab.LabTimers) + "SET VOICEMAIL_EXTENSION 600\nSET SIPREGPROXYPOLICY simultaneous\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/46xxsettings.txt" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, settings)
	}))
	defer srv.Close()
	cfgPath := filepath.Join(t.TempDir(), "stayline", "phone.toml")
	provision := func(args ...string) (string, error) {
		cmd := exec.Command(binary, append([]string{"-config", cfgPath, "-provision"}, args...)...)
		cmd.Env = append(os.Environ(), "STAYLINE_PASSWORD="+lab.Password)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// A settings line that cannot be applied writes nothing, and says which line.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "SET SIPREGPROXYPOLICY alternate\nSET FAST_RESPONSE_TIMEOUT soon\n")
	}))
	defer bad.Close()
	out, err := provision(bad.URL+"/bad.txt", "-user", "1001")
	if err == nil || !strings.Contains(out, bad.URL+"/bad.txt:2: FAST_RESPONSE_TIMEOUT") {
		t.Fatalf("bad settings: %v\n%s", err, out)
	}
	if _, err := os.Stat(cfgPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed import wrote the configuration: %v", err)
	}

	out, err = provision(srv.URL+"/46xxsettings.txt", "-user", "1001")
	if err != nil {
		t.Fatalf("provision: %v\n%s", err, out)
	}
	for _, want := range []string{"SIP_CONTROLLER_LIST -> server", "unknown to Stayline (not applied) (1):",
		"VOICEMAIL_EXTENSION (" + srv.URL + "/46xxsettings.txt:", "wrote " + cfgPath} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Failover.Registration != config.RegisterSimultaneous || len(cfg.Servers) != 2 ||
		cfg.Account.User != "1001" {
		t.Fatalf("imported configuration: %+v", cfg)
	}

	p := startPhone(t, cfgPath)
	seen := map[string]bool{}
	for len(seen) < 3 { // registered on both (simultaneous), in service on home; in any order
		ev := p.wait(5*time.Second, fmt.Sprintf("registered on both and normal on home (have %v)", seen),
			func(ev map[string]any) bool {
				return ev["event"] == "registered" || stageIs("normal", "home")(ev)
			})
		seen[fmt.Sprint(ev["event"], " ", ev["server"])] = true
	}
	p.send("quit")
	p.cmd.Wait()

	// Importing again onto the existing file keeps what the file has and the settings do not say.
	settings = "SET SIPREGPROXYPOLICY alternate\n"
	out, err = provision(srv.URL + "/46xxsettings.txt")
	if err != nil || !strings.Contains(out, "updated "+cfgPath) {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	again, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if again.Failover.Registration != config.RegisterAlternate || len(again.Servers) != 2 || again.Account.User != "1001" ||
		again.Failover.KeepaliveInterval != cfg.Failover.KeepaliveInterval {
		t.Fatalf("second import lost settings: %+v", again)
	}
}

// A server given as a domain is the SRV set DNS has for it (RFC 3263), and failover walks that set: the
// first target is down, so the phone serves from the second; when that one dies, from the third.
func TestSRVSetWithItsFirstTargetDown(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{})
	dead, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	d, err := lab.StartDNS(
		`lab.test. 60 IN NAPTR 10 10 "S" "SIP+D2U" "" _sip._udp.lab.test.`,
		fmt.Sprintf(`_sip._udp.lab.test. 60 IN SRV 10 0 %d down.lab.test.`, dead),
		`_sip._udp.lab.test. 60 IN SRV 20 0 `+port(pair.Home.Addr())+` first.lab.test.`,
		`_sip._udp.lab.test. 60 IN SRV 30 0 `+port(pair.Alternate.Addr())+` second.lab.test.`,
		`down.lab.test. 60 IN A 127.0.0.1`, `first.lab.test. 60 IN A 127.0.0.1`, `second.lab.test. 60 IN A 127.0.0.1`,
	)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	text := pair.PhoneConfig("1001", lab.LabTimers, "")
	servers := text[strings.Index(text, "[[server]]"):strings.Index(text, "[failover]")]
	text = strings.Replace(text, servers, "[[server]]\nname = \"lab\"\naddress = \"lab.test\"\n\n", 1)
	text = strings.Replace(text, "listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:0\"\ndns = \""+d.Addr()+"\"", 1)
	cfgPath := filepath.Join(t.TempDir(), "phone.toml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	p := startPhone(t, cfgPath)
	p.wait(5*time.Second, "registered on the second SRV target", func(ev map[string]any) bool {
		return ev["event"] == "registered" && ev["server"] == "lab 2"
	})
	p.wait(5*time.Second, "stage alternate on lab 2", stageIs("alternate", "lab 2"))
	if n := len(pair.Home.RegisterLines()); n == 0 {
		t.Fatal("the home Kamailio (second target) saw no REGISTER")
	}
	if err := pair.Home.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(8*time.Second, "stage alternate on lab 3", stageIs("alternate", "lab 3"))
	if len(pair.Alternate.RegisterLines()) == 0 {
		t.Fatal("the alternate Kamailio (third target) saw no REGISTER")
	}
	p.send("quit")
	p.cmd.Wait()
	q := strings.Join(d.Queries(), ", ")
	for _, want := range []string{"NAPTR lab.test", "SRV _sip._udp.lab.test", "A down.lab.test"} {
		if !strings.Contains(q, want) {
			t.Errorf("the phone did not ask %q (asked: %s)", want, q)
		}
	}
	if !strings.Contains(p.stderr.String(), "servers discovered") {
		t.Errorf("discovery not logged:\n%s", p.stderr)
	}
}
