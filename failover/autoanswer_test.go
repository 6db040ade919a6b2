package failover

import (
	"slices"
	"testing"
	"time"

	"stayline/config"
	"stayline/phone"
)

// autoCall makes the agent report call id ringing here, asking to be answered by itself after after.
func (h *harness) autoCall(id string, after time.Duration) {
	h.agent.events <- phone.Event{Kind: phone.EventCall, Server: 0, Call: phone.CallInfo{ID: id, State: phone.CallIncoming,
		Remote: "page@example.com", Server: 0, AutoAnswer: true, AnswerAfter: after}}
	h.settle()
}

func (h *harness) answered(id string) bool {
	h.settle()
	h.agent.mu.Lock()
	defer h.agent.mu.Unlock()
	return slices.Contains(h.agent.log, "answer "+id)
}

func autoAnswerOn(c *config.Config) { c.Calls.AutoAnswer = true }

// A call that asks to be answered by itself is, after the delay it asked, when calls.auto_answer is on.
func TestAutoAnswerAfterTheDelay(t *testing.T) {
	h := newHarness(t, testConfig(autoAnswerOn), nil)
	h.wantStage(StageNormal, "home")
	h.autoCall("1", 0)
	h.advance(0)
	if !h.answered("1") {
		t.Fatalf("answer-after=0 not answered: %v", h.agent.log)
	}
	h.callState("1", phone.CallEnded)
	h.autoCall("2", 3*time.Second)
	h.advance(2900 * time.Millisecond)
	if h.answered("2") {
		t.Fatal("answered before its delay")
	}
	h.advance(100 * time.Millisecond)
	if !h.answered("2") {
		t.Fatalf("answer-after=3 not answered after 3 s: %v", h.agent.log)
	}
}

// Off (the default), the call rings; on, a call that asks while another call is up rings too, and so does
// one that asked before another call came.
func TestAutoAnswerOnlyWhenOnAndAlone(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.wantStage(StageNormal, "home")
	h.autoCall("1", 0)
	h.advance(time.Minute)
	if h.answered("1") {
		t.Fatal("answered by itself with calls.auto_answer off")
	}

	h = newHarness(t, testConfig(autoAnswerOn), nil)
	h.wantStage(StageNormal, "home")
	h.callState("4", phone.CallActive)
	h.autoCall("5", 0)
	h.advance(time.Minute)
	if h.answered("5") {
		t.Fatal("answered by itself during another call")
	}
	h.callState("4", phone.CallEnded)
	h.callState("5", phone.CallEnded)
	h.autoCall("6", 2*time.Second)
	h.callState("7", phone.CallIncoming)
	h.advance(time.Minute)
	if h.answered("6") {
		t.Fatal("answered by itself though another call came before its delay was over")
	}
}

// Auto-answer goes through the gate, as the user's Answer does: logged off meanwhile, the call is not
// answered, and the refusal is published.
func TestAutoAnswerAsksTheGate(t *testing.T) {
	h := newHarness(t, testConfig(autoAnswerOn), nil)
	h.wantStage(StageNormal, "home")
	h.autoCall("1", time.Second)
	if err := h.m.Logoff(); err != nil {
		t.Fatal(err)
	}
	h.advance(time.Second)
	if h.answered("1") {
		t.Fatal("answered by itself while logged off")
	}
	refused := of[*RefusedEvent](h)
	if len(refused) != 1 || refused[0].Action != ActAnswer {
		t.Fatalf("refusals %+v, want the answer's", refused)
	}
}
