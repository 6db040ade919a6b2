package phone

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Before the answer of a call we placed: its provisional responses (docs/ARCHITECTURE.md, "Before the
// answer"). A reliable one (RFC 3262) is PRACKed in its early dialog; one with SDP (a 183 Session Progress,
// RFC 3960) starts early media: the far end's audio is played from its first packet, the local ringback
// only while none arrives; 181 and 182 say on the line that the call was forwarded or queued.

// earlyQuiet is how long early media may stay silent before the phone plays its own ringback: a mobile
// network answers 183 with SDP and sends nothing while the callee's phone rings.
const earlyQuiet = time.Second

// The call's Progress words for the provisional responses that say more than "ringing".
const (
	ProgressForwarded = "forwarded" // 181 Call Is Being Forwarded
	ProgressQueued    = "queued"    // 182 Queued
)

// earlyCall is what an outgoing call learned before its answer; the call's mu guards it.
type earlyCall struct {
	dialogs map[string]*earlyDialog // by the far end's To tag: each fork that answered with a tag
	media   string                  // the To tag whose SDP the media follows ("": none yet)
	since   time.Time               // when early media began (zero: not yet)
	heard   bool                    // an early audio packet arrived
}

// earlyDialog is one early dialog (a fork of the call) and the RSeq of its last reliable response.
type earlyDialog struct {
	dlg  *dialog
	rseq uint32
}

// provisional takes a provisional response to inv, the INVITE in progress. It runs in the INVITE's
// response loop, so the PRACK it sends goes out from a goroutine of its own.
func (c *call) provisional(r *sip.Response, inv *sip.Request) {
	if r.StatusCode == sip.StatusTrying {
		return
	}
	tag := ""
	if to := r.To(); to != nil {
		tag, _ = to.Params.Get("tag")
	}
	ed := c.earlyDialog(inv, r, tag)
	if requires(r, "100rel") {
		rseq, ok := rseqOf(r)
		if ed == nil || !ok || !ed.nextRSeq(rseq) {
			c.a.log.Debug("reliable provisional not PRACKed", "call", c.id, "status", r.StatusCode, "rseq", rseq)
			return // a retransmission or out of order: not processed further (RFC 3262 §4)
		}
		go c.prack(ed.dlg, rseq, inv.CSeq().SeqNo)
	}
	c.reached(r)
	if ed != nil && len(r.Body()) > 0 {
		c.earlyMedia(tag, r.Body())
	}
	c.progress(r.StatusCode)
}

// reached shows the party a response to our INVITE asserts (P-Asserted-Identity, Remote-Party-ID: the
// phone the call actually reached, after a PBX's forwarding or hunting); nothing asserted keeps the party
// dialled.
func (c *call) reached(r *sip.Response) {
	remote, name, ok := assertedParty(r)
	if !ok {
		return
	}
	c.mu.Lock()
	changed := remote != c.remote || name != c.name
	c.remote, c.name = remote, name
	c.mu.Unlock()
	if changed {
		c.announce()
	}
}

// earlyDialog is the early dialog the response belongs to, made on its first response with a To tag and
// a Contact; nil without either.
func (c *call) earlyDialog(inv *sip.Request, r *sip.Response, tag string) *earlyDialog {
	if tag == "" || r.Contact() == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.early.dialogs == nil {
		c.early.dialogs = map[string]*earlyDialog{}
	}
	if ed, ok := c.early.dialogs[tag]; ok {
		return ed
	}
	dlg, err := dialogFromUAC(inv, r)
	if err != nil {
		return nil
	}
	ed := &earlyDialog{dlg: dlg}
	c.early.dialogs[tag] = ed
	return ed
}

// nextRSeq accepts the RSeq of a reliable response: the first of the dialog, or one more than the last.
// The call's mu is not needed: only the INVITE's response loop calls it.
func (ed *earlyDialog) nextRSeq(rseq uint32) bool {
	if ed.rseq != 0 && rseq != ed.rseq+1 {
		return false
	}
	ed.rseq = rseq
	return true
}

// prack acknowledges a reliable provisional response (RSeq rseq, to the INVITE of CSeq cseq) in its early
// dialog. Its own answer changes nothing: a far end that wanted it and got no PRACK ends the INVITE.
func (c *call) prack(dlg *dialog, rseq, cseq uint32) {
	ctx, cancel := context.WithTimeout(c.a.ctx, 2*c.a.requestTimeout()+time.Second)
	defer cancel()
	_, res, err := c.a.sendInDialog(ctx, c.link, dlg, sip.PRACK, func(req *sip.Request) {
		req.AppendHeader(sip.NewHeader("RAck", strconv.FormatUint(uint64(rseq), 10)+" "+
			strconv.FormatUint(uint64(cseq), 10)+" INVITE"))
	})
	switch {
	case err != nil:
		c.a.log.Info("PRACK not answered", "call", c.id, "error", err)
	case !res.IsSuccess():
		c.a.log.Info("PRACK refused", "call", c.id, "status", res.StatusCode)
	}
}

// earlyMedia takes the SDP of a provisional response from the early dialog tagged tag: the answer to our
// offer, for now. The newest fork that answers with SDP has the media; an SDP that cannot be used changes
// nothing (the call keeps ringing, and the answer in the 2xx decides).
func (c *call) earlyMedia(tag string, body []byte) {
	remote, err := parseSDP(body)
	if err == nil {
		err = c.negotiate(remote, false)
	}
	if err != nil {
		c.a.log.Info("early media not usable; still ringing", "call", c.id, "error", err)
		return
	}
	c.mu.Lock()
	first := c.early.since.IsZero()
	c.early.media = tag
	if first {
		c.early.since = time.Now()
	}
	m := c.media
	c.mu.Unlock()
	if !first {
		return
	}
	m.setOnFirstAudio(c.heardEarly)
	m.start()
	c.setState(CallEarly)
	time.AfterFunc(earlyQuiet, func() { c.a.updateTone(false) }) // still silent: the local ringback
}

// heardEarly is the media's first audio packet: the far end's early media replaces the local ringback.
func (c *call) heardEarly() {
	c.mu.Lock()
	c.early.heard = true
	c.mu.Unlock()
	c.a.updateTone(false)
}

// wantsRingback reports whether the call, with early media, needs the local ringback: nothing heard for
// earlyQuiet. The call's mu is held.
func (e *earlyCall) wantsRingback(now time.Time) bool {
	return !e.heard && now.Sub(e.since) >= earlyQuiet
}

// progress sets the call's state and words for a provisional response's status: 180 and 183 ring, 181 and
// 182 say so on the line; early media, once it began, stays the state.
func (c *call) progress(status int) {
	c.mu.Lock()
	words := c.progressWords
	switch status {
	case 181:
		words = ProgressForwarded
	case 182:
		words = ProgressQueued
	}
	changed := words != c.progressWords
	c.progressWords = words
	early := c.state == CallEarly
	c.mu.Unlock()
	if !early {
		c.setState(CallRinging)
	}
	if changed {
		c.announce()
	}
}

// answeredFrom settles the early dialogs at the answer: the PRACKs went in the answering fork's dialog,
// so its CSeq goes on from theirs.
func (c *call) answeredFrom(dlg *dialog) {
	c.mu.Lock()
	ed := c.early.dialogs[dlg.remoteTag]
	c.mu.Unlock()
	if ed == nil {
		return
	}
	ed.dlg.mu.Lock()
	seq := ed.dlg.localSeq
	ed.dlg.mu.Unlock()
	dlg.mu.Lock()
	dlg.localSeq = max(dlg.localSeq, seq)
	dlg.mu.Unlock()
}

// hadEarlyAnswer reports whether early media took an answer to our offer (the 2xx may then carry none).
func (c *call) hadEarlyAnswer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.early.since.IsZero()
}

// requires reports whether m's Require header lists the option tag.
func requires(m sip.Message, tag string) bool {
	return listsTag(m.GetHeaders("Require"), tag)
}

// listsTag reports whether headers (Require, Supported) list the option tag.
func listsTag(hs []sip.Header, tag string) bool {
	for _, h := range hs {
		for _, t := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), tag) {
				return true
			}
		}
	}
	return false
}

// rseqOf reads a reliable provisional response's RSeq (1 to 2^32-1).
func rseqOf(r *sip.Response) (uint32, bool) {
	h := r.GetHeader("RSeq")
	if h == nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
	return uint32(n), err == nil && n > 0
}
