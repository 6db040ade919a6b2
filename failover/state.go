package failover

import (
	"errors"
	"fmt"
	"time"

	"stayline/config"
	"stayline/phone"
)

// This file is the state machine. Handlers update what is known about the servers, then call reconcile,
// which moves the phone toward service: it picks the stage, starts registrations, keep-alives and
// failback, and sets the one wake-up timer for whatever must happen next.

// reconcile is called last by every handler.
func (m *Manager) reconcile() {
	if m.closing {
		return
	}
	if m.loggedOff {
		m.publishActions()
		return
	}
	now := m.clock.Now()
	if m.active >= 0 && !m.servers[m.active].registered {
		m.active = -1
		m.failingBack = false
	}
	if m.active < 0 {
		if s := m.firstRegistered(); s != nil {
			m.leaveService()
			m.activate(s)
		}
	}
	if m.active < 0 {
		m.seekService(now)
	} else {
		m.keepService(now)
	}
	m.updateProbes()
	m.scheduleWake(now)
	m.publishActions()
}

// leaveService marks the loss of the server in use: the phone is in limbo.
func (m *Manager) leaveService() {
	switch m.stage {
	case StageNormal, StageAlternate, StageFailback:
		m.setStage(StageTransition, m.lostReason)
	}
}

func (m *Manager) firstRegistered() *server {
	for _, s := range m.servers {
		if s.registered {
			return s
		}
	}
	return nil
}

func (m *Manager) activate(s *server) {
	m.active = s.idx
	m.failingBack = false
	if s.idx == 0 {
		m.setStage(StageNormal, "registered on "+s.cfg.Name)
	} else {
		m.setStage(StageAlternate, "registered on "+s.cfg.Name)
	}
}

// seekService tries the servers in list order, one REGISTER at a time; when none can be tried now it
// waits in noservice for the earliest retry.
func (m *Manager) seekService(now time.Time) {
	m.leaveService()
	for _, s := range m.servers {
		if s.registering {
			return // its answer decides what comes next
		}
	}
	for _, s := range m.servers {
		if s.eligible(now) {
			m.startRegister(s)
			return
		}
	}
	if m.stage != StageNoService {
		m.setStage(StageNoService, "no server answered")
	}
}

// keepService holds the stage that matches the server in use and runs the policies.
func (m *Manager) keepService(now time.Time) {
	want := StageAlternate
	if m.active == 0 {
		want = StageNormal
	}
	if m.failingBack {
		want = StageFailback
	}
	if m.stage != want {
		m.setStage(want, "")
	}
	switch m.cfg.Failover.Registration {
	case config.RegisterSimultaneous:
		for _, s := range m.targets() {
			if s.eligible(now) {
				m.startRegister(s)
			}
		}
	default:
		// One registration at a time: anything else still registered (a race with failback) goes.
		for _, s := range m.servers {
			if s.registered && s.idx != m.active && !s.registering && !(m.failingBack && s.idx == 0) {
				m.startUnregister(s, "not in use", nil)
			}
		}
	}
	if m.stage == StageAlternate && m.cfg.Failover.Failback == config.FailbackAuto {
		if t := m.failbackReadyAt(); !t.IsZero() && !now.Before(t) && m.callCounts().Total() == 0 {
			m.startFailback("home has answered for " + m.holddown.Round(time.Millisecond).String())
		}
	}
}

// targets are the servers the simultaneous policy keeps registered: the first N in list order.
func (m *Manager) targets() []*server {
	var out []*server
	for _, s := range m.servers {
		if len(out) == m.cfg.Failover.SimultaneousRegistrations {
			break
		}
		out = append(out, s)
	}
	return out
}

// failbackReadyAt is when the auto policy may move back home: home answering for the whole hold-down, and
// no failback in the last hold-down. Zero while home is not answering.
func (m *Manager) failbackReadyAt() time.Time {
	home := m.servers[0]
	if home.health != healthUp {
		return time.Time{}
	}
	hold := m.holddown
	t := home.upSince.Add(hold)
	if home.authFailed != "" && home.notBefore.After(t) {
		t = home.notBefore // home refused the password: try it again only after its backoff
	}
	if !m.lastFailback.IsZero() && m.lastFailback.Add(hold).After(t) {
		t = m.lastFailback.Add(hold)
	}
	if home.retryAfter.After(t) {
		t = home.retryAfter
	}
	return t
}

