package phone

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Reliable provisional responses to calls we receive (RFC 3262; docs/ARCHITECTURE.md, "Calls and SIP"):
// to an INVITE that requires 100rel the 180 Ringing goes reliably, resent until its PRACK, and the PRACK
// is answered here. Only the 180 is sent reliably (it has no SDP); the 200 waits for its PRACK. An INVITE
// that only supports 100rel gets the ordinary 180. PRACKs for calls we place are in early.go.

// causeNoPrack ends a call whose caller never acknowledged the reliable 180.
var causeNoPrack = endCause{kind: EndFailed, reason: "the caller did not acknowledge the ringing"}

// errNoPrack is the reliable 180's retransmissions running out (64*T1) without a PRACK.
var errNoPrack = errors.New("no PRACK for the reliable 180")

// reliable180 is the 180 Ringing sent reliably to one INVITE, and whether its PRACK came.
type reliable180 struct {
	rseq      uint32 // the 180's RSeq
	cseq      uint32 // the INVITE's CSeq number
	localTag  string // our To tag
	remoteTag string // the caller's From tag

	mu       sync.Mutex
	prackSeq uint32 // the CSeq of the PRACK that acknowledged it (0: none yet)

	pracked  chan struct{} // closed by the matching PRACK
	failed   chan struct{} // closed when the retransmissions ran out
	stopCh   chan struct{} // closed by stop
	stopOnce sync.Once
	done     chan struct{} // closed when the retransmissions have ended
}

// newReliable180 prepares the reliable 180 to inv (the dialog's INVITE, with our To tag), with a random
// first RSeq from 1 to 2^31-1 (RFC 3262 §3).
func newReliable180(inv *sip.Request) *reliable180 {
	r := &reliable180{rseq: rand.Uint32N(1<<31-1) + 1, pracked: make(chan struct{}), failed: make(chan struct{}),
		stopCh: make(chan struct{}), done: make(chan struct{})}
	if cs := inv.CSeq(); cs != nil {
		r.cseq = cs.SeqNo
	}
	if to := inv.To(); to != nil {
		r.localTag, _ = to.Params.Get("tag")
	}
	if from := inv.From(); from != nil {
		r.remoteTag, _ = from.Params.Get("tag")
	}
	return r
}

// response is the 180 itself: Require: 100rel and the RSeq, besides the INVITE's headers.
func (r *reliable180) response(inv *sip.Request) *sip.Response {
	res := sip.NewResponseFromRequest(inv, sip.StatusRinging, "Ringing", nil)
	res.AppendHeader(sip.NewHeader("Require", "100rel"))
	res.AppendHeader(sip.NewHeader("RSeq", strconv.FormatUint(uint64(r.rseq), 10)))
	res.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	res.AppendHeader(sip.NewHeader("Allow", allowedMethods))
	return res
}

// retransmit sends the 180 again at first, doubling (RFC 3262 §3: from T1), until its PRACK or stop; after
// giveUp without a PRACK it closes failed. It closes done when it returns.
func (r *reliable180) retransmit(send func() error, first, giveUp time.Duration) {
	defer close(r.done)
	interval := first
	resend := time.NewTimer(interval)
	defer resend.Stop()
	limit := time.NewTimer(giveUp)
	defer limit.Stop()
	for {
		select {
		case <-resend.C:
			if err := send(); err != nil {
				return // the INVITE's transaction is over (cancelled): its end is handled there
			}
			interval *= 2
			resend.Reset(interval)
		case <-limit.C:
			close(r.failed)
			return
		case <-r.pracked:
			return
		case <-r.stopCh:
			return
		}
	}
}

// stop ends the retransmissions and waits until they have: the INVITE's final response follows.
func (r *reliable180) stop() {
	r.stopOnce.Do(func() { close(r.stopCh) })
	<-r.done
}

// prackedCh is closed by the 180's PRACK; nil (never ready) when the 180 went unreliably.
func (r *reliable180) prackedCh() <-chan struct{} {
	if r == nil {
		return nil
	}
	return r.pracked
}

// failedCh is closed when the retransmissions ran out; nil when the 180 went unreliably.
func (r *reliable180) failedCh() <-chan struct{} {
	if r == nil {
		return nil
	}
	return r.failed
}

// stopIfAny stops the retransmissions of a reliable 180, if the call has one.
func (r *reliable180) stopIfAny() {
	if r != nil {
		r.stop()
	}
}

// acknowledge takes a PRACK's RAck (and its CSeq number): true if it matches this 180, not yet
// acknowledged (RFC 3262 §3: a PRACK matching no unacknowledged reliable response gets 481).
func (r *reliable180) acknowledge(fromTag, toTag string, rack rAck, prackSeq uint32) bool {
	if fromTag != r.remoteTag || toTag != r.localTag || rack.rseq != r.rseq || rack.cseq != r.cseq ||
		rack.method != sip.INVITE {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.prackSeq != 0 {
		return false
	}
	r.prackSeq = prackSeq
	close(r.pracked)
	return true
}

// lastSeq is the CSeq number of the PRACK, 0 if none came: the dialog's requests from the caller go on
// from it.
func (r *reliable180) lastSeq() uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prackSeq
}

// rAck is a PRACK's RAck header: "response-num CSeq-num Method" (RFC 3262 §7.2).
type rAck struct {
	rseq, cseq uint32
	method     sip.RequestMethod
}

// parseRAck reads an RAck header's value; ok is false unless it is two numbers (1 to 2^32-1) and a method.
func parseRAck(v string) (rAck, bool) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return rAck{}, false
	}
	rseq, err1 := strconv.ParseUint(f[0], 10, 32)
	cseq, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil || rseq == 0 {
		return rAck{}, false
	}
	return rAck{rseq: uint32(rseq), cseq: uint32(cseq), method: sip.RequestMethod(strings.ToUpper(f[2]))}, true
}

// formatRAck is the RAck header's value acknowledging RSeq rseq of the response to the INVITE of CSeq cseq.
func formatRAck(rseq, cseq uint32) string {
	return strconv.FormatUint(uint64(rseq), 10) + " " + strconv.FormatUint(uint64(cseq), 10) + " " + string(sip.INVITE)
}

// onPrack answers a PRACK: 200 if it acknowledges the reliable 180 of a call ringing here, else 481.
func (a *Agent) onPrack(req *sip.Request, tx sip.ServerTransaction) {
	if !a.prackMatches(req) {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "No Matching Provisional Response", nil))
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

// prackMatches reports whether req acknowledges a reliable 180 of ours not yet acknowledged (and marks it so).
func (a *Agent) prackMatches(req *sip.Request) bool {
	c := a.byDialog(req)
	h := req.GetHeader("RAck")
	if c == nil || h == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
		return false
	}
	c.mu.Lock()
	rel := c.reliable
	c.mu.Unlock()
	rack, ok := parseRAck(h.Value())
	if rel == nil || !ok {
		return false
	}
	fromTag, _ := req.From().Params.Get("tag")
	toTag, _ := req.To().Params.Get("tag")
	return rel.acknowledge(fromTag, toTag, rack, req.CSeq().SeqNo)
}
