package failover

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/phone"
)

func TestStartRegistersOnHome(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.wantStage(StageNormal, "home")
	if got := of[*RegisteredEvent](h); len(got) != 1 || got[0].Server != "home" || got[0].Expires != 300 {
		t.Fatalf("registered events = %+v, want one for home with 300 s", got)
	}
	acts := of[*ActionsEvent](h)
	if last := acts[len(acts)-1].Available; !slices.Equal(last, []Action{ActDial, ActLogoff}) {
		t.Fatalf("actions in normal, idle = %v, want [dial logoff]", last)
	}
	if n := h.agent.count("register", 1); n != 0 {
		t.Fatalf("alternate policy registered on branch %d times while home is fine", n)
	}
}

func TestHomeDeadAtStartGoesToAlternate(t *testing.T) {
	h := newHarness(t, testConfig(), map[int]mode{0: silent})
	took := h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	h.wantStage(StageAlternate, "branch")
	// One REGISTER to home, bounded by 2.5 × keep-alive timeout, then the alternate at once.
	if took != 1250*time.Millisecond {
		t.Fatalf("alternate after %s, want 1.25s", took)
	}
}

func TestKeepaliveMissDetectsDeadHomeWithinIntervalPlusTimeout(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.advance(600 * time.Millisecond) // just after the first keep-alive answered
	if h.agent.count("probe", 0) != 1 {
		t.Fatalf("want one keep-alive by now, log %v", h.agent.log)
	}
	h.agent.set(0, silent)
	took := h.advanceUntil(5*time.Second, "transition", func() bool { return h.stage() != StageNormal })
	if limit := 1500 * time.Millisecond; took > limit {
		t.Fatalf("detected after %s, want ≤ interval + timeout = %s", took, limit)
	}
	h.wantStage(StageAlternate, "branch") // the REGISTER on branch answered at once
	if got := h.stages(); !slices.Equal(got, []string{"normal/home", "transition/", "alternate/branch"}) {
		t.Fatalf("stages = %v", got)
	}
	un := of[*UnregisteredEvent](h)
	if len(un) != 1 || un[0].Server != "home" {
		t.Fatalf("unregistered = %+v, want home's", un)
	}
}

func TestTwoMissesNeededWhenConfigured(t *testing.T) {
	h := newHarness(t, testConfig(func(c *config.Config) { c.Failover.KeepaliveMisses = 2 }), nil)
	h.advance(600 * time.Millisecond)
	h.agent.set(0, silent)
	h.advance(1400 * time.Millisecond) // first keep-alive (at 1.5 s) missed at 2.0 s
	h.wantStage(StageNormal, "home")
	// The second is sent at once and missed 500 ms later.
	took := h.advanceUntil(5*time.Second, "transition", func() bool { return h.stage() != StageNormal })
	if took != 500*time.Millisecond {
		t.Fatalf("second miss after %s more, want 500ms", took)
	}
}

func TestRefreshBeforeExpiry(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.advance(239 * time.Second)
	if n := h.agent.count("register", 0); n != 1 {
		t.Fatalf("REGISTERs by 239 s = %d, want 1", n)
	}
	h.advance(time.Second)
	if n := h.agent.count("register", 0); n != 2 {
		t.Fatalf("REGISTERs by 240 s = %d, want 2 (refresh at 4/5 of 300 s)", n)
	}
	h.wantStage(StageNormal, "home")
}

func TestRefreshTimeoutIsAFailure(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.setRegister(0, silent) // keep-alives still answered
	h.advanceUntil(300*time.Second, "failover", func() bool { return h.stage() == StageAlternate })
	if now := h.clk.Now().Sub(t0); now != 240*time.Second+1250*time.Millisecond {
		t.Fatalf("failover at %s, want when the refresh timed out (241.25s)", now)
	}
}

func TestConnectionLossIsDetectedAtOnce(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.set(0, refused)
	h.agent.events <- phone.Event{Kind: phone.EventConnectionLost, Server: 0, Err: errors.New("connection reset by peer")}
	h.settle()
	// No time passed: the closed connection alone moved the phone.
	if h.clk.Now() != t0 {
		t.Fatal("clock moved")
	}
	h.wantStage(StageAlternate, "branch")
}

