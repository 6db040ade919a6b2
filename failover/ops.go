package failover

import (
	"context"
	"fmt"
	"time"

	"stayline/internal/clock"
)

type contextT = context.Context

// timeoutError is what an operation returns when the manager's own deadline passes first.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string { return fmt.Sprintf("no answer within %s", e.after) }

// runOp runs work off the loop with a deadline on the manager's clock, and hands its result (or a
// timeoutError, whichever comes first) to done, in the loop. work's context ends at the deadline.
func runOp[T any](m *Manager, timeout time.Duration, work func(context.Context) (T, error), done func(T, error)) {
	ctx, cancel := context.WithCancel(m.ctx)
	finished := false // loop-owned
	var deadline clock.Timer
	deliver := func(v T, err error) {
		if finished {
			return
		}
		finished = true
		deadline.Stop()
		cancel()
		done(v, err)
	}
	deadline = m.after(timeout, func() {
		var zero T
		deliver(zero, &timeoutError{after: timeout})
	})
	m.inflight.Add(1)
	go func() {
		v, err := work(ctx)
		if !m.post(func() {
			deliver(v, err)
			m.inflight.Add(-1) // after: whatever deliver starts is counted before this one stops counting
		}) {
			m.inflight.Add(-1)
			cancel()
		}
	}()
}

// after runs f in the loop once d has passed on the manager's clock.
func (m *Manager) after(d time.Duration, f func()) clock.Timer {
	return m.clock.AfterFunc(d, func() { m.post(f) })
}

// background runs work off the loop and its returned continuation in the loop, counted as in flight
// like any operation.
func (m *Manager) background(work func() func()) {
	m.inflight.Add(1)
	go func() {
		cont := work()
		if !m.post(func() {
			cont()
			m.inflight.Add(-1)
		}) {
			m.inflight.Add(-1)
		}
	}()
}
