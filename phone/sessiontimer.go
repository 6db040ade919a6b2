package phone

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Session timers (RFC 4028), both roles: the phone asks for them in its INVITEs, answers a far end's,
// refreshes a session it is the refresher of at half its interval (UPDATE when the far end allows it, else
// a re-INVITE with the current SDP), and ends one whose refresher stopped refreshing. What a failover does
// to them is in docs/ARCHITECTURE.md, "Session timers": a refresh that nothing answers never ends the call.

// Defaults of Options.SessionExpires and Options.MinSE.
const (
	defaultSessionExpires = 30 * time.Minute
	rfcMinSE              = 90 * time.Second // RFC 4028 §4: no interval may be shorter
)

// causeSessionExpired ends a call whose far end stopped refreshing it; causeSessionGone one the far end no
// longer knows (481 or 408 to our refresh).
var (
	causeSessionExpired = endCause{kind: EndFailed, reason: "the call's session expired: the other side stopped refreshing it"}
	causeSessionGone    = endCause{kind: EndFailed, reason: "the other side no longer knows the call"}
)

// errOfferPending: an offer of ours awaits its answer, so a refresh by re-INVITE must wait.
var errOfferPending = errors.New("an offer is pending")

// sessionTimer is a call's session timer; the call's mu guards it.
type sessionTimer struct {
	interval   time.Duration // 0: no session timer
	weRefresh  bool          // the phone is the refresher
	peerUpdate bool          // the far end allows UPDATE: refreshes go by UPDATE
	t          *time.Timer
}

// sessionExpires is Options.SessionExpires, at least minSE.
func (a *Agent) sessionExpires() time.Duration {
	return max(cmpOr(a.opts.SessionExpires, defaultSessionExpires), a.minSE())
}

// minSE is Options.MinSE (default RFC 4028's 90 s): the shortest interval the phone accepts.
func (a *Agent) minSE() time.Duration { return cmpOr(a.opts.MinSE, rfcMinSE) }

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// seconds writes a duration as RFC 4028's delta-seconds.
func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

// sessionExpiresOf reads a message's Session-Expires (or its compact form x): the interval and the
// refresher parameter ("uac", "uas" or "").
func sessionExpiresOf(m sip.Message) (time.Duration, string, bool) {
	h := firstHeader(m, "Session-Expires", "x")
	if h == nil {
		return 0, "", false
	}
	parts := strings.Split(h.Value(), ";")
	n, err := strconv.ParseUint(strings.TrimSpace(parts[0]), 10, 32)
	if err != nil || n == 0 {
		return 0, "", false
	}
	refresher := ""
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return time.Duration(n) * time.Second, refresher, true
}

// firstHeader is m's first header of any of the names.
func firstHeader(m sip.Message, names ...string) sip.Header {
	for _, n := range names {
		if hs := m.GetHeaders(n); len(hs) > 0 {
			return hs[0]
		}
	}
	return nil
}

// minSEOf reads a message's Min-SE.
func minSEOf(m sip.Message) (time.Duration, bool) {
	h := firstHeader(m, "Min-SE")
	if h == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(strings.SplitN(h.Value(), ";", 2)[0]), 10, 32)
	return time.Duration(n) * time.Second, err == nil && n > 0
}

// askSessionTimer adds to a request of ours (INVITE, or a refresh) the interval it asks for, with who
// refreshes when refresher is not "".
func (a *Agent) askSessionTimer(req *sip.Request, interval time.Duration, refresher string) {
	v := seconds(interval)
	if refresher != "" {
		v += ";refresher=" + refresher
	}
	req.AppendHeader(sip.NewHeader("Session-Expires", v))
	req.AppendHeader(sip.NewHeader("Min-SE", seconds(a.minSE())))
}

// tooBrief is the 422 to a far end's request whose Session-Expires is below our Min-SE; nil if it is not.
func (a *Agent) tooBrief(req *sip.Request) *sip.Response {
	se, _, ok := sessionExpiresOf(req)
	if !ok || se >= a.minSE() {
		return nil
	}
	res := sip.NewResponseFromRequest(req, 422, "Session Interval Too Small", nil)
	res.AppendHeader(sip.NewHeader("Min-SE", seconds(a.minSE())))
	return res
}

// intervalTooSmall is an attempt's outcome when the INVITE was answered 422: try again asking for minSE.
type intervalTooSmall struct{ minSE time.Duration }

func (e *intervalTooSmall) Error() string {
	return fmt.Sprintf("422: the session interval must be %s", e.minSE)
}