func Test503IsAFailureAndRetryAfterIsHonoured(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.retryAfter = 30 * time.Second
	h.agent.set(0, unavailable)
	h.advance(500 * time.Millisecond) // the first keep-alive gets 503
	h.wantStage(StageAlternate, "branch")
	h.agent.set(0, up)
	// Home answers keep-alives again at once, but its Retry-After (30 s) outlasts the 10 s hold-down.
	took := h.advanceUntil(time.Minute, "failback", func() bool { return h.stage() == StageNormal })
	if took < 30*time.Second {
		t.Fatalf("failback %s after the 503, before its Retry-After of 30s", took)
	}
	// Then a random 0-50 % later (0.5 drawn here: 7.5 s), so a fleet turned away together is spread.
	if took < 37500*time.Millisecond || took > 38*time.Second {
		t.Fatalf("failback %s after the 503, want 37.5 s (Retry-After 30 s + 0.5 × 50 %%)", took)
	}
}

func TestBothDownBacksOffAndRecovers(t *testing.T) {
	h := newHarness(t, testConfig(), map[int]mode{0: refused, 1: refused, 2: refused})
	h.wantStage(StageNoService, "")
	for _, a := range []Action{ActDial, ActLogoff} {
		var r *Refusal
		if err := h.m.Check(a, "1002"); !errors.As(err, &r) {
			t.Fatalf("%s in noservice: %v, want refused", a, err)
		}
	}
	if err := h.m.Check(ActDial, "911"); err != nil {
		t.Fatalf("emergency dial in noservice refused: %v", err)
	}
	h.advance(100 * time.Second)
	// base 2 s, factor 0.75 (the fixed random draw): waits 3, 6, 12, 24, then the 60 s cap × 0.75 = 45.
	want := []time.Duration{0, 3 * time.Second, 9 * time.Second, 21 * time.Second, 45 * time.Second, 90 * time.Second}
	var got []time.Duration
	for _, at := range h.agent.times("register", 0) {
		got = append(got, at.Sub(t0))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("REGISTERs to home at %v, want %v", got, want)
	}
	h.agent.set(0, up)
	took := h.advanceUntil(time.Minute, "normal", func() bool { return h.stage() == StageNormal })
	if now := h.clk.Now().Sub(t0); now != 135*time.Second { // after 90 s: 128 s capped to 60 s × 0.75
		t.Fatalf("back in service at %s (after %s), want at the next retry, 135s", now, took)
	}
}

func TestAutoFailbackAfterHolddown(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.advance(600 * time.Millisecond)
	h.agent.set(0, silent)
	h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	h.advance(5 * time.Second)
	h.agent.set(0, up)
	h.advanceUntil(5*time.Second, "home answers", func() bool {
		var up bool
		h.m.call(func() { up = h.m.servers[0].health == healthUp })
		return up
	})
	upAt := h.clk.Now()
	took := h.advanceUntil(time.Minute, "failback", func() bool { return h.stage() == StageNormal })
	if took != 10*time.Second {
		t.Fatalf("failback %s after home came back, want the hold-down, 10s", took)
	}
	_ = upAt
	if got := h.stages(); !slices.Equal(got, []string{"normal/home", "transition/", "alternate/branch", "failback/branch", "normal/home"}) {
		t.Fatalf("stages = %v", got)
	}
	if h.agent.count("unregister", 1) != 1 || h.registered(1) {
		t.Fatal("branch still registered after failback (alternate policy holds one registration)")
	}
}

func TestFlappingHomeGetsNoFailback(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.set(0, refused)
	h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	// Home answers for 4 s, fails for 2 s, for a minute: never the 10 s hold-down in one run.
	for i := 0; i < 10; i++ {
		h.agent.set(0, up)
		h.advance(4 * time.Second)
		h.agent.set(0, refused)
		h.advance(2 * time.Second)
	}
	if n := h.agent.count("register", 0); n != 1 {
		t.Fatalf("REGISTERs to a flapping home = %d, want only the first one", n)
	}
	h.wantStage(StageAlternate, "branch")
	h.agent.set(0, up)
	h.advanceUntil(15*time.Second, "failback", func() bool { return h.stage() == StageNormal })
}

func TestAtMostOneFailbackPerHolddown(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.set(0, refused)
	h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	var ready time.Time
	h.m.call(func() {
		home := h.m.servers[0]
		home.health, home.upSince = healthUp, h.clk.Now().Add(-time.Hour) // answering for an hour
		h.m.lastFailback = h.clk.Now().Add(-4 * time.Second)              // but a failback 4 s ago
		ready = h.m.failbackReadyAt()
	})
	if want := h.clk.Now().Add(6 * time.Second); !ready.Equal(want) {
		t.Fatalf("failback ready at %s, want 10 s after the last failback (%s)", ready.Sub(t0), want.Sub(t0))
	}
}

