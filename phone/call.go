package phone

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"stayline/audio"
)

// CallState is where a call stands, as the `call` event reports it.
type CallState string

// The call states of README.md, "Headless control".
const (
	CallDialing  CallState = "dialing"
	CallRinging  CallState = "ringing"
	CallIncoming CallState = "incoming"
	CallActive   CallState = "active"
	CallHeld     CallState = "held"
	CallEnded    CallState = "ended"
)

// CallInfo is a snapshot of one call.
type CallInfo struct {
	ID         string
	State      CallState
	Remote     string // the far end, user@host
	Outgoing   bool
	Server     int    // the server the call went through (-1: not from a configured server)
	Reason     string // why it ended
	Conference bool   // mixed with the phone's other conference calls
	Stats      MediaStats
}

// Admission decides about an incoming call: 0 to let it ring, or the status code (and reason) to answer
// it with. The failover manager supplies it.
type Admission func(server int) (code int, reason string)

// ErrNoResponse marks a server that did not answer the INVITE at all in time (an attempt of a DialError).
var ErrNoResponse = errors.New("the server did not answer the INVITE")

// ErrNoCall is returned for an unknown call id.
var ErrNoCall = errors.New("no such call")

// ringTimeout is how long an unanswered incoming call rings before the phone answers 480 for it.
const ringTimeout = 2 * time.Minute

type call struct {
	a        *Agent
	id       string
	outgoing bool
	link     *serverLink
	server   int
	remote   string

	mu        sync.Mutex
	state     CallState
	reason    string
	dlg       *dialog
	media     *media
	codec     audio.Codec
	pt        uint8
	dtmfPT    int
	sessionID uint64
	version   uint64
	held      bool         // held by us
	remoteDir Direction    // what the far end last asked for
	offered   []cryptoAttr // the SDES lines of our last offer
	keys      *srtpKeys    // the negotiated SRTP keys; nil: plain RTP
	savp      bool         // the media line says RTP/SAVP

	port       *audio.Port             // the call's connection to the sound engine, once it talks
	cancel     context.CancelCauseFunc // outgoing: ends the INVITE
	answerCh   chan struct{}           // incoming: answer it
	rejectCh   chan string             // incoming: refuse it, with this reason
	ss         *sipgo.DialogServerSession
	referDone  chan int // the final status the far end reports for our REFER
	referTo    string   // where we asked the far end to go
	referredTo string   // where the far end asked us to go
	conference bool     // mixed with the other conference calls
	done       chan struct{}
	endOnce    sync.Once
}

func (c *call) info() CallInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := CallInfo{ID: c.id, State: c.state, Remote: c.remote, Outgoing: c.outgoing, Server: c.server, Reason: c.reason,
		Conference: c.conference}
	if c.media != nil {
		ci.Stats = c.media.Stats()
	}
	return ci
}

func (c *call) digit(d byte) {
	c.a.notify(Event{Kind: EventDigit, Server: c.server, Call: CallInfo{ID: c.id}, Digit: d})
}

func (c *call) setState(s CallState) {
	c.mu.Lock()
	if c.state == CallEnded || c.state == s {
		c.mu.Unlock()
		return
	}
	c.state = s
	c.mu.Unlock()
	if s == CallActive {
		c.connectAudio()
	}
	c.a.updateTone("")
	ci := c.info()
	c.a.notify(Event{Kind: EventCall, Server: ci.Server, Call: ci})
}

// connectAudio gives a talking call the microphone and the speaker.
func (c *call) connectAudio() {
	e := c.a.opts.Audio
	c.mu.Lock()
	defer c.mu.Unlock()
	if e == nil || c.port != nil || c.codec == nil {
		return
	}
	c.port = e.NewPort(c.codec.SampleRate())
	c.media.setAudio(c.port, c.port)
}

// end closes the call once, with the reason the user will read.
func (c *call) end(reason string) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.state, c.reason = CallEnded, reason
		m, port := c.media, c.port
		c.mu.Unlock()
		if m != nil {
			m.close()
		}
		if port != nil {
			port.Close()
		}
		c.a.forget(c)
		if c.cancel != nil {
			c.cancel(nil) // an outgoing call's context ends with it (an attempt in progress, too)
		}
		c.a.updateTone(reason)
		close(c.done)
		ci := c.info()
		c.a.notify(Event{Kind: EventCall, Server: ci.Server, Call: ci})
	})
}

// updateTone sets the tone the user hears from the state of every call: the ring of an incoming call
// (a short beep instead when already talking), ringback while the far end rings, and for 3 s the busy
// tone of a call that just failed busy (ended says why a call just ended).
func (a *Agent) updateTone(ended string) {
	e := a.opts.Audio
	if e == nil {
		return
	}
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	var incoming, ringing, talking bool
	for _, c := range a.calls {
		switch c.info().State {
		case CallIncoming:
			incoming = true
		case CallRinging:
			ringing = true
		case CallActive, CallHeld:
			talking = true
		}
	}
	if strings.HasPrefix(ended, "busy") {
		a.busyUntil = time.Now().Add(3 * time.Second)
		time.AfterFunc(3*time.Second, func() { a.updateTone("") })
	}
	switch {
	case incoming && talking:
		e.PlayTone(audio.ToneWaiting)
	case incoming:
		e.PlayTone(audio.ToneRingtone)
	case ringing:
		e.PlayTone(audio.ToneRingback)
	case time.Now().Before(a.busyUntil):
		e.PlayTone(audio.ToneBusy)
	default:
		e.PlayTone(audio.ToneNone)
	}
}

