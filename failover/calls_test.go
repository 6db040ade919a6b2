package failover

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
	"stayline/phone"
)

func TestDialGoesThroughTheServerInUse(t *testing.T) {
	h := newHarness(t, testConfig(), map[int]mode{0: refused})
	h.wantStage(StageAlternate, "branch")
	if err := h.m.Dial("1002"); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if h.agent.count("dial", 1) != 1 || h.agent.count("dial", 0) != 0 {
		t.Fatalf("dial log %v, want one INVITE through branch", h.agent.log)
	}
	calls := of[*CallEvent](h)
	if got := callStates(calls); !slices.Equal(got, []string{"1 dialing branch", "1 active branch"}) ||
		calls[1].Remote != "1002@example.com" {
		t.Fatalf("call events %v", got)
	}
	if !slices.Contains(h.agent.log, "dialvia 1") {
		t.Fatalf("dial log %v, want the call placed through branch alone", h.agent.log)
	}
	if got := h.m.Actions(); !slices.Equal(got, []Action{ActDial, ActHangup, ActHold, ActDTMF}) {
		t.Fatalf("actions with an active call on branch = %v", got)
	}
}

func TestDialRefusedInLimboButEmergencyTriesEveryServer(t *testing.T) {
	h := newHarness(t, testConfig(), map[int]mode{0: refused, 1: refused, 2: refused})
	h.wantStage(StageNoService, "")
	var r *Refusal
	if err := h.m.Dial("1002"); !errors.As(err, &r) {
		t.Fatalf("dial in noservice: %v", err)
	}
	h.agent.set(2, up) // only backup takes the INVITE
	if err := h.m.Dial("112"); err != nil {
		t.Fatalf("emergency dial refused: %v", err)
	}
	h.settle()
	for i := 0; i < 3; i++ {
		if h.agent.count("dial", i) != 1 {
			t.Fatalf("emergency call tried %v, want servers 0, 1, 2 in turn", h.agent.log)
		}
	}
	if got := callStates(of[*CallEvent](h)); !slices.Equal(got, []string{"1 dialing home", "1 active backup"}) {
		t.Fatalf("emergency call events %v, want one call that went through backup", got)
	}
}

func TestUnansweredInviteIsADetectionSignal(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.set(0, silent) // keep-alives would find it too, but the INVITE comes first
	if err := h.m.Dial("1002"); err != nil {
		t.Fatal(err)
	}
	h.waitCall("1", "active")
	if h.clk.Now() != t0 {
		t.Fatal("the clock moved")
	}
	h.wantStage(StageAlternate, "branch")
	if ev := of[*ErrorEvent](h); len(ev) != 0 {
		t.Fatalf("error events %+v for a call that went through", ev)
	}
}

// Item 7 of "Real PBXs and carriers": a call dialled in the second after home died silently is not lost.
// Its INVITE gets no answer; that marks home down, the phone fails over, and the same call goes through
// the alternate: one id, dialing then active, one INVITE to each server.
func TestCallHomeDidNotAnswerGoesThroughTheAlternateAsOneCall(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.wantStage(StageNormal, "home")
	h.agent.set(0, silent)
	if err := h.m.Dial("1002"); err != nil {
		t.Fatal(err)
	}
	h.waitCall("1", "active")
	h.wantStage(StageAlternate, "branch")
	if h.agent.count("dial", 0) != 1 || h.agent.count("dial", 1) != 1 || h.agent.count("dial", 2) != 0 {
		t.Fatalf("dial log %v, want one INVITE to home, then one to branch", h.agent.log)
	}
	if !slices.Contains(h.agent.log, "dialvia 0") {
		t.Fatalf("dial log %v, want the call placed through servers chosen as it goes", h.agent.log)
	}
	if got := callStates(of[*CallEvent](h)); !slices.Equal(got, []string{"1 dialing home", "1 active branch"}) {
		t.Fatalf("call events %v, want one call: dialing through home, active through branch", got)
	}
	if errs := of[*ErrorEvent](h); len(errs) != 0 {
		t.Fatalf("error events %+v for a call that went through", errs)
	}
	var down bool
	for _, u := range of[*UnregisteredEvent](h) {
		down = down || (u.Server == "home" && u.Reason == "INVITE not answered")
	}
	if !down {
		t.Fatal("the unanswered INVITE did not mark home down")
	}
}

