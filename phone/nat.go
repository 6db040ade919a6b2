package phone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/stun/v3"

	"stayline/config"
)

// The address the phone is reachable at (docs/ARCHITECTURE.md, "NAT"). Behind a NAT the phone's own
// address is not where a server or a far end can reach it. Two sources say what is:
//
//   - the registrar's own word (RFC 3581): every request carries rport, and the top Via of a response says
//     where the request came from (received, rport). When that differs from the Contact, the Contact takes
//     it (register.go registers again once with it; a keep-alive that sees it change reports
//     EventAddressChanged, and the manager registers again at once). The SDP takes its host when STUN has
//     nothing better.
//   - STUN (RFC 5389/8489, [nat] stun): each call's RTP socket asks the server once, before its first
//     description, where its packets come from; the answer is the call's media address. A server that
//     does not answer in stunWait, or answers garbage, is left alone for stunQuiet, and calls carry on
//     with the registrar's word.
//
// contactAddr and mediaAddr are the one place these are read; forgetAddress clears them (the phone's own
// address changed, so what a NAT made of the old one is void).

// natView is what one server says of the phone's address: where the phone's requests came from as it saw
// them, when that is not the phone's own address. Empty: the phone's own address is the reachable one.
type natView struct {
	mu     sync.Mutex
	host   string
	port   int
	warned bool // a Via that said nothing usable was logged (once a link)
}

// warnOnce reports whether this is the first unusable Via of the link.
func (v *natView) warnOnce() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	first := !v.warned
	v.warned = true
	return first
}

func (v *natView) get() (string, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.host, v.port
}

func (v *natView) set(host string, port int) {
	v.mu.Lock()
	v.host, v.port = host, port
	v.mu.Unlock()
}

// contactAddr is where the server reaches the phone: what it said it sees (RFC 3581), else the phone's
// own address on the link (over TLS the phone's end of its connection, since the phone accepts no TLS
// connections).
func (a *Agent) contactAddr(l *serverLink) (host string, port int) {
	if h, p := l.nat.get(); h != "" {
		return h, p
	}
	return l.localIP(), a.localPort(l)
}

// localPort is the phone's own port toward the server: the listening port, or over TLS its end of the
// connection.
func (a *Agent) localPort(l *serverLink) int {
	if l.cfg.Transport == config.TransportTLS {
		if c := l.conn.get(); c != nil {
			if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
				return ta.Port
			}
		}
	}
	return a.port
}

// mediaAddr is the address a call's SDP gives for its media m on the server's link: the STUN answer for
// m's socket, else the host the registrar sees the phone at (a NAT keeps the port of a socket that sends
// first as a rule, and symmetric RTP covers the rest), else the phone's own address.
func (a *Agent) mediaAddr(l *serverLink, m *media) (ip string, port int) {
	if m.public != nil {
		return m.public.IP.String(), m.public.Port
	}
	if h, _ := l.nat.get(); h != "" {
		return h, m.Port()
	}
	return l.localIP(), m.Port()
}

// mediaAddr is the call's media address for its SDP (Agent.mediaAddr).
func (c *call) mediaAddr() (string, int) { return c.a.mediaAddr(c.link, c.media) }

// forgetAddress drops what the server said of the phone's address and what STUN said of its media: the
// phone's own address on the link changed (a new network), so the next REGISTER and the next call learn
// them afresh. For the network watcher.
func (a *Agent) forgetAddress(l *serverLink) {
	l.nat.set("", 0)
	a.stun.reset()
}

// viaAddress reads where the server saw a request come from, from the top Via of its response: received
// (else the Via's own host) and rport (else the Via's port). ok is false when the Via says nothing usable:
// a received that is not an IP address, or an rport out of range, make the whole word void.
func viaAddress(res *sip.Response) (host string, port int, received bool, ok bool) {
	via := res.Via()
	if via == nil {
		return "", 0, false, false
	}
	host, port = via.Host, via.Port
	if port == 0 {
		port = 5060
	}
	if r, has := via.Params.Get("received"); has {
		ip := net.ParseIP(r)
		if ip == nil || ip.IsUnspecified() || ip.IsMulticast() {
			return "", 0, false, false
		}
		host, received = ip.String(), true
	}
	if rp, has := via.Params.Get("rport"); has && rp != "" {
		n, err := strconv.Atoi(rp)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, false, false
		}
		port = n
	}
	return host, port, received, true
}

