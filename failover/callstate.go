package failover

import "stayline/phone"

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
// are the event's reason. The causes are the agent's (phone.EndKind: local, remote, busy, declined,
// no_answer, transferred, shutdown, failed), named here for the front ends, which do not import phone.
type EndCause = phone.EndKind

// The causes a front end acts on.
const (
	EndLocal    = phone.EndLocal    // hung up, declined or cancelled here
	EndRemote   = phone.EndRemote   // the far end hung up, or the caller gave up
	EndBusy     = phone.EndBusy     // the far end was busy
	EndDeclined = phone.EndDeclined // the far end declined
	EndFailed   = phone.EndFailed   // the server, the network, or a refusal
)
