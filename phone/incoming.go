package phone

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Receiving a call: admission (the failover manager's, docs/ARCHITECTURE.md "Stages and their rules"),
// ringing, and the answer or the refusal.

// Admission decides about an incoming call: 0 to let it ring, or the status code (and reason) to answer
// it with. The failover manager supplies it.
type Admission func(server int) (code int, reason string)

// ringTimeout is how long an unanswered incoming call rings before the phone answers 480 for it.
const ringTimeout = 2 * time.Minute

// SetAdmission installs the decision about incoming calls.
func (a *Agent) SetAdmission(f Admission) {
	a.callsMu.Lock()
	a.admit = f
	a.callsMu.Unlock()
}

func (a *Agent) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, has := to.Params.Get("tag"); has {
			a.onReInvite(req, tx)
			return
		}
	}
	if a.stranger(req, tx) {
		return
	}
	respond := func(code int, reason string) {
		tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
	}
	server := a.serverOf(req.Source())
	// Admission and the call's tracking are one step: INVITEs arrive in parallel, and each must count the
	// calls the others let in (a burst must not ring a fourth call on three lines).
	a.admitMu.Lock()
	admitted := sync.OnceFunc(a.admitMu.Unlock)
	defer admitted()
	a.callsMu.Lock()
	admit := a.admit
	a.callsMu.Unlock()
	if admit != nil {
		if code, reason := admit(server); code != 0 {
			respond(code, reason)
			return
		}
	}
	if req.Contact() == nil || req.From() == nil || req.CallID() == nil {
		respond(sip.StatusBadRequest, "Missing Contact, From or Call-ID")
		return
	}
	if res := a.tooBrief(req); res != nil { // a session interval below our Min-SE (sessiontimer.go)
		tx.Respond(res)
		return
	}
	sess := a.newSDPSession()
	var plan *mediaPlan // nil: no SDP (a delayed offer, RFC 3261 §13.2.1): our offer goes in the 200
	if len(req.Body()) > 0 {
		offer, err := parseSDP(req.Body())
		var p mediaPlan
		if err == nil {
			p, err = sess.take(offer, true)
		}
		if err != nil {
			tx.Respond(notAcceptable(req, err))
			return
		}
		plan = &p
	}
	l := a.linkFor(server, req.Transport())
	m, err := a.openCallMedia(l)
	if err != nil {
		respond(sip.StatusInternalServerError, "No media port")
		return
	}
	dua := &sipgo.DialogUA{Client: l.sipClient(), ContactHDR: sip.ContactHeader{Address: a.contactURI(l)}}
	ss, err := dua.ReadInvite(req, tx)
	if err != nil {
		m.close()
		respond(sip.StatusBadRequest, err.Error())
		return
	}
	remote, name := callingParty(req)
	c := &call{a: a, link: l, server: server, remote: remote, name: name, state: CallIncoming, media: m,
		sdp: sess, answerCh: make(chan struct{}, 1), rejectCh: make(chan endCause, 1), ss: ss, done: make(chan struct{}),
		autoAnswer: autoAnswerAsked(req)}
	if requires(req, "100rel") {
		c.reliable = newReliable180(ss.InviteRequest)
	}
	a.track(c, string(*req.CallID()))
	admitted()
	m.setOnDigit(c.digit)
	if err := c.ring(); err != nil {
		c.end(failedCause("could not ring", err))
		return
	}
	c.announce()
	a.updateTone(false) // the ringtone (the call-waiting beep during a call) on the ringer
	c.awaitAnswer(plan)
}

// ring sends the 180 Ringing: reliably (resent until its PRACK, prack.go) when the INVITE requires 100rel.
func (c *call) ring() error {
	if c.reliable == nil {
		return c.ss.Respond(sip.StatusRinging, "Ringing", nil, sip.NewHeader("Supported", supportedOptions))
	}
	res := c.reliable.response(c.ss.InviteRequest)
	if err := c.ss.WriteResponse(res); err != nil {
		return err
	}
	go c.reliable.retransmit(func() error { return c.ss.WriteResponse(res) }, sip.T1, 64*sip.T1)
	return nil
}

