package phone

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"stayline/config"
)

// statusIntervalTooBrief is 423 Interval Too Brief (RFC 3261 §21.4.17), which sipgo does not name.
const statusIntervalTooBrief = 423

// registration is the state RFC 3261 §10 keeps across one server's REGISTERs: the same Call-ID and From
// tag, and a CSeq that only grows.
type registration struct {
	mu      sync.Mutex
	callID  string
	fromTag string
	cseq    uint32
}

// Binding is what a registrar granted.
type Binding struct {
	Expires time.Duration
	Contact string
	// Contacts are all the bindings the registrar listed for the account (other devices too), ours
	// included, as they were before any stale binding of this phone was removed.
	Contacts []string
}

// Register registers the account on one server (or refreshes the registration) for expires. Each request
// may take at most reqTimeout; ctx bounds the whole attempt, challenge included.
func (a *Agent) Register(ctx context.Context, server int, expires, reqTimeout time.Duration) (Binding, error) {
	l, err := a.link(server)
	if err != nil {
		return Binding{}, err
	}
	l.reg.mu.Lock()
	defer l.reg.mu.Unlock()
	b, err := a.register(ctx, l, expires, reqTimeout)
	if err != nil {
		return Binding{}, fmt.Errorf("register on %s: %w", l.cfg.Name, err)
	}
	return b, nil
}

// Unregister removes the phone's binding from one server (REGISTER with Expires: 0).
func (a *Agent) Unregister(ctx context.Context, server int, reqTimeout time.Duration) error {
	l, err := a.link(server)
	if err != nil {
		return err
	}
	l.reg.mu.Lock()
	defer l.reg.mu.Unlock()
	if _, err := a.register(ctx, l, 0, reqTimeout); err != nil {
		return fmt.Errorf("unregister from %s: %w", l.cfg.Name, err)
	}
	return nil
}

func (a *Agent) register(ctx context.Context, l *serverLink, expires, reqTimeout time.Duration) (Binding, error) {
	if l.reg.callID == "" {
		l.reg.callID = sip.GenerateTagN(24) + "@stayline"
		l.reg.fromTag = sip.GenerateTagN(16)
		l.reg.cseq = uint32(rand.IntN(10000)) + 1
	}
	if l.cfg.Transport == config.TransportTLS { // the Contact names the connection: have it first
		cctx, cancel := context.WithTimeout(ctx, reqTimeout)
		err := a.ensureConnection(cctx, l)
		cancel()
		if err != nil {
			return Binding{}, err
		}
	}
	relearned := false // registered again once with the address the server sees (RFC 3581): never more
	for attempt := 0; ; attempt++ {
		req := a.newRegister(l, expires)
		res, err := a.send(ctx, l, req, reqTimeout)
		if err != nil {
			return Binding{}, err
		}
		if res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired {
			if a.learnAddress(l, res) || a.contactMoved(l, req) { // the answer registers where the server sees us
				relearned = true
				req.ReplaceHeader(a.registerContact(l, expires))
			}
			res, err = a.answerChallenge(ctx, l, req, res, reqTimeout)
			if err != nil {
				return Binding{}, err
			}
		}
		l.reg.cseq = req.CSeq().SeqNo
		switch {
		case res.IsSuccess() && (a.learnAddress(l, res) || a.contactMoved(l, req)) && expires > 0 && !relearned:
			relearned = true // bound at an address the server cannot reach: register the one it sees
			continue
		case res.IsSuccess():
			contact := req.Contact().Address // what this REGISTER bound
			if expires > 0 {
				a.removeStale(ctx, l, res, contact, reqTimeout)
			}
			return Binding{Expires: grantedExpires(res, contact, expires), Contact: contact.String(),
				Contacts: listedContacts(res)}, nil
		case res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired ||
			res.StatusCode == sip.StatusForbidden:
			return Binding{}, fmt.Errorf("%w: %w", ErrAuth, statusError(req.Method, res))
		case res.StatusCode == statusIntervalTooBrief && attempt == 0:
			if min := minExpires(res); min > expires {
				expires = min
				continue
			}
		}
		return Binding{}, statusError(req.Method, res)
	}
}

func (a *Agent) answerChallenge(ctx context.Context, l *serverLink, req *sip.Request, res *sip.Response,
	reqTimeout time.Duration) (*sip.Response, error) {
	rctx, cancel := context.WithTimeout(ctx, reqTimeout)
	defer cancel()
	if err := a.ensureConnection(rctx, l); err != nil {
		return nil, err
	}
	out, err := l.sipClient().DoDigestAuth(rctx, req, res, sipgo.DigestAuth{
		Username: a.opts.Account.User,
		Password: a.opts.Account.Password,
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("no answer within %s: %w", reqTimeout, err)
		}
		return nil, fmt.Errorf("answer the challenge: %w", err)
	}
	return out, nil
}

// send runs one client transaction to the server, bounded by reqTimeout.
func (a *Agent) send(ctx context.Context, l *serverLink, req *sip.Request, reqTimeout time.Duration) (*sip.Response, error) {
	rctx, cancel := context.WithTimeout(ctx, reqTimeout)
	defer cancel()
	if err := a.ensureConnection(rctx, l); err != nil {
		return nil, err
	}
	res, err := l.sipClient().Do(rctx, req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s: no answer within %s: %w", req.Method, reqTimeout, err)
		}
		return nil, fmt.Errorf("%s: %w", req.Method, err)
	}
	return res, nil
}

// ensureConnection makes sure a reliable server has its watched connection before a request goes out.
func (a *Agent) ensureConnection(ctx context.Context, l *serverLink) error {
	if !l.cfg.Transport.Reliable() {
		return nil
	}
	_, err := a.connection(ctx, l)
	return err
}

