package failover

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNoServiceInTime is DialWhenAllowed's answer when the gate never let the call out in time.
var ErrNoServiceInTime = errors.New("no service in time: the call was not placed")

// DialWhenAllowed dials target as soon as the gate allows it (a link that started the phone before it
// had service), asking again at every change, or gives up after within or when ctx ends.
func (m *Manager) DialWhenAllowed(ctx context.Context, target string, within time.Duration) error {
	sub := m.Subscribe()
	defer sub.Close()
	limit := make(chan struct{})
	timer := m.clock.AfterFunc(within, func() { close(limit) })
	defer timer.Stop()
	for {
		if m.Check(ActDial, target) == nil {
			return m.Request(ActDial, target)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-limit:
			return fmt.Errorf("dial %s: %w", target, ErrNoServiceInTime)
		case _, ok := <-sub.C: // something changed: ask the gate again
			if !ok {
				return ErrClosed
			}
		}
	}
}
