package phone

// EventKind says what an Event reports.
type EventKind string

// The events the agent reports on its own.
const (
	// EventConnectionLost: the TCP/TLS connection to a server was closed or reset.
	EventConnectionLost EventKind = "connection_lost"
)

// Event is something the agent noticed about a server without being asked.
type Event struct {
	Kind   EventKind
	Server int // index in the configured server list
	Err    error
}
