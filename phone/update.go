package phone

import "github.com/emiago/sipgo/sip"

// UPDATE (RFC 3311) from the far end, within an established call: PBXs and carriers send it to refresh the
// session, and to hold, resume or move the media without a re-INVITE.

// onUpdate answers the far end's UPDATE. Without a body it is a session refresh: 200. With an offer it is
// answered as a re-INVITE's offer is (offerResponse: 200 with our answer and the media set to it, 488 with
// a Warning to an offer that cannot be taken, 491 while our own offer awaits its answer). An UPDATE of no
// established call of ours gets 481 (inDialog), one asking for a session interval below our Min-SE 422.
// Like a re-INVITE it refreshes the far end's target and the session timer.
func (a *Agent) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c, dlg, ok := a.inDialog(req, tx, true)
	if !ok {
		return
	}
	if res := a.tooBrief(req); res != nil {
		tx.Respond(res)
		return
	}
	var res *sip.Response
	if len(req.Body()) == 0 {
		res = sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
		res.AppendHeader(&sip.ContactHeader{Address: a.contactURI(c.link)})
	} else {
		res = a.offerResponse(c, req)
	}
	if res.IsSuccess() {
		dlg.updateTarget(req.Contact())
		c.answerSessionTimer(req, res) // a refresh of the session timer (sessiontimer.go)
	}
	if err := tx.Respond(res); err != nil {
		a.log.Info("answer UPDATE", "call", c.id, "status", res.StatusCode, "error", err)
	}
}
