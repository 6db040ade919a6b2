package app

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"fyne.io/fyne/v2/test"

	"stayline/config"
	"stayline/failover"
)

// fakeController records what the window asked for.
type fakeController struct {
	mu    sync.Mutex
	calls []string
	done  chan struct{}
}

func (f *fakeController) note(s string) error {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
	f.done <- struct{}{}
	return nil
}
func (f *fakeController) Subscribe() *failover.Subscription { return nil }
func (f *fakeController) Request(a failover.Action, arg string) error {
	return f.note(strings.TrimSpace(string(a) + " " + arg))
}

func newTestWindow(t *testing.T) (*Window, *fakeController) {
	t.Helper()
	a := test.NewTempApp(t)
	cfg := config.Default()
	cfg.Account = config.Account{User: "1001", DisplayName: "Front desk"}
	ctl := &fakeController{done: make(chan struct{}, 8)}
	w := New(a, ctl, &cfg)
	t.Cleanup(w.Win.Close)
	return w, ctl
}

// Each stage shows its message and marker, and exactly the soft keys the manager allows (the manager's
// own tests prove which those are).
func TestStagesShowMessageMarkerAndKeys(t *testing.T) {
	cases := []struct {
		stage   failover.Stage
		server  string
		actions []failover.Action
		message string
		keys    []string
		marker  bool
	}{
		{failover.StageNormal, "home", []failover.Action{failover.ActDial, failover.ActLogoff}, "", []string{"Dial"}, false},
		{failover.StageTransition, "", []failover.Action{}, "Acquiring service...", nil, true},
		{failover.StageAlternate, "branch", []failover.Action{failover.ActDial, failover.ActFailback}, "Limited phone service", []string{"Dial", "Failback"}, true},
		{failover.StageFailback, "branch", []failover.Action{}, "Returning to the home server...", nil, true},
		{failover.StageNoService, "", []failover.Action{}, "No service", nil, true},
	}
	for _, c := range cases {
		t.Run(string(c.stage), func(t *testing.T) {
			w, _ := newTestWindow(t)
			w.apply(&failover.StageEvent{Stage: c.stage, Server: c.server})
			w.apply(&failover.ActionsEvent{Available: c.actions})
			if w.Message.Text != c.message {
				t.Errorf("message %q, want %q", w.Message.Text, c.message)
			}
			if w.Server.Text != c.server {
				t.Errorf("server %q, want %q", w.Server.Text, c.server)
			}
			if (w.Failover.Text != "") != c.marker {
				t.Errorf("failover marker %q in %s", w.Failover.Text, c.stage)
			}
			if got := w.VisibleKeys(); !slices.Equal(got, c.keys) {
				t.Errorf("soft keys %v, want %v", got, c.keys)
			}
		})
	}
}

func TestRefusalIsShownWithItsReason(t *testing.T) {
	w, _ := newTestWindow(t)
	w.apply(&failover.RefusedEvent{Action: failover.ActLogoff, Reason: "Log off is not available during failover"})
	if w.Message.Text != "Log off is not available during failover" {
		t.Fatalf("message %q", w.Message.Text)
	}
}

func TestSoftKeyRunsTheActionThroughTheManager(t *testing.T) {
	w, ctl := newTestWindow(t)
	w.apply(&failover.ActionsEvent{Available: []failover.Action{failover.ActDial, failover.ActLogoff}})
	test.Type(w.Number, "1002")
	test.Tap(w.keys[failover.ActDial])
	<-ctl.done
	if !slices.Equal(ctl.calls, []string{"dial 1002"}) {
		t.Fatalf("calls %v", ctl.calls)
	}
	if got := w.PhoneItems(); !slices.Equal(got, []string{"Dial", "Log off"}) {
		t.Fatalf("Phone list %v, want Dial and Log off", got)
	}
}
