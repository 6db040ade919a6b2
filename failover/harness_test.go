package failover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stayline/config"
	"stayline/internal/clock"
	"stayline/phone"
)

// mode is how a fake server behaves.
type mode int

const (
	up          mode = iota // answers at once
	silent                  // never answers (a dead UDP server, a partition): requests wait for their deadline
	refused                 // fails at once (TCP connection refused)
	badPassword             // answers REGISTER with 403
	unavailable             // answers 503, with Retry-After if set
)

// fakeAgent stands in for the SIP user agent.
type fakeAgent struct {
	mu         sync.Mutex
	modes      map[int]mode
	regModes   map[int]mode // overrides modes for REGISTER only
	retryAfter time.Duration
	granted    time.Duration // 0: grant what was asked
	log        []string      // "register 0", "probe 1", "unregister 0", in order
	at         []time.Time   // when each log entry happened, on the test clock
	clk        *clock.Fake
	blocked    atomic.Int64 // calls waiting for their context to end
	events     chan phone.Event
	health     []string // SetServerHealth calls, "server=up"
	admission  phone.Admission
	nextCall   int
	rebound    phone.Rebound // what Rebind reports (network_test.go)
}

func newFakeAgent(clk *clock.Fake) *fakeAgent {
	return &fakeAgent{modes: map[int]mode{}, regModes: map[int]mode{}, clk: clk, events: make(chan phone.Event, 16)}
}

func (f *fakeAgent) set(server int, m mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.modes[server] = m
}

// setRegister makes REGISTER to server behave as m while keep-alives keep their own mode.
func (f *fakeAgent) setRegister(server int, m mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regModes[server] = m
}

func (f *fakeAgent) record(op string, server int) mode {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf("%s %d", op, server))
	f.at = append(f.at, f.clk.Now())
	if m, ok := f.regModes[server]; ok && op == "register" {
		return m
	}
	return f.modes[server]
}

// count is how many times op was called for server.
func (f *fakeAgent) count(op string, server int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, l := range f.log {
		if l == fmt.Sprintf("%s %d", op, server) {
			n++
		}
	}
	return n
}

// times are the clock times of each call of op to server.
func (f *fakeAgent) times(op string, server int) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Time
	for i, l := range f.log {
		if l == fmt.Sprintf("%s %d", op, server) {
			out = append(out, f.at[i])
		}
	}
	return out
}

func (f *fakeAgent) answer(ctx context.Context, m mode, what string) error {
	switch m {
	case silent:
		f.blocked.Add(1)
		<-ctx.Done()
		f.blocked.Add(-1)
		return ctx.Err()
	case refused:
		return errors.New("connect: connection refused")
	case badPassword:
		if what == "register" {
			return fmt.Errorf("%w: %w", phone.ErrAuth, &phone.StatusError{Method: "REGISTER", Code: 403, Reason: "Forbidden"})
		}
	case unavailable:
		f.mu.Lock()
		ra := f.retryAfter
		f.mu.Unlock()
		return &phone.StatusError{Method: strings.ToUpper(what), Code: 503, Reason: "Service Unavailable", RetryAfter: ra}
	}
	return nil
}

