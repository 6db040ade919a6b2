package lab

// The lab's echo test (600): a small SIP user agent that answers every call and sends each RTP packet
// back where it came from. It answers every request where RFC 3261 says (sipgo's server transactions
// respond to the request's source and its top Via's port, or its rport), so when the proxy that began a
// dialog dies and a re-INVITE comes through another proxy, the answer goes back through that proxy. SIPp,
// which it replaces, answered to the address the dialog began from.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// DefaultEchoMaxCall is how long an echo call lasts at most before the echo hangs up.
const DefaultEchoMaxCall = 10 * time.Minute

// echoAllow is what the echo answers to (its Allow header).
const echoAllow = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"

var (
	errEchoCallTooLong = errors.New("the call reached its maximum duration")
	errEchoNoAck       = errors.New("no ACK for the 200 OK")
	errEchoHungUp      = errors.New("the caller hung up")
	errEchoShutdown    = errors.New("the echo test stopped")
)

// EchoOptions tune the echo test.
type EchoOptions struct {
	// MaxCall is how long a call lasts before the echo hangs up (BYE); 0 is DefaultEchoMaxCall.
	MaxCall time.Duration
	// Logger gets a line per request and per call; nil discards them.
	Logger *slog.Logger
	// OnRTP, when set, is told the arrival time of every RTP packet the echo receives (the bench's
	// side-by-side pacing measure); it must be quick.
	OnRTP func(at time.Time)
}

// Echo is the lab's echo test: a SIP user agent on UDP and TCP that answers every INVITE and echoes the
// call's RTP, like SIPp's -rtp_echo. Make one with ListenEcho, run it with Serve.
type Echo struct {
	opts   EchoOptions
	log    *slog.Logger
	ip     net.IP
	port   int
	udp    *net.UDPConn
	tcp    net.Listener
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client

	ctx    context.Context // ends when Serve ends
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	calls   map[string]*echoCall
	closed  bool
	served  bool
	running sync.WaitGroup // request handlers and calls
}

// ListenEcho binds the echo test's SIP ports, UDP and TCP, on addr (host:port; port 0 picks one).
func ListenEcho(addr string, opts EchoOptions) (*Echo, error) {
	if opts.MaxCall <= 0 {
		opts.MaxCall = DefaultEchoMaxCall
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	uaddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	udp, err := net.ListenUDP("udp", uaddr)
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	bound := udp.LocalAddr().(*net.UDPAddr)
	tcp, err := net.Listen("tcp", bound.String())
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("echo: %w", err)
	}
	ip := bound.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("stayline-lab echo"), sipgo.WithUserAgentHostname(ip.String()),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				log.Debug("late response", "response", r.StartLine())
			})))
	if err != nil {
		udp.Close()
		tcp.Close()
		return nil, err
	}
	srv, _ := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	client, _ := sipgo.NewClient(ua, sipgo.WithClientLogger(log))
	ctx, cancel := context.WithCancelCause(context.Background())
	e := &Echo{opts: opts, log: log, ip: ip, port: bound.Port, udp: udp, tcp: tcp, ua: ua, srv: srv,
		client: client, ctx: ctx, cancel: cancel, calls: map[string]*echoCall{}}
	srv.OnInvite(e.handle(e.onInvite))
	srv.OnAck(e.handle(e.onAck))
	srv.OnBye(e.handle(e.onBye))
	srv.OnCancel(e.handle(e.onCancel))
	srv.OnOptions(e.handle(e.onOptions))
	srv.OnUpdate(e.handle(e.onUpdate))
	srv.OnInfo(e.handle(e.onInfo))
	srv.OnNoRoute(e.handle(e.onOther))
	return e, nil
}

// RunEcho runs the echo test on addr until ctx ends.
func RunEcho(ctx context.Context, addr string, opts EchoOptions) error {
	e, err := ListenEcho(addr, opts)
	if err != nil {
		return err
	}
	return e.Serve(ctx)
}

// Addr is the echo test's SIP address (host:port), for ServerOptions.EchoAddr.
func (e *Echo) Addr() string { return net.JoinHostPort(e.ip.String(), strconv.Itoa(e.port)) }

// Calls is the number of calls in progress.
func (e *Echo) Calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}

