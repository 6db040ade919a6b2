package failover

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"stayline/config"
	"stayline/netwatch"
	"stayline/phone"
)

// Rebind is the agent's move to a new address: it reports what the test set.
func (f *fakeAgent) Rebind(ctx context.Context) (phone.Rebound, error) {
	f.record("rebind", -1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rebound, nil
}

func (f *fakeAgent) setRebound(r phone.Rebound) {
	f.mu.Lock()
	f.rebound = r
	f.mu.Unlock()
}

// fakeWatcher is a netwatch.Watcher the test feeds.
type fakeWatcher struct {
	ch   chan netwatch.Change
	once sync.Once
}

func newFakeWatcher() *fakeWatcher { return &fakeWatcher{ch: make(chan netwatch.Change, 16)} }

func (w *fakeWatcher) Changes() <-chan netwatch.Change { return w.ch }
func (w *fakeWatcher) Close() error                    { w.once.Do(func() { close(w.ch) }); return nil }

// wallOf is a wall clock the test can move ahead of the manager's (monotonic) clock, as a sleep does.
type wallOf struct {
	mu    sync.Mutex
	ahead time.Duration
}

// option makes the manager check for wake-ups against this wall clock.
func (w *wallOf) option() Option {
	return func(m *Manager) {
		m.net.wakeEvery = WakeCheckEvery
		m.net.wall = func() time.Time {
			w.mu.Lock()
			defer w.mu.Unlock()
			return m.clock.Now().Add(w.ahead).Round(0)
		}
	}
}

func (w *wallOf) jump(d time.Duration) { w.mu.Lock(); w.ahead += d; w.mu.Unlock() }

// change hands the manager a change through the watcher and waits, on the real clock, until the agent was
// asked to rebind for it (the watcher's goroutine is no operation the harness can count), then settles.
func (h *harness) change(w *fakeWatcher, why string) {
	h.t.Helper()
	n := h.agent.count("rebind", -1)
	w.ch <- netwatch.Change{Why: why, Count: 1}
	for deadline := time.Now().Add(5 * time.Second); h.agent.count("rebind", -1) == n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			h.t.Fatal("the manager never took the change")
		}
	}
	h.settle()
}

// networkEvents are the network events so far.
func networkEvents(h *harness) []*NetworkEvent { return of[*NetworkEvent](h) }

// Suspend: the wall clock jumps 10 minutes past the monotonic one (the computer slept; Go's timers stood
// still with the monotonic clock, so the refresh due in 4 minutes would come 4 minutes after waking, long
// after the registrar dropped the binding). The next wake check, within a second, registers again at once
// on the server held, without any stage change.
func TestNetworkWakeFromSleepReregistersAtOnce(t *testing.T) {
	wall := &wallOf{}
	h := newHarnessRand(t, testConfig(), nil, func() float64 { return 0.5 }, wall.option())
	h.wantStage(StageNormal, "home")
	h.advance(10 * time.Second) // checks that find no jump do nothing
	if n := h.agent.count("register", 0); n != 1 || len(networkEvents(h)) != 0 {
		t.Fatalf("%d REGISTERs and %d network events without a sleep, want 1 and 0", n, len(networkEvents(h)))
	}
	stagesBefore := len(h.stages())

	wall.jump(10 * time.Minute)
	slept := h.clk.Now()
	waited := h.advanceUntil(WakeCheckEvery, "a REGISTER after the wake-up", func() bool {
		return h.agent.count("register", 0) == 2
	})
	times := h.agent.times("register", 0)
	if d := times[1].Sub(slept); d > WakeCheckEvery {
		t.Errorf("registered again %s after waking, want within one wake check (%s)", d, WakeCheckEvery)
	}
	evs := networkEvents(h)
	if len(evs) != 1 || evs[0].Detail != NetworkChangedDetail || !strings.Contains(evs[0].Reason, "woke from sleep") ||
		len(evs[0].Servers) != 1 || evs[0].Servers[0] != "home" {
		t.Fatalf("network events %+v, want one woke-from-sleep event naming home", evs)
	}
	if got := h.stages(); len(got) != stagesBefore {
		t.Errorf("stage changed on a wake-up: %v", got[stagesBefore:])
	}
	h.wantStage(StageNormal, "home")
	t.Logf("FIGURE network.wake.reregister_ms %d (fake clock; wake check every %s)", waited.Milliseconds(), WakeCheckEvery)
}