// The call waits while the failover takes time (branch's REGISTER hangs, backup takes it), and gives up,
// in the plain words of today, when no server comes into service within RedialWithin.
func TestCallHomeDidNotAnswerWaitsForServiceThenGivesUp(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.set(0, silent)
	h.agent.set(1, silent) // branch's REGISTER hangs (1.25 s), then backup takes the phone
	if err := h.m.Dial("1002"); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if got := callStates(of[*CallEvent](h)); !slices.Equal(got, []string{"1 dialing home"}) {
		t.Fatalf("call events %v in transition, want the call still dialing", got)
	}
	h.advanceUntil(RedialWithin, "backup", func() bool { return h.stage() == StageAlternate })
	h.waitCall("1", "active")
	if got := callStates(of[*CallEvent](h)); !slices.Equal(got, []string{"1 dialing home", "1 active backup"}) {
		t.Fatalf("call events %v, want one call: dialing through home, active through backup", got)
	}
	if h.agent.count("dial", 0) != 1 || h.agent.count("dial", 1) != 0 || h.agent.count("dial", 2) != 1 {
		t.Fatalf("dial log %v, want one INVITE to home, then one to backup", h.agent.log)
	}

	// No server comes into service: one ended call, in plain words, when RedialWithin is up.
	g := newHarness(t, testConfig(), nil)
	g.agent.set(0, silent)
	g.agent.set(1, refused)
	g.agent.set(2, refused)
	if err := g.m.Dial("1002"); err != nil {
		t.Fatal(err)
	}
	g.waitRedialWaiting()
	g.advance(RedialWithin - 100*time.Millisecond)
	if got := callStates(of[*CallEvent](g)); !slices.Equal(got, []string{"1 dialing home"}) {
		t.Fatalf("call events %v before RedialWithin, want the call still dialing", got)
	}
	g.advance(200 * time.Millisecond)
	ended := g.waitCall("1", "ended")
	const plain = "the server did not answer (home)"
	if got := callStates(of[*CallEvent](g)); !slices.Equal(got, []string{"1 dialing home", "1 ended home"}) || ended.Reason != plain {
		t.Fatalf("call events %v (ended with %q), want one call: dialing, then ended %q", got, ended.Reason, plain)
	}
	errs := of[*ErrorEvent](g)
	if len(errs) != 1 || errs[0].Reason != "Call to 1002 failed: "+plain {
		t.Fatalf("error events %+v, want one: %q", errs, "Call to 1002 failed: "+plain)
	}
	if g.agent.count("dial", 0) != 1 || g.agent.count("dial", 1)+g.agent.count("dial", 2) != 0 {
		t.Fatalf("dial log %v, want one INVITE, to home", g.agent.log)
	}
}

// A server that answered, if only to refuse (503), is not tried again elsewhere: that is the call's outcome.
func TestCallTheServerRefusedIsNotTriedElsewhere(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.set(0, unavailable)
	if err := h.m.Dial("1002"); err != nil {
		t.Fatal(err)
	}
	ended := h.waitCall("1", "ended")
	if ended.Reason != "service unavailable (503 Service Unavailable)" {
		t.Fatalf("ended with %q", ended.Reason)
	}
	if h.agent.count("dial", 0) != 1 || h.agent.count("dial", 1) != 0 {
		t.Fatalf("dial log %v, want one INVITE, to home", h.agent.log)
	}
}