// --- The agent's call table ---

// track gives c its id and files it (under callID too, unless "": an outgoing call files the Call-ID of
// each attempt with alias).
func (a *Agent) track(c *call, callID string) {
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	a.nextCall++
	c.id = strconv.Itoa(a.nextCall)
	a.calls[c.id] = c
	if callID != "" {
		a.byCallID[callID] = c
	}
}

// alias files callID (the INVITE of one attempt of an outgoing call) under c, so the requests of that
// dialog find the call; false if the call has ended.
func (a *Agent) alias(c *call, callID string) bool {
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	if a.calls[c.id] != c {
		return false
	}
	a.byCallID[callID] = c
	return true
}

// unalias forgets the Call-ID of an attempt the server did not take.
func (a *Agent) unalias(callID string) {
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	delete(a.byCallID, callID)
}

func (a *Agent) forget(c *call) {
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	delete(a.calls, c.id)
	for k, v := range a.byCallID {
		if v == c {
			delete(a.byCallID, k)
		}
	}
}

func (a *Agent) lookup(id string) (*call, error) {
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	c, ok := a.calls[id]
	if !ok {
		return nil, fmt.Errorf("call %q: %w", id, ErrNoCall)
	}
	return c, nil
}

func (a *Agent) byDialog(req *sip.Request) *call {
	if req.CallID() == nil {
		return nil
	}
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	return a.byCallID[string(*req.CallID())]
}

// Calls lists the calls in progress, with their media figures.
func (a *Agent) Calls() []CallInfo {
	a.callsMu.Lock()
	calls := make([]*call, 0, len(a.calls))
	for _, c := range a.calls {
		calls = append(calls, c)
	}
	a.callsMu.Unlock()
	out := make([]CallInfo, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.info())
	}
	return out
}

