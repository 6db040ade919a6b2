package failover

// CallState is a call's state as the front ends see it; its values are the headless contract's `state`
// words (README.md, "Headless control").
type CallState string

// The call states.
const (
	CallDialing  CallState = "dialing"  // INVITE sent, nothing heard yet
	CallRinging  CallState = "ringing"  // the far end rings
	CallEarly    CallState = "early"    // early media flows before the answer
	CallIncoming CallState = "incoming" // ringing here
	CallActive   CallState = "active"   // talking
	CallHeld     CallState = "held"     // on hold
	CallEnded    CallState = "ended"    // over; Reason says why
)

// Talking is true for a call that was answered and is not over: active or held.
func (s CallState) Talking() bool { return s == CallActive || s == CallHeld }

// Alerting is true for an outgoing call not yet answered: dialing, ringing, or with early media.
func (s CallState) Alerting() bool { return s == CallDialing || s == CallRinging || s == CallEarly }

// EndCause is why a call ended, as a value (the `cause` of an ended call event): the history sorts
// unanswered calls by it and the window stays quiet about a call the user ended. The words for the user
// are the event's reason.
type EndCause string

// The causes.
const (
	EndLocal       EndCause = "local"       // hung up, declined or cancelled here
	EndRemote      EndCause = "remote"      // the far end hung up, or the caller gave up on a call ringing here
	EndBusy        EndCause = "busy"        // the far end was busy (486, 600)
	EndDeclined    EndCause = "declined"    // the far end declined (603)
	EndNoAnswer    EndCause = "no_answer"   // nobody answered (a call ringing here rang out, 408, 480)
	EndTransferred EndCause = "transferred" // handed over by a transfer
	EndShutdown    EndCause = "shutdown"    // the phone shut down
	EndFailed      EndCause = "failed"      // the server, the network, or a refusal (404, 488, 503 ...)
)