// waitRedialWaiting waits (in real time) until a call waits for the next server: its subscription is
// there, and so its RedialWithin timer is set on the fake clock.
func (h *harness) waitRedialWaiting() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.m.bus.mu.Lock()
		n := len(h.m.bus.subs)
		h.m.bus.mu.Unlock()
		if n >= 2 { // the harness's and the call's
			h.settle()
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no call waits for the next server; log %v", h.agent.log)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitCall waits (in real time: the call's goroutine may be between two looks at the manager) for call
// id's event in state st, and returns it.
func (h *harness) waitCall(id, st string) *CallEvent {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, c := range of[*CallEvent](h) {
			if c.ID == id && string(c.State) == st {
				return c
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no %s event for call %s; call events %v; log %v", st, id, callStates(of[*CallEvent](h)), h.agent.log)
		}
		time.Sleep(time.Millisecond)
	}
}

// fakeServerNames are testConfig's servers, for the fake agent's DialErrors.
var fakeServerNames = []string{"home", "branch", "backup"}

// DialServers is the fake agent's one call through servers in turn, as phone.Agent's (DialVia over the
// list): one id, a dialing event first, then active through the first server that is up, or one ended
// event once every server failed (with the DialError's reason, as the phone ends it).
func (f *fakeAgent) DialServers(ctx context.Context, servers []int, target string, respTimeout time.Duration) (string, error) {
	label := "dialservers " + strings.Trim(fmt.Sprint(servers), "[]")
	return f.place(ctx, func(int) string { return label }, phone.InTurn(servers), target, respTimeout)
}

// DialVia is the fake agent's one call through servers chosen as it goes, as phone.Agent's: the first
// from next, then, after each server that did not take the call, the one next names (next may wait: the
// fake counts it as blocked, as the harness expects of anything waiting on the manager).
func (f *fakeAgent) DialVia(ctx context.Context, next phone.NextServer, target string, respTimeout time.Duration) (string, error) {
	return f.place(ctx, func(first int) string { return fmt.Sprintf("dialvia %d", first) }, next, target, respTimeout)
}

// place is both: each server answers as its mode says; the call is logged as label names it.
func (f *fakeAgent) place(ctx context.Context, label func(first int) string, next phone.NextServer, target string,
	respTimeout time.Duration) (string, error) {
	server, ok := next(ctx, nil)
	if !ok {
		return "", errors.New("dial: no server to call through")
	}
	f.mu.Lock()
	f.nextCall++
	id := fmt.Sprint(f.nextCall)
	f.log = append(f.log, label(server))
	f.at = append(f.at, f.clk.Now())
	f.mu.Unlock()
	f.callEvent(id, phone.CallDialing, server, "")
	failed := &phone.DialError{Target: target}
	for {
		var err error
		switch f.record("dial", server) {
		case silent, refused:
			err = fmt.Errorf("%w within %s (fake)", phone.ErrNoResponse, respTimeout)
		case unavailable:
			err = &phone.StatusError{Method: "INVITE", Code: 503, Reason: "Service Unavailable"}
		default:
			f.callEvent(id, phone.CallActive, server, "")
			return id, nil
		}
		failed.Attempts = append(failed.Attempts, phone.DialAttempt{Server: server, Name: fakeServerNames[server], Err: err})
		f.blocked.Add(1)
		server, ok = next(ctx, slices.Clone(failed.Attempts))
		f.blocked.Add(-1)
		if !ok {
			break
		}
	}
	last := failed.Attempts[len(failed.Attempts)-1].Server
	f.callEvent(id, phone.CallEnded, last, failed.Reason())
	return id, failed
}

// callStates lists call events as "id state server".
func callStates(calls []*CallEvent) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.ID+" "+string(c.State)+" "+c.Server)
	}
	return out
}

// twoServers is testConfig with home and branch only.
func twoServers(cfg *config.Config) { cfg.Servers = cfg.Servers[:2] }