// learnAddress takes the server's word on the phone's address from a response to a request sent on the
// link; it reports whether the Contact changed. Over TCP and TLS the port the server saw is a connection's
// and always differs from the listening port: only a received address (the server saw another host, so a
// NAT is between) counts there, and the server then reaches the phone down that connection.
func (a *Agent) learnAddress(l *serverLink, res *sip.Response) bool {
	host, port, received, ok := viaAddress(res)
	if !ok {
		if res.Via() != nil && l.nat.warnOnce() {
			a.log.Warn("the server's Via says nothing usable about the phone's address: ignored (logged once)",
				"server", l.cfg.Name, "via", res.Via().Value())
		}
		return false
	}
	if l.cfg.Transport.Reliable() && !received {
		host, port = "", 0
	} else if host == l.localIP() && port == a.localPort(l) {
		host, port = "", 0 // no NAT between: the phone's own address
	} else if port == a.localPort(l) && ownAddress(host) {
		host, port = "", 0 // another address of this machine's (the network is moving): no NAT either
	}
	oldHost, oldPort := l.nat.get()
	if host == oldHost && port == oldPort {
		return false
	}
	l.nat.set(host, port)
	if host == "" {
		a.log.Info("the server sees the phone at its own address again", "server", l.cfg.Name)
	} else {
		a.log.Info("the server sees the phone at another address (NAT): using it in Contact", "server", l.cfg.Name,
			"seen", net.JoinHostPort(host, strconv.Itoa(port)), "local", net.JoinHostPort(l.localIP(), strconv.Itoa(a.localPort(l))))
	}
	return true
}

// ownAddress reports whether host is one of this machine's own addresses.
func ownAddress(host string) bool {
	ip := net.ParseIP(host)
	addrs, err := net.InterfaceAddrs()
	if ip == nil || err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// contactMoved says whether req's Contact is no longer where the server reaches the phone: the address
// was learned (a keep-alive's answer) while req was on its way.
func (a *Agent) contactMoved(l *serverLink, req *sip.Request) bool {
	c := req.Contact()
	return c != nil && !sameContact(c.Address, a.contactURI(l))
}

// Reach is where one server and the far ends of calls through it reach the phone.
type Reach struct {
	// Contact is the Contact the phone registers on the server (sip:user@host:port).
	Contact string
	// Media is the public media address (host, or host:port from STUN) when known: STUN's latest answer,
	// else the host the server sees the phone at; "" when the phone's own address is the one.
	Media string
}

// Reachable says where server reaches the phone.
func (a *Agent) Reachable(server int) Reach {
	l, err := a.link(server)
	if err != nil {
		return Reach{}
	}
	u := a.contactURI(l)
	r := Reach{Contact: u.String()}
	if m := a.stun.latest(); m != nil {
		r.Media = m.String()
	} else if h, _ := l.nat.get(); h != "" {
		r.Media = h
	}
	return r
}

// stunWait bounds the wait for a STUN answer: the request goes at once and again after stunRetry, then
// twice that; the call carries on without an answer at stunWait. A server that gave none is not asked
// again for stunQuiet, so calls do not each wait for it.
const (
	stunWait  = 500 * time.Millisecond
	stunRetry = 100 * time.Millisecond
	stunQuiet = time.Minute
)

// stunState is the agent's memory of its STUN server: the latest mapped address and whether it is quiet.
type stunState struct {
	mu          sync.Mutex
	mapped      *net.UDPAddr
	quietUntil  time.Time
	now         func() time.Time // nil: time.Now (tests inject a clock)
	wait, retry time.Duration    // 0: stunWait, stunRetry
}

func (s *stunState) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *stunState) latest() *net.UDPAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mapped
}

func (s *stunState) reset() {
	s.mu.Lock()
	s.mapped, s.quietUntil = nil, time.Time{}
	s.mu.Unlock()
}

// openCallMedia opens a call's RTP/RTCP ports for the link (on mediaBindIP, rebind.go) and, with a STUN
// server configured, learns the RTP socket's public address (mediaAddr).
func (a *Agent) openCallMedia(l *serverLink) (*media, error) {
	m, err := openMedia(a.mediaBindIP(l), a.log)
	if err != nil {
		return nil, err
	}
	if a.opts.STUN != "" {
		m.public = a.stunMap(m.rtpConn)
	}
	return m, nil
}

