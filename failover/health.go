package failover

import (
	"errors"
	"fmt"
	"stayline/phone"
	"time"
)

// A server's health: keep-alives, what marks it down or up, and how long until it is tried again.

// markDown records a failure of the server: its registration is gone and it is retried after a backoff
// (or its Retry-After).
func (m *Manager) markDown(s *server, why string, retryAfter time.Duration) {
	if m.networkExcuses(s, why, retryAfter) { // the phone's own network just moved (network.go)
		return
	}
	now := m.clock.Now()
	wasRegistered := s.registered
	s.registered = false
	s.stopRefresh()
	s.forgetBindingChecks()
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
		m.checkBinding(s)
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