// The bug: 911 in noservice showed two failed calls (one per server) and a Go error chain.
func TestEmergencyDialThatNoServerTakesIsOneFailedCall(t *testing.T) {
	h := newHarness(t, testConfig(twoServers), map[int]mode{0: refused, 1: silent})
	h.advanceUntil(5*time.Second, "noservice", func() bool { return h.stage() == StageNoService })
	if err := h.m.Dial("911"); err != nil {
		t.Fatalf("emergency dial refused: %v", err)
	}
	h.settle()
	if !slices.Contains(h.agent.log, "dialservers 0 1") || h.agent.count("dial", 0) != 1 || h.agent.count("dial", 1) != 1 {
		t.Fatalf("dial log %v, want one call tried on home, then branch", h.agent.log)
	}
	calls := of[*CallEvent](h)
	if got := callStates(calls); !slices.Equal(got, []string{"1 dialing home", "1 ended branch"}) {
		t.Fatalf("call events %v, want one call: dialing, then ended", got)
	}
	const plain = "no server answered (tried home, branch)"
	if calls[1].Reason != plain {
		t.Fatalf("the call ended with %q, want %q", calls[1].Reason, plain)
	}
	errs := of[*ErrorEvent](h)
	if len(errs) != 1 {
		t.Fatalf("error events %+v, want one", errs)
	}
	reason := errs[0].Reason
	for _, jargon := range []string{"INVITE", "within", "fake", "(home)", "error", "\n"} {
		if strings.Contains(reason, jargon) {
			t.Errorf("the user reads %q: %q is not for them", reason, jargon)
		}
	}
	if want := "Call to 911 failed: " + plain; reason != want {
		t.Fatalf("the user reads %q, want %q", reason, want)
	}
}

func TestEmergencyDialGoesOnToTheServerThatAnswers(t *testing.T) {
	h := newHarness(t, testConfig(twoServers), map[int]mode{0: refused, 1: refused})
	h.advanceUntil(5*time.Second, "noservice", func() bool { return h.stage() == StageNoService })
	h.agent.set(1, up) // branch is back, and takes the INVITE before the next REGISTER finds it
	if err := h.m.Dial("911"); err != nil {
		t.Fatalf("emergency dial refused: %v", err)
	}
	h.settle()
	if got := callStates(of[*CallEvent](h)); !slices.Equal(got, []string{"1 dialing home", "1 active branch"}) {
		t.Fatalf("call events %v, want one call, active through branch, never ended", got)
	}
	if errs := of[*ErrorEvent](h); len(errs) != 0 {
		t.Fatalf("error events %+v for a call that went through", errs)
	}
}