func (f *fakeAgent) Register(ctx context.Context, server int, expires, reqTimeout time.Duration) (phone.Binding, error) {
	m := f.record("register", server)
	if err := f.answer(ctx, m, "register"); err != nil {
		return phone.Binding{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.granted > 0 {
		expires = f.granted
	}
	return phone.Binding{Expires: expires}, nil
}

func (f *fakeAgent) Unregister(ctx context.Context, server int, reqTimeout time.Duration) error {
	return f.answer(ctx, f.record("unregister", server), "unregister")
}

func (f *fakeAgent) Probe(ctx context.Context, server int) error {
	return f.answer(ctx, f.record("probe", server), "options")
}

func (f *fakeAgent) Events() <-chan phone.Event { return f.events }
func (f *fakeAgent) Listen() string             { return "127.0.0.1:5099" }

func (f *fakeAgent) SetServerHealth(server int, up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.health = append(f.health, fmt.Sprintf("%d=%v", server, up))
}

func (f *fakeAgent) SetAdmission(a phone.Admission) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.admission = a
}

// Dial answers like the server in its mode; a call through a live server becomes active at once.
func (f *fakeAgent) Dial(ctx context.Context, server int, target string, respTimeout time.Duration) (string, error) {
	m := f.record("dial", server)
	switch m {
	case silent, refused:
		return "", fmt.Errorf("%w (fake)", phone.ErrNoResponse)
	case unavailable:
		return "", &phone.StatusError{Method: "INVITE", Code: 503}
	}
	f.mu.Lock()
	f.nextCall++
	id := fmt.Sprint(f.nextCall)
	f.mu.Unlock()
	f.callEvent(id, phone.CallActive, server, "")
	return id, nil
}

func (f *fakeAgent) callEvent(id string, st phone.CallState, server int, reason string) {
	f.events <- phone.Event{Kind: phone.EventCall, Server: server,
		Call: phone.CallInfo{ID: id, State: st, Remote: "1002@example.com", Server: server, Reason: reason}}
}

func (f *fakeAgent) callOp(op, id string) error {
	f.mu.Lock()
	f.log = append(f.log, op+" "+id)
	f.at = append(f.at, f.clk.Now())
	f.mu.Unlock()
	return nil
}

func (f *fakeAgent) Answer(id string) error {
	f.callOp("answer", id)
	f.callEvent(id, phone.CallActive, 0, "")
	return nil
}

func (f *fakeAgent) Hangup(id, reason string) error {
	f.callOp("hangup", id)
	f.callEvent(id, phone.CallEnded, 0, reason)
	return nil
}

func (f *fakeAgent) Hold(id string) error {
	f.callOp("hold", id)
	f.callEvent(id, phone.CallHeld, 0, "")
	return nil
}

func (f *fakeAgent) Resume(id string) error {
	f.callOp("resume", id)
	f.callEvent(id, phone.CallActive, 0, "")
	return nil
}

func (f *fakeAgent) SendDTMF(id, digits string) error { return f.callOp("dtmf", id+" "+digits) }
func (f *fakeAgent) Transfer(id, target string) error { return f.callOp("transfer", id+" "+target) }
func (f *fakeAgent) Conference(ids ...string) error {
	return f.callOp("conference", strings.Join(ids, " "))
}

func (f *fakeAgent) SubscribeMWI(ctx context.Context, server int, expires time.Duration) error {
	m := f.record("subscribe", server)
	if m != up {
		return errors.New("no MWI (fake)")
	}
	return nil
}

func (f *fakeAgent) UnsubscribeMWI(ctx context.Context, server int) error {
	f.record("unsubscribe", server)
	return nil
}
func (f *fakeAgent) Calls() []phone.CallInfo { return nil }

// harness runs a Manager on a fake clock and collects its events.
type harness struct {
	t     *testing.T
	clk   *clock.Fake
	agent *fakeAgent
	m     *Manager
	sub   *Subscription

	mu     sync.Mutex
	events []Event
	got    atomic.Int64
}

var t0 = time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)

// testConfig is a home and two alternates with the lab's timers.
func testConfig(edit ...func(*config.Config)) *config.Config {
	cfg := config.Default()
	cfg.Account = config.Account{User: "1001", Password: "secret", Domain: "example.com"}
	cfg.Servers = []config.Server{
		{Name: "home", Address: "127.0.0.1:5060", Transport: config.TransportUDP},
		{Name: "branch", Address: "127.0.0.1:5070", Transport: config.TransportUDP, Features: []config.Feature{config.FeatureHold}},
		{Name: "backup", Address: "127.0.0.1:5080", Transport: config.TransportUDP, Features: []config.Feature{}},
	}
	f := &cfg.Failover
	f.KeepaliveInterval = config.Duration(time.Second)
	f.KeepaliveTimeout = config.Duration(500 * time.Millisecond)
	f.KeepaliveMisses = 1
	f.FailbackHolddown = config.Duration(10 * time.Second)
	f.FailbackSpread = 0 // exact hold-downs; TestHolddownSpread draws one
	f.BackoffBase = config.Duration(2 * time.Second)
	f.BackoffMax = config.Duration(60 * time.Second)
	f.RegisterExpires = config.Duration(300 * time.Second)
	for _, e := range edit {
		e(&cfg)
	}
	return &cfg
}

// newHarness starts a manager whose "random" factor is always 0.5.
func newHarness(t *testing.T, cfg *config.Config, modes map[int]mode) *harness {
	t.Helper()
	return newHarnessRand(t, cfg, modes, func() float64 { return 0.5 })
}

