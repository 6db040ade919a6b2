package failover

import (
	"time"

	"stayline/config"
	"stayline/internal/clock"
)

// server is the manager's knowledge of one configured server. It belongs to the loop.
type server struct {
	idx int
	cfg config.Server

	// Registration.
	registered  bool
	registering bool // a REGISTER is in flight
	grantedAt   time.Time
	expires     time.Duration
	refresh     clock.Timer

	// Health, from keep-alives and from every answer the server gives.
	health    health
	upSince   time.Time // start of the current run of answers
	misses    int       // consecutive keep-alives without an answer
	downWhy   string
	probing   bool // a keep-alive is in flight
	probeGen  int  // bumps to forget the keep-alive in flight and the one scheduled
	nextProbe clock.Timer

	// Retries.
	failures   int       // consecutive failed registrations (or losses) since the last success
	notBefore  time.Time // RFC 5626 backoff: no REGISTER before this
	retryAfter time.Time // a 503's Retry-After: no REGISTER before this, whatever keep-alives say
	authFailed string    // non-empty: the server refused the credentials; retried only after the backoff
	certFailed bool      // the server's TLS certificate was refused, and the user was told

	// The binding check (binding.go).
	checking      bool // a check is in flight
	bindingForced bool // the last check found the binding lost and forced a REGISTER
	bindingSeen   bool // a check has reached the phone through this server since it was last lost
	bindingOff    bool // the check misreads this server: not sent until it is lost and registered anew
}

type health string

const (
	healthUnknown health = "unknown"
	healthUp      health = "up"
	healthDown    health = "down"
)

// eligible reports whether a REGISTER may be sent to the server now.
func (s *server) eligible(now time.Time) bool {
	return !s.registered && !s.registering && !now.Before(s.notBefore) && !now.Before(s.retryAfter)
}

// retryAt is when the server becomes eligible again.
func (s *server) retryAt() time.Time {
	t := s.notBefore
	if s.retryAfter.After(t) {
		t = s.retryAfter
	}
	return t
}

func (s *server) stopRefresh() {
	if s.refresh != nil {
		s.refresh.Stop()
		s.refresh = nil
	}
}

func (s *server) stopProbes() {
	s.probeGen++
	s.probing = false
	if s.nextProbe != nil {
		s.nextProbe.Stop()
		s.nextProbe = nil
	}
}
