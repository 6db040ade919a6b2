package failover

import "stayline/phone"

// Auto-answer (docs/ARCHITECTURE.md, "Calls and SIP"): an incoming call that asks to be answered by itself
// (intercom, paging; the phone reads the request, phone/autoanswer.go) is answered here, after the delay it
// asked, when calls.auto_answer is on and no other call is up; otherwise it rings like any call. The
// answer is Answer's, the user's: the gate rules on it as on a press of the Answer key.

// autoAnswer arranges the answer of a call the agent reports ringing here for the first time (its
// previous state unknown to the manager), if it asked for one and may have it.
func (m *Manager) autoAnswer(ci phone.CallInfo) {
	if _, known := m.calls[ci.ID]; known || ci.State != phone.CallIncoming || !ci.AutoAnswer {
		return
	}
	if !m.cfg.Calls.AutoAnswer || m.otherCallUp(ci.ID) {
		m.log.Info("call asks to be answered by itself; ringing instead", "call", ci.ID,
			"auto_answer", m.cfg.Calls.AutoAnswer)
		return
	}
	id := ci.ID
	m.log.Info("answering by itself", "call", id, "after", ci.AnswerAfter)
	m.clock.AfterFunc(ci.AnswerAfter, func() { m.answerItself(id) })
}

// answerItself answers call id if it still rings alone (another call may have come meanwhile). It runs
// outside the loop.
func (m *Manager) answerItself(id string) {
	still := false
	if m.call(func() {
		ci, ok := m.calls[id]
		still = ok && ci.State == phone.CallIncoming && !m.otherCallUp(id)
	}) != nil || !still {
		return
	}
	if err := m.Answer(id); err != nil {
		m.log.Info("call not answered by itself", "call", id, "error", err)
	}
}

// otherCallUp reports whether a call other than id is in progress, in any state.
func (m *Manager) otherCallUp(id string) bool {
	for cid := range m.calls {
		if cid != id {
			return true
		}
	}
	return false
}