// SetAdmission installs the decision about incoming calls.
func (a *Agent) SetAdmission(f Admission) {
	a.callsMu.Lock()
	a.admit = f
	a.callsMu.Unlock()
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

// --- Placing a call ---

// targetURI turns what the user dialled into a SIP URI: a number or user goes to the account's domain.
func (a *Agent) targetURI(target string) (sip.Uri, error) {
	var u sip.Uri
	if strings.HasPrefix(target, "sip:") || strings.HasPrefix(target, "sips:") {
		if err := sip.ParseUri(target, &u); err != nil {
			return u, fmt.Errorf("%q is not a SIP address: %w", target, err)
		}
		return u, nil
	}
	user, host, found := strings.Cut(target, "@")
	if !found {
		host = a.opts.Account.Domain
	}
	if user == "" || host == "" {
		return u, fmt.Errorf("%q is not a number or SIP address", target)
	}
	return sip.Uri{Scheme: "sip", User: user, Host: host}, nil
}

// offerCrypto is the SDES lines of a new offer: a fresh key for each suite we offer (none with SRTP off).
func (a *Agent) offerCrypto() ([]cryptoAttr, error) {
	if a.srtpMode() == SRTPOff {
		return nil, nil
	}
	var lines []cryptoAttr
	for i, suite := range offeredSuites {
		c, err := newCrypto(i+1, suite)
		if err != nil {
			return nil, err
		}
		lines = append(lines, c)
	}
	return lines, nil
}

func (a *Agent) srtpMode() SRTPMode {
	if a.opts.SRTP == "" {
		return SRTPOffer
	}
	return a.opts.SRTP
}

func (a *Agent) offerCodecs() ([]audio.Codec, []uint8) {
	var cs []audio.Codec
	var pts []uint8
	for _, n := range a.opts.Codecs {
		if c, err := audio.NewCodec(n); err == nil {
			cs = append(cs, c)
			pts = append(pts, c.PayloadType())
		}
	}
	if len(cs) == 0 {
		c, _ := audio.NewCodec("PCMU")
		cs, pts = []audio.Codec{c}, []uint8{0}
	}
	return cs, pts
}

// Dial places a call to target through server: DialServers with one server. It returns once the server
// has answered the INVITE at all (a provisional or final response), within respTimeout; the call's
// progress then arrives as events. A *DialError says the server did not take the call, which has ended.
func (a *Agent) Dial(ctx context.Context, server int, target string, respTimeout time.Duration) (string, error) {
	return a.placeCall(ctx, []int{server}, target, respTimeout)
}

// DialServers places one call to target, trying servers in their order until one takes it: an emergency
// call goes through whichever server answers. Each server has respTimeout to answer the INVITE at all; one
// that does not, that cannot be reached or that answers 503 makes way for the next. The call keeps one id
// through every attempt, as the front ends and the history see it: one dialing event at the start, then
// the progress through the server that took it, or, once the last server failed, one ended event whose
// reason says so in plain words (DialError.Reason).
//
// It returns the call's id once a server has answered (nil error: what follows, busy or not found
// included, arrives as events), or a *DialError once every server failed; the call has ended by then.
func (a *Agent) DialServers(ctx context.Context, servers []int, target string, respTimeout time.Duration) (string, error) {
	return a.placeCall(ctx, servers, target, respTimeout)
}

// invite is Dial with extra headers (a transfer's Replaces).
func (a *Agent) invite(ctx context.Context, server int, target string, respTimeout time.Duration, extra ...sip.Header) (string, error) {
	return a.placeCall(ctx, []int{server}, target, respTimeout, extra...)
}

// DialError is a call no server took: what became of it on each server tried, in order. Error gives the
// details, for the log; Reason the plain words the call ended with, for the user.
type DialError struct {
	Target   string
	Attempts []DialAttempt
}

// DialAttempt is one server's part in a DialError.
type DialAttempt struct {
	Server int    // index in the configured server list
	Name   string // the server's name
	// Err is why the server did not take the call: it wraps ErrNoResponse when the server did not answer
	// the INVITE at all, and is a *StatusError when the server refused it (503).
	Err error
}

func (e *DialError) Error() string {
	parts := make([]string, len(e.Attempts))
	for i, t := range e.Attempts {
		parts[i] = t.Name + ": " + t.Err.Error()
	}
	return fmt.Sprintf("call to %s: no server took it: %s", e.Target, strings.Join(parts, "; "))
}

// Unwrap gives each attempt's error (errors.Is(err, ErrNoResponse) holds when any server did not answer).
func (e *DialError) Unwrap() []error {
	errs := make([]error, len(e.Attempts))
	for i, t := range e.Attempts {
		errs[i] = t.Err
	}
	return errs
}

// Unanswered lists the servers that did not answer the INVITE at all: to the failover manager, a sign that
// they are down.
func (e *DialError) Unanswered() []int {
	var out []int
	for _, t := range e.Attempts {
		if errors.Is(t.Err, ErrNoResponse) {
			out = append(out, t.Server)
		}
	}
	return out
}

// Reason is why the call failed in the words the user reads (the ended call's reason): the servers by
// name and a refusal as responseReason words it, with no protocol or Go error text. One server: "the
// server did not answer (home)", or its refusal ("service unavailable (503 Service Unavailable)"); several:
// "no server answered (tried home, branch)", or, when one refused, what became of each.
func (e *DialError) Reason() string {
	if len(e.Attempts) == 0 {
		return "no server to call through"
	}
	if len(e.Attempts) == 1 {
		t := e.Attempts[0]
		if t.refused() {
			return t.outcome()
		}
		return "the server " + t.outcome() + " (" + t.Name + ")"
	}
	var names, each []string
	refused := false
	for _, t := range e.Attempts {
		names = append(names, t.Name)
		each = append(each, t.Name+": "+t.outcome())
		refused = refused || t.refused()
	}
	if !refused {
		return "no server answered (tried " + strings.Join(names, ", ") + ")"
	}
	return "no server took the call (" + strings.Join(each, "; ") + ")"
}

// refused reports whether the server answered the INVITE with a refusal.
func (t DialAttempt) refused() bool {
	var se *StatusError
	return errors.As(t.Err, &se)
}

// outcome is what became of the attempt in plain words.
func (t DialAttempt) outcome() string {
	var se *StatusError
	switch {
	case errors.As(t.Err, &se):
		return responseReason(se.Code, se.Reason)
	case errors.Is(t.Err, ErrNoResponse):
		return "did not answer"
	}
	return "could not be reached"
}

// errUnreachable marks an attempt the server never saw: no connection, or the INVITE could not be sent.
var errUnreachable = errors.New("the server could not be reached")

// outgoing is what a call's attempts share.
type outgoing struct {
	target      string
	uri         sip.Uri
	servers     []int
	respTimeout time.Duration
	extra       []sip.Header
}

// placeCall is Dial, DialServers and invite: the call, then its attempts in runOutgoing.
func (a *Agent) placeCall(ctx context.Context, servers []int, target string, respTimeout time.Duration, extra ...sip.Header) (string, error) {
	if len(servers) == 0 {
		return "", errors.New("dial: no server to call through")
	}
	for _, s := range servers {
		if _, err := a.link(s); err != nil {
			return "", err
		}
	}
	uri, err := a.targetURI(target)
	if err != nil {
		return "", err
	}
	offered, err := a.offerCrypto()
	if err != nil {
		return "", err
	}
	// The call exists from here to its end, whichever servers it goes through; cancelling callCtx (a
	// hang-up) ends the attempt in progress and stops the next.
	callCtx, cancel := context.WithCancelCause(a.ctx)
	c := &call{a: a, outgoing: true, link: a.servers[servers[0]], server: servers[0], remote: uri.User + "@" + uri.Host,
		state: CallDialing, dtmfPT: -1, sessionID: uint64(time.Now().UnixNano()), version: 1,
		done: make(chan struct{}), offered: offered, savp: a.srtpMode() == SRTPRequire, cancel: cancel}
	a.track(c, "")
	a.notify(Event{Kind: EventCall, Server: servers[0], Call: c.info()})
	first := make(chan error, 1)
	go c.runOutgoing(callCtx, outgoing{target: target, uri: uri, servers: servers, respTimeout: respTimeout, extra: extra}, first)
	select {
	case err := <-first:
		return c.id, err
	case <-ctx.Done():
		cancel(nil)
		return c.id, ctx.Err()
	}
}

// signal hands the dialler the outcome it waits for; only the first counts.
func signal(first chan<- error, err error) {
	select {
	case first <- err:
	default:
	}
}

// runOutgoing tries the call's servers in turn until one takes the call (see DialServers). first gets
// nil once one has, or the *DialError once all failed.
func (c *call) runOutgoing(ctx context.Context, o outgoing, first chan<- error) {
	a := c.a
	failed := &DialError{Target: o.target}
	for _, server := range o.servers {
		if ctx.Err() != nil {
			break
		}
		err := c.attempt(ctx, server, o, first)
		if err == nil {
			return // this server has the call, to its end
		}
		name := a.servers[server].cfg.Name
		failed.Attempts = append(failed.Attempts, DialAttempt{Server: server, Name: name, Err: err})
		a.log.Info("call attempt failed", "call", c.id, "target", o.target, "server", name, "error", err)
	}
	if ctx.Err() != nil { // hung up before any server took the call, or the phone is closing
		c.end("cancelled")
		signal(first, nil)
		return
	}
	a.log.Info("no server took the call", "call", c.id, "error", failed)
	c.end(failed.Reason())
	signal(first, failed)
}

// newInvite builds the INVITE of one attempt, through l, with a Call-ID and From tag of its own.
func (a *Agent) newInvite(l *serverLink, uri sip.Uri, body []byte, extra []sip.Header) *sip.Request {
	req := sip.NewRequest(sip.INVITE, uri)
	a.address(req, l)
	acc := a.opts.Account
	from := &sip.FromHeader{DisplayName: acc.DisplayName, Address: sip.Uri{Scheme: "sip", User: acc.User, Host: acc.Domain},
		Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: uri})
	callID := sip.CallIDHeader(sip.GenerateTagN(24) + "@stayline")
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxfwd)
	req.AppendHeader(&sip.ContactHeader{Address: a.contactURI(l)})
	req.AppendHeader(sip.NewHeader("Allow", allowedMethods))
	req.AppendHeader(sip.NewHeader("User-Agent", UserAgentName))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	for _, h := range extra {
		req.AppendHeader(h)
	}
	req.SetBody(body)
	return req
}

