package phone

import (
	"context"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// Hanging up a call before it is answered: the phone's own CANCEL (RFC 3261 §9.1). sipgo's, sent when the
// INVITE's context ends, carries a CSeq number of its own and no destination of the INVITE's, and under
// load a proxy left it unanswered (the callee went on ringing). The phone's is built from the INVITE as it
// went out, and the INVITE's transaction stays to take the 487 (and ACK it) as the RFC has it.

// canceller is one INVITE attempt's CANCEL: wanted once the user hung up, sent once a provisional response
// has come (before one, a CANCEL may not be sent: it goes out with the first).
type canceller struct {
	mu     sync.Mutex
	inv    *sip.Request // the INVITE as it went out, once a provisional came
	wanted bool
	sent   bool
}

// provisional notes the first provisional response's INVITE; it says whether the CANCEL is due now.
func (cn *canceller) provisional(inv *sip.Request) (due *sip.Request) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.inv == nil {
		cn.inv = inv.Clone()
	}
	return cn.due()
}

// hangup notes the user's hang-up; it says whether the CANCEL is due now.
func (cn *canceller) hangup() (due *sip.Request) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cn.wanted = true
	return cn.due()
}

// due is the INVITE to cancel when the CANCEL is wanted, possible and not sent yet. cn.mu is held.
func (cn *canceller) due() *sip.Request {
	if !cn.wanted || cn.inv == nil || cn.sent {
		return nil
	}
	cn.sent = true
	return cn.inv
}

// cancelFor is the CANCEL of inv: its Request-URI, top Via, From, To, Call-ID, CSeq number and Route, sent
// where and how inv went.
func cancelFor(inv *sip.Request) *sip.Request {
	req := sip.NewRequest(sip.CANCEL, inv.Recipient)
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	for _, h := range []sip.Header{inv.From(), inv.To(), inv.CallID()} {
		req.AppendHeader(sip.HeaderClone(h))
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	sip.CopyHeaders("Route", inv, req)
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxfwd)
	req.SetTransport(inv.Transport())
	req.SetDestination(inv.Destination())
	req.SetSource(inv.Source())
	req.Laddr = inv.Laddr
	req.SetBody(nil)
	return req
}

// sendCancel sends the CANCEL of inv through l; the INVITE's 487 then ends the call.
func (c *call) sendCancel(l *serverLink, inv *sip.Request) {
	ctx, cancel := context.WithTimeout(c.a.ctx, 2*c.a.requestTimeout()+1e9)
	defer cancel()
	res, err := l.sipClient().Do(ctx, cancelFor(inv))
	switch {
	case err != nil:
		c.a.log.Info("CANCEL not answered", "call", c.id, "error", err)
	case !res.IsSuccess():
		c.a.log.Info("CANCEL refused", "call", c.id, "status", res.StatusCode)
	}
}
