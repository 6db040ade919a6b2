package failover

import (
	"stayline/phone"
)

// The binding check and the INVITE from elsewhere: two signals the keep-alives alone miss
// (docs/ARCHITECTURE.md, "Keep-alives and the binding check").

// checkBinding asks s, which has just answered a keep-alive, whether it still holds the phone's binding
// (phone.Agent.CheckBinding): a registrar that restarted within one keep-alive interval answers
// keep-alives as before but has forgotten the phone, and incoming calls fail until the next REGISTER.
// One check per keep-alive of a registered server, so it rides on the keep-alive's random phase.
func (m *Manager) checkBinding(s *server) {
	if s.checking || s.bindingOff || !s.registered || s.registering || m.closing || m.loggedOff {
		return
	}
	s.checking = true
	gen := s.probeGen
	runOp(m, m.cfg.Failover.KeepaliveTimeout.D(), func(ctx contextT) (phone.BindingCheck, error) {
		return m.agent.CheckBinding(ctx, s.idx)
	}, func(found phone.BindingCheck, err error) {
		s.checking = false
		if gen != s.probeGen || m.closing {
			return
		}
		m.bindingChecked(s, found, err)
		m.reconcile()
	})
}

// bindingChecked acts on a binding check's verdict. A lost binding is registered again at once, like a
// refresh: the server answers, so the stage does not change. An answer of the server's own (a 200 that
// did not come from this phone) means "lost" too once checks have reached the phone through this server
// (another device of the account answered: this phone's binding is gone); before that, it means the
// server does not route the check to bindings, and it is not checked again. A server that says "lost"
// again right after the registration the check forced (it answers 404 for every user) is not checked
// again either. Both hold until the server has been lost and registered anew, so a server the check
// misreads costs at most one REGISTER.
func (m *Manager) bindingChecked(s *server, found phone.BindingCheck, err error) {
	switch found {
	case phone.BindingReached:
		s.bindingSeen, s.bindingForced = true, false
		return
	case phone.BindingUnsupported:
		if !s.bindingSeen {
			s.bindingOff = true
			m.log.Info("the server answers OPTIONS to the phone's own address itself: no binding checks",
				"server", s.cfg.Name, "answer", checkAnswer(err))
			return
		}
	case phone.BindingLost:
	default:
		m.log.Debug("binding check without a verdict", "server", s.cfg.Name, "error", err)
		return
	}
	if !s.registered || s.registering {
		return // a REGISTER is on its way, or the registration has gone: nothing to restore
	}
	if s.bindingForced {
		s.bindingOff = true
		m.log.Warn("the server still reports no binding right after a registration: no binding checks",
			"server", s.cfg.Name, "answer", checkAnswer(err))
		return
	}
	s.bindingForced = true
	m.log.Warn("the server has lost the phone's registration (restarted?): registering again",
		"server", s.cfg.Name, "answer", checkAnswer(err))
	m.startRegister(s)
}

// checkAnswer words what a server answered a binding check ("" when the agent did not say).
func checkAnswer(err error) string {
	if err == nil {
		return ""
	}
	return describe(err)
}

// forgetBindingChecks starts the checks of s afresh: it was lost, and its next registration is new.
func (s *server) forgetBindingChecks() {
	s.bindingOff, s.bindingForced, s.bindingSeen = false, false, false
}

// inviteFrom notes that an INVITE arrived through server (the agent asks for its admission). An INVITE
// through a server other than the one in use means the servers route calls around the one in use, as they
// do when they find it down (an Avaya phone treats it so): the server in use is probed at once instead of
// at its next keep-alive. Not while failing back, when calls through home are expected.
func (m *Manager) inviteFrom(server int) {
	if m.closing || m.loggedOff || m.active < 0 || server < 0 || server >= len(m.servers) || server == m.active {
		return
	}
	if m.stage != StageNormal && m.stage != StageAlternate {
		return
	}
	in := m.servers[m.active]
	m.log.Info("an INVITE came through another server than the one in use: probing it now",
		"via", m.servers[server].cfg.Name, "in_use", in.cfg.Name)
	m.probeNow(in)
}

// probeNow sends s a keep-alive at once, unless one is in flight (its answer decides). Its answer counts
// as any keep-alive's, and the next one follows an interval after it.
func (m *Manager) probeNow(s *server) {
	if s.probing || !m.shouldProbe(s) {
		return
	}
	s.stopProbes()
	m.probe(s)
}