// newHarnessRand starts a manager drawing its random factors from r.
func newHarnessRand(t *testing.T, cfg *config.Config, modes map[int]mode, r func() float64, extra ...Option) *harness {
	t.Helper()
	clk := clock.NewFake(t0)
	agent := newFakeAgent(clk)
	for s, md := range modes {
		agent.set(s, md)
	}
	h := &harness{t: t, clk: clk, agent: agent}
	h.m = New(cfg, agent, append([]Option{WithClock(clk), WithRand(r),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, extra...)...)
	h.sub = h.m.Subscribe() // before Start: no event may be missed
	h.m.Start()
	go func() {
		for ev := range h.sub.C {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.mu.Unlock()
			h.got.Add(1)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.m.Shutdown(ctx)
	})
	h.settle()
	return h
}

// settle waits until the manager has taken every result that can arrive without the clock moving, and
// the collector has every event published so far.
func (h *harness) settle() {
	h.t.Helper()
	for i := 0; ; i++ {
		// An agent event the loop has taken is handled before the barrier below.
		pending := len(h.agent.events)
		if err := h.m.call(func() {}); err != nil {
			// Stopped: only the delivery of what was published is left to wait for.
			if h.got.Load() == h.sub.pushed.Load() {
				return
			}
			runtime.Gosched()
			continue
		}
		quiet := pending == 0 && h.m.inflight.Load() == h.agent.blocked.Load() && len(h.m.inbox) == 0
		if quiet && h.got.Load() == h.sub.pushed.Load() {
			return
		}
		if i > 2_000_000 {
			h.t.Fatalf("manager never settled: %d operations in flight, %d blocked", h.m.inflight.Load(), h.agent.blocked.Load())
		}
		runtime.Gosched()
	}
}

// advance moves the clock by d, one timer at a time, letting the manager react to each.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.settle()
	end := h.clk.Now().Add(d)
	for {
		next, ok := h.clk.Next()
		if !ok || h.clk.Now().Add(next).After(end) {
			break
		}
		h.clk.Advance(next)
		h.settle()
	}
	h.clk.Advance(end.Sub(h.clk.Now()))
	h.settle()
}

// advanceUntil moves the clock until cond holds (checked after every timer), failing after limit.
func (h *harness) advanceUntil(limit time.Duration, what string, cond func() bool) time.Duration {
	h.t.Helper()
	h.settle()
	start := h.clk.Now()
	end := start.Add(limit)
	for !cond() {
		next, ok := h.clk.Next()
		if !ok || h.clk.Now().Add(next).After(end) {
			h.t.Fatalf("%s: not within %s (stage %s)", what, limit, h.stage())
		}
		h.clk.Advance(next)
		h.settle()
	}
	return h.clk.Now().Sub(start)
}

func (h *harness) stage() Stage {
	var s Stage
	h.m.call(func() { s = h.m.stage })
	return s
}

func (h *harness) server() string {
	var s string
	h.m.call(func() { s = h.m.stageServer })
	return s
}

func (h *harness) registered(i int) bool {
	var r bool
	h.m.call(func() { r = h.m.servers[i].registered })
	return r
}

func (h *harness) wantStage(st Stage, server string) {
	h.t.Helper()
	if got, srv := h.stage(), h.server(); got != st || srv != server {
		h.t.Fatalf("stage = %s on %q, want %s on %q\nevents:\n%s", got, srv, st, server, h.dump())
	}
}

// stages lists the stage events so far, as "stage/server".
func (h *harness) stages() []string {
	h.settle()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, ev := range h.events {
		if se, ok := ev.(*StageEvent); ok && se.Previous != "" {
			out = append(out, string(se.Stage)+"/"+se.Server)
		}
	}
	return out
}

// of returns the events of one kind.
func of[T Event](h *harness) []T {
	h.settle()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []T
	for _, ev := range h.events {
		if e, ok := ev.(T); ok {
			out = append(out, e)
		}
	}
	return out
}

func (h *harness) dump() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, ev := range h.events {
		fmt.Fprintf(&b, "  %s %s %+v\n", time.Time(ev.At()).Sub(t0), ev.Name(), ev)
	}
	return b.String()
}

// callState makes the agent report call id in state st (as a real call would).
func (h *harness) callState(id string, st phone.CallState) {
	h.agent.callEvent(id, st, 0, "")
	h.settle()
}

// lastStageEvent is the newest stage event published.
func (h *harness) lastStageEvent() *StageEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.events) - 1; i >= 0; i-- {
		if ev, ok := h.events[i].(*StageEvent); ok {
			return ev
		}
	}
	h.t.Fatal("no stage event")
	return nil
}