// intervalTooSmallOf reads a 422 to our INVITE asking for more than asked; nil for anything else.
func intervalTooSmallOf(err error, asked time.Duration) *intervalTooSmall {
	var dr *sipgo.ErrDialogResponse
	if !errors.As(err, &dr) || dr.Res.StatusCode != 422 {
		return nil
	}
	if floor, ok := minSEOf(dr.Res); ok && floor > asked {
		return &intervalTooSmall{minSE: floor}
	}
	return nil
}

// answerSessionTimer runs the session timer a far end's request asks for (an INVITE we answer, a
// re-INVITE or UPDATE we take) and says so in our 2xx: the interval asked (at least our Min-SE), refreshed
// by whom the request says, else by the far end when it supports timers, else by us (RFC 4028 §9). A
// request without Session-Expires keeps the timer running as it was, restarted (the far end is there).
func (c *call) answerSessionTimer(req *sip.Request, res *sip.Response) {
	se, refresher, ok := sessionExpiresOf(req)
	if !ok {
		c.mu.Lock()
		interval, we := c.st.interval, c.st.weRefresh
		c.mu.Unlock()
		c.setSessionTimer(interval, we)
		return
	}
	if refresher != "uac" && refresher != "uas" {
		refresher = "uas"
		if listsTag(req.GetHeaders("Supported"), "timer") {
			refresher = "uac"
		}
	}
	interval := max(se, c.a.minSE())
	res.AppendHeader(sip.NewHeader("Session-Expires", seconds(interval)+";refresher="+refresher))
	if refresher == "uac" {
		res.AppendHeader(sip.NewHeader("Require", "timer"))
	}
	c.mu.Lock()
	c.st.peerUpdate = allows(req, sip.UPDATE)
	c.mu.Unlock()
	c.setSessionTimer(interval, refresher == "uas")
}

// takeSessionTimer runs the session timer the 2xx to a request of ours (the INVITE, or a refresh) settled:
// without Session-Expires there is none, unless one ran already (a refresh's answer that does not repeat
// it keeps us refreshing).
func (c *call) takeSessionTimer(res *sip.Response, initial bool) {
	se, refresher, ok := sessionExpiresOf(res)
	c.mu.Lock()
	if initial {
		c.st.peerUpdate = allows(res, sip.UPDATE)
	}
	interval := c.st.interval
	c.mu.Unlock()
	switch {
	case ok:
		c.setSessionTimer(se, refresher != "uas")
	case !initial && interval > 0:
		c.setSessionTimer(interval, true)
	}
}

// allows reports whether a message's Allow header lists method.
func allows(m sip.Message, method sip.RequestMethod) bool {
	return listsTag(m.GetHeaders("Allow"), string(method))
}

// setSessionTimer (re)starts the call's session timer: as refresher, a refresh at half the interval; else
// the end of the session at the interval less a third of it (32 s at most, RFC 4028 §10). Interval 0
// stops it.
func (c *call) setSessionTimer(interval time.Duration, weRefresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.t != nil {
		c.st.t.Stop()
		c.st.t = nil
	}
	c.st.interval, c.st.weRefresh = interval, weRefresh
	if interval <= 0 || c.state == CallEnded {
		return
	}
	if weRefresh {
		c.st.t = time.AfterFunc(interval/2, c.refreshSession)
	} else {
		c.st.t = time.AfterFunc(interval-min(32*time.Second, interval/3), c.sessionExpired)
	}
}

// retryRefresh refreshes again after d.
func (c *call) retryRefresh(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.t != nil {
		c.st.t.Stop()
	}
	if c.state != CallEnded {
		c.st.t = time.AfterFunc(d, c.refreshSession)
	}
}

// stopSessionTimer stops the timer at the call's end.
func (c *call) stopSessionTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.t != nil {
		c.st.t.Stop()
	}
}

// sessionExpired is the far end's refresh that did not come. When the call's route is dead (a failover) its
// refresh may have died with the proxy: the phone refreshes itself, straight to the far end, and the call
// ends only if that goes unanswered too. Otherwise the call ends (BYE), saying why.
func (c *call) sessionExpired() {
	c.mu.Lock()
	dlg, state := c.dlg, c.state
	c.mu.Unlock()
	if dlg == nil || state == CallEnded {
		return
	}
	if c.a.hopIsDown(dlg.firstHop()) {
		c.a.log.Info("no session refresh while the call's proxy is down; refreshing it from here", "call", c.id)
		if res, err := c.sendRefresh(dlg); err == nil && res.IsSuccess() {
			c.takeSessionTimer(res, false)
			return
		}
	}
	c.a.log.Info("session expired", "call", c.id)
	c.hangup(causeSessionExpired)
}