// Serve answers calls until ctx ends (or a listener fails), then ends every call without a BYE, closes
// its ports and returns once all its goroutines are done. It serves once.
func (e *Echo) Serve(ctx context.Context) error {
	e.mu.Lock()
	if e.served {
		e.mu.Unlock()
		return errors.New("echo: Serve called twice")
	}
	e.served = true
	e.mu.Unlock()
	errc := make(chan error, 2)
	go func() { errc <- e.srv.ServeUDP(e.udp) }()
	go func() { errc <- e.srv.ServeTCP(e.tcp) }()
	e.log.Info("echo test listening", "addr", e.Addr(), "transports", "udp,tcp")
	var err error
	listening := 2
	select {
	case <-ctx.Done():
	case err = <-errc:
		listening--
		err = fmt.Errorf("echo: %w", err)
	}
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel(errEchoShutdown) // ends every call
	e.udp.Close()
	e.tcp.Close()
	for ; listening > 0; listening-- {
		<-errc
	}
	e.running.Wait()
	e.ua.Close()
	e.log.Info("echo test stopped")
	return err
}

// handle runs a request handler, counted so that Serve waits for it; once the echo stops it answers 503.
func (e *Echo) handle(h func(*sip.Request, sip.ServerTransaction)) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		e.mu.Lock()
		closed := e.closed
		if !closed {
			e.running.Add(1)
		}
		e.mu.Unlock()
		if closed {
			if !req.IsAck() {
				e.respond(req, tx, 503, "Service Unavailable", nil)
			}
			return
		}
		defer e.running.Done()
		e.log.Debug("request", "method", req.Method, "from", req.Source(), "call-id", callID(req))
		h(req, tx)
	}
}

// respond answers req with code and an optional SDP body.
func (e *Echo) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, body []byte, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	appendHeaders(res, hdrs...)
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if err := tx.Respond(res); err != nil {
		e.log.Info("respond failed", "method", req.Method, "code", code, "error", err)
	}
}

func (e *Echo) contact(req *sip.Request) *sip.ContactHeader {
	c := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "echo", Host: e.ip.String(), Port: e.port}}
	if t := strings.ToLower(req.Transport()); t != "udp" {
		c.Address.UriParams = sip.NewParams()
		c.Address.UriParams.Add("transport", t)
	}
	return c
}

func appendHeaders(m interface{ AppendHeader(sip.Header) }, hs ...sip.Header) {
	for _, h := range hs {
		m.AppendHeader(h)
	}
}

func allowHeader() sip.Header { return sip.NewHeader("Allow", echoAllow) }

// lookup finds the dialog a request belongs to (nil: none).
func (e *Echo) lookup(req *sip.Request) *echoCall {
	from, to := req.From(), req.To()
	if from == nil || to == nil || req.CallID() == nil {
		return nil
	}
	ours, _ := to.Params.Get("tag")
	theirs, _ := from.Params.Get("tag")
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[dialogKey(req.CallID().Value(), ours, theirs)]
}

func dialogKey(callID, ourTag, theirTag string) string {
	return callID + "\x00" + ourTag + "\x00" + theirTag
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

func inDialog(req *sip.Request) bool {
	to := req.To()
	return to != nil && to.Params.Has("tag")
}

func (e *Echo) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if inDialog(req) {
		e.onReinvite(req, tx)
		return
	}
	if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil || req.Contact() == nil {
		e.respond(req, tx, 400, "Bad Request", nil)
		return
	}
	e.respond(req, tx, 100, "Trying", nil)
	m, err := openEchoMedia(e.ip)
	if err == nil {
		m.onRTP = e.opts.OnRTP
	}
	if err != nil {
		e.log.Warn("no media port", "error", err)
		e.respond(req, tx, 500, "Server Internal Error", nil)
		return
	}
	c := &echoCall{e: e, invite: req, media: m, target: req.Contact().Address, remoteCSeq: req.CSeq().SeqNo,
		sessionID: rand.Uint64N(1 << 62)}
	body, code, reason := c.answer(req.Body())
	if code != 200 {
		m.close()
		e.respond(req, tx, code, reason, nil, allowHeader())
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	appendHeaders(res, e.contact(req), allowHeader(), sip.NewHeader("Content-Type", "application/sdp"))
	c.ourTag, _ = res.To().Params.Get("tag")
	theirTag, _ := req.From().Params.Get("tag")
	c.key = dialogKey(req.CallID().Value(), c.ourTag, theirTag)
	c.log = e.log.With("call-id", req.CallID().Value())

	ctx, stop := context.WithTimeoutCause(e.ctx, e.opts.MaxCall, errEchoCallTooLong)
	c.ctx, c.end = context.WithCancelCause(ctx)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		stop()
		m.close()
		e.respond(req, tx, 503, "Service Unavailable", nil)
		return
	}
	e.calls[c.key] = c
	e.running.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.running.Done()
		defer stop()
		c.run()
	}()
	c.log.Info("call answered", "from", req.From().Address.String(), "via", req.Source(), "media", m.addr())
	if err := c.answerAndWaitAck(req, tx, res); err != nil {
		c.stop(err)
	}
}

