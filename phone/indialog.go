package phone

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Within a call's dialog: the far end's re-INVITE (with an offer, or asking for ours), ACK, BYE, INFO and
// stray CANCEL answered, and hold and resume, ours (docs/ARCHITECTURE.md, "One action, end to end"). UPDATE
// is in update.go, transfers (REFER, NOTIFY) in transfer.go.

// inDialog finds the call an in-dialog request belongs to and checks it against the dialog (tags,
// growing CSeq). A request that matches no call, or no established dialog when established is true,
// is answered 481 and ok is false.
func (a *Agent) inDialog(req *sip.Request, tx sip.ServerTransaction, established bool) (*call, *dialog, bool) {
	c := a.byDialog(req)
	var dlg *dialog
	if c != nil {
		c.mu.Lock()
		dlg = c.dlg
		c.mu.Unlock()
	}
	switch {
	case c == nil, dlg == nil && established, dlg != nil && dlg.accept(req) != nil:
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call Does Not Exist", nil))
		return nil, nil, false
	}
	return c, dlg, true
}

// onReInvite takes the far end's re-INVITE: an offer is answered as an UPDATE's is (offerResponse); without
// SDP the far end asks for our offer (offerInAnswer). Either refreshes the session timer (sessiontimer.go),
// and one asking for less than our Min-SE gets 422.
func (a *Agent) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c, dlg, ok := a.inDialog(req, tx, true)
	if !ok {
		return
	}
	if res := a.tooBrief(req); res != nil {
		tx.Respond(res)
		return
	}
	if len(req.Body()) == 0 {
		a.offerInAnswer(c, dlg, req, tx)
		return
	}
	res := a.offerResponse(c, req)
	if res.IsSuccess() {
		dlg.updateTarget(req.Contact())
		c.answerSessionTimer(req, res)
	}
	tx.Respond(res)
}

// offerResponse is the answer to the far end's offer within the call (a re-INVITE's or an UPDATE's body):
// 200 with our answer, the media set to it; 491 while our own offer awaits its answer; 488, with the
// reason in a Warning, to an offer that cannot be taken (the call keeps its media); 415 to a body that is
// no SDP.
func (a *Agent) offerResponse(c *call, req *sip.Request) *sip.Response {
	if ct := req.ContentType(); ct != nil && !strings.EqualFold(strings.TrimSpace(strings.SplitN(ct.Value(), ";", 2)[0]), "application/sdp") {
		res := sip.NewResponseFromRequest(req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", nil)
		res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
		return res
	}
	r, err := parseSDP(req.Body())
	var body []byte
	glare := false
	if err == nil {
		body, glare, err = c.answerOffer(r)
	}
	switch {
	case glare:
		return sip.NewResponseFromRequest(req, sip.StatusRequestPending, "Request Pending", nil)
	case err != nil:
		a.log.Info("offer refused; media unchanged", "call", c.id, "method", req.Method, "error", err)
		return notAcceptable(req, err)
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(&sip.ContactHeader{Address: a.contactURI(c.link)})
	return res
}

// notAcceptable is the 488 to an offer the phone cannot take, saying why in a Warning (RFC 3261 §20.43).
func notAcceptable(req *sip.Request, why error) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil)
	res.AppendHeader(sip.NewHeader("Warning", `399 stayline "`+strings.ReplaceAll(why.Error(), `"`, "'")+`"`))
	return res
}

// offerInAnswer answers a re-INVITE without SDP, by which the far end asks for our offer (a PBX joining
// the call to another party, third-party call control): 200 with our offer (sdpSession.solicitedOffer),
// resent until its ACK, whose answer then sets the media. Without a usable answer the media stays as it
// was. While our own offer awaits its answer, 491.
func (a *Agent) offerInAnswer(c *call, dlg *dialog, req *sip.Request, tx sip.ServerTransaction) {
	c.mu.Lock()
	if c.sdp.pending {
		c.mu.Unlock()
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusRequestPending, "Request Pending", nil))
		return
	}
	body, err := c.sdp.solicitedOffer(c.mediaAddr())
	var acks <-chan *sip.Request
	if err == nil {
		acks = c.awaitAnswerInAck(req.CSeq().SeqNo)
	}
	c.mu.Unlock()
	if err != nil {
		a.log.Warn("no offer for a re-INVITE without SDP", "call", c.id, "error", err)
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "SDP", nil))
		return
	}
	dlg.updateTarget(req.Contact())
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(&sip.ContactHeader{Address: a.contactURI(c.link)})
	c.answerSessionTimer(req, res)
	if err := c.answerFromAck(a.respondUntilAck(tx, res, acks, c.done)); err != nil {
		a.log.Warn("re-INVITE without SDP: no usable answer; media unchanged", "call", c.id, "error", err)
	}
}

// respondUntilAck sends a 2xx to an INVITE and sends it again (T1, doubling up to T2) until its ACK comes on
// acks, for 64*T1 at most (RFC 3261 §13.3.1.4); it returns the ACK, or nil if none came (or the call ended).
func (a *Agent) respondUntilAck(tx sip.ServerTransaction, res *sip.Response, acks <-chan *sip.Request, done <-chan struct{}) *sip.Request {
	if err := tx.Respond(res); err != nil {
		a.log.Info("2xx not sent", "error", err)
		return nil
	}
	interval := sip.T1
	resend := time.NewTimer(interval)
	defer resend.Stop()
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	for {
		select {
		case ack := <-acks:
			return ack
		case <-resend.C:
			tx.Respond(res) // the transaction may be over (reliable transport): the ACK may still come
			interval = min(2*interval, sip.T2)
			resend.Reset(interval)
		case <-giveUp.C:
			return nil
		case <-done:
			return nil
		case <-a.ctx.Done():
			return nil
		}
	}
}

