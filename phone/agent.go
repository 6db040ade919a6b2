// Package phone is Stayline's SIP user agent: registrations (one per server, so several can be held at
// once), keep-alives and connection watching, and the answers to requests servers send. It knows nothing
// of failover stages: it does what the failover manager asks and tells it what went wrong.
package phone

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"

	"stayline/audio"
	"stayline/config"
)

// UserAgentName is what the phone calls itself in User-Agent headers.
const UserAgentName = "Stayline/0.1"

// Options configure an Agent.
type Options struct {
	Account config.Account
	Servers []config.Server
	// Listen is where incoming SIP arrives (UDP and TCP on the same port); port 0 picks a free one.
	Listen string
	// TLSCA is a PEM file of authorities trusted for servers' TLS certificates, besides the system's.
	TLSCA  string
	Logger *slog.Logger
	// Codecs to offer, in preference order (audio.Supported names); empty: PCMU.
	Codecs []string
	// RequestTimeout bounds an in-dialog request along the route set before the phone tries the far
	// end directly; 0: 2 s.
	RequestTimeout time.Duration
	// Audio is the sound engine calls and tones use; nil: calls send silence and play nothing.
	Audio *audio.Engine
	// OnlyServers refuses (403) INVITEs and OPTIONS that come from no configured server's address.
	OnlyServers bool
	// SRTP is the media security policy: offer (default), require or off.
	SRTP SRTPMode
	// SessionExpires is the session interval the phone asks for in its INVITEs (RFC 4028); 0: 30 minutes.
	// MinSE is the shortest it accepts from a far end (422 below it); 0: RFC 4028's 90 s. Tests shorten both.
	SessionExpires, MinSE time.Duration
	// Instance is this installation's RFC 5626 instance id ("urn:uuid:..."), the same from run to run
	// (config.InstanceID); empty: a new one for this run.
	Instance string
	// STUN is a STUN server (host:port) each call's media asks for its public address (nat.go); "": none.
	STUN string
}