func (a *Agent) newRegister(l *serverLink, expires time.Duration) *sip.Request {
	acc := a.opts.Account
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: acc.Domain})
	a.address(req, l)
	aor := sip.Uri{Scheme: "sip", User: acc.User, Host: acc.Domain}
	from := &sip.FromHeader{DisplayName: acc.DisplayName, Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", l.reg.fromTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor})
	callID := sip.CallIDHeader(l.reg.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: l.reg.cseq + 1, MethodName: sip.REGISTER})
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxfwd)
	secs := int(expires / time.Second)
	req.AppendHeader(a.registerContact(l, expires))
	exp := sip.ExpiresHeader(secs)
	req.AppendHeader(&exp)
	req.AppendHeader(sip.NewHeader("Allow", allowedMethods))
	req.AppendHeader(sip.NewHeader("User-Agent", UserAgentName))
	req.SetBody(nil)
	return req
}

// registerContact is a REGISTER's Contact: the address the server reaches the phone at, for expires.
func (a *Agent) registerContact(l *serverLink, expires time.Duration) *sip.ContactHeader {
	contact := &sip.ContactHeader{Address: a.contactURI(l), Params: sip.NewParams()}
	contact.Params.Add("expires", strconv.Itoa(int(expires/time.Second)))
	contact.Params.Add(instanceParam, `"<`+a.opts.Instance+`>"`)
	return contact
}

// address points a request at the server over its transport.
func (a *Agent) address(req *sip.Request, l *serverLink) {
	req.SetDestination(l.cfg.HostPort())
	req.SetTransport(transportName(l.cfg.Transport))
}

func transportName(t config.Transport) string {
	switch t {
	case config.TransportTCP:
		return "TCP"
	case config.TransportTLS:
		return "TLS"
	}
	return "UDP"
}

// contactURI is where this server reaches the phone. Over TLS that is the phone's end of its connection
// to the server (the phone has no certificate to accept TLS connections with), so the server sends
// requests down the connection the phone opened.
// Behind a NAT it is the address the server sees the phone at (contactAddr, nat.go).
func (a *Agent) contactURI(l *serverLink) sip.Uri {
	host, port := a.contactAddr(l)
	u := sip.Uri{Scheme: "sip", User: a.opts.Account.User, Host: host, Port: port}
	if l.cfg.Transport != config.TransportUDP {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", string(l.cfg.Transport))
	}
	return u
}

// grantedExpires reads what the registrar granted for our contact, falling back to the Expires header and
// then to what was asked.
func grantedExpires(res *sip.Response, ours sip.Uri, asked time.Duration) time.Duration {
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok || c.Address.Host != ours.Host || c.Address.Port != ours.Port || c.Address.User != ours.User {
			continue
		}
		if v, ok := c.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	if h := res.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(h.Value()); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
	}
	return asked
}

// instanceParam is the Contact parameter that names the installation (RFC 5626 §4.1).
const instanceParam = "+sip.instance"

// removeStale takes away bindings that carry this installation's instance id but another contact: what
// a run that was killed (or lost its address) left behind. The registrar would otherwise keep ringing
// the dead contact until its binding expires. It is best effort: a failure is logged, the registration
// stands.
func (a *Agent) removeStale(ctx context.Context, l *serverLink, res *sip.Response, ours sip.Uri, reqTimeout time.Duration) {
	stale := staleContacts(res, ours, a.opts.Instance)
	if len(stale) == 0 {
		return
	}
	req := a.newRegister(l, 0)
	req.RemoveHeader("Contact")
	req.RemoveHeader("Expires")
	for _, u := range stale {
		c := &sip.ContactHeader{Address: u, Params: sip.NewParams()}
		c.Params.Add("expires", "0")
		req.AppendHeader(c)
	}
	out, err := a.send(ctx, l, req, reqTimeout)
	if err == nil && (out.StatusCode == sip.StatusUnauthorized || out.StatusCode == sip.StatusProxyAuthRequired) {
		out, err = a.answerChallenge(ctx, l, req, out, reqTimeout)
	}
	l.reg.cseq = max(l.reg.cseq, req.CSeq().SeqNo)
	if err == nil && !out.IsSuccess() {
		err = statusError(req.Method, out)
	}
	if err != nil {
		a.log.Warn("stale bindings of this phone left on the server", "server", l.cfg.Name, "count", len(stale), "error", err)
		return
	}
	a.log.Info("removed stale bindings of this phone", "server", l.cfg.Name, "count", len(stale))
}

// staleContacts lists the contacts of a REGISTER response that carry instance but are not ours.
func staleContacts(res *sip.Response, ours sip.Uri, instance string) []sip.Uri {
	var stale []sip.Uri
	for _, h := range res.GetHeaders("Contact") {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			continue
		}
		inst, _ := c.Params.Get(instanceParam)
		if strings.Trim(inst, `"<>`) != instance || sameContact(c.Address, ours) {
			continue
		}
		stale = append(stale, c.Address)
	}
	return stale
}

func listedContacts(res *sip.Response) []string {
	var all []string
	for _, h := range res.GetHeaders("Contact") {
		if c, ok := h.(*sip.ContactHeader); ok {
			all = append(all, c.Address.String())
		}
	}
	return all
}

func sameContact(a, b sip.Uri) bool {
	return a.User == b.User && a.Host == b.Host && a.Port == b.Port
}

func minExpires(res *sip.Response) time.Duration {
	if h := res.GetHeader("Min-Expires"); h != nil {
		if n, err := strconv.Atoi(h.Value()); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return 0
}
