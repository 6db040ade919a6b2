package phone

import (
	"context"
	"errors"
	"fmt"

	"github.com/emiago/sipgo/sip"
)

// Probe checks that a server is alive, within ctx's deadline: SIP OPTIONS on UDP, an RFC 5626 CRLF ping on
// the watched TCP/TLS connection (connecting first if needed). Any answer but 503 counts as alive.
func (a *Agent) Probe(ctx context.Context, server int) error {
	l, err := a.link(server)
	if err != nil {
		return err
	}
	if l.cfg.Transport.Reliable() {
		c, err := a.connection(ctx, l)
		if err != nil {
			return err
		}
		return c.ping(ctx)
	}
	req := a.newOptions(l)
	res, err := l.sipClient().Do(ctx, req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("keep-alive to %s: no answer: %w", l.cfg.Name, err)
		}
		return fmt.Errorf("keep-alive to %s: %w", l.cfg.Name, err)
	}
	if a.learnAddress(l, res) { // a NAT's mapping changed (nat.go): the Contact registered is stale
		a.notify(Event{Kind: EventAddressChanged, Server: l.index})
	}
	if res.StatusCode == sip.StatusServiceUnavailable {
		return fmt.Errorf("keep-alive to %s: %w", l.cfg.Name, statusError(req.Method, res))
	}
	return nil
}

func (a *Agent) newOptions(l *serverLink) *sip.Request {
	host, port, _ := sip.ParseAddr(l.cfg.HostPort())
	target := sip.Uri{Scheme: "sip", Host: host, Port: port}
	req := sip.NewRequest(sip.OPTIONS, target)
	a.address(req, l)
	acc := a.opts.Account
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: acc.User, Host: acc.Domain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: target})
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxfwd)
	req.AppendHeader(sip.NewHeader("User-Agent", UserAgentName))
	req.SetBody(nil)
	return req
}
