package failover

import (
	"errors"
	"stayline/config"
	"stayline/phone"
	"time"
)

// What the manager tells the front ends: stage and actions events, the status, the gate's situation.

func (m *Manager) setStage(st Stage, reason string) {
	srv := ""
	if st != StageTransition && st != StageNoService && m.active >= 0 {
		srv = m.servers[m.active].cfg.Name
	}
	if st == m.stage && srv == m.stageServer {
		return
	}
	prev := m.stage
	m.stage, m.stageServer = st, srv
	if st == StageTransition {
		m.dropHeldCalls()
	}
	m.followMWI()
	m.log.Info("stage", "stage", st, "server", srv, "previous", prev, "reason", reason)
	ev := m.stageEvent(reason)
	ev.Previous = prev
	m.emit("stage", ev)
}

func (m *Manager) emitStage(reason string) { m.emit("stage", m.stageEvent(reason)) }

func (m *Manager) stageEvent(reason string) *StageEvent {
	ev := &StageEvent{Stage: m.stage, Server: m.stageServer, Reason: reason, LoggedOff: m.loggedOff}
	ev.stamp("stage", m.clock.Now())
	return ev
}

func (m *Manager) actionsEvent() *ActionsEvent {
	a := m.situation().available()
	m.lastActions = a
	ev := &ActionsEvent{Available: a}
	ev.stamp("actions", m.clock.Now())
	return ev
}

func (m *Manager) publishActions() {
	a := m.situation().available()
	if equalActions(a, m.lastActions) {
		return
	}
	m.lastActions = a
	m.emit("actions", &ActionsEvent{Available: a})
}

func equalActions(a, b []Action) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (m *Manager) emit(name string, ev Event) {
	ev.stamp(name, m.clock.Now())
	m.bus.publish(ev)
}

func (m *Manager) situation() situation {
	sit := situation{
		stage:     m.stage,
		loggedOff: m.loggedOff,
		policy:    m.cfg.Failover.Failback,
		calls:     m.callCounts(),
		lines:     m.cfg.Calls.Lines,
	}
	if m.active >= 0 {
		sit.server, sit.hasServer = m.servers[m.active].cfg, true
	}
	return sit
}

func (m *Manager) status() StatusEvent {
	now := m.clock.Now()
	st := StatusEvent{
		Stage:     m.stage,
		Server:    m.stageServer,
		Listen:    m.agent.Listen(),
		LoggedOff: m.loggedOff,
		Calls:     m.callStatus(),
		Available: m.situation().available(),
	}
	st.stamp("status", now)
	for _, s := range m.servers {
		rs := RegistrationStatus{
			Server:     s.cfg.Name,
			Registered: s.registered,
			Active:     s.idx == m.active,
			Health:     string(s.health),
			Failures:   s.failures,
			Reason:     s.downWhy,
			Transport:  string(s.cfg.Transport),
			Address:    s.cfg.HostPort(),
			Features:   []string{},
		}
		if s.health == "" {
			rs.Health = string(healthUnknown)
		}
		if s.authFailed != "" {
			rs.Health, rs.Reason = "auth_failed", s.authFailed
		}
		if s.registered {
			rs.ExpiresIn = int((s.expires - now.Sub(s.grantedAt)) / time.Second)
		}
		for _, f := range config.AllFeatures {
			if s.cfg.Offers(f) {
				rs.Features = append(rs.Features, string(f))
			}
		}
		m.reach(s, &rs)
		st.Registrations = append(st.Registrations, rs)
	}
	return st
}

// describe shortens an error for a user-facing reason.
func describe(err error) string {
	var se *phone.StatusError
	if errors.As(err, &se) {
		return se.Error()
	}
	var te *timeoutError
	if errors.As(err, &te) {
		return te.Error()
	}
	return err.Error()
}
