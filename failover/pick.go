package failover

// Which call an action applies to when none is named: decided here, once, for the manager (a headless
// command without an id) and the window (the call its soft keys show) alike.

// CallRef is what choosing a call looks at: its id and state.
type CallRef struct {
	ID    string
	State CallState
}

// FocusOrder is the order in which the phone's keys attend to calls: a call ringing here first, then the
// one talking, then one ringing at the far end (with early media first), one being dialled, one on hold.
var FocusOrder = []CallState{CallIncoming, CallActive, CallEarly, CallRinging, CallDialing, CallHeld}

// actionOrder is, for an action given no call id, the states of the calls it applies to, in the order
// they are chosen (README.md, "Headless control": answer the ringing call, hang up the active one else
// the newest, hold the active one, resume the held one, tones to the active one).
var actionOrder = map[Action][]CallState{
	ActAnswer:   {CallIncoming},
	ActHangup:   {CallActive, CallEarly, CallRinging, CallDialing, CallIncoming, CallHeld},
	ActHold:     {CallActive},
	ActResume:   {CallHeld},
	ActDTMF:     {CallActive},
	ActTransfer: {CallActive},
}

// PickCall chooses among calls the first whose state comes first in prefer; of several in one state, the
// newest (last in CallIDLess order). ok is false when no call is in any of the states.
func PickCall(calls []CallRef, prefer []CallState) (id string, ok bool) {
	for _, st := range prefer {
		best := ""
		for _, c := range calls {
			if c.State == st && (best == "" || CallIDLess(best, c.ID)) {
				best = c.ID
			}
		}
		if best != "" {
			return best, true
		}
	}
	return "", false
}
