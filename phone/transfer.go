package phone

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// transferTimeout is how long the phone waits for the far end to report how the transfer went.
const transferTimeout = 30 * time.Second

// Transfer hands call id over to target (blind transfer, RFC 3515): the far end is asked to call target
// and, once it reports success, this call ends. When target names another call of ours (attended
// transfer, RFC 3891), the far end is asked to replace that call instead, joining the two parties.
func (a *Agent) Transfer(id, target string) error {
	c, err := a.lookup(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	dlg := c.dlg
	c.mu.Unlock()
	if dlg == nil {
		return fmt.Errorf("call %s is not connected", id)
	}
	var referTo string
	var consult *call
	if other, err := a.lookup(target); err == nil && other != c {
		other.mu.Lock()
		od := other.dlg
		other.mu.Unlock()
		if od == nil {
			return fmt.Errorf("call %s is not connected", target)
		}
		referTo = replacesTarget(od)
		consult = other
	} else {
		uri, err := a.targetURI(target)
		if err != nil {
			return err
		}
		referTo = "<" + uri.String() + ">"
	}
	done := make(chan int, 1)
	c.mu.Lock()
	c.referDone, c.referTo = done, strings.Trim(referTo, "<>")
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(a.ctx, 2*a.requestTimeout()+time.Second)
	defer cancel()
	acc := a.opts.Account
	_, res, err := a.sendInDialog(ctx, c.link, dlg, sip.REFER, func(r *sip.Request) {
		r.AppendHeader(sip.NewHeader("Refer-To", referTo))
		r.AppendHeader(sip.NewHeader("Referred-By", "<sip:"+acc.User+"@"+acc.Domain+">"))
	})
	if err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	if res.StatusCode != sip.StatusAccepted && !res.IsSuccess() {
		return fmt.Errorf("transfer refused: %d %s", res.StatusCode, res.Reason)
	}
	go func() {
		select {
		case code := <-done:
			if code >= 200 && code < 300 {
				c.hangup(transferredCause(strings.Trim(referTo, "<>"))) // unless the far end hung up first
				if consult != nil {
					consult.hangup(causeJoined)
				}
				return
			}
			a.notify(Event{Kind: EventCallNote, Server: c.server, Call: c.info(),
				Err: fmt.Errorf("transfer failed: the far end reported %d", code)})
		case <-time.After(transferTimeout):
			a.notify(Event{Kind: EventCallNote, Server: c.server, Call: c.info(),
				Err: fmt.Errorf("transfer: no report from the far end within %s", transferTimeout)})
		case <-c.done:
		}
	}()
	return nil
}

// replacesTarget is the Refer-To of an attended transfer: the other call's far end, with a Replaces
// header naming that call's dialog (as seen from the far end that will send the INVITE).
func replacesTarget(d *dialog) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	target := d.remoteTarget
	if d.remote.User != "" {
		target = d.remote // the party's address of record, through the proxy, rather than its Contact
	}
	replaces := fmt.Sprintf("%s;to-tag=%s;from-tag=%s", d.callID, d.remoteTag, d.localTag)
	u := target
	u.UriParams = nil
	u.Headers = nil
	return "<" + u.String() + "?Replaces=" + url.QueryEscape(replaces) + ">"
}

// onNotify takes NOTIFYs: the progress of a transfer (Event: refer), or message-waiting reports.
func (a *Agent) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	event := ""
	if h := req.GetHeader("Event"); h != nil {
		event = strings.ToLower(strings.TrimSpace(strings.SplitN(h.Value(), ";", 2)[0]))
	}
	switch event {
	case "refer":
		c, _, ok := a.inDialog(req, tx, true)
		if !ok {
			return
		}
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		if code := sipfragStatus(req.Body()); code >= 200 {
			c.mu.Lock()
			done := c.referDone
			c.mu.Unlock()
			if done != nil {
				select {
				case done <- code:
				default:
				}
			}
		}
	case "message-summary":
		a.onMessageSummary(req, tx)
	default:
		tx.Respond(sip.NewResponseFromRequest(req, 489, "Bad Event", nil))
	}
}