// attempt sends the call's INVITE through server and follows it. It returns nil once the server has taken
// the call (answered it in time with anything but 503): the call then goes on through that server to its
// end, and first has been told. Otherwise it returns why not, and the call stays open for the next server.
func (c *call) attempt(ctx context.Context, server int, o outgoing, first chan<- error) error {
	a := c.a
	l := a.servers[server]
	m, err := openMedia(l.local, a.log)
	if err != nil {
		return err
	}
	codecs, pts := a.offerCodecs()
	body, err := marshalSDP(localMedia{IP: l.local, Port: m.Port(), Codecs: codecs, PTs: pts,
		DTMF: dtmfPayloadType, Direction: SendRecv, SessionID: c.sessionID, Version: c.version,
		Secure: c.savp, Crypto: c.offered})
	if err != nil {
		m.close()
		return err
	}
	req := a.newInvite(l, o.uri, body, o.extra)
	callID := string(*req.CallID())
	if err := a.ensureConnection(ctx, l); err != nil {
		m.close()
		return fmt.Errorf("%w: %w", errUnreachable, err)
	}
	c.mu.Lock()
	ended := c.state == CallEnded
	if !ended {
		c.link, c.server, c.media = l, server, m
	}
	c.mu.Unlock()
	if ended || !a.alias(c, callID) {
		m.close()
		return errors.New("the call ended")
	}
	attemptCtx, cancelAttempt := context.WithCancelCause(ctx)
	defer cancelAttempt(nil)
	dua := &sipgo.DialogUA{Client: l.client, ContactHDR: sip.ContactHeader{Address: a.contactURI(l)}}
	cs, err := dua.WriteInvite(attemptCtx, req)
	if err != nil {
		m.close()
		a.unalias(callID)
		return fmt.Errorf("%w: INVITE: %w", errUnreachable, err)
	}
	m.setOnDigit(c.digit)

	// The first response, or respTimeout without one, decides whether this server answers at all.
	var decide sync.Once
	inTime := false // a response came before the deadline
	deadline := time.AfterFunc(o.respTimeout, func() {
		decide.Do(func() { cancelAttempt(sipgo.WaitAnswerForceCancelErr) })
	})
	defer deadline.Stop()
	took := false // a provisional response: this server has the call
	err = cs.WaitAnswer(attemptCtx, sipgo.AnswerOptions{
		Username: a.opts.Account.User,
		Password: a.opts.Account.Password,
		OnResponse: func(r *sip.Response) error {
			decide.Do(func() { inTime = true })
			if !inTime {
				return nil // too late: this attempt is given up
			}
			if r.IsProvisional() && !took {
				took = true
				signal(first, nil)
			}
			if r.StatusCode == sip.StatusRinging || r.StatusCode == sip.StatusSessionInProgress {
				c.setState(CallRinging)
			}
			return nil
		},
	})
	if err != nil {
		reason, fault := c.failure(err, attemptCtx, l.cfg.Name, o.respTimeout)
		if fault != nil && !errors.Is(fault, ErrNoResponse) {
			a.notify(Event{Kind: EventServerTrouble, Server: server, Err: fmt.Errorf("INVITE: %w", fault)})
		}
		if fault != nil && !took {
			m.close()
			a.unalias(callID)
			return fault // the next server may take the call
		}
		if reason == "" { // no fault, and ctx ended: hung up here, or the phone is closing
			reason = "cancelled"
		}
		signal(first, nil)
		c.end(reason)
		return nil
	}
	signal(first, nil)
	res := cs.InviteResponse
	dlg, derr := dialogFromUAC(cs.InviteRequest, res)
	ackErr := cs.Ack(attemptCtx)
	if derr != nil || ackErr != nil {
		a.log.Info("answer not usable", "call", c.id, "error", errors.Join(derr, ackErr))
		c.end("the far end's answer could not be used")
		return nil
	}
	c.mu.Lock()
	c.dlg = dlg
	c.mu.Unlock()
	remote, err := parseSDP(res.Body())
	if err == nil {
		err = c.applyRemote(remote, false)
	}
	if err != nil {
		c.hangup("the far end answered with unusable media: " + err.Error())
		return nil
	}
	m.start()
	c.setState(CallActive)
	return nil
}