// The phone's address toward the servers changed: every server it holds registers again at once (both, with
// two simultaneous registrations), the front ends are told, and no stage changes.
func TestNetworkChangeReregistersEveryHeldServer(t *testing.T) {
	w := newFakeWatcher()
	cfg := testConfig(func(c *config.Config) {
		c.Failover.Registration = config.RegisterSimultaneous
		c.Failover.SimultaneousRegistrations = 2
	})
	h := newHarnessRand(t, cfg, nil, func() float64 { return 0.5 }, WithNetworkWatcher(w))
	h.wantStage(StageNormal, "home")
	if !h.registered(0) || !h.registered(1) {
		t.Fatal("want home and branch registered")
	}
	stagesBefore := len(h.stages())

	// A change that moves nothing: nothing is done, nothing said.
	h.change(w, "address 10.9.9.9 added on docker0")
	if h.agent.count("register", 0) != 1 || len(networkEvents(h)) != 0 {
		t.Fatalf("a change that moved no address re-registered or was announced: %v", networkEvents(h))
	}

	h.agent.setRebound(phone.Rebound{Moved: []phone.Moved{{Server: 0, From: "192.168.1.20", To: "10.0.0.7"},
		{Server: 1, From: "192.168.1.20", To: "10.0.0.7"}}, Calls: 1})
	changed := h.clk.Now()
	h.change(w, "address 192.168.1.20 removed from wlan0")
	if h.agent.count("register", 0) != 2 || h.agent.count("register", 1) != 2 {
		t.Fatalf("REGISTERs after the change: home %d, branch %d, want 2 each", h.agent.count("register", 0), h.agent.count("register", 1))
	}
	for i := 0; i < 2; i++ {
		if at := h.agent.times("register", i)[1]; !at.Equal(changed) {
			t.Errorf("server %d registered again %s after the change, want at once", i, at.Sub(changed))
		}
	}
	evs := networkEvents(h)
	if len(evs) != 1 {
		t.Fatalf("network events %+v, want one", evs)
	}
	ev := evs[0]
	if ev.Detail != "network changed: re-registering" || ev.Reason != "address 192.168.1.20 removed from wlan0" ||
		len(ev.Moved) != 2 || ev.Moved[0].Server != "home" || ev.Moved[0].To != "10.0.0.7" || ev.Calls != 1 ||
		strings.Join(ev.Servers, ",") != "home,branch" {
		t.Errorf("network event %+v", ev)
	}
	if got := h.stages(); len(got) != stagesBefore {
		t.Errorf("stage changed on a network change: %v", got[stagesBefore:])
	}
}

// While the network settles, a server the phone holds that does not answer is asked again, not lost: the
// stage stays normal. Once settled, silence is a loss again, as ever (the guard cannot hide an outage).
func TestNetworkSettleExcusesSilenceForAWhileOnly(t *testing.T) {
	w := newFakeWatcher()
	h := newHarnessRand(t, testConfig(), nil, func() float64 { return 0.5 }, WithNetworkWatcher(w))
	h.wantStage(StageNormal, "home")
	stagesBefore := len(h.stages())

	h.agent.setRebound(phone.Rebound{Moved: []phone.Moved{{Server: 0, From: "192.168.1.20", To: "10.0.0.7"}}})
	h.agent.set(0, silent) // what went out on the old address is lost: keep-alives and REGISTER unanswered
	h.change(w, "address 192.168.1.20 removed from wlan0")
	h.advance(3 * time.Second)
	if got := h.stages(); len(got) != stagesBefore {
		t.Fatalf("stage changed while the network settled: %v\n%s", got[stagesBefore:], h.dump())
	}
	if n := h.agent.count("register", 0); n < 3 {
		t.Errorf("%d REGISTERs to home while it settled, want it asked again (at least 3)", n)
	}
	h.agent.set(0, up) // the new address works
	h.advance(2 * time.Second)
	h.wantStage(StageNormal, "home")
	if got := h.stages(); len(got) != stagesBefore {
		t.Fatalf("stage changed: %v", got[stagesBefore:])
	}

	// Long after: home goes silent, and that is a loss as before.
	h.advance(10 * time.Second)
	h.agent.set(0, silent)
	h.advanceUntil(5*time.Second, "home's loss noticed", func() bool { return h.stage() != StageNormal })
}

