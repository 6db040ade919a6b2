package phone

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