// failure sorts out an INVITE that got no answer: the reason the user reads if the call ends with it, and,
// when the server is to blame (no answer in time, no way through, 503), the fault: the error to try the
// next server with. An outcome of the call's own (busy, not found) has no fault; a hang-up here has
// neither reason nor fault.
func (c *call) failure(err error, ctx context.Context, server string, respTimeout time.Duration) (reason string, fault error) {
	var dr *sipgo.ErrDialogResponse
	if errors.As(err, &dr) {
		code, phrase := dr.Res.StatusCode, dr.Res.Reason
		if c.savp && code == 488 {
			return fmt.Sprintf("the far end refused the call with SRTP, which this phone requires (488 %s)", phrase), nil
		}
		if code == sip.StatusServiceUnavailable {
			fault = statusError(sip.INVITE, dr.Res)
		}
		return responseReason(code, phrase), fault
	}
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), sipgo.WaitAnswerForceCancelErr) {
			return "the server did not answer", fmt.Errorf("%w within %s (%s)", ErrNoResponse, respTimeout, server)
		}
		return "", nil
	}
	// The transaction died: a transport error, or no final response before Timer B.
	return "the server stopped answering", fmt.Errorf("%w: %w", errUnreachable, err)
}

func responseReason(code int, phrase string) string {
	words := map[int]string{486: "busy", 600: "busy", 603: "declined", 404: "not found", 480: "not available",
		487: "cancelled", 408: "no answer", 488: "no common codec", 503: "service unavailable", 403: "forbidden"}
	if w, ok := words[code]; ok {
		return fmt.Sprintf("%s (%d %s)", w, code, phrase)
	}
	return fmt.Sprintf("%d %s", code, phrase)
}

