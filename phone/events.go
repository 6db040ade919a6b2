package phone

import (
	"context"
	"sync"
)

// EventKind says what an Event reports.
type EventKind string

// The events the agent reports on its own.
const (
	// EventConnectionLost: the TCP/TLS connection to a server was closed or reset.
	EventConnectionLost EventKind = "connection_lost"
	// EventServerTrouble: a request through the server failed in a way that blames the server (an INVITE
	// timed out or was answered 503).
	EventServerTrouble EventKind = "server_trouble"
	// EventCall: a call changed state (Call holds the new state).
	EventCall EventKind = "call"
	// EventDigit: the far end sent a DTMF digit on Call.ID.
	EventDigit EventKind = "digit"
	// EventCallNote: something about Call the user should know that is not a state change (Err says
	// what: a transfer that failed).
	EventCallNote EventKind = "call_note"
	// EventMWI: a server reported whether messages are waiting (Waiting).
	EventMWI EventKind = "mwi"
	// EventAddressChanged: a server's answer to a keep-alive says it sees the phone at another address
	// than its Contact (a NAT's mapping changed): the phone should register there again (nat.go).
	EventAddressChanged EventKind = "address_changed"
)

// Event is something the agent noticed about a server without being asked.
type Event struct {
	Kind    EventKind
	Server  int // index in the configured server list
	Err     error
	Call    CallInfo
	Digit   byte
	Waiting bool
}

// eventQueue hands the agent's events to their one reader (the failover manager) in order, however far
// behind it falls: notify never waits and never drops, since a lost call event would leave the manager's
// view of the calls wrong (docs/ARCHITECTURE.md, "Events").
type eventQueue struct {
	mu    sync.Mutex
	queue []Event
	wake  chan struct{} // a push since the pump last looked
	out   chan Event
}

// newEventQueue starts delivering on out until ctx ends.
func newEventQueue(ctx context.Context) *eventQueue {
	q := &eventQueue{wake: make(chan struct{}, 1), out: make(chan Event)}
	go q.pump(ctx)
	return q
}

func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	q.queue = append(q.queue, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) pump(ctx context.Context) {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.mu.Unlock()
			select {
			case <-q.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		ev := q.queue[0]
		q.queue[0] = Event{}
		q.queue = q.queue[1:]
		q.mu.Unlock()
		select {
		case q.out <- ev:
		case <-ctx.Done():
			return
		}
	}
}