// Agent is the SIP user agent. Its methods are safe for concurrent use.
type Agent struct {
	opts   Options
	log    *slog.Logger
	ua     *sipgo.UserAgent
	server *sipgo.Server

	udp      net.PacketConn
	tcp      net.Listener
	feedTCP  *feeder
	feedTLS  *feeder
	port     int
	listenIP net.IP // nil when listening on every address

	servers []*serverLink
	events  *eventQueue
	tls     *tls.Config // for connections to TLS servers

	admitMu   sync.Mutex // held from an INVITE's admission until its call is tracked
	callsMu   sync.Mutex
	calls     map[string]*call // by our call id
	byCallID  map[string]*call // by SIP Call-ID
	nextCall  int
	admit     Admission
	down      map[int]bool             // servers the manager knows are down
	busyUntil time.Time                // the busy tone plays until then
	mwi       map[int]*mwiSubscription // message-summary subscriptions, by server
	checks    selfChecks               // binding checks in flight (binding.go)
	stun      stunState                // what the STUN server said (nat.go)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// serverLink is everything the agent holds for one configured server.
type serverLink struct {
	index  int
	cfg    config.Server
	client *sipgo.Client
	local  string       // the local IP that reaches this server: the host of our Via and Contact (localIP)
	addrMu sync.RWMutex // guards local and client, which Rebind changes when the network moves (rebind.go)
	reg    registration
	conn   connSlot // the watched TCP/TLS connection, when the transport is reliable
	nat    natView  // where the server sees the phone, when not at local (nat.go)
}

// Start binds the listen address and serves incoming requests until Close.
func Start(opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Listen == "" {
		opts.Listen = "0.0.0.0:0"
	}
	if opts.Instance == "" {
		opts.Instance = "urn:uuid:" + uuid.NewString()
	}
	a := &Agent{opts: opts, log: opts.Logger.With("part", "phone"),
		calls: map[string]*call{}, byCallID: map[string]*call{}, down: map[int]bool{},
		mwi: map[int]*mwiSubscription{}}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.events = newEventQueue(a.ctx)

	tlsCfg, err := clientTLS(opts.TLSCA)
	if err != nil {
		return nil, err
	}
	a.tls = tlsCfg
	if err := a.bind(opts.Listen); err != nil {
		return nil, err
	}
	serverAddrs := map[string]bool{}
	for _, s := range opts.Servers {
		if addrs, err := net.LookupHost(s.Host()); err == nil {
			_, port, _ := net.SplitHostPort(s.HostPort())
			for _, a := range addrs {
				serverAddrs[net.JoinHostPort(a, port)] = true
			}
		}
	}
	tcpT := &sip.TransportTCP{DialerCreate: serverDialer(serverAddrs)}
	tlsT := &sip.TransportTLS{TransportTCP: &sip.TransportTCP{DialerCreate: serverDialer(serverAddrs)}}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(UserAgentName),
		sipgo.WithUserAgenTLSConfig(tlsCfg),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerTerminateOnConnClose(),
			sip.WithTransactionLayerLogger(a.log),
			// A response to a transaction that is over: the late answer of a slow server, or a retransmission.
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				a.log.Debug("late or repeated response dropped", "response", r.Short())
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(a.log),
			sip.WithTransportLayerTransports(sip.TransportsConfig{TCP: tcpT, TLS: tlsT}),
		),
	)
	if err != nil {
		a.closeListeners()
		return nil, fmt.Errorf("create SIP user agent: %w", err)
	}
	a.ua = ua
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(a.log))
	if err != nil {
		a.closeListeners()
		return nil, fmt.Errorf("create SIP server: %w", err)
	}
	a.server = srv
	for _, h := range a.handlers() {
		srv.OnRequest(h.method, requireChecked(h.method, h.serve))
	}

	for i, s := range opts.Servers {
		link, err := a.newLink(i, s)
		if err != nil {
			a.Close()
			return nil, err
		}
		a.servers = append(a.servers, link)
	}

	a.feedTCP = newFeeder(a.tcp.Addr())
	a.feedTLS = newFeeder(a.tcp.Addr())
	a.serve(func() error { return srv.ServeUDP(a.udp) })
	a.serve(func() error { return srv.ServeTCP(a.tcp) })
	a.serve(func() error { return srv.ServeTCP(a.feedTCP) })
	a.serve(func() error { return srv.ServeTLS(a.feedTLS) })
	if err := a.waitServing(); err != nil {
		a.Close()
		return nil, err
	}
	a.log.Info("SIP listening", "addr", a.Listen())
	return a, nil
}

// bind opens UDP and TCP on one port: the port asked for, or a free one for both.
func (a *Agent) bind(listen string) error {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("listen address %q: bad port", listen)
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		a.listenIP = ip
	}
	var lastErr error
	for try := 0; try < 20; try++ {
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("listen on udp %s: %w", listen, err)
		}
		got := udp.LocalAddr().(*net.UDPAddr).Port
		if uc, ok := udp.(*net.UDPConn); ok {
			uc.SetReadBuffer(1 << 20) // room for a burst while the SIP stack catches up
		}
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(got)))
		if err == nil {
			a.udp, a.tcp, a.port = udp, tcp, got
			return nil
		}
		udp.Close()
		lastErr = err
		if port != 0 {
			break
		}
	}
	return fmt.Errorf("listen on tcp %s: %w", listen, lastErr)
}

// waitServing returns once sipgo has taken the UDP socket into its pool: requests sent before that would
// make sipgo try to bind the port a second time.
func (a *Agent) waitServing() error {
	tp := a.ua.TransportLayer()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if c, err := tp.GetConnection("udp", a.udp.LocalAddr().String()); err == nil && c != nil {
			c.TryClose()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("SIP stack did not start serving %s", a.udp.LocalAddr())
		}
		time.Sleep(time.Millisecond)
	}
}

func (a *Agent) serve(f func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := f(); err != nil && a.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
			a.log.Warn("SIP listener stopped", "error", err)
		}
	}()
}

func (a *Agent) newLink(i int, s config.Server) (*serverLink, error) {
	local, err := a.localIPFor(s)
	if err != nil {
		return nil, err
	}
	client, err := a.clientFor(s, local)
	if err != nil {
		return nil, err
	}
	return &serverLink{index: i, cfg: s, client: client, local: local}, nil
}