// applyRemote takes the far end's description, an offer or the answer to ours: the codec, the SRTP keys,
// its address and direction.
func (c *call) applyRemote(r remoteMedia, isOffer bool) error {
	codecs, _ := c.a.offerCodecs()
	codec, pt, err := chooseCodec(codecs, r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	var keys *srtpKeys
	if isOffer {
		keys, err = acceptCrypto(c.a.srtpMode(), r, c.keys)
	} else {
		keys, err = answeredCrypto(c.a.srtpMode(), c.offered, r)
	}
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.keys = keys
	if isOffer { // the answer's media line follows the offer's
		c.savp = r.Secure
	}
	c.codec, c.pt, c.dtmfPT, c.remoteDir = codec, pt, r.DTMF, r.Direction
	dir := c.localDirection()
	c.mu.Unlock()
	if err := c.media.setSRTP(keys); err != nil {
		return err
	}
	addr := &net.UDPAddr{IP: net.ParseIP(r.IP), Port: r.Port}
	c.media.configure(addr, codec, pt, r.DTMF, dir)
	return nil
}

// localDirection is what our media does: nothing while held by us, else the reverse of the far end's.
func (c *call) localDirection() Direction {
	if c.held {
		return Inactive
	}
	return c.remoteDir.Reverse()
}

// --- Receiving a call ---

func (a *Agent) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if _, has := to.Params.Get("tag"); has {
			a.onReInvite(req, tx)
			return
		}
	}
	if a.stranger(req, tx) {
		return
	}
	respond := func(code int, reason string, hdrs ...sip.Header) {
		res := sip.NewResponseFromRequest(req, code, reason, nil)
		for _, h := range hdrs {
			res.AppendHeader(h)
		}
		tx.Respond(res)
	}
	server := a.serverOf(req.Source())
	// Admission and the call's tracking are one step: INVITEs arrive in parallel, and each must count the
	// calls the others let in (a burst must not ring a fourth call on three lines).
	a.admitMu.Lock()
	admitted := sync.OnceFunc(a.admitMu.Unlock)
	defer admitted()
	a.callsMu.Lock()
	admit := a.admit
	a.callsMu.Unlock()
	if admit != nil {
		if code, reason := admit(server); code != 0 {
			respond(code, reason)
			return
		}
	}
	if req.Contact() == nil || req.From() == nil || req.CallID() == nil {
		respond(sip.StatusBadRequest, "Missing Contact, From or Call-ID")
		return
	}
	offer, err := parseSDP(req.Body())
	var codec audio.Codec
	var pt uint8
	var keys *srtpKeys
	if err == nil {
		codecs, _ := a.offerCodecs()
		codec, pt, err = chooseCodec(codecs, offer)
	}
	if err == nil {
		keys, err = acceptCrypto(a.srtpMode(), offer, nil)
	}
	if err != nil {
		respond(488, "Not Acceptable Here", sip.NewHeader("Warning", `399 stayline "`+strings.ReplaceAll(err.Error(), `"`, "'")+`"`))
		return
	}
	l := a.linkFor(server, req.Transport())
	m, err := openMedia(l.local, a.log)
	if err != nil {
		respond(sip.StatusInternalServerError, "No media port")
		return
	}
	dua := &sipgo.DialogUA{Client: l.client, ContactHDR: sip.ContactHeader{Address: a.contactURI(l)}}
	ss, err := dua.ReadInvite(req, tx)
	if err != nil {
		m.close()
		respond(sip.StatusBadRequest, err.Error())
		return
	}
	from := req.From().Address
	c := &call{a: a, link: l, server: server, remote: from.User + "@" + from.Host, state: CallIncoming, media: m,
		codec: codec, pt: pt, dtmfPT: offer.DTMF, remoteDir: offer.Direction, keys: keys, savp: offer.Secure,
		sessionID: uint64(time.Now().UnixNano()),
		version:   1, answerCh: make(chan struct{}, 1), rejectCh: make(chan string, 1), ss: ss, done: make(chan struct{})}
	a.track(c, string(*req.CallID()))
	admitted()
	m.setOnDigit(c.digit)
	if err := ss.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
		c.end("could not ring: " + err.Error())
		return
	}
	a.notify(Event{Kind: EventCall, Server: server, Call: c.info()})
	timeout := time.NewTimer(ringTimeout)
	defer timeout.Stop()
	select {
	case <-c.answerCh:
		c.answerIncoming(offer)
	case reason := <-c.rejectCh:
		ss.Respond(603, "Decline", nil)
		c.end(reason)
	case <-ss.Context().Done():
		c.end("cancelled by the caller")
	case <-timeout.C:
		ss.Respond(sip.StatusTemporarilyUnavailable, "Not Answered", nil)
		c.end("not answered")
	case <-a.ctx.Done():
		ss.Respond(sip.StatusTemporarilyUnavailable, "Shutting Down", nil)
		c.end("the phone shut down")
	}
}

// linkFor picks the server link whose client answers a request from server (or, for a stranger, the
// first server on the request's transport).
func (a *Agent) linkFor(server int, transport string) *serverLink {
	if server >= 0 {
		return a.servers[server]
	}
	for _, l := range a.servers {
		if strings.EqualFold(transportName(l.cfg.Transport), transport) {
			return l
		}
	}
	return a.servers[0]
}

func (c *call) answerIncoming(offer remoteMedia) {
	a := c.a
	c.mu.Lock()
	dir := c.localDirection()
	codec, pt, dtmfPT := c.codec, c.pt, c.dtmfPT
	body, err := c.sdpLocked(dir)
	c.mu.Unlock()
	if err != nil {
		c.ss.Respond(sip.StatusInternalServerError, "SDP", nil)
		c.end("could not describe media: " + err.Error())
		return
	}
	if err := c.media.setSRTP(c.keys); err != nil {
		c.ss.Respond(sip.StatusInternalServerError, "SRTP", nil)
		c.end("could not set up SRTP: " + err.Error())
		return
	}
	c.media.configure(&net.UDPAddr{IP: net.ParseIP(offer.IP), Port: offer.Port}, codec, pt, dtmfPT, dir)
	c.media.start()
	res := sip.NewSDPResponseFromRequest(c.ss.InviteRequest, body)
	res.AppendHeader(sip.NewHeader("Allow", allowedMethods))
	// The dialog exists from our 200 on: the far end may send its next request right after its ACK.
	dlg, err := dialogFromUAS(c.ss.InviteRequest, res, 1)
	if err != nil {
		c.ss.Respond(sip.StatusBadRequest, err.Error(), nil)
		c.end(err.Error())
		return
	}
	c.mu.Lock()
	c.dlg = dlg
	c.mu.Unlock()
	// WriteResponse retransmits the 200 until the ACK arrives.
	if err := c.ss.WriteResponse(res); err != nil {
		c.end("answer not acknowledged: " + err.Error())
		return
	}
	c.setState(CallActive)
	_ = a
}