// sipfragStatus reads the status code of a message/sipfrag body ("SIP/2.0 200 OK"); 0 if none.
func sipfragStatus(body []byte) int {
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		return 0
	}
	return code
}

// onRefer takes a transfer asked of us (we are the transferee, RFC 3515): accept it, call the Refer-To
// target (with its Replaces header, for an attended transfer), and report the progress by NOTIFY.
func (a *Agent) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	c, dlg, ok := a.inDialog(req, tx, true)
	if !ok {
		return
	}
	h := req.GetHeader("Refer-To")
	if h == nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "No Refer-To", nil))
		return
	}
	target, replaces, err := parseReferTo(h.Value())
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, err.Error(), nil))
		return
	}
	c.mu.Lock()
	c.referredTo = target
	c.mu.Unlock()
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusAccepted, "Accepted", nil))
	go func() {
		a.referNotify(c, dlg, "SIP/2.0 100 Trying", false)
		ctx, cancel := context.WithTimeout(a.ctx, transferTimeout)
		defer cancel()
		var extra []sip.Header
		if replaces != "" {
			extra = append(extra, sip.NewHeader("Replaces", replaces))
		}
		id, err := a.invite(ctx, c.server, target, 2*a.requestTimeout(), extra...)
		if err != nil {
			a.referNotify(c, dlg, "SIP/2.0 503 Service Unavailable", true)
			return
		}
		nc, err := a.lookup(id)
		if err != nil {
			a.referNotify(c, dlg, "SIP/2.0 500 Server Internal Error", true)
			return
		}
		// Report the new call's outcome; on success the old call is over.
		for {
			select {
			case <-nc.done:
				a.referNotify(c, dlg, "SIP/2.0 487 Request Terminated", true)
				return
			case <-time.After(20 * time.Millisecond):
			}
			if nc.info().State == CallActive {
				a.referNotify(c, dlg, "SIP/2.0 200 OK", true)
				c.hangup(transferredByCause(target))
				return
			}
			if ctx.Err() != nil {
				a.referNotify(c, dlg, "SIP/2.0 408 Request Timeout", true)
				return
			}
		}
	}()
}

// referNotify sends a NOTIFY of a transfer's progress (message/sipfrag) on the transferred call.
func (a *Agent) referNotify(c *call, dlg *dialog, frag string, final bool) {
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	ctx, cancel := context.WithTimeout(a.ctx, 2*a.requestTimeout())
	defer cancel()
	_, _, err := a.sendInDialog(ctx, c.link, dlg, sip.NOTIFY, func(r *sip.Request) {
		r.AppendHeader(sip.NewHeader("Event", "refer"))
		r.AppendHeader(sip.NewHeader("Subscription-State", state))
		r.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
		r.SetBody([]byte(frag + "\r\n"))
	})
	if err != nil {
		a.log.Info("transfer progress not delivered", "call", c.id, "error", err)
	}
}

// parseReferTo splits a Refer-To value into the target to call and its Replaces header (unescaped).
func parseReferTo(v string) (string, string, error) {
	v = strings.TrimSpace(v)
	if i := strings.Index(v, "<"); i >= 0 {
		j := strings.Index(v[i:], ">")
		if j < 0 {
			return "", "", fmt.Errorf("unterminated Refer-To")
		}
		v = v[i+1 : i+j]
	}
	target, headers, _ := strings.Cut(v, "?")
	if !strings.HasPrefix(target, "sip:") && !strings.HasPrefix(target, "sips:") {
		return "", "", fmt.Errorf("Refer-To %q is not a SIP address", target)
	}
	var replaces string
	for _, h := range strings.Split(headers, "&") {
		k, val, ok := strings.Cut(h, "=")
		if ok && strings.EqualFold(k, "Replaces") {
			r, err := url.QueryUnescape(val)
			if err != nil {
				return "", "", fmt.Errorf("bad Replaces in Refer-To: %w", err)
			}
			replaces = r
		}
	}
	if strings.ContainsAny(target+replaces, "\r\n") {
		return "", "", fmt.Errorf("Refer-To with line breaks")
	}
	return target, replaces, nil
}
