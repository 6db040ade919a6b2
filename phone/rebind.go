package phone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"stayline/audio"
)

// When the phone's own network changes (docs/ARCHITECTURE.md, "When the phone's own network changes"):
// an address it used is gone, or a new route makes another address the one that reaches a server (Wi-Fi
// to Ethernet, a VPN up or down, a DHCP renewal). Rebind finds each server link's address afresh; a link
// whose address changed gets a new sipgo client (its Via names the new address), forgets what a NAT made of
// the old one (nat.go), drops its TCP/TLS connection (it was bound to the old address; the next request
// dials from the new one), and every call through it is offered again by a re-INVITE whose SDP names the
// new address, so the far end sends its media there. The call's RTP socket is bound to every address
// (mediaBindIP), so it needs no new socket: only the SDP changes. Registering again is the failover
// manager's part (failover/network.go): it knows which servers the phone held.

// localIP is the phone's address toward the link's server: the host of its Via, Contact and SDP.
func (l *serverLink) localIP() string {
	l.addrMu.RLock()
	defer l.addrMu.RUnlock()
	return l.local
}

// sipClient is the link's sipgo client (its Via names localIP).
func (l *serverLink) sipClient() *sipgo.Client {
	l.addrMu.RLock()
	defer l.addrMu.RUnlock()
	return l.client
}

// mediaBindIP is the address a call's RTP socket binds on the link: every address when the phone listens
// on every address, so the socket outlives a change of the phone's own address; else the listen address.
func (a *Agent) mediaBindIP(l *serverLink) string {
	if a.listenIP == nil {
		return ""
	}
	return l.localIP()
}

// Moved is one server link whose local address changed.
type Moved struct {
	Server   int
	From, To string
}

// Rebound is what Rebind did.
type Rebound struct {
	Moved []Moved // links whose address changed
	Calls int     // calls being offered again with the new address
	// Unreachable names the servers no local address routes to now (their link keeps its old address).
	Unreachable []int
}