// awaitAnswer rings until the call is answered here, declined, cancelled by the caller or not answered in
// ringTimeout. A reliable 180 must have its PRACK before the 200 goes (RFC 3262 §3): an answer given
// before it waits for it; without one in 64*T1 the INVITE is refused 500.
func (c *call) awaitAnswer(plan *mediaPlan) {
	timeout := time.NewTimer(ringTimeout)
	defer timeout.Stop()
	answer, pracked, unacked := c.answerCh, c.reliable.prackedCh(), c.reliable.failedCh()
	answered := false
	for {
		select {
		case <-answer:
			if pracked != nil {
				answer, answered = nil, true // the 200 waits for the PRACK
				continue
			}
			c.reliable.stopIfAny()
			c.answerIncoming(plan)
			return
		case <-pracked:
			pracked = nil
			if answered {
				c.reliable.stopIfAny()
				c.answerIncoming(plan)
				return
			}
		case cause := <-c.rejectCh:
			c.refuse(603, "Decline", cause)
			return
		case <-c.ss.Context().Done():
			c.reliable.stopIfAny()
			c.end(causeCallerCancelled)
			return
		case <-unacked:
			c.refuse(sip.StatusInternalServerError, "Provisional Response Not Acknowledged", causeNoPrack)
			return
		case <-timeout.C:
			c.refuse(sip.StatusTemporarilyUnavailable, "Not Answered", causeNotAnswered)
			return
		case <-c.a.ctx.Done():
			c.refuse(sip.StatusTemporarilyUnavailable, "Shutting Down", causeShutDown)
			return
		}
	}
}

// refuse answers the ringing INVITE with a final failure and ends the call with cause.
func (c *call) refuse(code int, reason string, cause endCause) {
	c.reliable.stopIfAny()
	c.ss.Respond(code, reason, nil)
	c.end(cause)
}

// linkFor picks the server link whose client answers a request from server (or, for a stranger, the
// first server on the request's transport).
func (a *Agent) linkFor(server int, transport string) *serverLink {
	if server >= 0 {
		return a.servers[server]
	}
	for _, l := range a.servers {
		if strings.EqualFold(transportName(l.cfg.Transport), transport) {
			return l
		}
	}
	return a.servers[0]
}

// Answer picks up an incoming call.
func (a *Agent) Answer(id string) error {
	c, err := a.lookup(id)
	if err != nil {
		return err
	}
	if c.outgoing || c.info().State != CallIncoming {
		return fmt.Errorf("call %s is not ringing here", id)
	}
	select {
	case c.answerCh <- struct{}{}:
	default:
	}
	return nil
}

// answerIncoming answers the INVITE: with our answer to its offer (plan: what the offer gave the media), or,
// to an INVITE without SDP (plan nil), with our offer, whose answer the ACK brings. An ACK without a usable
// answer ends the call (BYE).
func (c *call) answerIncoming(plan *mediaPlan) {
	var acks <-chan *sip.Request
	c.mu.Lock()
	var body []byte
	var err error
	if plan == nil {
		body, err = c.sdp.solicitedOffer(c.mediaAddr())
		if err == nil {
			acks = c.awaitAnswerInAck(c.ss.InviteRequest.CSeq().SeqNo)
		}
	} else {
		body, err = c.sdp.answer(c.mediaAddr())
	}
	c.mu.Unlock()
	if err != nil {
		c.ss.Respond(sip.StatusInternalServerError, "SDP", nil)
		c.end(failedCause("could not describe media", err))
		return
	}
	if plan != nil {
		if err := plan.apply(c.media); err != nil {
			c.ss.Respond(sip.StatusInternalServerError, "SRTP", nil)
			c.end(failedCause("could not set up SRTP", err))
			return
		}
	}
	c.media.start()
	res := sip.NewSDPResponseFromRequest(c.ss.InviteRequest, body)
	res.AppendHeader(sip.NewHeader("Allow", allowedMethods))
	res.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	// The dialog exists from our 200 on: the far end may send its next request right after its ACK.
	dlg, err := dialogFromUAS(c.ss.InviteRequest, res, 1)
	if err != nil {
		c.ss.Respond(sip.StatusBadRequest, err.Error(), nil)
		c.end(failedCause("", err))
		return
	}
	if c.reliable != nil {
		dlg.remoteSeq = max(dlg.remoteSeq, c.reliable.lastSeq()) // the caller's PRACK came in this dialog
	}
	c.mu.Lock()
	c.dlg = dlg
	c.mu.Unlock()
	c.answerSessionTimer(c.ss.InviteRequest, res)
	// WriteResponse retransmits the 200 until the ACK arrives (onAck has handed it to acks by then).
	if err := c.ss.WriteResponse(res); err != nil {
		c.end(failedCause("answer not acknowledged", err))
		return
	}
	if acks != nil {
		var ack *sip.Request
		select {
		case ack = <-acks:
		default:
		}
		if err := c.answerFromAck(ack); err != nil {
			c.a.log.Info("delayed offer: no usable answer; hanging up", "call", c.id, "error", err)
			c.hangup(causeAnswerUnusable)
			return
		}
	}
	c.setState(CallActive)
}
