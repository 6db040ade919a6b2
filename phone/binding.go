package phone

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// The binding check (docs/ARCHITECTURE.md, "Keep-alives and the binding check"): an OPTIONS to the
// phone's own address of record, sent through one server. A registrar that still holds the phone's
// binding routes it to the phone (a Kamailio's lookup("location")), which answers it; one that lost the
// binding (restarted with an in-memory location table) answers 404 or 480 itself. Keep-alives cannot
// tell the two apart: both servers answer OPTIONS addressed to them.

// BindingCheck is what a binding check found.
type BindingCheck int

const (
	// BindingUnknown: no verdict (no answer, 503, a transport error: the keep-alives judge those).
	BindingUnknown BindingCheck = iota
	// BindingReached: the check came back to this phone through the server: the binding is there.
	BindingReached
	// BindingLost: the server answered that the address of record has no binding (404, 410, 480).
	BindingLost
	// BindingUnsupported: an answer that did not come from this phone (200, 405, 403, ...): the server
	// answered the check itself (it does not route OPTIONS to registered contacts), or another device of
	// the account did. The failover manager tells the two apart by whether checks reached it before.
	BindingUnsupported
)

func (b BindingCheck) String() string {
	switch b {
	case BindingReached:
		return "reached"
	case BindingLost:
		return "lost"
	case BindingUnsupported:
		return "unsupported"
	}
	return "unknown"
}

// selfChecks are the binding checks in flight, by Call-ID: onOptions marks the ones that arrive here.
type selfChecks struct {
	mu      sync.Mutex
	arrived map[string]bool
}

func (s *selfChecks) begin(callID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.arrived == nil {
		s.arrived = map[string]bool{}
	}
	s.arrived[callID] = false
}

// end forgets a check and reports whether it arrived.
func (s *selfChecks) end(callID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.arrived[callID]
	delete(s.arrived, callID)
	return got
}

// mark notes the arrival of req if it is one of our checks.
func (s *selfChecks) mark(req *sip.Request) {
	id := req.CallID()
	if id == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.arrived[string(*id)]; ok {
		s.arrived[string(*id)] = true
	}
}

// CheckBinding sends the binding check through server, within ctx's deadline, and says what it found.
// A challenge (401/407) is answered with the account's credentials. The error tells why there is no
// verdict (BindingUnknown) or, for a verdict from a status, which status it was.
func (a *Agent) CheckBinding(ctx context.Context, server int) (BindingCheck, error) {
	l, err := a.link(server)
	if err != nil {
		return BindingUnknown, err
	}
	req := a.newBindingCheck(l)
	callID := string(*req.CallID())
	a.checks.begin(callID)
	reqTimeout := time.Until(deadlineOr(ctx, 2*time.Second))
	res, err := a.send(ctx, l, req, reqTimeout)
	if err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) {
		res, err = a.answerChallenge(ctx, l, req, res, reqTimeout)
	}
	// The phone notes the check's arrival before it answers: an arrival is known by now.
	if a.checks.end(callID) {
		return BindingReached, nil
	}
	if err != nil {
		return BindingUnknown, fmt.Errorf("binding check through %s: %w", l.cfg.Name, err)
	}
	return bindingVerdict(res.StatusCode), fmt.Errorf("binding check through %s: %w", l.cfg.Name, statusError(req.Method, res))
}

// bindingVerdict reads the status a server answered a binding check with, when the check did not reach
// the phone.
func bindingVerdict(code int) BindingCheck {
	switch code {
	case sip.StatusNotFound, sip.StatusGone, sip.StatusTemporarilyUnavailable:
		return BindingLost
	case sip.StatusServiceUnavailable, sip.StatusRequestTimeout:
		return BindingUnknown
	}
	return BindingUnsupported
}

func deadlineOr(ctx context.Context, d time.Duration) time.Time {
	if t, ok := ctx.Deadline(); ok {
		return t
	}
	return time.Now().Add(d)
}

// newBindingCheck is the OPTIONS to the account's own address of record, through l's server.
func (a *Agent) newBindingCheck(l *serverLink) *sip.Request {
	acc := a.opts.Account
	req := a.newRequest(l, sip.OPTIONS, sip.Uri{Scheme: "sip", User: acc.User, Host: acc.Domain}, "@stayline-check")
	req.AppendHeader(sip.NewHeader("User-Agent", UserAgentName))
	req.SetBody(nil)
	return req
}