// Rebind looks again at the local address that reaches each server and moves the links and calls whose
// address changed (see above). It returns at once; the calls' re-INVITEs go on in the background. A phone
// listening on one configured address has nothing to move.
func (a *Agent) Rebind(ctx context.Context) (Rebound, error) {
	var out Rebound
	if a.listenIP != nil {
		return out, nil
	}
	moved := map[*serverLink]bool{}
	natted := map[*serverLink]bool{} // the server saw the phone behind a NAT before the move
	var errs []error
	for _, l := range a.servers {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		now, err := a.routeTo(ctx, l)
		if err != nil {
			out.Unreachable = append(out.Unreachable, l.index)
			errs = append(errs, err)
			continue
		}
		old := l.localIP()
		if now == old {
			continue
		}
		if h, _ := l.nat.get(); h != "" {
			natted[l] = true
		}
		client, err := a.clientFor(l.cfg, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l.addrMu.Lock()
		l.local, l.client = now, client
		l.addrMu.Unlock()
		a.forgetAddress(l)
		if l.cfg.Transport.Reliable() {
			l.conn.close() // bound to the old address: quietly gone, the next request dials anew
		}
		moved[l] = true
		out.Moved = append(out.Moved, Moved{Server: l.index, From: old, To: now})
		a.log.Info("the phone's address toward the server changed", "server", l.cfg.Name, "from", old, "to", now)
	}
	for _, c := range a.liveCalls() {
		if !moved[c.link] {
			continue
		}
		out.Calls++
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if natted[c.link] {
				a.awaitAddress(c)
			}
			if err := a.moveCall(c); err != nil {
				a.log.Warn("call not moved to the new address", "call", c.id, "error", err)
			}
		}()
	}
	if len(out.Moved) == 0 && len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// routeTo is localIPFor within ctx (a server named by a host name is looked up again: the new network
// may have another DNS).
func (a *Agent) routeTo(ctx context.Context, l *serverLink) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", l.cfg.HostPort())
	if err != nil {
		return "", fmt.Errorf("server %s: no route to %s: %w", l.cfg.Name, l.cfg.HostPort(), err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// liveCalls are the calls in talk (active or held): an established dialog a re-INVITE may go in. A call
// still ringing, or playing early media, is not moved (RFC 3311's UPDATE in the early dialog would be the
// way; the phone does not send one).
func (a *Agent) liveCalls() []*call {
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	var out []*call
	for _, c := range a.calls {
		c.mu.Lock()
		if c.dlg != nil && (c.state == CallActive || c.state == CallHeld) && c.media != nil {
			out = append(out, c)
		}
		c.mu.Unlock()
	}
	return out
}

// natWait bounds how long a call's move waits for the server to say again where it sees the phone.
const natWait = 3 * time.Second

// awaitAddress waits, up to natWait, until the call's server has said where it sees the phone from its new
// address (the re-REGISTER the move brings: RFC 3581's received/rport), so that the call behind a NAT is
// offered the public address and not the new private one. A new network without a NAT says nothing: the
// call then moves with its own address after the wait.
func (a *Agent) awaitAddress(c *call) {
	deadline := time.Now().Add(natWait)
	for time.Now().Before(deadline) {
		if h, _ := c.link.nat.get(); h != "" {
			return
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-c.done:
			return
		case <-a.ctx.Done():
			return
		}
	}
}

// moveCall offers the call's session again with the link's new address (a re-INVITE, RFC 3264 §8: same
// codec and key, a new o= version and c= line). An offer of ours or the far end's still open is waited
// out (up to moveWait); a 491 is answered by one more try after RFC 3261's wait.
func (a *Agent) moveCall(c *call) error {
	deadline := time.Now().Add(moveWait)
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		if c.dlg == nil || c.state == CallEnded {
			c.mu.Unlock()
			return nil
		}
		if c.sdp.pending {
			c.mu.Unlock()
			if time.Now().After(deadline) {
				return errors.New("an offer stayed open")
			}
			select {
			case <-time.After(50 * time.Millisecond):
				continue
			case <-c.done:
				return nil
			case <-a.ctx.Done():
				return a.ctx.Err()
			}
		}
		c.media.public = nil // STUN's word was about the old address
		dir := SendRecv
		if c.sdp.held {
			dir = SendOnly
		}
		ip, port := c.mediaAddr()
		c.sdp.version++
		body, err := c.sdp.describe(ip, port, dir)
		c.sdp.pending = err == nil
		dlg, interval := c.dlg, c.st.interval
		c.mu.Unlock()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(a.ctx, 2*a.requestTimeout()+time.Second)
		if cerr := a.ensureConnection(ctx, c.link); cerr != nil { // TCP/TLS: the old one went with the address
			a.log.Info("no connection to the server for the call's move yet", "call", c.id, "error", cerr)
		}
		inv, res, err := a.sendInDialog(ctx, c.link, dlg, sip.INVITE, func(r *sip.Request) {
			if interval > 0 {
				a.askSessionTimer(r, interval, "uac")
			}
			r.AppendHeader(sip.NewHeader("Supported", supportedOptions))
			r.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			r.SetBody(body)
		})
		cancel()
		if err == nil && res.StatusCode == sip.StatusRequestPending && attempt == 0 {
			c.mu.Lock()
			c.sdp.withdraw(c.sdp.held)
			c.mu.Unlock()
			select {
			case <-time.After(c.glareWait()):
				continue
			case <-c.done:
				return nil
			}
		}
		c.settleRefreshOffer(dlg, inv, res, err)
		switch {
		case err != nil:
			return err
		case !res.IsSuccess():
			return fmt.Errorf("re-INVITE answered %d %s", res.StatusCode, res.Reason)
		}
		c.mu.Lock()
		c.sdp.pending = false
		c.mu.Unlock()
		c.takeSessionTimer(res, false)
		// Packets the far end sent before the move may still wait for the media's next tick: they come
		// from the old path and would latch it again, so the latch is forgotten once they are taken.
		time.AfterFunc(relearnAfter, c.media.relearn)
		a.log.Info("call moved to the new address", "call", c.id, "media", net.JoinHostPort(ip, fmt.Sprint(port)))
		return nil
	}
}

// relearnAfter is a few media ticks: what arrived before the move has been taken by then.
const relearnAfter = 3 * audio.FrameDurationMs * time.Millisecond

// moveWait bounds how long a call's move waits for an offer already open in its dialog.
const moveWait = 5 * time.Second

// relearn forgets where the far end's RTP came from (acceptFrom): with the phone's address, the far end's
// route to it, and so the source it sends from, may have changed too (its other interface).
func (m *media) relearn() {
	m.mu.Lock()
	m.learned, m.fromSDP = nil, false
	m.mu.Unlock()
}
