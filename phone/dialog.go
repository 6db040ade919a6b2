package phone

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// dialog is the RFC 3261 §12 state of an established call, kept by the phone itself so that in-dialog
// requests (BYE, re-INVITE, INFO, REFER) can leave the route set when its first proxy is dead: after a
// failover the far end is reached at its Contact directly.
type dialog struct {
	mu           sync.Mutex
	callID       string
	local        sip.Uri
	localName    string
	localTag     string
	remote       sip.Uri
	remoteTag    string
	remoteTarget sip.Uri   // the far end's Contact
	routes       []sip.Uri // the route set, first hop first
	localSeq     uint32
	remoteSeq    uint32
	transport    string
}

// dialogFromUAC builds the dialog of a call we placed, from our INVITE and its 2xx.
func dialogFromUAC(inv *sip.Request, res *sip.Response) (*dialog, error) {
	from, to, contact := inv.From(), res.To(), res.Contact()
	if from == nil || to == nil || contact == nil || inv.CallID() == nil || inv.CSeq() == nil {
		return nil, errors.New("2xx lacks From, To, Contact, Call-ID or CSeq")
	}
	d := &dialog{callID: string(*inv.CallID()), local: from.Address, localName: from.DisplayName,
		remote: to.Address, remoteTarget: contact.Address, localSeq: inv.CSeq().SeqNo, transport: inv.Transport()}
	d.localTag, _ = from.Params.Get("tag")
	d.remoteTag, _ = to.Params.Get("tag")
	rr := res.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- { // the UAC reverses the Record-Route
		d.routes = append(d.routes, routeURIs(rr[i])...)
	}
	return d, nil
}

// dialogFromUAS builds the dialog of a call we answered, from the INVITE and our 2xx.
func dialogFromUAS(inv *sip.Request, res *sip.Response, localSeq uint32) (*dialog, error) {
	from, to, contact := inv.From(), res.To(), inv.Contact()
	if from == nil || to == nil || contact == nil || inv.CallID() == nil || inv.CSeq() == nil {
		return nil, errors.New("INVITE lacks From, To, Contact, Call-ID or CSeq")
	}
	d := &dialog{callID: string(*inv.CallID()), local: to.Address, remote: from.Address,
		remoteTarget: contact.Address, localSeq: localSeq, remoteSeq: inv.CSeq().SeqNo, transport: inv.Transport()}
	d.localTag, _ = to.Params.Get("tag")
	d.remoteTag, _ = from.Params.Get("tag")
	for _, h := range inv.GetHeaders("Record-Route") {
		d.routes = append(d.routes, routeURIs(h)...)
	}
	return d, nil
}

// routeURIs reads the URIs of one Record-Route header (which may hold several, comma separated).
func routeURIs(h sip.Header) []sip.Uri {
	var out []sip.Uri
	if rr, ok := h.(*sip.RecordRouteHeader); ok {
		out = append(out, rr.Address)
		return out
	}
	for _, part := range strings.Split(h.Value(), ",") {
		part = strings.TrimSpace(part)
		part = strings.TrimSuffix(strings.TrimPrefix(part, "<"), ">")
		if i := strings.Index(part, ">"); i >= 0 {
			part = part[:i]
		}
		var u sip.Uri
		if err := sip.ParseUri(part, &u); err == nil {
			out = append(out, u)
		}
	}
	return out
}

// firstHop is where a request following the route set goes first: the first route, or the target.
func (d *dialog) firstHop() sip.Uri {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.routes) > 0 {
		return d.routes[0]
	}
	return d.remoteTarget
}

// request builds the next in-dialog request. With direct, it leaves the route set out and goes straight
// to the far end's Contact.
func (d *dialog) request(method sip.RequestMethod, contact sip.Uri, direct bool) *sip.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	req := sip.NewRequest(method, d.remoteTarget)
	from := &sip.FromHeader{DisplayName: d.localName, Address: d.local, Params: sip.NewParams()}
	from.Params.Add("tag", d.localTag)
	to := &sip.ToHeader{Address: d.remote, Params: sip.NewParams()}
	if d.remoteTag != "" {
		to.Params.Add("tag", d.remoteTag)
	}
	callID := sip.CallIDHeader(d.callID)
	if method != sip.ACK {
		d.localSeq++
	}
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.localSeq, MethodName: method})
	req.AppendHeader(&maxfwd)
	req.AppendHeader(&sip.ContactHeader{Address: contact})
	dest := d.remoteTarget
	if !direct && len(d.routes) > 0 {
		for _, r := range d.routes {
			req.AppendHeader(&sip.RouteHeader{Address: r})
		}
		dest = d.routes[0]
	}
	req.SetDestination(hostPort(dest))
	req.SetTransport(uriTransport(dest, d.transport, direct))
	return req
}