// sdpLocked describes our side with the negotiated codec and SRTP key; c.mu is held. As a re-offer it
// offers the same key again (RFC 4568 §7.1.4), so a hold does not re-key.
func (c *call) sdpLocked(dir Direction) ([]byte, error) {
	var crypto []cryptoAttr
	if c.keys != nil {
		crypto = []cryptoAttr{c.keys.Local}
	}
	c.offered = crypto
	return marshalSDP(localMedia{IP: c.link.local, Port: c.media.Port(), Codecs: []audio.Codec{c.codec},
		PTs: []uint8{c.pt}, DTMF: c.dtmfPT, Direction: dir, SessionID: c.sessionID, Version: c.version,
		Secure: c.savp, Crypto: crypto})
}

// --- Actions on a call ---

// Answer picks up an incoming call.
func (a *Agent) Answer(id string) error {
	c, err := a.lookup(id)
	if err != nil {
		return err
	}
	if c.outgoing || c.info().State != CallIncoming {
		return fmt.Errorf("call %s is not ringing here", id)
	}
	select {
	case c.answerCh <- struct{}{}:
	default:
	}
	return nil
}

// Hangup ends a call in any state: cancel, decline or BYE. reason is what the call event will say.
func (a *Agent) Hangup(id, reason string) error {
	c, err := a.lookup(id)
	if err != nil {
		return err
	}
	c.hangup(reason)
	return nil
}

func (c *call) hangup(reason string) {
	c.mu.Lock()
	state, dlg := c.state, c.dlg
	c.mu.Unlock()
	switch {
	case state == CallEnded:
	case !c.outgoing && dlg == nil:
		select {
		case c.rejectCh <- reason:
		default:
		}
	case c.outgoing && dlg == nil:
		c.cancel(nil) // CANCEL the INVITE; runOutgoing ends the call
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.end(reason)
		}
	default:
		ctx, cancel := context.WithTimeout(c.a.ctx, 2*c.a.requestTimeout()+time.Second)
		_, res, err := c.a.sendInDialog(ctx, c.link, dlg, sip.BYE, nil)
		cancel()
		if err != nil {
			c.a.log.Info("BYE not answered", "call", c.id, "error", err)
		} else if !res.IsSuccess() {
			c.a.log.Info("BYE refused", "call", c.id, "status", res.StatusCode)
		}
		c.end(reason)
	}
}

// Hold puts an active call on hold (re-INVITE, our media inactive), Resume takes it off.
func (a *Agent) Hold(id string) error   { return a.setHold(id, true) }
func (a *Agent) Resume(id string) error { return a.setHold(id, false) }