// A refusal from a server is worded as the phone words it; each server's fate is named.
func TestDialFailureWordsForTheUser(t *testing.T) {
	unavailable := &phone.StatusError{Method: "INVITE", Code: 503, Reason: "Service Unavailable"}
	noAnswer := fmt.Errorf("%w within 1s (home)", phone.ErrNoResponse)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&phone.DialError{Target: "1002", Attempts: []phone.DialAttempt{{Server: 0, Name: "home", Err: unavailable}}},
			"Call to 1002 failed: service unavailable (503 Service Unavailable)"},
		{&phone.DialError{Target: "911", Attempts: []phone.DialAttempt{{Server: 0, Name: "home", Err: noAnswer},
			{Server: 1, Name: "branch", Err: unavailable}}},
			"Call to 911 failed: no server took the call (home: did not answer; branch: service unavailable (503 Service Unavailable))"},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), "Call to 911 failed: the phone could not place it"},
	} {
		target := "911"
		var de *phone.DialError
		if errors.As(tc.err, &de) {
			target = de.Target
		}
		if got := dialFailure(target, tc.err); got != tc.want {
			t.Errorf("dialFailure(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestAdmissionByStage(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	admit := func() int {
		code, _ := h.agent.admission(0)
		return code
	}
	if c := admit(); c != 0 {
		t.Fatalf("normal: %d, want the call to ring", c)
	}
	for i := 1; i <= 3; i++ {
		h.callState(string(rune('0'+i)), phone.CallActive)
	}
	if c := admit(); c != 486 {
		t.Fatalf("3 lines in use: %d, want 486", c)
	}
	for i := 1; i <= 3; i++ {
		h.callState(string(rune('0'+i)), phone.CallEnded)
	}
	h.agent.set(0, refused)
	h.agent.set(1, silent) // the alternate REGISTER hangs: the phone stays in transition
	h.advance(600 * time.Millisecond)
	h.wantStage(StageTransition, "")
	if c := admit(); c != 480 {
		t.Fatalf("transition: %d, want 480 so the server diverts the call", c)
	}
}

func TestFailoverDropsHeldCallsAndKeepsTheActiveOne(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.callState("1", phone.CallActive)
	h.callState("2", phone.CallHeld)
	h.agent.set(0, refused)
	h.advance(600 * time.Millisecond)
	h.wantStage(StageAlternate, "branch")
	if !slices.Contains(h.agent.log, "hangup 2") || slices.Contains(h.agent.log, "hangup 1") {
		t.Fatalf("log %v: want the held call 2 dropped, the active call 1 kept", h.agent.log)
	}
	var reason string
	for _, c := range of[*CallEvent](h) {
		if c.ID == "2" && c.State == "ended" {
			reason = c.Reason
		}
	}
	if reason != "held call dropped: the server failed" {
		t.Fatalf("held call ended with %q", reason)
	}
}

func TestShutdownEndsCallsFirst(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.callState("1", phone.CallActive)
	if err := h.m.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	i, j := slices.Index(h.agent.log, "hangup 1"), slices.Index(h.agent.log, "unregister 0")
	if i < 0 || j < 0 || i > j {
		t.Fatalf("log %v: want the call hung up, then the un-REGISTER", h.agent.log)
	}
}

func TestCallActionsPickTheRightCall(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.callState("4", phone.CallActive)
	h.callState("5", phone.CallIncoming)
	if err := h.m.Hold(""); err != nil {
		t.Fatal(err)
	}
	h.settle() // call 4 is held before the answer looks for an active call
	if err := h.m.Answer(""); err != nil {
		t.Fatal(err)
	}
	if err := h.m.DTMF("12"); err != nil {
		t.Fatal(err)
	}
	h.settle()
	want := []string{"hold 4", "answer 5", "dtmf 5 12"} // hold was explicit; answer finds nothing active
	var got []string
	for _, l := range h.agent.log {
		if strings.HasPrefix(l, "hold") || strings.HasPrefix(l, "answer") || strings.HasPrefix(l, "dtmf") {
			got = append(got, l)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("calls acted on %v, want %v", got, want)
	}
	if err := h.m.Hangup("99"); err == nil {
		t.Fatal("hangup of an unknown call id succeeded")
	}
}

func TestTransferBlindOrAttended(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.callState("1", phone.CallHeld)
	h.callState("2", phone.CallActive)
	if err := h.m.Transfer("1"); err != nil { // a held call's id: attended, to the active call's party
		t.Fatal(err)
	}
	if err := h.m.Transfer("1005"); err != nil { // a number: blind, the active call
		t.Fatal(err)
	}
	if !slices.Contains(h.agent.log, "transfer 1 2") || !slices.Contains(h.agent.log, "transfer 2 1005") {
		t.Fatalf("log %v", h.agent.log)
	}
	if err := h.m.Conference(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(h.agent.log, "conference 1 2") {
		t.Fatalf("log %v", h.agent.log)
	}
}

func TestTransferRefusedWhereTheServerDoesNotOfferIt(t *testing.T) {
	h := newHarness(t, testConfig(), map[int]mode{0: refused})
	h.wantStage(StageAlternate, "branch") // branch offers hold only
	h.callState("1", phone.CallActive)
	var r *Refusal
	if err := h.m.Transfer("1005"); !errors.As(err, &r) || r.Reason != "Transfer is not offered by server branch" {
		t.Fatalf("transfer on branch: %v", err)
	}
}

func TestMessageWaitingLampFollowsTheStage(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	if h.agent.count("subscribe", 0) != 1 {
		t.Fatalf("no message-summary subscription on home: %v", h.agent.log)
	}
	h.agent.events <- phone.Event{Kind: phone.EventMWI, Server: 0, Waiting: true}
	h.settle()
	h.agent.set(0, refused)
	h.advance(600 * time.Millisecond)
	h.wantStage(StageAlternate, "branch")
	lamp := of[*MWIEvent](h)
	if len(lamp) != 2 || !lamp[0].Waiting || lamp[0].Server != "home" || lamp[1].Waiting {
		t.Fatalf("lamp events %+v: want on from home, then cleared by the failover", lamp)
	}
	if h.agent.count("subscribe", 1) != 0 {
		t.Fatal("subscribed to messages on branch, which does not offer MWI")
	}
	// A report from a server we do not follow changes nothing.
	h.agent.events <- phone.Event{Kind: phone.EventMWI, Server: 0, Waiting: true}
	h.settle()
	if len(of[*MWIEvent](h)) != 2 {
		t.Fatal("the lamp lit from a server that is not in use")
	}
	h.agent.set(0, up)
	h.advanceUntil(20*time.Second, "back home", func() bool { return h.stage() == StageNormal })
	if h.agent.count("subscribe", 0) != 2 {
		t.Fatal("not subscribed again on home after failback")
	}
}

// Call waiting: answering a second call holds the one in progress first.
func TestAnsweringAWaitingCallHoldsTheActiveOne(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.callState("1", phone.CallActive)
	h.callState("2", phone.CallIncoming)
	if err := h.m.Answer("2"); err != nil {
		t.Fatal(err)
	}
	h.settle()
	i, j := slices.Index(h.agent.log, "hold 1"), slices.Index(h.agent.log, "answer 2")
	if i < 0 || j < 0 || i > j {
		t.Fatalf("log %v: want call 1 held, then call 2 answered", h.agent.log)
	}
}

func TestCallIDLess(t *testing.T) {
	ids := []string{"c2", "10", "2", "c1", "1"}
	sort.Slice(ids, func(i, j int) bool { return CallIDLess(ids[i], ids[j]) })
	if want := []string{"1", "2", "10", "c1", "c2"}; !slices.Equal(ids, want) {
		t.Fatalf("order %v, want %v", ids, want)
	}
}

// callAndErrorEvents gathers the call and error events of lp until done says so, failing after within.
func (lp *livePhone) callAndErrorEvents(within time.Duration, done func(calls []*CallEvent, errs []*ErrorEvent) bool) ([]*CallEvent, []*ErrorEvent) {
	lp.t.Helper()
	var calls []*CallEvent
	var errs []*ErrorEvent
	deadline := time.After(within)
	for !done(calls, errs) {
		select {
		case ev := <-lp.sub.C:
			switch e := ev.(type) {
			case *CallEvent:
				calls = append(calls, e)
			case *ErrorEvent:
				errs = append(errs, e)
			}
		case <-deadline:
			lp.t.Fatalf("call events %v, errors %+v, and no more within %s", callStates(calls), errs, within)
		}
	}
	return calls, errs
}

// The user's report, on the lab: home killed, 911 dialled at once. One call, through the alternate.
func TestLiveEmergencyDialWithHomeDeadReachesTheAlternate(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	labtest.FarEnd(t, "911", p.Home.Addr(), p.Alternate.Addr())
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)
	killAt(t, p.Home)
	if err := lp.m.Dial("911"); err != nil { // before the keep-alives notice: home is tried first
		t.Fatal(err)
	}
	calls, errs := lp.callAndErrorEvents(10*time.Second, func(calls []*CallEvent, _ []*ErrorEvent) bool {
		return len(calls) > 0 && (calls[len(calls)-1].State == "active" || calls[len(calls)-1].State == "ended")
	})
	first, last := calls[0], calls[len(calls)-1]
	if first.State != "dialing" || first.Server != "home" || last.State != "active" || last.Server != "alternate" {
		t.Fatalf("call events %v, want dialing through home, then active through the alternate", callStates(calls))
	}
	for _, c := range calls {
		if c.ID != first.ID || c.State == "ended" {
			t.Fatalf("call events %v, want one call, never ended", callStates(calls))
		}
	}
	if len(errs) != 0 {
		t.Fatalf("errors %+v for a call that went through", errs)
	}
	if err := lp.m.Hangup(first.ID); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ended", 5*time.Second)
}

// The user's report exactly: noservice, 911. One call, one failure, in plain words.
func TestLiveEmergencyDialInNoServiceIsOneFailedCall(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)
	killAt(t, p.Alternate)
	killAt(t, p.Home)
	lp.waitStage(StageNoService, "", 10*time.Second)
	if err := lp.m.Dial("911"); err != nil {
		t.Fatal(err)
	}
	calls, errs := lp.callAndErrorEvents(10*time.Second, func(calls []*CallEvent, errs []*ErrorEvent) bool {
		return len(errs) > 0 && len(calls) > 0 && calls[len(calls)-1].State == "ended"
	})
	time.Sleep(300 * time.Millisecond) // a second call or error would come now
	more, moreErrs := lp.callAndErrorEvents(time.Second, func([]*CallEvent, []*ErrorEvent) bool {
		return len(lp.sub.C) == 0
	})
	calls, errs = append(calls, more...), append(errs, moreErrs...)
	const plain = "no server answered (tried home, alternate)"
	if got := callStates(calls); len(calls) != 2 || calls[0].State != "dialing" || calls[1].State != "ended" ||
		calls[0].ID != calls[1].ID || calls[1].Reason != plain {
		t.Fatalf("call events %v (ended with %q), want one call: dialing, then ended %q", got, calls[len(calls)-1].Reason, plain)
	}
	if len(errs) != 1 || errs[0].Reason != "Call to 911 failed: "+plain {
		t.Fatalf("errors %+v, want one: %q", errs, "Call to 911 failed: "+plain)
	}
}

// Calls joined into the conference say so in their events, and Conference is no longer offered until a
// call outside it is there to add.
func TestConferencedCallsAreMarkedAndNotJoinedAgain(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.callState("1", phone.CallActive)
	h.callState("2", phone.CallHeld)
	if !slices.Contains(h.m.Actions(), ActConference) {
		t.Fatalf("two calls, no conference offered: %v", h.m.Actions())
	}
	for _, id := range []string{"1", "2"} {
		h.agent.events <- phone.Event{Kind: phone.EventCall, Call: phone.CallInfo{ID: id, State: phone.CallActive,
			Remote: "1002@example.com", Conference: true}}
	}
	h.settle()
	if slices.Contains(h.m.Actions(), ActConference) {
		t.Fatalf("conference offered again for calls already in it: %v", h.m.Actions())
	}
	h.mu.Lock()
	marked := 0
	for _, ev := range h.events {
		if c, ok := ev.(*CallEvent); ok && c.Conference {
			marked++
		}
	}
	h.mu.Unlock()
	if marked != 2 {
		t.Fatalf("%d call events marked conference, want 2", marked)
	}
	h.callState("3", phone.CallHeld)
	if !slices.Contains(h.m.Actions(), ActConference) {
		t.Fatal("a third call cannot be added to the conference")
	}
}

// A note about a call (a transfer the far end reported failed) names the call by its party, not its id.
func TestCallNoteNamesTheParty(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.callState("7", phone.CallActive)
	h.agent.events <- phone.Event{Kind: phone.EventCallNote, Call: phone.CallInfo{ID: "7", State: phone.CallActive,
		Remote: "1002@example.com"}, Err: errors.New("transfer failed: the far end reported 486")}
	h.settle()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.events {
		if e, ok := ev.(*ErrorEvent); ok {
			if e.Reason != "Call with 1002@example.com: transfer failed: the far end reported 486" {
				t.Fatalf("the user reads %q", e.Reason)
			}
			return
		}
	}
	t.Fatal("no error event for the note")
}
