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