// uriTransport is the transport to reach u: its transport parameter, TLS for sips, else the dialog's
// (through our proxy) or UDP (RFC 3263's default, straight to a far end).
func uriTransport(u sip.Uri, dialogTransport string, direct bool) string {
	if u.UriParams != nil {
		if tp, ok := u.UriParams.Get("transport"); ok && tp != "" {
			return strings.ToUpper(tp)
		}
	}
	if u.IsEncrypted() {
		return "TLS"
	}
	if direct {
		return "UDP"
	}
	return dialogTransport
}

// ackFor builds the ACK of a 2xx to our re-INVITE (same CSeq number).
func (d *dialog) ackFor(inv *sip.Request) *sip.Request {
	ack := sip.NewRequest(sip.ACK, inv.Recipient)
	for _, name := range []string{"From", "To", "Call-ID", "Max-Forwards", "Contact", "Route"} {
		for _, h := range inv.GetHeaders(name) {
			ack.AppendHeader(sip.HeaderClone(h))
		}
	}
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetDestination(inv.Destination())
	ack.SetTransport(inv.Transport())
	ack.SetBody(nil)
	return ack
}

// matches reports whether an incoming request belongs to this dialog, and checks its CSeq grows.
func (d *dialog) accept(req *sip.Request) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	from, to := req.From(), req.To()
	if from == nil || to == nil || req.CSeq() == nil {
		return errors.New("request lacks From, To or CSeq")
	}
	ft, _ := from.Params.Get("tag")
	tt, _ := to.Params.Get("tag")
	if ft != d.remoteTag || tt != d.localTag {
		return errors.New("tags do not match the dialog")
	}
	if req.Method == sip.ACK || req.Method == sip.CANCEL {
		return nil
	}
	if seq := req.CSeq().SeqNo; seq <= d.remoteSeq && d.remoteSeq != 0 {
		return fmt.Errorf("CSeq %d is not above %d", seq, d.remoteSeq)
	} else {
		d.remoteSeq = seq
	}
	return nil
}

// updateTarget follows a target refresh (a re-INVITE's Contact).
func (d *dialog) updateTarget(c *sip.ContactHeader) {
	if c == nil {
		return
	}
	d.mu.Lock()
	d.remoteTarget = c.Address
	d.mu.Unlock()
}

func hostPort(u sip.Uri) string {
	port := u.Port
	if port == 0 {
		port = 5060
		if u.IsEncrypted() {
			port = 5061
		}
	}
	return fmt.Sprintf("%s:%d", u.Host, port)
}

// sendInDialog sends an in-dialog request: along the route set unless its first proxy is known dead,
// and straight to the far end if the route fails. It returns the final response.
func (a *Agent) sendInDialog(ctx context.Context, l *serverLink, d *dialog, method sip.RequestMethod,
	prepare func(*sip.Request)) (*sip.Request, *sip.Response, error) {
	direct := a.hopIsDown(d.firstHop())
	for attempt := 0; attempt < 2; attempt++ {
		req := d.request(method, a.contactURI(l), direct)
		if prepare != nil {
			prepare(req)
		}
		if req.Body() == nil {
			req.SetBody(nil)
		}
		rctx, cancel := context.WithTimeout(ctx, a.requestTimeout())
		res, err := l.sipClient().Do(rctx, req)
		cancel()
		if err == nil {
			return req, res, nil
		}
		if direct || len(d.routes) == 0 || ctx.Err() != nil {
			return req, nil, fmt.Errorf("%s: %w", method, err)
		}
		a.log.Info("in-dialog request failed along the route set; sending it straight to the far end",
			"method", method, "hop", hostPort(d.firstHop()), "error", err)
		direct = true
	}
	return nil, nil, errors.New("unreachable")
}

// SetServerHealth tells the agent whether a server answers, so in-dialog requests avoid a dead proxy.
func (a *Agent) SetServerHealth(server int, up bool) {
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	if up {
		delete(a.down, server)
	} else {
		a.down[server] = true
	}
}

// hopIsDown reports whether u names a configured server known to be down.
func (a *Agent) hopIsDown(u sip.Uri) bool {
	hp := hostPort(u)
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	for i, l := range a.servers {
		if a.down[i] && l.cfg.HostPort() == hp {
			return true
		}
	}
	return false
}

// requestTimeout bounds an in-dialog request before the phone tries the direct way.
func (a *Agent) requestTimeout() time.Duration {
	if a.opts.RequestTimeout > 0 {
		return a.opts.RequestTimeout
	}
	return 2 * time.Second
}