func (e *Echo) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := e.dialogOf(req, tx, true)
	if c == nil {
		return
	}
	body, code, reason := c.answer(req.Body())
	if code != 200 {
		e.respond(req, tx, code, reason, nil, allowHeader())
		return
	}
	if ct := req.Contact(); ct != nil { // a target refresh
		c.mu.Lock()
		c.target = ct.Address
		c.mu.Unlock()
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	appendHeaders(res, e.contact(req), allowHeader(), sip.NewHeader("Content-Type", "application/sdp"))
	c.log.Info("re-INVITE answered", "via", req.Source(), "media", c.direction())
	if err := c.answerAndWaitAck(req, tx, res); err != nil {
		c.log.Info("re-INVITE", "error", err)
	}
}

// dialogOf is the call an in-dialog request belongs to, or nil once the request was answered 481 (no such
// dialog) or, when inOrder is asked, 500 with Retry-After (a CSeq out of order, RFC 3261 §12.2.2).
func (e *Echo) dialogOf(req *sip.Request, tx sip.ServerTransaction, inOrder bool) *echoCall {
	c := e.lookup(req)
	if c == nil {
		e.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
		return nil
	}
	if inOrder && !c.inOrder(req) {
		e.respond(req, tx, 500, "Server Internal Error", nil, sip.NewHeader("Retry-After", "1"))
		return nil
	}
	return c
}

func (e *Echo) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := e.lookup(req)
	if c == nil || req.CSeq() == nil {
		return
	}
	c.acked(req)
}

func (e *Echo) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := e.dialogOf(req, tx, false)
	if c == nil {
		return
	}
	c.stop(errEchoHungUp) // before the 200: the dialog is gone for whatever follows it
	c.log.Info("BYE", "via", req.Source())
	e.respond(req, tx, 200, "OK", nil)
}

// onCancel gets only CANCELs that match no INVITE transaction: sipgo's transaction layer answers the
// others (200, then 487 to the INVITE if it has no final answer yet).
func (e *Echo) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	e.respond(req, tx, 481, "Call/Transaction Does Not Exist", nil)
}

func (e *Echo) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	e.respond(req, tx, 200, "OK", nil, allowHeader(), sip.NewHeader("Accept", "application/sdp"))
}

// onUpdate answers an UPDATE in a dialog, with an SDP answer if it carried an offer.
func (e *Echo) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := e.dialogOf(req, tx, true)
	if c == nil {
		return
	}
	if len(req.Body()) == 0 {
		e.respond(req, tx, 200, "OK", nil, e.contact(req))
		return
	}
	body, code, reason := c.answer(req.Body())
	if code != 200 {
		e.respond(req, tx, code, reason, nil)
		return
	}
	e.respond(req, tx, 200, "OK", body, e.contact(req))
}

func (e *Echo) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := e.dialogOf(req, tx, false)
	if c == nil {
		return
	}
	c.inOrder(req)
	e.respond(req, tx, 200, "OK", nil)
}

// onOther answers every other method: not allowed, saying what is.
func (e *Echo) onOther(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	e.respond(req, tx, 405, "Method Not Allowed", nil, allowHeader())
}

// echoCall is one call: its dialog, its SDP state and its media.
type echoCall struct {
	e         *Echo
	log       *slog.Logger
	key       string
	invite    *sip.Request // the INVITE that began the dialog
	ourTag    string
	media     *echoMedia
	sessionID uint64
	ctx       context.Context // ends with the call; its cause says why
	end       context.CancelCauseFunc

	mu         sync.Mutex
	target     sip.Uri // the caller's Contact
	remoteCSeq uint32
	localCSeq  uint32
	version    uint64
	lastSDP    []byte // the last description sent
	ackCSeq    uint32
	ack        chan struct{} // closed by the ACK of the INVITE with CSeq ackCSeq
}

// run echoes the call's media until it ends, then hangs up if the echo ended it.
func (c *echoCall) run() {
	c.media.run()
	<-c.ctx.Done()
	c.media.close()
	c.forget()
	cause := context.Cause(c.ctx)
	rx, tx := c.media.counts()
	c.log.Info("call ended", "reason", cause.Error(), "rtp_received", rx, "rtp_echoed", tx)
	if errors.Is(cause, errEchoCallTooLong) || errors.Is(cause, errEchoNoAck) {
		c.bye()
	}
}