func TestFailbackWaitsUntilIdle(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.set(0, refused)
	h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	h.callState("7", phone.CallActive)
	h.agent.set(0, up)
	h.advance(time.Minute)
	h.wantStage(StageAlternate, "branch")
	h.callState("7", phone.CallEnded)
	h.wantStage(StageNormal, "home") // the moment the call ends
}

func TestFailbackFailureReturnsToAlternate(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.set(0, refused)
	h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	h.agent.set(0, up)
	h.agent.setRegister(0, silent) // keep-alives answered, REGISTER not
	h.advanceUntil(20*time.Second, "failback", func() bool { return h.stage() == StageFailback })
	if code, _ := h.agent.admission(1); code != 480 {
		t.Fatalf("an INVITE during failback got %d, want 480 (issue 3)", code)
	}
	h.advance(2 * time.Second)
	h.wantStage(StageAlternate, "branch")
	if !h.registered(1) {
		t.Fatal("branch lost its registration when failback failed")
	}
}

func TestAdminPolicyWaitsForTheUser(t *testing.T) {
	h := newHarness(t, testConfig(func(c *config.Config) { c.Failover.Failback = config.FailbackAdmin }), nil)
	h.agent.set(0, refused)
	h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	h.agent.set(0, up)
	h.advance(10 * time.Minute)
	h.wantStage(StageAlternate, "branch")
	if !slices.Contains(h.m.Actions(), ActFailback) {
		t.Fatalf("actions %v lack failback", h.m.Actions())
	}
	if err := h.m.Failback(); err != nil {
		t.Fatal(err)
	}
	h.settle()
	h.wantStage(StageNormal, "home")
}

func TestSimultaneousSwitchesWithoutRegisterRoundTrip(t *testing.T) {
	cfg := testConfig(func(c *config.Config) {
		c.Failover.Registration = config.RegisterSimultaneous
		c.Failover.SimultaneousRegistrations = 2
	})
	h := newHarness(t, cfg, nil)
	h.wantStage(StageNormal, "home")
	if !h.registered(0) || !h.registered(1) || h.registered(2) {
		t.Fatal("want home and branch registered, backup not (2 simultaneous registrations)")
	}
	h.advance(600 * time.Millisecond)
	before := h.agent.count("register", 1)
	h.agent.set(0, silent)
	took := h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	if took > 1500*time.Millisecond {
		t.Fatalf("switch after %s", took)
	}
	if n := h.agent.count("register", 1); n != before {
		t.Fatalf("switching sent %d REGISTERs to branch, want none (it was registered)", n-before)
	}
	h.wantStage(StageAlternate, "branch")
	// Home returns: re-registered in the background, failback after the hold-down with no round trip.
	h.agent.set(0, up)
	h.advanceUntil(5*time.Second, "home registered", func() bool { return h.registered(0) })
	homeRegs := h.agent.count("register", 0)
	h.advanceUntil(15*time.Second, "failback", func() bool { return h.stage() == StageNormal })
	if h.agent.count("register", 0) != homeRegs {
		t.Fatal("failback sent a REGISTER to home though it was registered")
	}
	if !h.registered(1) {
		t.Fatal("simultaneous policy dropped branch on failback")
	}
}

func TestWrongPasswordFollowsTheBackoffAndSaysSoOnce(t *testing.T) {
	h := newHarness(t, testConfig(), map[int]mode{0: badPassword})
	h.wantStage(StageAlternate, "branch")
	h.advance(time.Hour)
	// Base 2 s, factor 0.75: at least 3, 6, 12, 24, then 45 s (the 60 s cap) between attempts; home answers
	// its keep-alives, so an attempt is also a failback, at most one per 10 s hold-down.
	at := h.agent.times("register", 0)
	want := []time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second, 24 * time.Second, 45 * time.Second}
	for i := 1; i < len(at) && i <= len(want); i++ {
		if gap := at[i].Sub(at[i-1]); gap < want[i-1] || gap > max(want[i-1], 10*time.Second)+time.Second {
			t.Fatalf("attempt %d came %s after the previous one, want the backoff %s (or the hold-down)", i, gap, want[i-1])
		}
	}
	if n := len(at); n > 3600/45+5 {
		t.Fatalf("%d attempts in an hour: a loop", n)
	}
	if errs := of[*ErrorEvent](h); len(errs) != 1 || !strings.Contains(errs[0].Reason, "Check the password") {
		t.Fatalf("error events %+v: want the user told once", errs)
	}
	h.wantStage(StageAlternate, "branch")
	// The password is fixed on the server: the next attempt registers, and failback follows.
	h.agent.set(0, up)
	h.advanceUntil(2*time.Minute, "back home", func() bool { return h.stage() == StageNormal })
}