func (m *Manager) startFailback(why string) {
	m.failingBack = true
	m.lastFailback = m.clock.Now()
	m.setStage(StageFailback, why)
	home := m.servers[0]
	switch {
	case home.registered:
		m.finishFailback()
	case !home.registering:
		m.startRegister(home)
	}
	// else: the REGISTER already in flight to home decides (registerDone).
}

func (m *Manager) finishFailback() {
	m.failingBack = false
	m.active = 0
	m.setStage(StageNormal, "back on "+m.servers[0].cfg.Name)
	if m.cfg.Failover.Registration != config.RegisterSimultaneous {
		for _, s := range m.servers[1:] {
			if s.registered {
				m.startUnregister(s, "failback to "+m.servers[0].cfg.Name, nil)
			}
		}
	}
}

// scheduleWake sets the single timer for the next moment reconcile has something to do on its own: a
// retry that comes due, or the end of the failback hold-down.
func (m *Manager) scheduleWake(now time.Time) {
	var at time.Time
	consider := func(t time.Time) {
		if t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	if m.active < 0 {
		for _, s := range m.servers {
			if !s.registered && !s.registering {
				consider(s.retryAt())
			}
		}
	} else {
		if m.cfg.Failover.Registration == config.RegisterSimultaneous {
			for _, s := range m.targets() {
				if !s.registered && !s.registering {
					consider(s.retryAt())
				}
			}
		}
		if m.stage == StageAlternate && m.cfg.Failover.Failback == config.FailbackAuto {
			consider(m.failbackReadyAt())
		}
	}
	if at.Equal(m.wakeAt) && m.wake != nil {
		return
	}
	if m.wake != nil {
		m.wake.Stop()
		m.wake = nil
	}
	m.wakeAt = at
	if !at.IsZero() {
		m.wake = m.after(at.Sub(now), func() {
			m.wake, m.wakeAt = nil, time.Time{}
			m.reconcile()
		})
	}
}

// --- Registration ---

func (m *Manager) startRegister(s *server) {
	s.registering = true
	f := m.cfg.Failover
	reqTimeout := f.KeepaliveTimeout.D()
	runOp(m, 2*reqTimeout+reqTimeout/2, func(ctx contextT) (phone.Binding, error) {
		return m.agent.Register(ctx, s.idx, f.RegisterExpires.D(), reqTimeout)
	}, func(b phone.Binding, err error) {
		m.registerDone(s, b, err)
		m.reconcile()
	})
}

func (m *Manager) registerDone(s *server, b phone.Binding, err error) {
	s.registering = false
	if m.closing {
		return
	}
	if m.loggedOff {
		if err == nil {
			s.registered = true
			m.startUnregister(s, "logged off", nil)
		}
		return
	}
	if err == nil && b.Expires <= 0 {
		err = errors.New("the registrar granted no time")
	}
	if err == nil {
		now := m.clock.Now()
		s.registered = true
		s.authFailed = ""
		s.certFailed = false
		s.grantedAt, s.expires = now, b.Expires
		s.failures, s.notBefore = 0, time.Time{}
		m.markUp(s)
		s.stopRefresh()
		s.refresh = m.after(refreshDelay(b.Expires), func() { m.refreshDue(s) })
		m.emit("registered", &RegisteredEvent{Server: s.cfg.Name, Expires: int(b.Expires / time.Second), Contact: b.Contact})
	} else if errors.Is(err, phone.ErrAuth) {
		m.authFailure(s, err)
	} else {
		retry, _ := phone.ServiceUnavailable(err)
		m.markDown(s, describe(err), retry)
		m.noteCertificate(s, err)
	}
	if m.failingBack && s.idx == 0 {
		m.failingBack = false
		if err == nil {
			m.finishFailback()
		} else if m.active >= 0 {
			m.setStage(StageAlternate, "failback failed: "+describe(err))
		}
	}
}

// refreshDelay is when to refresh a registration granted for d: at four fifths of it.
func refreshDelay(d time.Duration) time.Duration { return d * 4 / 5 }

func (m *Manager) refreshDue(s *server) {
	s.refresh = nil
	if s.registered && !s.registering && !m.closing && !m.loggedOff {
		m.startRegister(s)
	}
}

func (m *Manager) startUnregister(s *server, why string, done func()) {
	s.registered = false
	s.stopRefresh()
	m.emit("unregistered", &UnregisteredEvent{Server: s.cfg.Name, Reason: why})
	reqTimeout := m.cfg.Failover.KeepaliveTimeout.D()
	runOp(m, 2*reqTimeout+reqTimeout/2, func(ctx contextT) (struct{}, error) {
		return struct{}{}, m.agent.Unregister(ctx, s.idx, reqTimeout)
	}, func(_ struct{}, err error) {
		if err != nil {
			m.log.Info("unregister failed", "server", s.cfg.Name, "error", err)
		}
		if done != nil {
			done()
		}
	})
}

func (m *Manager) onAgentEvent(ev phone.Event) {
	if m.closing && ev.Kind != phone.EventCall {
		return
	}
	s := &server{idx: -1}
	if ev.Server >= 0 && ev.Server < len(m.servers) {
		s = m.servers[ev.Server]
	} else if ev.Kind != phone.EventCall && ev.Kind != phone.EventDigit && ev.Kind != phone.EventCallNote {
		return
	}
	switch ev.Kind {
	case phone.EventCall:
		m.onCall(ev.Call)
	case phone.EventCallNote:
		if ev.Err != nil {
			// Named by its party, as the user knows it: the id is the phone's own.
			m.emit("error", &ErrorEvent{Reason: fmt.Sprintf("Call with %s: %v", ev.Call.Remote, ev.Err)})
		}
	case phone.EventMWI:
		if ev.Server == m.mwiServer && ev.Waiting != m.mwiWaiting {
			m.mwiWaiting = ev.Waiting
			m.emit("mwi", &MWIEvent{Waiting: ev.Waiting, Server: s.cfg.Name})
		}
	case phone.EventDigit:
		m.emit("dtmf", &DTMFEvent{ID: ev.Call.ID, Digit: string(ev.Digit)})
	case phone.EventServerTrouble:
		if s.registered {
			m.markDown(s, describe(ev.Err), 0)
		}
	case phone.EventAddressChanged:
		m.addressChanged(s)
	case phone.EventConnectionLost:
		why := "connection lost"
		if ev.Err != nil {
			why += ": " + ev.Err.Error()
		}
		if s.registered {
			m.markDown(s, why, 0)
		} else {
			m.setHealth(s, healthDown, why)
		}
	}
	m.reconcile()
}

// --- Log off, log in, shut down ---

func (m *Manager) logoff() {
	m.loggedOff = true
	m.failingBack = false
	for _, s := range m.servers {
		if s.registered {
			m.startUnregister(s, "logged off", nil)
		}
		s.stopProbes()
	}
	m.active = -1
	m.stopWake()
	m.setStage(StageNoService, "logged off")
}

func (m *Manager) login() {
	m.loggedOff = false
	for _, s := range m.servers {
		s.authFailed = ""
		s.failures, s.notBefore = 0, time.Time{}
	}
	m.setStage(StageTransition, "logging in")
}

func (m *Manager) stopWake() {
	if m.wake != nil {
		m.wake.Stop()
		m.wake, m.wakeAt = nil, time.Time{}
	}
}

// shutdown unregisters where the stage allows it, then publishes the last stage event and calls done.
func (m *Manager) shutdown(done func()) {
	if m.closing {
		m.shutdownWait = append(m.shutdownWait, done)
		return
	}
	m.closing = true
	m.shutdownWait = append(m.shutdownWait, done)
	m.stopWake()
	for _, s := range m.servers {
		s.stopProbes()
		s.stopRefresh()
	}
	m.hangUpAll(m.unregisterForShutdown)
}

// unregisterForShutdown is the second half of a shutdown, once the calls have ended.
func (m *Manager) unregisterForShutdown() {
	finish := func(reason string) {
		m.emitStage(reason)
		for _, f := range m.shutdownWait {
			f()
		}
		m.shutdownWait = nil
	}
	if m.stage != StageNormal || m.loggedOff {
		why := "quit"
		if m.firstRegistered() != nil {
			why = "quit; registration kept during failover"
		}
		finish(why)
		return
	}
	pending := 0
	for _, s := range m.servers {
		if s.registered {
			pending++
			m.startUnregister(s, "quit", func() {
				pending--
				if pending == 0 {
					m.active = -1
					m.stage, m.stageServer = StageNoService, ""
					finish("quit")
				}
			})
		}
	}
	if pending == 0 {
		finish("quit")
	}
}

// --- Publishing ---
