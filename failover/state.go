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
		m.emit("registered", &RegisteredEvent{Server: s.cfg.Name, Expires: int(b.Expires / time.Second)})
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

// markDown records a failure of the server: its registration is gone and it is retried after a backoff
// (or its Retry-After).
func (m *Manager) markDown(s *server, why string, retryAfter time.Duration) {
	now := m.clock.Now()
	wasRegistered := s.registered
	s.registered = false
	s.stopRefresh()
	s.misses = 0
	s.failures++
	f := m.cfg.Failover
	if retryAfter > 0 {
		// The server said when: never before, then a random 0-50 % later, so that the phones it turned
		// away in the same second do not all come back in the same second. An overloaded server that
		// says "in 2 s" is not made to wait out an exponential backoff: it is alive.
		s.notBefore = now
		s.retryAfter = now.Add(retryAfter + time.Duration(float64(retryAfter)*0.5*m.rand()))
	} else {
		s.notBefore = now.Add(backoff(f.BackoffBase.D(), f.BackoffMax.D(), s.failures, m.rand()))
	}
	if s.idx == m.active {
		m.lostReason = s.cfg.Name + ": " + why
	}
	if wasRegistered {
		m.emit("unregistered", &UnregisteredEvent{Server: s.cfg.Name, Reason: why})
	}
	m.setHealth(s, healthDown, why)
}

// authFailure: the server refused the credentials. It is not retried in a loop: the next attempt waits
// for the backoff (RFC 5626, as any failure), and the user is told once, not at every attempt.
func (m *Manager) authFailure(s *server, err error) {
	wasRegistered := s.registered
	s.registered = false
	s.stopRefresh()
	why := "the server refused the credentials"
	var se *phone.StatusError
	if errors.As(err, &se) {
		why += fmt.Sprintf(" (%d %s)", se.Code, se.Reason)
	}
	first := s.authFailed == ""
	s.authFailed = why
	s.failures++
	f := m.cfg.Failover
	wait := backoff(f.BackoffBase.D(), f.BackoffMax.D(), s.failures, m.rand())
	s.notBefore = m.clock.Now().Add(wait)
	if s.idx == m.active {
		m.lostReason = s.cfg.Name + ": " + why
	}
	if wasRegistered {
		m.emit("unregistered", &UnregisteredEvent{Server: s.cfg.Name, Reason: why})
	}
	if !first {
		return
	}
	m.emit("server", &ServerEvent{Server: s.cfg.Name, State: "auth_failed", Reason: why, RetryIn: wait.Seconds()})
	m.emit("error", &ErrorEvent{Reason: fmt.Sprintf(
		"Server %s: %s for user %s. Check the password. The phone tries again in %s, then less and less often.",
		s.cfg.Name, why, m.cfg.Account.User, wait.Round(time.Second))})
}

func (m *Manager) markUp(s *server) {
	if s.health != healthUp {
		s.upSince = m.clock.Now()
		if s.authFailed == "" { // answering says nothing of the password: that backoff stands
			s.failures, s.notBefore = 0, time.Time{}
		}
		m.setHealth(s, healthUp, "")
	}
}

func (m *Manager) setHealth(s *server, h health, why string) {
	if h != healthUp {
		s.upSince = time.Time{}
	}
	changed := s.health != h
	s.health, s.downWhy = h, why
	if !changed {
		return
	}
	m.agent.SetServerHealth(s.idx, h != healthDown)
	ev := &ServerEvent{Server: s.cfg.Name, State: string(h), Reason: why}
	if h == healthDown {
		if t := s.retryAt(); t.After(m.clock.Now()) {
			ev.RetryIn = float64(t.Sub(m.clock.Now()).Milliseconds()) / 1000
		}
	}
	m.emit("server", ev)
}

// --- Keep-alives ---

// shouldProbe: every registered server, and home while the phone is away from it.
func (m *Manager) shouldProbe(s *server) bool {
	return !m.closing && !m.loggedOff && (s.registered || (s.idx == 0 && m.active > 0))
}

func (m *Manager) updateProbes() {
	interval := m.cfg.Failover.KeepaliveInterval.D()
	for _, s := range m.servers {
		if !m.shouldProbe(s) {
			if s.probing || s.nextProbe != nil {
				s.stopProbes()
				s.misses = 0
			}
			continue
		}
		if !s.probing && s.nextProbe == nil {
			// A random phase, so that a fleet of phones does not probe in step.
			phase := spreadPhase(interval, m.rand())
			m.scheduleProbe(s, phase)
		}
	}
}

// spreadPhase is when a server's first keep-alive goes out: r (in [0,1)) of the interval.
func spreadPhase(interval time.Duration, r float64) time.Duration {
	return time.Duration(float64(interval) * r)
}

func (m *Manager) scheduleProbe(s *server, d time.Duration) {
	gen := s.probeGen
	s.nextProbe = m.after(d, func() {
		if gen != s.probeGen {
			return
		}
		s.nextProbe = nil
		m.probe(s)
	})
}

func (m *Manager) probe(s *server) {
	s.probing = true
	gen := s.probeGen
	runOp(m, m.cfg.Failover.KeepaliveTimeout.D(), func(ctx contextT) (struct{}, error) {
		return struct{}{}, m.agent.Probe(ctx, s.idx)
	}, func(_ struct{}, err error) {
		if gen != s.probeGen || m.closing {
			return
		}
		s.probing = false
		m.probeDone(s, err)
		m.reconcile()
	})
}

func (m *Manager) probeDone(s *server, err error) {
	interval := m.cfg.Failover.KeepaliveInterval.D()
	if err == nil {
		s.misses = 0
		m.markUp(s)
		m.scheduleProbe(s, interval)
		return
	}
	if retry, unavailable := phone.ServiceUnavailable(err); unavailable {
		m.markDown(s, describe(err), retry)
		m.scheduleProbe(s, interval)
		return
	}
	s.misses++
	if s.registered {
		if s.misses >= m.cfg.Failover.KeepaliveMisses {
			m.markDown(s, fmt.Sprintf("no answer to %d keep-alive(s) (%s)", s.misses, describe(err)), 0)
			m.scheduleProbe(s, interval)
			return
		}
		m.probe(s) // ask again at once: detection within interval + misses × timeout
		return
	}
	m.setHealth(s, healthDown, describe(err))
	m.noteCertificate(s, err)
	m.scheduleProbe(s, interval)
}

// noteCertificate tells the user, once until the server is registered again, that a server's TLS
// certificate is refused: the phone will not talk to it, and only a fixed certificate or CA helps.
func (m *Manager) noteCertificate(s *server, err error) {
	if !errors.Is(err, phone.ErrCertificate) || s.certFailed {
		return
	}
	s.certFailed = true
	m.emit("error", &ErrorEvent{Reason: fmt.Sprintf(
		"Server %s: its TLS certificate is not trusted (%s). The phone does not connect to it until the "+
			"certificate, or the CA in [sip] tls_ca, is fixed.", s.cfg.Name, describe(err))})
}

// --- What the agent reports on its own ---

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
			m.emit("error", &ErrorEvent{Reason: fmt.Sprintf("call %s: %v", ev.Call.ID, ev.Err)})
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
