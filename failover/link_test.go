package failover

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A link that started the phone in transition is dialled as soon as the phone is in service, and one
// that never gets service gives up when its time is up (on the fake clock).
func TestDialWhenAllowed(t *testing.T) {
	h := newHarness(t, testConfig(twoServers), nil)
	h.agent.set(0, refused)
	h.agent.set(1, silent) // the alternate does not answer yet: the phone stays in transition
	h.advance(600 * time.Millisecond)
	h.wantStage(StageTransition, "")
	done := make(chan error, 1)
	go func() { done <- h.m.DialWhenAllowed(context.Background(), "1002", 20*time.Second) }()
	h.settle()
	if h.agent.count("dial", 0)+h.agent.count("dial", 1) != 0 {
		t.Fatal("dialled in transition")
	}
	h.agent.set(1, up)
	h.advanceUntil(20*time.Second, "the alternate", func() bool { return h.stage() == StageAlternate })
	select {
	case err := <-done:
		h.settle()
		if err != nil || h.agent.count("dial", 1) != 1 {
			t.Fatalf("in service on the alternate: %v, dialled through it %d times; log %v", err, h.agent.count("dial", 1), h.agent.log)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not dialled once in service")
	}

	h.agent.set(1, refused)
	h.advanceUntil(20*time.Second, "no service", func() bool { return h.stage() == StageNoService })
	timers := h.clk.Pending()
	go func() { done <- h.m.DialWhenAllowed(context.Background(), "1003", 20*time.Second) }()
	for deadline := time.Now().Add(5 * time.Second); h.clk.Pending() == timers; { // its timer is set
		if time.Now().After(deadline) {
			t.Fatal("DialWhenAllowed set no timer")
		}
		time.Sleep(time.Millisecond)
	}
	h.settle()
	h.advance(21 * time.Second)
	select {
	case err := <-done:
		if !errors.Is(err, ErrNoServiceInTime) {
			t.Fatalf("gave up with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not give up when its time was up")
	}
}
