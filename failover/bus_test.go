package failover

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func stageEv(s Stage) *StageEvent {
	ev := &StageEvent{Stage: s}
	ev.stamp("stage", t0)
	return ev
}

// A subscriber that never reads must not hold up publishing, nor other subscribers.
func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	b := newBus()
	stuck := b.subscribe()
	defer stuck.Close()
	live := b.subscribe()
	defer live.Close()
	// Publish one event at a time and let the live subscriber take each: publishing must never wait on
	// the stuck one, however far behind it falls.
	for i := 0; i < maxQueued+100; i++ {
		b.publish(stageEv(StageNormal))
		select {
		case <-live.C:
		case <-time.After(10 * time.Second):
			t.Fatalf("live subscriber got %d events, then nothing", i)
		}
	}
	// Every event said the same state: the stuck subscriber's queue was coalesced to the newest.
	if d := stuck.Dropped(); d < 99 {
		t.Fatalf("stuck subscriber coalesced %d stage events, want at least the 99 beyond its queue", d)
	}
	if live.Dropped() != 0 {
		t.Fatal("live subscriber lost events")
	}
}

func TestUnsubscribeClosesChannelAndStopsDelivery(t *testing.T) {
	b := newBus()
	s := b.subscribe()
	s.Close()
	s.Close() // twice is fine
	b.publish(stageEv(StageNormal))
	if _, open := <-s.C; open {
		t.Fatal("channel still open after Close")
	}
	if len(b.subs) != 0 {
		t.Fatal("closed subscription still registered")
	}
}

func TestEndDeliversQueuedEventsThenCloses(t *testing.T) {
	b := newBus()
	s := b.subscribe()
	b.publish(stageEv(StageNormal))
	b.publish(stageEv(StageNoService))
	b.end()
	var got []Stage
	for ev := range s.C {
		got = append(got, ev.(*StageEvent).Stage)
	}
	if len(got) != 2 || got[1] != StageNoService {
		t.Fatalf("after end got %v, want both queued events", got)
	}
	late := b.subscribe()
	if _, open := <-late.C; open {
		t.Fatal("a subscription made after end stays open")
	}
}

func TestBackoff(t *testing.T) {
	base, max := 30*time.Second, 1800*time.Second
	cases := []struct {
		failures int
		r        float64
		want     time.Duration
	}{
		{1, 0, 30 * time.Second}, // 60 s × 50 %
		{1, 0.999999, 60 * time.Second},
		{2, 0.5, 90 * time.Second},    // 120 s × 75 %
		{6, 0, 900 * time.Second},     // 1920 s capped at 1800 s, × 50 %
		{40, 0.5, 1350 * time.Second}, // no overflow
	}
	for _, c := range cases {
		got := backoff(base, max, c.failures, c.r).Round(time.Second)
		if got != c.want {
			t.Errorf("backoff(n=%d, r=%v) = %s, want %s", c.failures, c.r, got, c.want)
		}
	}
}

// A subscriber that stalls through a flood of 1,000 calls loses none of their events when it reads
// again: only superseded states are coalesced, and the newest of each is still delivered, in order.
func TestStalledSubscriberGetsEveryCallEvent(t *testing.T) {
	b := newBus()
	stuck := b.subscribe()
	defer stuck.Close()
	var want []string
	for i := 0; i < 1000; i++ {
		id := fmt.Sprint(i + 1)
		for _, st := range []CallState{CallDialing, CallRinging, CallActive, CallEnded} {
			ev := &CallEvent{ID: id, State: st}
			ev.stamp("call", t0)
			b.publish(ev)
			want = append(want, id+" "+string(st))
			acts := &ActionsEvent{Available: []Action{ActDial}}
			if st == CallEnded && i == 999 {
				acts.Available = []Action{ActDial, ActLogoff} // the last word
			}
			acts.stamp("actions", t0)
			b.publish(acts)
		}
	}
	var got []string
	var lastActions *ActionsEvent
	for len(got) < len(want) {
		select {
		case ev := <-stuck.C:
			switch e := ev.(type) {
			case *CallEvent:
				got = append(got, e.ID+" "+string(e.State))
			case *ActionsEvent:
				lastActions = e
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("after the stall: %d of %d call events, then nothing", len(got), len(want))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatal("call events lost or out of order")
	}
	select { // the newest actions come after the last call event
	case ev := <-stuck.C:
		if a, ok := ev.(*ActionsEvent); ok {
			lastActions = a
		}
	case <-time.After(time.Second):
	}
	if lastActions == nil || !slices.Equal(lastActions.Available, []Action{ActDial, ActLogoff}) {
		t.Fatalf("the newest actions were not delivered: %+v", lastActions)
	}
	if stuck.Dropped() == 0 {
		t.Fatal("nothing was coalesced: the test did not overflow the queue")
	}
}
