package app

import (
	"context"
	"sync"
	"time"

	"fyne.io/fyne/v2"

	"stayline/internal/clock"
)

// The idle window (docs/ARCHITECTURE.md, "The idle window"). Fyne's desktop loop wakes sixty times a second
// whatever the window shows; on a laptop that is the phone's whole idle cost. When nothing on the screen
// moves (no call, no notice held back) and nobody has touched the window for a while, the idler parks that
// loop: a function run on Fyne's main thread blocks until input reaches the process (the X connection, a
// D-Bus message from the tray or the notifications), the window's own code has something to show (every
// event goes through Window.Do), or the clock's minute changes. The loop then runs as before.

const (
	// inputQuiet is how long after input the window is left running: menus, taps and typing need its
	// frames.
	inputQuiet = 3 * time.Second
	// showQuiet is how long after the window's own change it runs: enough for Fyne to draw the change.
	showQuiet = 200 * time.Millisecond
	// clockQuiet is how long it runs after the minute changed: three of Fyne's frames, to draw a label.
	clockQuiet = 50 * time.Millisecond
)

// wakeReason says why a parked loop runs again.
type wakeReason int

const (
	wakeInput wakeReason = iota // the X connection or another of the process's Unix sockets has something
	wakeShow                    // the window's own code has something to show (Window.Do)
	wakeClock                   // the status line's minute changed
	wakeBusy                    // not parked: something on the screen moves
	wakeStop                    // the window stopped
)

// parker blocks Fyne's main thread: the platform's (idle_x11.go), nil where there is none.
type parker interface {
	// wait blocks until input is readable, wake is called, or until; it says which. A wake that came
	// before wait is kept: wait then returns at once.
	wait(until time.Time) wakeReason
	wake()
}

// idlerState is where the idler is: running (the loop is Fyne's), asked (a park is on its way to the
// main thread), or parked.
type idlerState int

const (
	idleRunning idlerState = iota
	idleAsked
	idleParked
)

// idler parks the window's loop while it is idle.
type idler struct {
	clk     clock.Clock
	p       parker
	run     func(func()) // runs a function on Fyne's main thread (fyne.Do)
	busy    func() bool  // on the main thread: something on the screen moves
	minute  func()       // on the main thread: the minute changed (the clock)
	pokes   chan time.Duration
	mu      sync.Mutex
	state   idlerState
	changed chan struct{} // closed when the state changes
}

// newIdler is an idler with parker p (nil: none, and so no idler), running its parks through run.
func newIdler(clk clock.Clock, p parker, run func(func()), busy func() bool, minute func()) *idler {
	if p == nil {
		return nil
	}
	return &idler{clk: clk, p: p, run: run, busy: busy, minute: minute, pokes: make(chan time.Duration, 16),
		changed: make(chan struct{})}
}

// Parked says whether the loop is parked, and gives a channel closed at the next change.
func (i *idler) Parked() (bool, <-chan struct{}) {
	if i == nil {
		return false, nil
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.state == idleParked, i.changed
}

func (i *idler) set(s idlerState) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if (s == idleParked) != (i.state == idleParked) {
		close(i.changed)
		i.changed = make(chan struct{})
	}
	i.state = s
}

// poke says the window has something to show: a parked loop runs again, and parks at the earliest after
// quiet.
func (i *idler) poke(quiet time.Duration) {
	if i == nil {
		return
	}
	i.mu.Lock()
	s := i.state
	i.mu.Unlock()
	if s != idleRunning {
		i.p.wake()
	}
	select {
	case i.pokes <- quiet:
	default: // the loop has pokes to read: it re-arms anyway
	}
}

// loop parks the window's loop whenever it has been quiet long enough, until ctx ends.
func (i *idler) loop(ctx context.Context) {
	quiet := make(chan uint64, 1)
	var (
		timer clock.Timer
		due   time.Time
		gen   uint64
	)
	arm := func(d time.Duration) {
		at := i.clk.Now().Add(d)
		if timer != nil {
			if !at.After(due) {
				return
			}
			timer.Stop()
		}
		gen++
		g := gen
		due = at
		timer = i.clk.AfterFunc(d, func() {
			select {
			case quiet <- g:
			default:
			}
		})
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	arm(inputQuiet)
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-i.pokes:
			arm(d)
		case g := <-quiet:
			if g != gen {
				continue // a timer stopped too late
			}
			timer = nil
			switch i.parkOnce(ctx) {
			case wakeStop:
				return
			case wakeBusy: // parked again after the next poke: the window's events and its ticks poke
			case wakeInput:
				arm(inputQuiet)
			case wakeClock:
				arm(clockQuiet)
			default:
				arm(showQuiet)
			}
		}
	}
}

// parkOnce runs the park on the main thread and waits for it to end.
func (i *idler) parkOnce(ctx context.Context) wakeReason {
	done := make(chan wakeReason, 1)
	i.set(idleAsked)
	i.run(func() {
		if i.busy() || ctx.Err() != nil {
			i.set(idleRunning)
			done <- wakeBusy
			return
		}
		i.set(idleParked)
		now := i.clk.Now()
		r := i.p.wait(now.Truncate(time.Minute).Add(time.Minute))
		i.set(idleRunning)
		if r == wakeClock {
			i.minute()
		}
		done <- r
	})
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		i.p.wake()
		return wakeStop
	}
}

// Do runs f on Fyne's main thread, as fyne.Do does, waking a parked loop first: every change the window's
// own code makes goes through it.
func (w *Window) Do(f func()) {
	w.idle.poke(showQuiet)
	fyne.Do(f)
}
