package phone

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The package's errors, in one place. The words a call ends with (DialError.Reason included) are in
// endcause.go.

// ErrAuth marks a request the server refused for its credentials (403, or 401/407 again after answering the
// challenge). Retrying with the same password cannot help.
var ErrAuth = errors.New("authentication failed")

// ErrNoResponse marks a server that did not answer the INVITE at all in time (an attempt of a DialError).
var ErrNoResponse = errors.New("the server did not answer the INVITE")

// ErrNoCall is returned for an unknown call id.
var ErrNoCall = errors.New("no such call")

// ErrCertificate marks a TLS server whose certificate the phone does not trust: unknown authority, wrong
// name, expired. The phone never talks to such a server; it says why.
var ErrCertificate = errors.New("server certificate not trusted")

var (
	// errUnreachable marks an attempt the server never saw: no connection, or the INVITE could not be sent.
	errUnreachable = errors.New("the server could not be reached")
	// errNoAutoDial is what sipgo's dialer answers for a configured server (conn.go).
	errNoAutoDial = errors.New("no connection to the server: the phone opens server connections itself")
	// errNoAudio refuses a description without an audio stream.
	errNoAudio = errors.New("no audio stream offered")
	// errSRTPRequired refuses an offer without SRTP when this phone requires it.
	errSRTPRequired = errors.New("SRTP is required and the far end does not offer it")
	// errNoTelephoneEvent says the far end takes no RFC 4733 events: digits go by SIP INFO instead.
	errNoTelephoneEvent = errors.New("the far end does not take RFC 4733 tones")
	// errNoAck and errAckWithoutSDP: our offer went in a 200, and its answer did not come in the ACK.
	errNoAck         = errors.New("no ACK came")
	errAckWithoutSDP = errors.New("the ACK has no SDP")
)

// StatusError is a final response that is not a success.
type StatusError struct {
	Method string
	Code   int
	Reason string
	// RetryAfter is the Retry-After header's value, 0 if absent.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s answered %d %s", e.Method, e.Code, e.Reason)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// ServiceUnavailable reports whether err is a 503 answer, and its Retry-After.
func ServiceUnavailable(err error) (time.Duration, bool) {
	var se *StatusError
	if errors.As(err, &se) && se.Code == sip.StatusServiceUnavailable {
		return se.RetryAfter, true
	}
	return 0, false
}

func statusError(method sip.RequestMethod, res *sip.Response) *StatusError {
	e := &StatusError{Method: string(method), Code: res.StatusCode, Reason: res.Reason}
	if h := res.GetHeader("Retry-After"); h != nil {
		// Retry-After: 120 (comment);duration=60 — the seconds come first.
		v := strings.TrimSpace(h.Value())
		if i := strings.IndexAny(v, " ;("); i >= 0 {
			v = v[:i]
		}
		if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 1<<20 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// DialError is a call no server took: what became of it on each server tried, in order. Error gives the
// details, for the log; Reason the plain words the call ended with, for the user.
type DialError struct {
	Target   string
	Attempts []DialAttempt
}

// DialAttempt is one server's part in a DialError.
type DialAttempt struct {
	Server int    // index in the configured server list
	Name   string // the server's name
	// Err is why the server did not take the call: it wraps ErrNoResponse when the server did not answer
	// the INVITE at all, and is a *StatusError when the server refused it (503).
	Err error
}

func (e *DialError) Error() string {
	parts := make([]string, len(e.Attempts))
	for i, t := range e.Attempts {
		parts[i] = t.Name + ": " + t.Err.Error()
	}
	return fmt.Sprintf("call to %s: no server took it: %s", e.Target, strings.Join(parts, "; "))
}

// Unwrap gives each attempt's error (errors.Is(err, ErrNoResponse) holds when any server did not answer).
func (e *DialError) Unwrap() []error {
	errs := make([]error, len(e.Attempts))
	for i, t := range e.Attempts {
		errs[i] = t.Err
	}
	return errs
}

// Unanswered lists the servers that did not answer the INVITE at all: to the failover manager, a sign that
// they are down.
func (e *DialError) Unanswered() []int {
	var out []int
	for _, t := range e.Attempts {
		if errors.Is(t.Err, ErrNoResponse) {
			out = append(out, t.Server)
		}
	}
	return out
}