// Many changes while one is being handled make one more round, not one each.
func TestNetworkChangesDuringARebindCoalesce(t *testing.T) {
	w := newFakeWatcher()
	h := newHarnessRand(t, testConfig(), nil, func() float64 { return 0.5 }, WithNetworkWatcher(w))
	h.wantStage(StageNormal, "home")
	h.agent.setRebound(phone.Rebound{Moved: []phone.Moved{{Server: 0, From: "a", To: "b"}}})
	h.m.call(func() {
		for i := 0; i < 10; i++ {
			h.m.networkChanged("flap", false)
		}
	})
	h.advance(time.Second)
	if n := h.agent.count("rebind", -1); n != 2 {
		t.Errorf("%d rebinds for 10 changes at once, want 2 (one, then one for the rest)", n)
	}
	if n := len(networkEvents(h)); n != 2 {
		t.Errorf("%d network events, want 2", n)
	}
}

// Where the OS says when the wall clock moved (Linux: a timerfd cancelled on resume), the manager compares
// the clocks then, with no ticker: a report after a 10-minute sleep registers again at once, without the
// clock moving; a report with no jump (the clock set to about what it was) does nothing.
func TestNetworkWakeReportedByTheOSReregistersAtOnce(t *testing.T) {
	wall := &wallOf{}
	steps := make(chan struct{}, 1)
	h := newHarnessRand(t, testConfig(), nil, func() float64 { return 0.5 }, wall.option(), func(m *Manager) {
		m.net.steps = func() (<-chan struct{}, func(), error) { return steps, func() {}, nil }
	})
	h.wantStage(StageNormal, "home")
	h.advance(5 * time.Second)
	// report hands the manager the OS's word and waits (real time, the clock not moved) until the REGISTERs
	// number want, or, when want is what they number already, a while to see none comes.
	report := func(want int) {
		t.Helper()
		steps <- struct{}{}
		wait := 5 * time.Second
		if h.agent.count("register", 0) == want {
			wait = 200 * time.Millisecond
		}
		for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			h.settle()
			if n := h.agent.count("register", 0); n > want || (n == want && wait > time.Second) {
				break
			}
		}
		if n := h.agent.count("register", 0); n != want {
			t.Fatalf("%d REGISTERs after the report, want %d", n, want)
		}
	}
	report(1) // no jump: nothing
	wall.jump(10 * time.Minute)
	report(2) // at once, the clock not moved
	if evs := networkEvents(h); len(evs) != 1 || !strings.Contains(evs[0].Reason, "woke from sleep (about 10m0s)") {
		t.Errorf("network events %+v", evs)
	}
}

// Out of service because the network was gone, the phone tries the servers as soon as a change comes,
// whether or not its address moved, instead of waiting out the backoff the dead network earned.
func TestNetworkBackWhileOutOfServiceTriesAtOnce(t *testing.T) {
	w := newFakeWatcher()
	h := newHarnessRand(t, testConfig(), map[int]mode{0: refused, 1: refused, 2: refused}, func() float64 { return 0.5 },
		WithNetworkWatcher(w))
	h.advance(20 * time.Second) // the backoff grows: 2 s, 4 s, 8 s, ...
	if st := h.stage(); st != StageNoService {
		t.Fatalf("stage %s, want noservice", st)
	}
	for i := 0; i < 3; i++ {
		h.agent.set(i, up)
	}
	tried := h.agent.count("register", 0)
	h.change(w, "route default added (via 192.168.1.1) on wlan0")
	if h.agent.count("register", 0) != tried+1 {
		t.Fatalf("home not tried at once when the network came back (REGISTERs %d -> %d)", tried, h.agent.count("register", 0))
	}
	h.wantStage(StageNormal, "home")
	if len(networkEvents(h)) != 0 {
		t.Error("a change that moved no address was announced")
	}
}

// The network event's JSON, as the headless front end writes it (README.md, "Headless control").
func TestNetworkEventJSON(t *testing.T) {
	ev := &NetworkEvent{Detail: NetworkChangedDetail, Reason: "woke from sleep (about 10m0s)", Servers: []string{"home"}}
	ev.stamp("network", time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC))
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-11-28T05:00:00.000000000Z","event":"network","detail":"network changed: re-registering",` +
		`"reason":"woke from sleep (about 10m0s)","servers":["home"]}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
}
