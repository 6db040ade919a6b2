package phone

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Message waiting (RFC 3842): the phone subscribes to message-summary at the server in use and lights
// its lamp from the NOTIFYs that come back.

// mwiSubscription is the state of one SUBSCRIBE dialog.
type mwiSubscription struct {
	mu      sync.Mutex
	server  int
	callID  string
	fromTag string
	toTag   string
	cseq    uint32
	routes  []sip.Uri
	target  sip.Uri
	active  bool
}

// SubscribeMWI subscribes to message-summary on server for expires; the lamp's state then arrives as
// EventMWI events.
func (a *Agent) SubscribeMWI(ctx context.Context, server int, expires time.Duration) error {
	l, err := a.link(server)
	if err != nil {
		return err
	}
	a.callsMu.Lock()
	sub := a.mwi[server]
	if sub == nil {
		sub = &mwiSubscription{server: server, callID: sip.GenerateTagN(24) + "@stayline", fromTag: sip.GenerateTagN(16)}
		a.mwi[server] = sub
	}
	a.callsMu.Unlock()
	return a.subscribe(ctx, l, sub, expires)
}

// UnsubscribeMWI ends the message-summary subscription on server (Expires: 0), if there is one.
func (a *Agent) UnsubscribeMWI(ctx context.Context, server int) error {
	l, err := a.link(server)
	if err != nil {
		return err
	}
	a.callsMu.Lock()
	sub := a.mwi[server]
	delete(a.mwi, server)
	a.callsMu.Unlock()
	if sub == nil {
		return nil
	}
	return a.subscribe(ctx, l, sub, 0)
}

func (a *Agent) subscribe(ctx context.Context, l *serverLink, sub *mwiSubscription, expires time.Duration) error {
	sub.mu.Lock()
	acc := a.opts.Account
	aor := sip.Uri{Scheme: "sip", User: acc.User, Host: acc.Domain}
	target := aor
	if sub.toTag != "" {
		target = sub.target
	}
	req := sip.NewRequest(sip.SUBSCRIBE, target)
	a.address(req, l)
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sub.fromTag)
	to := &sip.ToHeader{Address: aor, Params: sip.NewParams()}
	if sub.toTag != "" {
		to.Params.Add("tag", sub.toTag)
		for _, r := range sub.routes {
			req.AppendHeader(&sip.RouteHeader{Address: r})
		}
	}
	sub.cseq++
	callID := sip.CallIDHeader(sub.callID)
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: sub.cseq, MethodName: sip.SUBSCRIBE})
	req.AppendHeader(&maxfwd)
	req.AppendHeader(&sip.ContactHeader{Address: a.contactURI(l)})
	req.AppendHeader(sip.NewHeader("Event", "message-summary"))
	req.AppendHeader(sip.NewHeader("Accept", "application/simple-message-summary"))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	req.AppendHeader(sip.NewHeader("User-Agent", UserAgentName))
	req.SetBody(nil)
	sub.mu.Unlock()

	res, err := a.send(ctx, l, req, a.requestTimeout())
	if err == nil && (res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired) {
		res, err = a.answerChallenge(ctx, l, req, res, a.requestTimeout())
	}
	if err != nil {
		return fmt.Errorf("subscribe to messages on %s: %w", l.cfg.Name, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("subscribe to messages on %s: %w", l.cfg.Name, statusError(req.Method, res))
	}
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.cseq = req.CSeq().SeqNo
	if sub.toTag == "" {
		if t := res.To(); t != nil {
			sub.toTag, _ = t.Params.Get("tag")
		}
		if c := res.Contact(); c != nil {
			sub.target = c.Address
		} else {
			sub.target = aor
		}
		rr := res.GetHeaders("Record-Route")
		for i := len(rr) - 1; i >= 0; i-- {
			sub.routes = append(sub.routes, routeURIs(rr[i])...)
		}
	}
	sub.active = expires > 0
	return nil
}

// onMessageSummary takes a message-summary NOTIFY from the server we subscribed to (or, unsolicited,
// from any configured server) and reports the lamp's state.
func (a *Agent) onMessageSummary(req *sip.Request, tx sip.ServerTransaction) {
	server := a.serverOf(req.Source())
	a.callsMu.Lock()
	for s, sub := range a.mwi {
		if req.CallID() != nil && string(*req.CallID()) == sub.callID {
			server = s
		}
	}
	a.callsMu.Unlock()
	if server < 0 {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Not From A Configured Server", nil))
		return
	}
	waiting, ok := messagesWaiting(req.Body())
	if !ok {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad message-summary", nil))
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	a.notify(Event{Kind: EventMWI, Server: server, Waiting: waiting})
}

// messagesWaiting reads RFC 3842's "Messages-Waiting: yes|no".
func messagesWaiting(body []byte) (bool, bool) {
	for _, line := range strings.Split(string(body), "\n") {
		k, v, found := strings.Cut(line, ":")
		if found && strings.EqualFold(strings.TrimSpace(k), "Messages-Waiting") {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "yes":
				return true, true
			case "no":
				return false, true
			}
			return false, false
		}
	}
	return false, false
}