// stop ends the call for cause: at once for the requests that follow, its media and BYE (run) after.
func (c *echoCall) stop(cause error) {
	c.forget()
	c.end(cause)
}

func (c *echoCall) forget() {
	c.e.mu.Lock()
	delete(c.e.calls, c.key)
	c.e.mu.Unlock()
}

// inOrder checks a request's CSeq against the dialog's (RFC 3261 §12.2.2) and remembers it.
func (c *echoCall) inOrder(req *sip.Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := req.CSeq().SeqNo
	if n < c.remoteCSeq {
		return false
	}
	c.remoteCSeq = n
	return true
}

// answerAndWaitAck sends a 2xx to an INVITE and, as its transaction user must (RFC 3261 §13.3.1.4),
// sends it again until the ACK comes or 64*T1 pass (errEchoNoAck), or the call ends.
func (c *echoCall) answerAndWaitAck(req *sip.Request, tx sip.ServerTransaction, res *sip.Response) error {
	ack := make(chan struct{})
	c.mu.Lock()
	if c.ack != nil { // a new INVITE: the caller has acknowledged the one before (RFC 3261 §14.1)
		close(c.ack)
	}
	c.ackCSeq, c.ack = req.CSeq().SeqNo, ack
	c.mu.Unlock()
	if err := tx.Respond(res); err != nil { // cancelled meanwhile, or the transport failed
		return fmt.Errorf("200 OK not sent: %w", err)
	}
	interval := sip.T1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	for {
		select {
		case <-ack:
			return nil
		case r := <-tx.Acks(): // an ACK that matched the INVITE's own transaction
			c.acked(r)
			return nil
		case <-retransmit.C:
			if err := tx.Respond(res); err != nil {
				c.log.Info("200 OK retransmission failed", "error", err)
			}
			interval = min(2*interval, sip.T2)
			retransmit.Reset(interval)
		case <-giveUp.C:
			return fmt.Errorf("%w (CSeq %d)", errEchoNoAck, req.CSeq().SeqNo)
		case <-c.ctx.Done():
			return nil
		}
	}
}

// acked takes an ACK: it stops the 200's retransmissions and, after an offer of ours, reads the answer.
func (c *echoCall) acked(ack *sip.Request) {
	c.mu.Lock()
	if c.ack != nil && ack.CSeq().SeqNo == c.ackCSeq {
		close(c.ack)
		c.ack = nil
	}
	c.mu.Unlock()
	if body := ack.Body(); len(body) > 0 {
		if dir, err := sdpDirection(body); err == nil {
			c.media.sending.Store(dir == "sendrecv" || dir == "recvonly")
		}
	}
}

// bye hangs up: a BYE along the dialog's route set to the caller's Contact.
func (c *echoCall) bye() {
	inv := c.invite
	c.mu.Lock()
	c.localCSeq++
	cseq, target := c.localCSeq, c.target
	c.mu.Unlock()
	req := sip.NewRequest(sip.BYE, target)
	for _, rr := range inv.GetHeaders("Record-Route") { // a UAS keeps the Record-Route order (§12.1.1)
		req.AppendHeader(sip.NewHeader("Route", rr.Value()))
	}
	from := inv.To().AsFrom()
	from.Params = from.Params.Clone()
	from.Params.Add("tag", c.ourTag)
	to := inv.From().AsTo()
	maxFwd := sip.MaxForwardsHeader(70)
	appendHeaders(req, &from, &to, sip.HeaderClone(inv.CallID()), &sip.CSeqHeader{SeqNo: cseq, MethodName: sip.BYE},
		&maxFwd)
	req.SetTransport(inv.Transport())
	if route := req.Route(); route != nil {
		req.SetDestination(route.Address.HostPort())
	}
	if strings.EqualFold(inv.Transport(), "udp") {
		req.Laddr = sip.Addr{IP: c.e.ip, Port: c.e.port} // from the SIP port, where the answer comes back
	}
	ctx, cancel := context.WithTimeout(c.e.ctx, 5*time.Second)
	defer cancel()
	res, err := c.e.client.Do(ctx, req)
	if err != nil {
		c.log.Info("BYE failed", "error", err)
		return
	}
	c.log.Info("BYE answered", "status", res.StatusCode)
}