// clientFor is the sipgo client of a server's link: its Via names local (Rebind makes another when the
// phone's address on the link changes).
func (a *Agent) clientFor(s config.Server, local string) (*sipgo.Client, error) {
	opts := []sipgo.ClientOption{
		sipgo.WithClientLogger(a.log),
		sipgo.WithClientHostname(local),
		sipgo.WithClientPort(a.port),
		sipgo.WithClientNAT(),
	}
	if s.Transport == config.TransportUDP {
		// Send from the listening socket, so what a server sends back reaches the Contact we registered.
		opts = append(opts, sipgo.WithClientConnectionAddr(a.udp.LocalAddr().String()))
	}
	client, err := sipgo.NewClient(a.ua, opts...)
	if err != nil {
		return nil, fmt.Errorf("server %s: create SIP client: %w", s.Name, err)
	}
	return client, nil
}

// localIPFor finds the local address that routes to the server (no packet is sent).
func (a *Agent) localIPFor(s config.Server) (string, error) {
	if a.listenIP != nil {
		return a.listenIP.String(), nil
	}
	c, err := net.Dial("udp", s.HostPort())
	if err != nil {
		return "", fmt.Errorf("server %s: no route to %s: %w", s.Name, s.HostPort(), err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// Listen is the host:port where the phone receives SIP.
func (a *Agent) Listen() string {
	host := "0.0.0.0"
	if a.listenIP != nil {
		host = a.listenIP.String()
	} else if len(a.servers) > 0 {
		host = a.servers[0].localIP()
	}
	return net.JoinHostPort(host, strconv.Itoa(a.port))
}

// Events delivers what the agent notices on its own about servers (a connection closed).
func (a *Agent) Events() <-chan Event { return a.events.out }

// Close stops serving and closes every connection. It neither hangs up nor unregisters: the manager does
// that first.
func (a *Agent) Close() error {
	a.cancel()
	a.callsMu.Lock()
	var calls []*call
	for _, c := range a.calls {
		calls = append(calls, c)
	}
	a.callsMu.Unlock()
	for _, c := range calls {
		c.end(causeShutDown)
	}
	for _, s := range a.servers {
		s.conn.close()
	}
	a.feedTCP.Close()
	a.feedTLS.Close()
	a.closeListeners()
	if a.ua != nil {
		a.ua.Close()
	}
	a.wg.Wait()
	return nil
}

func (a *Agent) closeListeners() {
	if a.udp != nil {
		a.udp.Close()
	}
	if a.tcp != nil {
		a.tcp.Close()
	}
}

func (a *Agent) link(server int) (*serverLink, error) {
	if server < 0 || server >= len(a.servers) {
		return nil, fmt.Errorf("no server %d", server)
	}
	return a.servers[server], nil
}

// notify hands an event to the manager without ever blocking the SIP stack.
func (a *Agent) notify(ev Event) {
	a.events.push(ev)
}

// stranger answers 403 to an out-of-dialog request from no configured server, when the phone only
// takes requests from its servers; it reports whether it did.
func (a *Agent) stranger(req *sip.Request, tx sip.ServerTransaction) bool {
	if !a.opts.OnlyServers || a.serverOf(req.Source()) >= 0 {
		return false
	}
	a.log.Info("request from an address that is no configured server refused", "method", req.Method, "source", req.Source())
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Not A Configured Server", nil))
	return true
}

// serverOf finds the configured server a request came from (-1: none): the server at that address and
// port, else the first at that address (a server opens TCP connections from other ports).
func (a *Agent) serverOf(source string) int {
	host, port, err := net.SplitHostPort(source)
	if err != nil {
		return -1
	}
	byIP := -1
	for i, l := range a.servers {
		sh, sp, err := net.SplitHostPort(l.cfg.HostPort())
		if err != nil || !(sh == host || resolvesTo(sh, host)) {
			continue
		}
		if sp == port {
			return i
		}
		if byIP < 0 {
			byIP = i
		}
	}
	return byIP
}

func resolvesTo(name, ip string) bool {
	addrs, err := net.LookupHost(name)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if a == ip {
			return true
		}
	}
	return false
}

func (a *Agent) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	a.checks.mark(req) // one of our binding checks, back through a server: noted before it is answered
	if a.stranger(req, tx) {
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowedMethods))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	res.AppendHeader(sip.NewHeader("User-Agent", UserAgentName))
	if err := tx.Respond(res); err != nil {
		a.log.Debug("answer OPTIONS", "error", err)
	}
}

