package failover

import "stayline/phone"

// NAT (docs/ARCHITECTURE.md, "NAT"): the agent learns where each server sees the phone; the manager
// registers again when that moves and shows it in the status.

// reacher is an agent that can say where each server reaches the phone (phone.Agent does; test doubles
// need not).
type reacher interface {
	Reachable(server int) phone.Reach
}

// addressChanged: a keep-alive's answer says s sees the phone at another address than the Contact it
// registered (a NAT's mapping changed or expired and was made anew): incoming calls would go to the old
// one, so the phone registers on s again at once, like a refresh. The stage does not change.
func (m *Manager) addressChanged(s *server) {
	if !s.registered || s.registering || m.closing || m.loggedOff {
		return // a REGISTER is on its way (it takes the new address), or there is nothing to move
	}
	m.log.Info("the server sees the phone at another address (NAT): registering again", "server", s.cfg.Name)
	if m.settling() { // the phone's own network just moved: at most one such REGISTER a second (network.go)
		m.reregister(s)
		return
	}
	m.startRegister(s)
}

// reach fills in where s reaches the phone, while registered on it.
func (m *Manager) reach(s *server, rs *RegistrationStatus) {
	r, ok := m.agent.(reacher)
	if !ok || !s.registered {
		return
	}
	at := r.Reachable(s.idx)
	rs.Contact, rs.MediaAddress = at.Contact, at.Media
}