// refreshSession sends the refresh of a session the phone refreshes, and acts on its answer: a 2xx runs
// the timer again as it says; 422 asks again with the far end's Min-SE; 491 tries again after 2.1 to 4 s
// (glareWait, RFC 3261 §14.1); 481 and 408 end the call (RFC 4028 §10); an UPDATE the far end does not take gives way
// to a re-INVITE. No answer at all (the proxy and the far end unreachable: a failover in progress) keeps
// the call and tries again after a quarter of the interval.
func (c *call) refreshSession() {
	c.mu.Lock()
	dlg, state, interval := c.dlg, c.state, c.st.interval
	c.mu.Unlock()
	if dlg == nil || state == CallEnded {
		return
	}
	res, err := c.sendRefresh(dlg)
	switch {
	case errors.Is(err, errOfferPending):
		c.retryRefresh(c.glareWait())
	case err != nil:
		c.a.log.Info("session refresh not answered; the call stays", "call", c.id, "error", err)
		c.retryRefresh(max(interval/4, time.Second))
	case res.IsSuccess():
		c.takeSessionTimer(res, false)
	case res.StatusCode == 422:
		if floor, ok := minSEOf(res); ok && floor > interval {
			c.mu.Lock()
			c.st.interval = floor
			c.mu.Unlock()
		}
		c.retryRefresh(0)
	case res.StatusCode == sip.StatusRequestPending:
		c.retryRefresh(c.glareWait())
	case res.StatusCode == sip.StatusCallTransactionDoesNotExists || res.StatusCode == sip.StatusRequestTimeout:
		c.hangup(causeSessionGone)
	default:
		c.mu.Lock()
		byUpdate := c.st.peerUpdate
		c.st.peerUpdate = false
		c.mu.Unlock()
		c.a.log.Info("session refresh refused", "call", c.id, "status", res.StatusCode, "by_update", byUpdate)
		if byUpdate {
			c.retryRefresh(0) // by re-INVITE now
		} else {
			c.retryRefresh(max(interval/4, time.Second))
		}
	}
}

// sendRefresh sends one session refresh in dlg, the phone as refresher: an UPDATE without SDP when the far
// end allows it, else a re-INVITE offering the session as it is (ACKed, its answer taken).
func (c *call) sendRefresh(dlg *dialog) (*sip.Response, error) {
	c.mu.Lock()
	interval, byUpdate := c.st.interval, c.st.peerUpdate
	var body []byte
	var err error
	if !byUpdate {
		if c.sdp.pending {
			c.mu.Unlock()
			return nil, errOfferPending
		}
		dir := SendRecv
		if c.sdp.held {
			dir = SendOnly
		}
		ip, port := c.mediaAddr()
		body, err = c.sdp.describe(ip, port, dir)
		c.sdp.pending = err == nil
	}
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	method := sip.INVITE
	if byUpdate {
		method = sip.UPDATE
	}
	ctx, cancel := context.WithTimeout(c.a.ctx, 2*c.a.requestTimeout()+time.Second)
	defer cancel()
	req, res, err := c.a.sendInDialog(ctx, c.link, dlg, method, func(r *sip.Request) {
		c.a.askSessionTimer(r, interval, "uac")
		r.AppendHeader(sip.NewHeader("Supported", supportedOptions))
		if body != nil {
			r.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			r.SetBody(body)
		}
	})
	if method == sip.INVITE {
		c.settleRefreshOffer(dlg, req, res, err)
	}
	return res, err
}

// settleRefreshOffer ends the offer/answer of a refresh by re-INVITE: the ACK of a 2xx and its answer
// taken, or the offer withdrawn.
func (c *call) settleRefreshOffer(dlg *dialog, inv *sip.Request, res *sip.Response, err error) {
	if err != nil || !res.IsSuccess() {
		c.mu.Lock()
		c.sdp.withdraw(c.sdp.held)
		c.mu.Unlock()
		return
	}
	if aerr := c.a.writeAck(c.link, dlg.ackFor(inv)); aerr != nil {
		c.a.log.Info("ACK of the session refresh", "call", c.id, "error", aerr)
	}
	r, perr := parseSDP(res.Body())
	if perr == nil {
		perr = c.negotiate(r, false)
	}
	if perr != nil {
		c.mu.Lock()
		c.sdp.withdraw(c.sdp.held)
		c.mu.Unlock()
		c.a.log.Warn("answer to the session refresh not usable; media unchanged", "call", c.id, "error", perr)
	}
}
