package failover

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// maxQueued is how many events a subscriber may fall behind before its queue is coalesced. Publishing never
// waits for a subscriber. A subscriber that falls behind loses no event that tells something only once
// (calls, tones, refusals, errors): the events that say a state (the stage, the actions, a server's
// health, its registration, the lamp, a status) are coalesced to the newest of each, and the queue grows
// for the rest (docs/ARCHITECTURE.md, "Events").
const maxQueued = 4096

// Subscription delivers the manager's events, in order, on C until Close.
type Subscription struct {
	C <-chan Event

	out     chan Event
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []Event
	closed  bool         // the subscriber left: stop at once
	ending  bool         // the manager stopped: deliver what is queued, then close C
	dropped int          // events coalesced away (superseded by a newer one of their kind)
	limit   int          // the queue length that triggers the next coalescing
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

// Dropped is how many events were coalesced away because the subscriber fell behind: each was a state a
// newer event of its kind had replaced.
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
	s.queue = append(s.queue, ev)
	if len(s.queue) >= s.limit {
		s.coalesce()
	}
	s.pushed.Add(1)
	s.cond.Signal()
}

// coalesce keeps, of the queued events that say a state, only the newest of each kind, and sets the next
// limit so a queue of events that cannot be coalesced is not walked at every push.
func (s *Subscription) coalesce() {
	seen := map[string]bool{}
	kept := make([]Event, len(s.queue))
	n := len(kept)
	for i := len(s.queue) - 1; i >= 0; i-- {
		ev := s.queue[i]
		if k := stateKey(ev); k != "" {
			if seen[k] {
				s.dropped++
				continue
			}
			seen[k] = true
		}
		n--
		kept[n] = ev
	}
	s.queue = kept[n:]
	s.limit = max(maxQueued, 2*len(s.queue))
	slog.Warn("event subscriber is behind; superseded states coalesced", "queued", len(s.queue),
		"coalesced", s.dropped)
}

// stateKey names the state an event says ("" for an event that tells something once and is never
// coalesced away).
func stateKey(ev Event) string {
	switch e := ev.(type) {
	case *StageEvent:
		return "stage"
	case *ActionsEvent:
		return "actions"
	case *MWIEvent:
		return "mwi"
	case *StatusEvent:
		return "status"
	case *ServerEvent:
		return "server " + e.Server
	case *RegisteredEvent:
		return "registration " + e.Server
	case *UnregisteredEvent:
		return "registration " + e.Server
	}
	return ""
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
	s := &Subscription{out: make(chan Event), done: make(chan struct{}), bus: b, limit: maxQueued}
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