// stunMap asks the STUN server where c's packets come from; nil when it is quiet, does not answer in
// time or answers nothing usable (logged), so the call carries on without.
func (a *Agent) stunMap(c *net.UDPConn) *net.UDPAddr {
	s := &a.stun
	s.mu.Lock()
	quiet := s.clock().Before(s.quietUntil)
	wait, retry := s.wait, s.retry
	s.mu.Unlock()
	if quiet {
		return nil
	}
	if wait == 0 {
		wait, retry = stunWait, stunRetry
	}
	mapped, err := stunQuery(a.ctx, c, a.opts.STUN, wait, retry)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.quietUntil = s.clock().Add(stunQuiet)
		a.log.Warn("STUN server gave no usable answer: media uses the address the server sees", "stun", a.opts.STUN,
			"error", err, "again_in", stunQuiet)
		return nil
	}
	s.mapped = mapped
	return mapped
}

// errNoSTUNAnswer: the STUN server did not answer within the wait (or answered only what could not be read).
var errNoSTUNAnswer = errors.New("no STUN answer")

// stunQuery sends a Binding request from c to server and returns the mapped address of its answer,
// waiting at most wait (resending after retry, then twice that). Packets that are not the answer (garbage,
// another transaction, another sender) are passed over. c's read deadline is cleared after.
func stunQuery(ctx context.Context, c *net.UDPConn, server string, wait, retry time.Duration) (*net.UDPAddr, error) {
	start := time.Now()
	end := start.Add(wait)
	rctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	dst, err := resolveUDP(rctx, server)
	if err != nil {
		return nil, err
	}
	req, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if err != nil {
		return nil, fmt.Errorf("STUN request: %w", err)
	}
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 1500)
	next, gap := start, retry
	unreadable := 0
	for {
		now := time.Now()
		if !now.Before(end) {
			if unreadable > 0 {
				return nil, fmt.Errorf("%w in %s (%d unreadable answers from %s)", errNoSTUNAnswer, wait, unreadable, dst)
			}
			return nil, fmt.Errorf("%w from %s in %s", errNoSTUNAnswer, dst, wait)
		}
		if !now.Before(next) {
			if _, err := c.WriteToUDP(req.Raw, dst); err != nil {
				return nil, fmt.Errorf("STUN request to %s: %w", dst, err)
			}
			next, gap = now.Add(gap), 2*gap
		}
		c.SetReadDeadline(minTime(next, end))
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return nil, fmt.Errorf("STUN answer: %w", err)
		}
		if !from.IP.Equal(dst.IP) || from.Port != dst.Port {
			continue
		}
		mapped, ok := stunAnswer(buf[:n], req.TransactionID)
		if !ok {
			unreadable++
			continue
		}
		return mapped, nil
	}
}

// stunAnswer reads a Binding success answer to transaction id: its XOR-MAPPED-ADDRESS, else its
// MAPPED-ADDRESS (RFC 3489 servers). ok is false for anything else.
func stunAnswer(b []byte, id [stun.TransactionIDSize]byte) (*net.UDPAddr, bool) {
	if !stun.IsMessage(b) {
		return nil, false
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil || m.TransactionID != id || m.Type != stun.BindingSuccess {
		return nil, false
	}
	var ip net.IP
	var port int
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(m); err == nil {
		ip, port = xor.IP, xor.Port
	} else {
		var plain stun.MappedAddress
		if err := plain.GetFrom(m); err != nil {
			return nil, false
		}
		ip, port = plain.IP, plain.Port
	}
	if ip == nil || ip.IsUnspecified() || ip.IsMulticast() || port < 1 || port > 65535 {
		return nil, false
	}
	return &net.UDPAddr{IP: ip, Port: port}, true
}

// resolveUDP resolves host:port within ctx.
func resolveUDP(ctx context.Context, hostport string) (*net.UDPAddr, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("STUN server %q: %w", hostport, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("STUN server %q: bad port", hostport)
	}
	if ip := net.ParseIP(host); ip != nil {
		return &net.UDPAddr{IP: ip, Port: port}, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("STUN server %q: %w", hostport, err)
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return &net.UDPAddr{IP: a.IP, Port: port}, nil
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("STUN server %q: no address", hostport)
	}
	return &net.UDPAddr{IP: addrs[0].IP, Port: port}, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
