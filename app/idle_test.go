package app

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"stayline/internal/clock"
)

// fakeParker stands for the platform's: wait reports that the loop is parked and blocks until the test
// (or wake) releases it; a wake before wait is kept, as the real pipe keeps it.
type fakeParker struct {
	waits   chan time.Time  // each wait's deadline, as it starts
	release chan wakeReason // what ends the wait
}

func newFakeParker() *fakeParker {
	return &fakeParker{waits: make(chan time.Time, 4), release: make(chan wakeReason, 1)}
}

func (f *fakeParker) wait(until time.Time) wakeReason {
	f.waits <- until
	return <-f.release
}

func (f *fakeParker) wake() {
	select {
	case f.release <- wakeShow:
	default:
	}
}

// idleRig is an idler on a fake clock; its "main thread" is a goroutine a park runs on.
type idleRig struct {
	t       *testing.T
	clk     *clock.Fake
	p       *fakeParker
	i       *idler
	busy    atomic.Bool
	minutes atomic.Int32
	cancel  context.CancelFunc
	done    chan struct{}
}

func newIdleRig(t *testing.T) *idleRig {
	r := &idleRig{t: t, clk: clock.NewFake(time.Date(2026, 11, 28, 9, 30, 12, 0, time.UTC)), p: newFakeParker(),
		done: make(chan struct{})}
	r.i = newIdler(r.clk, r.p, func(f func()) { go f() }, r.busy.Load, func() { r.minutes.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.i.loop(ctx); close(r.done) }()
	t.Cleanup(func() { cancel(); <-r.done })
	r.settled(1)
	return r
}

// settled waits until the idler's goroutine has armed n timers (it runs apart from the test).
func (r *idleRig) settled(n int) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.clk.Pending() != n {
		if time.Now().After(deadline) {
			r.t.Fatalf("%d timers armed, want %d", r.clk.Pending(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// parks says the loop parks now, until the next minute.
func (r *idleRig) parks() {
	r.t.Helper()
	select {
	case until := <-r.p.waits:
		if want := r.clk.Now().Truncate(time.Minute).Add(time.Minute); !until.Equal(want) {
			r.t.Fatalf("parked until %s, want the next minute %s", until, want)
		}
	case <-time.After(5 * time.Second):
		r.t.Fatal("the loop was not parked")
	}
	if parked, _ := r.i.Parked(); !parked {
		r.t.Fatal("parked, but Parked says not")
	}
}

// staysRunning says no park starts.
func (r *idleRig) staysRunning() {
	r.t.Helper()
	select {
	case <-r.p.waits:
		r.t.Fatal("parked too early")
	case <-time.After(50 * time.Millisecond):
	}
}

// wakes ends the park with reason and waits for the idler to arm its next timer.
func (r *idleRig) wakes(reason wakeReason) {
	r.t.Helper()
	_, changed := r.i.Parked()
	r.p.release <- reason
	<-changed
	r.settled(1)
}

func TestIdleParksAfterInputQuietAndUntilTheNextMinute(t *testing.T) {
	r := newIdleRig(t)
	r.clk.Advance(inputQuiet - time.Millisecond)
	r.staysRunning()
	r.clk.Advance(time.Millisecond)
	r.parks()
}

func TestIdleWakesForTheWindowsOwnChangesAndParksSoonAfter(t *testing.T) {
	r := newIdleRig(t)
	r.clk.Advance(inputQuiet)
	r.parks()
	_, changed := r.i.Parked()
	r.i.poke(showQuiet) // an event for the display: the parked loop runs again at once
	<-changed
	if parked, _ := r.i.Parked(); parked {
		t.Fatal("still parked after a poke")
	}
	r.settled(1)
	r.clk.Advance(showQuiet - time.Millisecond)
	r.staysRunning()
	r.clk.Advance(time.Millisecond)
	r.parks()
}

func TestIdleInputKeepsTheLoopRunningLonger(t *testing.T) {
	r := newIdleRig(t)
	r.clk.Advance(inputQuiet)
	r.parks()
	r.wakes(wakeInput)
	r.clk.Advance(showQuiet)
	r.staysRunning()
	r.clk.Advance(inputQuiet - showQuiet)
	r.parks()
}

func TestIdleClockWakeRefreshesTheMinute(t *testing.T) {
	r := newIdleRig(t)
	r.clk.Advance(inputQuiet)
	r.parks()
	r.wakes(wakeClock)
	if n := r.minutes.Load(); n != 1 {
		t.Fatalf("minute refreshed %d times, want 1", n)
	}
	r.clk.Advance(clockQuiet)
	r.parks()
}

func TestIdleDoesNotParkWhileSomethingMoves(t *testing.T) {
	r := newIdleRig(t)
	r.busy.Store(true) // a call on the display
	r.clk.Advance(inputQuiet)
	r.settled(0) // the park was refused: nothing armed until the next poke
	r.staysRunning()
	r.i.poke(showQuiet) // the call's tick
	r.settled(1)
	r.busy.Store(false) // the call ended
	r.clk.Advance(showQuiet)
	r.parks()
}

func TestIdleStopsAndReleasesTheLoopWhenItsContextEnds(t *testing.T) {
	r := newIdleRig(t)
	r.clk.Advance(inputQuiet)
	r.parks()
	_, changed := r.i.Parked()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the idler did not stop")
	}
	select {
	case <-changed: // the park ended: Fyne's loop runs (and can quit)
	case <-time.After(5 * time.Second):
		t.Fatal("the loop stayed parked after the window stopped")
	}
}

func TestNoParkerNoIdler(t *testing.T) {
	var i *idler = newIdler(clock.Real{}, nil, nil, nil, nil)
	if i != nil {
		t.Fatal("an idler without a parker")
	}
	if parked, changed := i.Parked(); parked || changed != nil {
		t.Fatal("a nil idler parks")
	}
	i.poke(showQuiet) // no panic
}