func (a *Agent) setHold(id string, hold bool) error {
	c, err := a.lookup(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.dlg == nil || c.state == CallEnded || c.held == hold {
		c.mu.Unlock()
		return fmt.Errorf("call %s cannot be %s now", id, map[bool]string{true: "held", false: "resumed"}[hold])
	}
	c.held = hold
	c.version++
	offerDir := SendRecv
	if hold {
		offerDir = SendOnly
	}
	body, err := c.sdpLocked(offerDir)
	dlg := c.dlg
	c.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(a.ctx, 2*a.requestTimeout()+time.Second)
	defer cancel()
	inv, res, err := a.sendInDialog(ctx, c.link, dlg, sip.INVITE, func(r *sip.Request) {
		r.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		r.SetBody(body)
	})
	if err == nil && !res.IsSuccess() {
		err = fmt.Errorf("re-INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	if err != nil {
		c.mu.Lock()
		c.held = !hold
		c.mu.Unlock()
		return err
	}
	if err := a.writeAck(c.link, dlg.ackFor(inv)); err != nil {
		a.log.Info("ACK of re-INVITE", "error", err)
	}
	if r, perr := parseSDP(res.Body()); perr == nil {
		if err := c.applyRemote(r, false); err != nil {
			a.log.Warn("answer to our re-INVITE not usable; media unchanged", "call", id, "error", err)
		}
	} else {
		c.mu.Lock()
		dir := c.localDirection()
		codec, pt, dtmfPT := c.codec, c.pt, c.dtmfPT
		c.mu.Unlock()
		c.media.configure(c.media.remoteAddr(), codec, pt, dtmfPT, dir)
	}
	if hold {
		c.setState(CallHeld)
	} else {
		c.setState(CallActive)
	}
	return nil
}

func (a *Agent) writeAck(l *serverLink, ack *sip.Request) error {
	return l.client.WriteRequest(ack)
}

// SendDTMF sends digits on a call: RFC 4733 events when the far end takes them, else SIP INFO.
func (a *Agent) SendDTMF(id, digits string) error {
	c, err := a.lookup(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	dlg, active := c.dlg, c.state == CallActive
	c.mu.Unlock()
	if !active {
		return fmt.Errorf("call %s is not active", id)
	}
	err = c.media.sendDigits(digits)
	if !errors.Is(err, errNoTelephoneEvent) {
		return err
	}
	for i := 0; i < len(digits); i++ {
		body := fmt.Sprintf("Signal=%c\r\nDuration=160\r\n", digits[i])
		ctx, cancel := context.WithTimeout(a.ctx, 2*a.requestTimeout())
		_, res, err := a.sendInDialog(ctx, c.link, dlg, sip.INFO, func(r *sip.Request) {
			r.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
			r.SetBody([]byte(body))
		})
		cancel()
		if err != nil {
			return fmt.Errorf("DTMF by SIP INFO: %w", err)
		}
		if !res.IsSuccess() {
			return fmt.Errorf("DTMF by SIP INFO answered %d %s", res.StatusCode, res.Reason)
		}
	}
	return nil
}

// --- In-dialog requests from the far end ---

// inDialog finds the call an in-dialog request belongs to and checks it against the dialog (tags,
// growing CSeq). A request that matches no call, or no established dialog when established is true,
// is answered 481 and ok is false.
func (a *Agent) inDialog(req *sip.Request, tx sip.ServerTransaction, established bool) (*call, *dialog, bool) {
	c := a.byDialog(req)
	var dlg *dialog
	if c != nil {
		c.mu.Lock()
		dlg = c.dlg
		c.mu.Unlock()
	}
	switch {
	case c == nil, dlg == nil && established, dlg != nil && dlg.accept(req) != nil:
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call Does Not Exist", nil))
		return nil, nil, false
	}
	return c, dlg, true
}

func (a *Agent) onReInvite(req *sip.Request, tx sip.ServerTransaction) {
	c, dlg, ok := a.inDialog(req, tx, true)
	if !ok {
		return
	}
	r, err := parseSDP(req.Body())
	if err == nil {
		err = c.applyRemote(r, true)
	}
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	dlg.updateTarget(req.Contact())
	c.mu.Lock()
	c.version++
	body, err := c.sdpLocked(c.localDirection())
	c.mu.Unlock()
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusInternalServerError, "SDP", nil))
		return
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(&sip.ContactHeader{Address: a.contactURI(c.link)})
	tx.Respond(res)
}

func (a *Agent) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := a.byDialog(req)
	if c == nil || c.ss == nil {
		return
	}
	c.ss.ReadAck(req, tx) // the ACK of our 200 to the INVITE; ACKs of re-INVITE answers need nothing
}

func (a *Agent) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c, _, ok := a.inDialog(req, tx, false) // a BYE may end an early dialog too
	if !ok {
		return
	}
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	c.mu.Lock()
	referTo, referredTo := c.referTo, c.referredTo
	c.mu.Unlock()
	switch {
	case referTo != "":
		c.end("transferred to " + referTo) // the transferee ends the call once the transfer is done
	case referredTo != "":
		c.end("transferred by the far end to " + referredTo)
	default:
		c.end("the far end hung up")
	}
}

func (a *Agent) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c, _, ok := a.inDialog(req, tx, true)
	if !ok {
		return
	}
	ct := req.ContentType()
	if ct == nil || !strings.EqualFold(ct.Value(), "application/dtmf-relay") {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", nil))
		return
	}
	for _, line := range strings.Split(string(req.Body()), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "Signal") {
			if v = strings.TrimSpace(v); len(v) == 1 {
				if _, valid := dtmfCode(v[0]); valid {
					a.notify(Event{Kind: EventDigit, Server: c.server, Call: CallInfo{ID: c.id}, Digit: v[0]})
				}
			}
		}
	}
	tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
}

// Conference joins calls into one three-way (or more) conference, mixed here: held calls are resumed,
// and each party then hears the phone's user and the others.
func (a *Agent) Conference(ids ...string) error {
	e := a.opts.Audio
	if e == nil {
		return errors.New("conference: no audio engine to mix in")
	}
	if len(ids) < 2 {
		return errors.New("conference: it takes two calls")
	}
	var calls []*call
	for _, id := range ids {
		c, err := a.lookup(id)
		if err != nil {
			return err
		}
		calls = append(calls, c)
	}
	for _, c := range calls {
		c.mu.Lock()
		held := c.held
		c.mu.Unlock()
		if held {
			if err := a.Resume(c.id); err != nil {
				return fmt.Errorf("conference: %w", err)
			}
		}
	}
	var ports []*audio.Port
	for _, c := range calls {
		c.connectAudio()
		c.mu.Lock()
		if c.port == nil {
			c.mu.Unlock()
			return fmt.Errorf("conference: call %s has no audio", c.id)
		}
		ports = append(ports, c.port)
		c.conference = true
		c.mu.Unlock()
	}
	e.Conference(ports...)
	for _, c := range calls {
		a.notify(Event{Kind: EventCall, Server: c.server, Call: c.info()})
	}
	return nil
}
