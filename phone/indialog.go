package phone

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Within a call's dialog: the far end's re-INVITE, ACK, BYE and INFO answered, and hold and resume, ours
// (docs/ARCHITECTURE.md, "One action, end to end"). Transfers (REFER, NOTIFY) are in transfer.go.

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

func (a *Agent) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c, dlg, ok := a.inDialog(req, tx, true)
	if !ok {
		return
	}
	r, err := parseSDP(req.Body())
	if err == nil {
		err = c.negotiate(r, true)
	}
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	dlg.updateTarget(req.Contact())
	c.mu.Lock()
	c.sdp.version++
	body, err := c.sdp.answer(c.link.local, c.media.Port())
	c.mu.Unlock()
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "SDP", nil))
		return
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(&sip.ContactHeader{Address: a.contactURI(c.link)})
	tx.Respond(res)
}

func (a *Agent) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := a.byDialog(req)
	if c == nil || c.ss == nil {
		return
	}
	c.ss.ReadAck(req, tx) // the ACK of our 200 to the INVITE; ACKs of re-INVITE answers need nothing
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
	c.mu.Lock()
	if c.dlg == nil || c.state == CallEnded || c.sdp.held == hold {
		c.mu.Unlock()
		return fmt.Errorf("call %s cannot be %s now", id, map[bool]string{true: "held", false: "resumed"}[hold])
	}
	body, err := c.sdp.reoffer(c.link.local, c.media.Port(), hold)
	dlg := c.dlg
	c.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(a.ctx, 2*a.requestTimeout()+time.Second)
	defer cancel()
	inv, res, err := a.sendInDialog(ctx, c.link, dlg, sip.INVITE, func(r *sip.Request) {
		r.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		r.SetBody(body)
	})
	if err == nil && !res.IsSuccess() {
		err = fmt.Errorf("re-INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	if err != nil {
		c.mu.Lock()
		c.sdp.held = !hold
		c.mu.Unlock()
		return err
	}
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

func (a *Agent) writeAck(l *serverLink, ack *sip.Request) error {
	return l.client.WriteRequest(ack)
}