func TestWrongPasswordEverywhereDoesNotLoop(t *testing.T) {
	h := newHarness(t, testConfig(), map[int]mode{0: badPassword, 1: badPassword, 2: badPassword})
	h.wantStage(StageNoService, "")
	h.advance(time.Hour)
	for i := 0; i < 3; i++ {
		if n := h.agent.count("register", i); n < 2 || n > 3600/45+5 {
			t.Fatalf("server %d got %d REGISTER attempts in an hour", i, n)
		}
	}
	if errs := of[*ErrorEvent](h); len(errs) != 3 {
		t.Fatalf("%d error events, want one per refusing server:\n%s", len(errs), h.dump())
	}
}

func TestLogoffOnlyInNormalAndLoginAgain(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	if err := h.m.Logoff(); err != nil {
		t.Fatal(err)
	}
	h.settle()
	h.wantStage(StageNoService, "")
	if last := h.lastStageEvent(); !last.LoggedOff {
		t.Fatalf("the stage event of a logged-off phone does not say so: %+v", last)
	}
	if h.agent.count("unregister", 0) != 1 {
		t.Fatal("logoff sent no un-REGISTER")
	}
	if got := h.m.Actions(); !slices.Equal(got, []Action{ActLogin}) {
		t.Fatalf("actions when logged off = %v, want [login]", got)
	}
	regs := h.agent.count("register", 0)
	h.advance(time.Hour)
	if h.agent.count("register", 0) != regs || h.agent.count("probe", 0) > 1 {
		t.Fatal("a logged-off phone kept registering or probing")
	}
	if err := h.m.Login(); err != nil {
		t.Fatal(err)
	}
	h.settle()
	h.wantStage(StageNormal, "home")
	if last := h.lastStageEvent(); last.LoggedOff {
		t.Fatalf("logged in, the stage event still says logged off: %+v", last)
	}
}

func TestLogoffRefusedInEveryFailoverStage(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.set(0, refused)
	h.advance(time.Second)
	h.wantStage(StageAlternate, "branch")
	err := h.m.Logoff()
	var r *Refusal
	if !errors.As(err, &r) || r.Reason != "Log off is not available during failover" {
		t.Fatalf("logoff on alternate: %v", err)
	}
	if h.agent.count("unregister", 1) != 0 {
		t.Fatal("a refused logoff still unregistered")
	}
	ref := of[*RefusedEvent](h)
	if len(ref) != 1 || ref[0].Action != ActLogoff {
		t.Fatalf("refused events = %+v", ref)
	}
}

func TestShutdownUnregistersOnlyInNormal(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	if err := h.m.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if h.agent.count("unregister", 0) != 1 {
		t.Fatal("quit in normal did not unregister")
	}
	st := of[*StageEvent](h)
	if last := st[len(st)-1]; last.Stage != StageNoService || last.Reason != "quit" {
		t.Fatalf("last stage event %+v", last)
	}

	h2 := newHarness(t, testConfig(), map[int]mode{0: refused})
	h2.wantStage(StageAlternate, "branch")
	if err := h2.m.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := h2.agent.count("unregister", 1); n != 0 {
		t.Fatal("quit during failover unregistered from the alternate")
	}
	st = of[*StageEvent](h2)
	if last := st[len(st)-1]; last.Stage != StageAlternate || last.Reason != "quit; registration kept during failover" {
		t.Fatalf("last stage event %+v", last)
	}
}

func TestAlternateDiesToo(t *testing.T) {
	h := newHarness(t, testConfig(), map[int]mode{0: refused})
	h.wantStage(StageAlternate, "branch")
	h.agent.set(1, silent)
	h.advanceUntil(5*time.Second, "backup", func() bool { return h.server() == "backup" })
	h.wantStage(StageAlternate, "backup")
}

func TestSubscribeStartsWithTheCurrentState(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	sub := h.m.Subscribe()
	defer sub.Close()
	first := (<-sub.C).(*StageEvent)
	second := (<-sub.C).(*ActionsEvent)
	if first.Stage != StageNormal || first.Server != "home" || !slices.Equal(second.Available, []Action{ActDial, ActLogoff}) {
		t.Fatalf("first events %+v %+v", first, second)
	}
}

