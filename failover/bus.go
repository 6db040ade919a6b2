package failover

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// maxQueued is how many events a subscriber may fall behind before the oldest are dropped. Publishing never
// waits for a subscriber; a subscriber that stops reading only loses its own oldest events.
const maxQueued = 4096

// Subscription delivers the manager's events, in order, on C until Close.
type Subscription struct {
	C <-chan Event

	out     chan Event
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []Event
	closed  bool // the subscriber left: stop at once
	ending  bool // the manager stopped: deliver what is queued, then close C
	dropped int
	pushed  atomic.Int64 // events queued so far (tests use it to know delivery is complete)
	done    chan struct{}
	bus     *bus
}

// Close ends the subscription; C is closed soon after. Safe to call more than once.
func (s *Subscription) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.cond.Broadcast()
	}
	s.mu.Unlock()
	s.bus.remove(s)
}

// Dropped is how many events were lost because the subscriber fell too far behind.
func (s *Subscription) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

func (s *Subscription) push(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ending {
		return
	}
	if len(s.queue) >= maxQueued {
		s.queue = s.queue[1:]
		s.dropped++
		if s.dropped == 1 || s.dropped%1000 == 0 {
			slog.Warn("event subscriber is not reading; oldest events dropped", "dropped", s.dropped)
		}
	}
	s.queue = append(s.queue, ev)
	s.pushed.Add(1)
	s.cond.Signal()
}

// pump moves queued events to C, waiting on the subscriber, never on the manager.
func (s *Subscription) pump() {
	defer close(s.out)
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed && !s.ending {
			s.cond.Wait()
		}
		if s.closed || len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		ev := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-s.done:
			return
		}
	}
}

// bus fans events out to subscriptions.
type bus struct {
	mu    sync.Mutex
	subs  map[*Subscription]struct{}
	ended bool
}

func newBus() *bus { return &bus{subs: map[*Subscription]struct{}{}} }

func (b *bus) subscribe(first ...Event) *Subscription {
	s := &Subscription{out: make(chan Event), done: make(chan struct{}), bus: b}
	s.C = s.out
	s.cond = sync.NewCond(&s.mu)
	s.queue = append(s.queue, first...)
	s.pushed.Add(int64(len(first)))
	b.mu.Lock()
	b.subs[s] = struct{}{}
	s.ending = b.ended
	b.mu.Unlock()
	go s.pump()
	return s
}

func (b *bus) remove(s *Subscription) {
	b.mu.Lock()
	_, ok := b.subs[s]
	delete(b.subs, s)
	b.mu.Unlock()
	if ok {
		close(s.done)
	}
}

func (b *bus) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.push(ev)
	}
}

// end lets every subscription deliver what it holds and then close its channel.
func (b *bus) end() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ended = true
	for s := range b.subs {
		s.mu.Lock()
		s.ending = true
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}
