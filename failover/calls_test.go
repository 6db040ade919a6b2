package failover

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

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
	if len(calls) != 1 || calls[0].State != "active" || calls[0].Remote != "1002@example.com" {
		t.Fatalf("call events %+v", calls)
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
	if c := of[*CallEvent](h); len(c) != 1 || c[0].State != "active" {
		t.Fatalf("emergency call events %+v", c)
	}
}

func TestUnansweredInviteIsADetectionSignal(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.set(0, silent) // keep-alives would find it too, but the INVITE comes first
	if err := h.m.Dial("1002"); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if h.clk.Now() != t0 {
		t.Fatal("the clock moved")
	}
	h.wantStage(StageAlternate, "branch")
	if ev := of[*ErrorEvent](h); len(ev) != 1 || !strings.Contains(ev[0].Reason, "call to 1002 failed") {
		t.Fatalf("error events %+v, want the failed call reported", ev)
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