// A fleet's hold-downs are spread over [hold-down, hold-down × 1.2] (failback_spread = 20), not bunched.
func TestHolddownSpread(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	const base = 120 * time.Second
	buckets := make([]int, 4) // 120-126 s, 126-132 s, 132-138 s, 138-144 s
	for i := 0; i < 1000; i++ {
		d := spreadHolddown(base, 20, r.Float64())
		if d < base || d >= base*12/10 {
			t.Fatalf("hold-down %s outside [120s, 144s)", d)
		}
		buckets[int((d-base)/(6*time.Second))]++
	}
	for i, n := range buckets {
		if n < 200 || n > 300 {
			t.Errorf("bucket %d holds %d of 1000 phones, want about 250: %v", i, n, buckets)
		}
	}
	if spreadHolddown(base, 0, 0.99) != base {
		t.Error("failback_spread = 0 must keep the hold-down exact")
	}
}

// The manager waits its own, lengthened hold-down: with spread 20 % and a draw of 0.5, 11 s of 10 s.
func TestFailbackWaitsTheSpreadHolddown(t *testing.T) {
	h := newHarness(t, testConfig(func(c *config.Config) { c.Failover.FailbackSpread = 20 }), nil)
	h.advance(600 * time.Millisecond)
	h.agent.set(0, silent)
	h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	h.agent.set(0, up)
	h.advanceUntil(5*time.Second, "home answers", func() bool {
		var up bool
		h.m.call(func() { up = h.m.servers[0].health == healthUp })
		return up
	})
	if took := h.advanceUntil(time.Minute, "failback", func() bool { return h.stage() == StageNormal }); took != 11*time.Second {
		t.Fatalf("failback %s after home came back, want 11s (10 s + 0.5 × 20 %%)", took)
	}
}

// Each phone's keep-alives start at its own random phase of the interval, so a fleet's probes (and its
// detections of a dead server) are spread over the interval, not in step.
func TestKeepaliveStartsAtARandomPhase(t *testing.T) {
	firstProbe := func(r float64) time.Duration {
		h := newHarnessRand(t, testConfig(), nil, func() float64 { return r })
		h.advanceUntil(5*time.Second, "a keep-alive to home", func() bool { return h.agent.count("probe", 0) > 0 })
		return h.agent.times("probe", 0)[0].Sub(t0)
	}
	early, late := firstProbe(0.1), firstProbe(0.9)
	// Interval 1 s: the first keep-alive goes out at the phase drawn, 100 ms and 900 ms.
	if early < 100*time.Millisecond || early > 150*time.Millisecond || late < 900*time.Millisecond || late > 950*time.Millisecond {
		t.Fatalf("first keep-alives at %s (draw 0.1) and %s (draw 0.9), want ~100ms and ~900ms", early, late)
	}
	// A seeded fleet of 200 spreads its first keep-alives over the whole interval.
	src := rand.New(rand.NewPCG(3, 4))
	var tenths [10]int
	for i := 0; i < 200; i++ {
		d := spreadPhase(time.Second, src.Float64())
		tenths[int(d/(100*time.Millisecond))]++
	}
	for i, n := range tenths {
		if n < 8 || n > 35 {
			t.Errorf("tenth %d of the interval holds %d of 200 first keep-alives: %v", i, n, tenths)
		}
	}
}

// A server that keeps answering REGISTER with 503 and Retry-After is alive and overloaded: the phone comes
// back each time after what it asked (plus its random share), never earlier and without the exponential
// backoff that a failure without Retry-After gets, and registers as soon as it is let in.
func TestRepeated503WithRetryAfterIsNotBackedOff(t *testing.T) {
	h := newHarness(t, testConfig(func(c *config.Config) { c.Servers = c.Servers[:2] }), map[int]mode{0: silent})
	h.agent.retryAfter = 5 * time.Second
	h.agent.setRegister(1, unavailable)
	h.advance(40 * time.Second)
	at := h.agent.times("register", 1)
	if len(at) < 5 {
		t.Fatalf("%d REGISTERs to the overloaded alternate in 40 s, want one every 7.5 s (Retry-After 5 s + 50 %% × 0.5)", len(at))
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 5*time.Second || gap > 8*time.Second {
			t.Fatalf("REGISTER %d came %s after the 503 before it, want 7.5 s: %v", i, gap, at)
		}
	}
	h.agent.setRegister(1, up)
	h.advanceUntil(10*time.Second, "service on the alternate", func() bool { return h.stage() == StageAlternate })
}