// allowedMethods is the Allow header of our requests and answers: exactly the methods of handlers
// (TestAllowListsTheHandledMethods).
const allowedMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER, INFO, UPDATE, PRACK"

// handler is a method the phone answers, and how.
type handler struct {
	method sip.RequestMethod
	serve  sipgo.RequestHandler
}

// handlers are the requests the phone serves; any other method is answered 405 by sipgo.
func (a *Agent) handlers() []handler {
	return []handler{
		{sip.INVITE, a.onInvite}, {sip.ACK, a.onAck}, {sip.CANCEL, a.onCancel}, {sip.BYE, a.onBye},
		{sip.OPTIONS, a.onOptions}, {sip.NOTIFY, a.onNotify}, {sip.REFER, a.onRefer}, {sip.INFO, a.onInfo},
		{sip.UPDATE, a.onUpdate}, {sip.PRACK, a.onPrack},
	}
}

// supportedExtensions are the SIP option tags (RFC 3261 §19.2) the phone implements, listed in the
// Supported header of its INVITEs and accepted in a far end's Require (UPDATE is a method: it is in
// Allow): 100rel, reliable provisional responses (RFC 3262; early.go, prack.go); timer, session timers
// (RFC 4028; sessiontimer.go).
var supportedExtensions = []string{"100rel", "timer"}

// supportedOptions is the Supported header's value.
var supportedOptions = strings.Join(supportedExtensions, ", ")

// requireChecked serves a request unless its Require names an option tag the phone does not implement:
// that is answered 420 Bad Extension with the tags in Unsupported (RFC 3261 §8.2.2.3). ACK and CANCEL
// are never refused for it.
func requireChecked(method sip.RequestMethod, serve sipgo.RequestHandler) sipgo.RequestHandler {
	if method == sip.ACK || method == sip.CANCEL {
		return serve
	}
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if missing := unsupported(req); len(missing) > 0 {
			res := sip.NewResponseFromRequest(req, sip.StatusBadExtension, "Bad Extension", nil)
			res.AppendHeader(sip.NewHeader("Unsupported", strings.Join(missing, ", ")))
			tx.Respond(res)
			return
		}
		serve(req, tx)
	}
}

// unsupported lists the option tags req's Require headers name that the phone does not implement.
func unsupported(req *sip.Request) []string {
	var missing []string
	for _, h := range req.GetHeaders("Require") {
		for _, tag := range strings.Split(h.Value(), ",") {
			if tag = strings.TrimSpace(tag); tag != "" && !slices.Contains(supportedExtensions, strings.ToLower(tag)) {
				missing = append(missing, tag)
			}
		}
	}
	return missing
}

// SetMuted mutes (or unmutes) the microphone on every call.
func (a *Agent) SetMuted(m bool) {
	if a.opts.Audio != nil {
		a.opts.Audio.SetMuted(m)
	}
}

// SetVolume sets the speaker's gain (0 to 2, 1 unchanged).
func (a *Agent) SetVolume(v float64) {
	if a.opts.Audio != nil {
		a.opts.Audio.SetVolume(v)
	}
}

// SwitchAudio moves the sound to other devices ("" = system default) during calls too.
func (a *Agent) SwitchAudio(input, output string) error {
	if a.opts.Audio == nil {
		return errors.New("no sound engine")
	}
	return a.opts.Audio.SwitchDevices(input, output)
}

// AudioDevices lists the input and output devices of the engine's backend (for the settings).
func (a *Agent) AudioDevices() (inputs, outputs []string, err error) {
	backend := "default"
	if a.opts.Audio != nil {
		backend = a.opts.Audio.Backend
	}
	return audio.Devices(backend)
}
