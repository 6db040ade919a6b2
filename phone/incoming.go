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
	m, err := openMedia(l.local, a.log)
	if err != nil {
		respond(sip.StatusInternalServerError, "No media port")
		return
	}
	dua := &sipgo.DialogUA{Client: l.client, ContactHDR: sip.ContactHeader{Address: a.contactURI(l)}}
	ss, err := dua.ReadInvite(req, tx)
	if err != nil {
		m.close()
		respond(sip.StatusBadRequest, err.Error())
		return
	}
	from := req.From().Address
	c := &call{a: a, link: l, server: server, remote: from.User + "@" + from.Host, state: CallIncoming, media: m,
		sdp: sess, answerCh: make(chan struct{}, 1), rejectCh: make(chan endCause, 1), ss: ss, done: make(chan struct{})}
	a.track(c, string(*req.CallID()))
	admitted()
	m.setOnDigit(c.digit)
	if err := ss.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
		c.end(failedCause("could not ring", err))
		return
	}
	c.announce()
	timeout := time.NewTimer(ringTimeout)
	defer timeout.Stop()
	select {
	case <-c.answerCh:
		c.answerIncoming(plan)
	case cause := <-c.rejectCh:
		ss.Respond(603, "Decline", nil)
		c.end(cause)
	case <-ss.Context().Done():
		c.end(causeCallerCancelled)
	case <-timeout.C:
		ss.Respond(sip.StatusTemporarilyUnavailable, "Not Answered", nil)
		c.end(causeNotAnswered)
	case <-a.ctx.Done():
		ss.Respond(sip.StatusTemporarilyUnavailable, "Shutting Down", nil)
		c.end(causeShutDown)
	}
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
		body, err = c.sdp.solicitedOffer(c.link.local, c.media.Port())
		if err == nil {
			acks = c.awaitAnswerInAck(c.ss.InviteRequest.CSeq().SeqNo)
		}
	} else {
		body, err = c.sdp.answer(c.link.local, c.media.Port())
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
	// The dialog exists from our 200 on: the far end may send its next request right after its ACK.
	dlg, err := dialogFromUAS(c.ss.InviteRequest, res, 1)
	if err != nil {
		c.ss.Respond(sip.StatusBadRequest, err.Error(), nil)
		c.end(failedCause("", err))
		return
	}
	c.mu.Lock()
	c.dlg = dlg
	c.mu.Unlock()
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
