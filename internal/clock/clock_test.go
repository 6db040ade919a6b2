package clock

import (
	"slices"
	"testing"
	"time"
)

func TestFakeRunsTimersInOrderAtTheirTime(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewFake(start)
	var fired []string
	var at []time.Duration
	note := func(name string) func() {
		return func() { fired = append(fired, name); at = append(at, c.Now().Sub(start)) }
	}
	c.AfterFunc(3*time.Second, note("c"))
	c.AfterFunc(time.Second, note("a"))
	stopped := c.AfterFunc(2*time.Second, note("never"))
	c.AfterFunc(2*time.Second, func() {
		note("b")()
		c.AfterFunc(500*time.Millisecond, note("b+")) // scheduled by a timer, due within the advance
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop must report true once, then false")
	}
	c.Advance(2500 * time.Millisecond)
	if !slices.Equal(fired, []string{"a", "b", "b+"}) {
		t.Fatalf("fired %v", fired)
	}
	if !slices.Equal(at, []time.Duration{time.Second, 2 * time.Second, 2500 * time.Millisecond}) {
		t.Fatalf("fired at %v", at)
	}
	if next, ok := c.Next(); !ok || next != 500*time.Millisecond {
		t.Fatalf("Next = %s %v, want 500ms", next, ok)
	}
	c.Advance(time.Hour)
	if fired[len(fired)-1] != "c" || c.Pending() != 0 {
		t.Fatalf("fired %v, pending %d", fired, c.Pending())
	}
	if c.Now() != start.Add(time.Hour+2500*time.Millisecond) {
		t.Fatalf("now %s", c.Now())
	}
}