// onAck takes the ACK of a 2xx of ours: to the call's INVITE (the dialog is confirmed), and, when that 2xx
// carried our offer, with the answer (awaitAnswerInAck).
func (a *Agent) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := a.byDialog(req)
	if c == nil {
		return
	}
	c.mu.Lock()
	w, dlg := c.sdp.inAck, c.dlg
	c.mu.Unlock()
	if w != nil && dlg != nil && req.CSeq() != nil && req.CSeq().SeqNo == w.seq && dlg.accept(req) == nil {
		select {
		case w.ch <- req:
		default: // a retransmission
		}
	}
	if c.ss != nil {
		c.ss.ReadAck(req, tx) // the ACK of our 200 to the INVITE; other ACKs do not match it
	}
}

// onCancel answers a CANCEL that matches no INVITE in progress (sipgo's transaction layer takes the others,
// answering 200 and 487): 481 (RFC 3261 §9.2).
func (a *Agent) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
}

func (a *Agent) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c, _, ok := a.inDialog(req, tx, false) // a BYE may end an early dialog too
	if !ok {
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	c.mu.Lock()
	referTo, referredTo := c.referTo, c.referredTo
	c.mu.Unlock()
	c.end(byeCause(referTo, referredTo))
}

// onInfo takes the far end's digits sent by SIP INFO (application/dtmf-relay).
func (a *Agent) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c, _, ok := a.inDialog(req, tx, true)
	if !ok {
		return
	}
	ct := req.ContentType()
	if ct == nil || !strings.EqualFold(ct.Value(), dtmfRelayType) {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", nil))
		return
	}
	for _, d := range dtmfRelayDigits(req.Body()) {
		c.digit(d)
	}
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

// Hold puts an active call on hold (re-INVITE, our media inactive), Resume takes it off.
func (a *Agent) Hold(id string) error   { return a.setHold(id, true) }
func (a *Agent) Resume(id string) error { return a.setHold(id, false) }

func (a *Agent) setHold(id string, hold bool) error {
	c, err := a.lookup(id)
	if err != nil {
		return err
	}
	var inv *sip.Request
	var res *sip.Response
	var dlg *dialog
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		if c.dlg == nil || c.state == CallEnded || c.sdp.held == hold || c.sdp.pending {
			c.mu.Unlock()
			return fmt.Errorf("call %s cannot be %s now", id, map[bool]string{true: "held", false: "resumed"}[hold])
		}
		ip, port := c.mediaAddr()
		body, err := c.sdp.reoffer(ip, port, hold)
		dlg = c.dlg
		c.mu.Unlock()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(a.ctx, 2*a.requestTimeout()+time.Second)
		inv, res, err = a.sendInDialog(ctx, c.link, dlg, sip.INVITE, func(r *sip.Request) {
			r.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			r.SetBody(body)
		})
		cancel()
		if err == nil && res.StatusCode == sip.StatusRequestPending && attempt == 0 {
			// Glare: the far end's own offer crossed ours. Once it is settled, ours again (RFC 3261 §14.1).
			c.mu.Lock()
			c.sdp.withdraw(!hold)
			c.mu.Unlock()
			a.log.Info("re-INVITE met the far end's (491); trying again", "call", id)
			select {
			case <-time.After(c.glareWait()):
			case <-c.done:
				return fmt.Errorf("call %s ended", id)
			}
			continue
		}
		if err == nil && !res.IsSuccess() {
			err = fmt.Errorf("re-INVITE answered %d %s", res.StatusCode, res.Reason)
		}
		if err != nil {
			c.mu.Lock()
			c.sdp.withdraw(!hold)
			c.mu.Unlock()
			return err
		}
		break
	}
	c.mu.Lock()
	c.sdp.pending = false // the answer is in res: the far end's offers are welcome again
	c.mu.Unlock()
	if err := a.writeAck(c.link, dlg.ackFor(inv)); err != nil {
		a.log.Info("ACK of re-INVITE", "error", err)
	}
	if r, perr := parseSDP(res.Body()); perr == nil {
		if err := c.negotiate(r, false); err != nil {
			a.log.Warn("answer to our re-INVITE not usable; media unchanged", "call", id, "error", err)
		}
	} else {
		c.mu.Lock()
		p := c.sdp.plan(nil)
		c.mu.Unlock()
		p.remote = c.media.remoteAddr()
		p.steer(c.media) // the same media, in the direction the hold gives it
	}
	if hold {
		c.setState(CallHeld)
	} else {
		c.setState(CallActive)
	}
	return nil
}

// glareWait is how long to wait before offering again after a 491 (RFC 3261 §14.1): 2.1 to 4 s for the
// dialog's Call-ID owner (the call we placed), up to 2 s for the other side, in steps of 10 ms.
func (c *call) glareWait() time.Duration {
	if c.outgoing {
		return 2100*time.Millisecond + time.Duration(rand.IntN(191))*10*time.Millisecond
	}
	return time.Duration(rand.IntN(201)) * 10 * time.Millisecond
}

func (a *Agent) writeAck(l *serverLink, ack *sip.Request) error {
	return l.sipClient().WriteRequest(ack)
}
