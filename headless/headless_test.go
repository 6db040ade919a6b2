package headless

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"stayline/config"
	"stayline/failover"
	"stayline/phone"
)

func TestParse(t *testing.T) {
	good := map[string]Command{
		"dial 1002":             {Name: "dial", Arg: "1002"},
		"  DIAL sip:1002@x.org": {Name: "dial", Arg: "sip:1002@x.org"},
		"answer":                {Name: "answer"},
		"hangup 2":              {Name: "hangup", Arg: "2"},
		"dtmf 12*#A":            {Name: "dtmf", Arg: "12*#A"},
		"status":                {Name: "status"},
		"quit":                  {Name: "quit"},
		"":                      {},
		"   ":                   {},
		"# a comment":           {},
	}
	for line, want := range good {
		got, err := Parse(line)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", line, got, err, want)
		}
	}
	bad := map[string]string{
		"dial":                              "needs an argument",
		"dial 1 2":                          "at most one argument",
		"logoff now":                        "takes no argument",
		"dtmf 12x":                          "not a DTMF digit",
		"reboot":                            "unknown command",
		"dial 1002\x00":                     "control character",
		"dial " + strings.Repeat("9", 2000): "line too long",
	}
	for line, want := range bad {
		if _, err := Parse(line); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.30q) error = %v, want %q", line, err, want)
		}
	}
}

// upAgent is a SIP agent whose servers all answer.
type upAgent struct{ events chan phone.Event }

func (upAgent) Register(_ context.Context, _ int, expires, _ time.Duration) (phone.Binding, error) {
	return phone.Binding{Expires: expires}, nil
}
func (upAgent) Unregister(context.Context, int, time.Duration) error { return nil }
func (upAgent) Probe(context.Context, int) error                     { return nil }
func (a upAgent) Events() <-chan phone.Event                         { return a.events }
func (upAgent) Listen() string                                       { return "127.0.0.1:5099" }
func (upAgent) SetServerHealth(int, bool)                            {}
func (upAgent) SetAdmission(phone.Admission)                         {}
func (upAgent) CheckBinding(context.Context, int) (phone.BindingCheck, error) {
	return phone.BindingReached, nil
}
func (upAgent) DialVia(context.Context, phone.NextServer, string, time.Duration) (string, error) {
	return "", phone.ErrNoResponse
}
func (upAgent) DialServers(context.Context, []int, string, time.Duration) (string, error) {
	return "", phone.ErrNoResponse
}
func (upAgent) Answer(string) error                                    { return nil }
func (upAgent) Hangup(string, string) error                            { return nil }
func (upAgent) Hold(string) error                                      { return nil }
func (upAgent) Resume(string) error                                    { return nil }
func (upAgent) SendDTMF(string, string) error                          { return nil }
func (upAgent) Calls() []phone.CallInfo                                { return nil }
func (upAgent) Transfer(string, string) error                          { return nil }
func (upAgent) Conference(...string) error                             { return nil }
func (upAgent) SubscribeMWI(context.Context, int, time.Duration) error { return nil }
func (upAgent) UnsubscribeMWI(context.Context, int) error              { return nil }

var timeFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

// watchedBuffer keeps the output and closes normal once a stage event says normal.
type watchedBuffer struct {
	mu     sync.Mutex
	b      strings.Builder
	normal chan struct{}
	once   sync.Once
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if strings.Contains(string(p), `"stage":"normal"`) {
		w.once.Do(func() { close(w.normal) })
	}
	return w.b.Write(p)
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestRunSpeaksTheContract(t *testing.T) {
	cfg := config.Default()
	cfg.Account = config.Account{User: "1001", Domain: "example.com"}
	cfg.Servers = []config.Server{{Name: "home", Address: "127.0.0.1:5060", Transport: config.TransportUDP}}
	m := failover.New(&cfg, upAgent{events: make(chan phone.Event)})
	pr, pw := io.Pipe()
	out := &watchedBuffer{normal: make(chan struct{})}
	go func() {
		<-out.normal // the commands below assume the phone is registered
		io.WriteString(pw, "status\nbogus\nlogoff\nlogoff\ndial 1002\nquit\n")
	}()
	if err := Run(context.Background(), m, pr, out); err != nil {
		t.Fatal(err)
	}
	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		if ts, _ := ev["time"].(string); !timeFormat.MatchString(ts) {
			t.Errorf("time %q is not RFC 3339 UTC with nanoseconds", ev["time"])
		}
		events = append(events, ev)
	}
	find := func(name string, match func(map[string]any) bool) map[string]any {
		for _, ev := range events {
			if ev["event"] == name && (match == nil || match(ev)) {
				return ev
			}
		}
		t.Fatalf("no %s event in:\n%s", name, out.String())
		return nil
	}
	st := find("status", nil)
	if st["listen"] != "127.0.0.1:5099" || st["stage"] != "normal" || st["server"] != "home" {
		t.Errorf("status = %v", st)
	}
	find("error", func(ev map[string]any) bool {
		return strings.Contains(ev["reason"].(string), `unknown command "bogus"`)
	})
	find("unregistered", func(ev map[string]any) bool { return ev["reason"] == "logged off" })
	find("refused", func(ev map[string]any) bool {
		return ev["action"] == "logoff" && ev["reason"] == "The phone is logged off"
	})
	find("refused", func(ev map[string]any) bool { return ev["action"] == "dial" })
	last := events[len(events)-1]
	if last["event"] != "stage" || last["reason"] != "quit" {
		t.Errorf("last event %v, want the final stage event", last)
	}
}
