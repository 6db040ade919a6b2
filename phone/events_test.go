package phone

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// heldEvents is an event queue nobody delivers from: a bare agent's events stay there for the test.
func heldEvents() *eventQueue {
	return &eventQueue{wake: make(chan struct{}, 1), out: make(chan Event)}
}

// held takes the events queued so far.
func (q *eventQueue) held() []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.queue
	q.queue = nil
	return out
}

// A reader that stalls through a flood of 1,000 calls (3,000 events) gets every one of them, in order,
// once it reads again; pushing never waited on it.
func TestEventsAreNeverDropped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := newEventQueue(ctx)
	pushed := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			for _, st := range []CallState{CallDialing, CallActive, CallEnded} {
				q.push(Event{Kind: EventCall, Call: CallInfo{ID: fmt.Sprint(i), State: st}})
			}
		}
		close(pushed)
	}()
	select {
	case <-pushed:
	case <-time.After(10 * time.Second):
		t.Fatal("pushing waited on a reader that does not read")
	}
	for i := 0; i < 1000; i++ {
		for _, st := range []CallState{CallDialing, CallActive, CallEnded} {
			select {
			case ev := <-q.out:
				if ev.Call.ID != fmt.Sprint(i) || ev.Call.State != st {
					t.Fatalf("event %+v, want call %d %s", ev.Call, i, st)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("event for call %d %s never came", i, st)
			}
		}
	}
}
