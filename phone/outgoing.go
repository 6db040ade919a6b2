package phone

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Placing a call: one call, tried on its servers in turn until one takes it (docs/ARCHITECTURE.md,
// "Stages and their rules": an emergency call is tried on every server).

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

// Dial places a call to target through server: DialServers with one server. It returns once the server
// has answered the INVITE at all (a provisional or final response), within respTimeout; the call's
// progress then arrives as events. A *DialError says the server did not take the call, which has ended.
func (a *Agent) Dial(ctx context.Context, server int, target string, respTimeout time.Duration) (string, error) {
	return a.DialServers(ctx, []int{server}, target, respTimeout)
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
// It is DialVia over a fixed list.
func (a *Agent) DialServers(ctx context.Context, servers []int, target string, respTimeout time.Duration) (string, error) {
	if len(servers) == 0 {
		return "", errors.New("dial: no server to call through")
	}
	for _, s := range servers {
		if _, err := a.link(s); err != nil {
			return "", err
		}
	}
	return a.placeCall(ctx, InTurn(servers), target, respTimeout)
}

// NextServer chooses the server a call's next attempt goes through, given the attempts that failed so far
// (none for the first): ok false gives the call up. It may wait (for a server to come into service), until
// ctx ends: ctx is the call's own once the call exists, so a hang-up ends the wait at once.
type NextServer func(ctx context.Context, tried []DialAttempt) (server int, ok bool)

// InTurn is the NextServer of a fixed list: each server once, in order, whatever became of the last.
func InTurn(servers []int) NextServer {
	return func(_ context.Context, tried []DialAttempt) (int, bool) {
		if len(tried) >= len(servers) {
			return -1, false
		}
		return servers[len(tried)], true
	}
}

// DialVia places one call to target through servers chosen as it goes: next names the first, and, after
// each attempt that did not take the call, the next one (it may wait for one to come into service), or
// gives the call up. Everything else is DialServers': one id through every attempt, one dialing event,
// then the progress through the server that took it or one ended event; respTimeout for each server to
// answer the INVITE at all. It returns once a server has answered, or with the *DialError of every
// attempt once next gave up (the call has ended).
func (a *Agent) DialVia(ctx context.Context, next NextServer, target string, respTimeout time.Duration) (string, error) {
	return a.placeCall(ctx, next, target, respTimeout)
}

// NoAnswer reports whether the server never answered the INVITE: no response in time, or it could not be
// reached at all. Such a call may be tried again through another server; one a server answered (a
// refusal such as 503 included) may not.
func (t DialAttempt) NoAnswer() bool {
	return errors.Is(t.Err, ErrNoResponse) || errors.Is(t.Err, errUnreachable)
}

// invite is Dial with extra headers (a transfer's Replaces).
func (a *Agent) invite(ctx context.Context, server int, target string, respTimeout time.Duration, extra ...sip.Header) (string, error) {
	if _, err := a.link(server); err != nil {
		return "", err
	}
	return a.placeCall(ctx, InTurn([]int{server}), target, respTimeout, extra...)
}

// outgoing is what a call's attempts share.
type outgoing struct {
	target         string
	uri            sip.Uri
	first          int        // the server of the first attempt
	next           NextServer // the servers of the others
	respTimeout    time.Duration
	extra          []sip.Header
	sessionExpires time.Duration   // the session interval asked for (RFC 4028; raised by a 422)
	redirects      int             // redirects followed (redirect.go)
	tried          map[string]bool // the targets tried, by redirectKey
}

// placeCall is Dial, DialServers, DialVia and invite: the call, then its attempts in runOutgoing.
func (a *Agent) placeCall(ctx context.Context, next NextServer, target string, respTimeout time.Duration, extra ...sip.Header) (string, error) {
	uri, err := a.targetURI(target)
	if err != nil {
		return "", err
	}
	server, ok := next(ctx, nil)
	if !ok {
		return "", errors.New("dial: no server to call through")
	}
	l, err := a.link(server)
	if err != nil {
		return "", err
	}
	sess := a.newSDPSession()
	if err := sess.prepareOffer(); err != nil {
		return "", err
	}
	// The call exists from here to its end, whichever servers it goes through; cancelling callCtx (a
	// hang-up) ends the attempt in progress, or the wait for the next server, and stops the next.
	callCtx, cancel := context.WithCancelCause(a.ctx)
	c := &call{a: a, outgoing: true, link: l, server: server, remote: uri.User + "@" + uri.Host,
		state: CallDialing, sdp: sess, done: make(chan struct{}), cancel: cancel}
	a.track(c, "")
	c.announce()
	first := make(chan error, 1)
	go c.runOutgoing(callCtx, outgoing{target: target, uri: uri, first: server, next: next, respTimeout: respTimeout,
		extra: extra, sessionExpires: a.sessionExpires()}, first)
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

// runOutgoing tries the call's servers, as o.next chooses them, until one takes the call (see DialVia).
// first gets nil once one has, or the *DialError once next gave up.
func (c *call) runOutgoing(ctx context.Context, o outgoing, first chan<- error) {
	a := c.a
	failed := &DialError{Target: o.target}
	server := o.first
	for ctx.Err() == nil {
		var err error
		name := fmt.Sprintf("server %d", server)
		if _, lerr := a.link(server); lerr != nil {
			err = lerr
		} else {
			name = a.servers[server].cfg.Name
			err = c.attempt(ctx, server, o, first)
			if err == nil {
				return // this server has the call, to its end
			}
			if rd := (*redirected)(nil); errors.As(err, &rd) {
				uri, ok := o.follow(rd)
				if !ok {
					c.end(causeRedirectLoop)
					signal(first, nil)
					return
				}
				a.log.Info("call redirected", "call", c.id, "code", rd.code, "to", uri.String())
				c.retarget(uri)
				continue // through the same server
			}
			if tb := (*intervalTooSmall)(nil); errors.As(err, &tb) {
				a.log.Info("session interval too small; asking again", "call", c.id, "interval", tb.minSE)
				o.sessionExpires = tb.minSE
				continue // through the same server
			}
		}
		failed.Attempts = append(failed.Attempts, DialAttempt{Server: server, Name: name, Err: err})
		a.log.Info("call attempt failed", "call", c.id, "target", o.target, "server", name, "error", err)
		if ctx.Err() != nil {
			break
		}
		var ok bool
		if server, ok = o.next(ctx, slices.Clone(failed.Attempts)); !ok {
			break
		}
	}
	if ctx.Err() != nil { // hung up before any server took the call, or the phone is closing
		c.end(causeCancelled)
		signal(first, nil)
		return
	}
	a.log.Info("no server took the call", "call", c.id, "error", failed)
	c.end(failed.cause())
	signal(first, failed)
}

// newRequest builds a request of ours outside any dialog, to uri through l: From the account (with a tag
// of its own), a new Call-ID ending in suffix, CSeq 1.
func (a *Agent) newRequest(l *serverLink, method sip.RequestMethod, uri sip.Uri, suffix string) *sip.Request {
	req := sip.NewRequest(method, uri)
	a.address(req, l)
	acc := a.opts.Account
	from := &sip.FromHeader{DisplayName: acc.DisplayName, Address: sip.Uri{Scheme: "sip", User: acc.User, Host: acc.Domain},
		Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: uri})
	callID := sip.CallIDHeader(sip.GenerateTagN(24) + suffix)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxfwd)
	return req
}

// newInvite builds the INVITE of one attempt, through l, with a Call-ID and From tag of its own.
func (a *Agent) newInvite(l *serverLink, uri sip.Uri, body []byte, sessionExpires time.Duration, extra []sip.Header) *sip.Request {
	req := a.newRequest(l, sip.INVITE, uri, "@stayline")
	req.AppendHeader(&sip.ContactHeader{Address: a.contactURI(l)})
	req.AppendHeader(sip.NewHeader("Allow", allowedMethods))
	req.AppendHeader(sip.NewHeader("Supported", supportedOptions))
	a.askSessionTimer(req, sessionExpires, "")
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
	m, err := a.openCallMedia(l)
	if err != nil {
		return err
	}
	c.mu.Lock()
	body, err := c.sdp.offer(a.mediaAddr(l, m))
	savp := c.sdp.savp
	c.mu.Unlock()
	if err != nil {
		m.close()
		return err
	}
	req := a.newInvite(l, o.uri, body, o.sessionExpires, o.extra)
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
	dua := &sipgo.DialogUA{Client: l.sipClient(), ContactHDR: sip.ContactHeader{Address: a.contactURI(l)}}
	cs, err := dua.WriteInvite(attemptCtx, req)
	if err != nil {
		m.close()
		a.unalias(callID)
		return fmt.Errorf("%w: INVITE: %w", errUnreachable, err)
	}
	m.setOnDigit(c.digit)

	// The INVITE waits for its final response even after a hang-up (ctx ends): the phone's CANCEL
	// (cancel.go), sent with the first provisional response if the hang-up came before it, brings the
	// 487. Only respTimeout without any response gives the attempt up at once.
	waitCtx, cancelWait := context.WithCancelCause(context.WithoutCancel(attemptCtx))
	defer cancelWait(nil)
	var cn canceller
	stopHangup := context.AfterFunc(ctx, func() {
		if inv := cn.hangup(); inv != nil {
			c.sendCancel(l, inv)
		}
	})
	defer stopHangup()
	// The first response, or respTimeout without one, decides whether this server answers at all.
	var decide sync.Once
	inTime := false // a response came before the deadline
	deadline := time.AfterFunc(o.respTimeout, func() {
		decide.Do(func() { cancelWait(sipgo.WaitAnswerForceCancelErr) })
	})
	defer deadline.Stop()
	took := false // a provisional response: this server has the call
	err = cs.WaitAnswer(waitCtx, sipgo.AnswerOptions{
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
				if inv := cn.provisional(cs.InviteRequest); inv != nil {
					go c.sendCancel(l, inv) // hung up before this first provisional
				}
			}
			if r.IsProvisional() {
				c.provisional(r, cs.InviteRequest)
			}
			return nil
		},
	})
	if err == nil && ctx.Err() != nil { // answered as the user hung up: the call is over all the same
		signal(first, nil)
		if dlg, derr := dialogFromUAC(cs.InviteRequest, cs.InviteResponse); derr == nil && cs.Ack(waitCtx) == nil {
			c.mu.Lock()
			c.dlg = dlg
			c.mu.Unlock()
			c.hangup(causeCancelled)
		}
		c.end(causeCancelled)
		return nil
	}
	if err != nil && ctx.Err() != nil && !errors.Is(context.Cause(waitCtx), sipgo.WaitAnswerForceCancelErr) {
		signal(first, nil)
		c.end(causeCancelled) // hung up here (or the phone is closing): the 487, or no response yet
		return nil
	}
	if again := retryOf(err, o.sessionExpires); again != nil {
		m.close()
		a.unalias(callID)
		return again
	}
	if err != nil {
		cause, fault := inviteFailure(err, waitCtx, savp, l.cfg.Name, o.respTimeout)
		if fault != nil && !errors.Is(fault, ErrNoResponse) {
			a.notify(Event{Kind: EventServerTrouble, Server: server, Err: fmt.Errorf("INVITE: %w", fault)})
		}
		if fault != nil && !took {
			m.close()
			a.unalias(callID)
			return fault // the next server may take the call
		}
		if cause.reason == "" { // no fault, and ctx ended: hung up here, or the phone is closing
			cause = causeCancelled
		}
		signal(first, nil)
		c.end(cause)
		return nil
	}
	signal(first, nil)
	res := cs.InviteResponse
	dlg, derr := dialogFromUAC(cs.InviteRequest, res)
	ackErr := cs.Ack(waitCtx)
	if derr != nil || ackErr != nil {
		a.log.Info("answer not usable", "call", c.id, "error", errors.Join(derr, ackErr))
		c.end(causeAnswerUnusable)
		return nil
	}
	c.answeredFrom(dlg)
	c.reached(res)
	c.mu.Lock()
	c.dlg = dlg
	c.mu.Unlock()
	// The 2xx's answer wins over early media's; a 2xx without one keeps it (a reliable 183 carried it).
	if len(res.Body()) > 0 || !c.hadEarlyAnswer() {
		remote, err := parseSDP(res.Body())
		if err == nil {
			err = c.negotiate(remote, false)
		}
		if err != nil {
			c.hangup(failedCause("the far end answered with unusable media", err))
			return nil
		}
	}
	m.start()
	c.setState(CallActive)
	c.takeSessionTimer(res, true)
	return nil
}

// retryOf is the final response that sends the call's INVITE again through the same server: a redirect
// (redirect.go), or a 422 asking for a longer session interval (sessiontimer.go); nil for any other.
func retryOf(err error, sessionExpires time.Duration) error {
	if rd := redirectOf(err); rd != nil {
		return rd
	}
	if tb := intervalTooSmallOf(err, sessionExpires); tb != nil {
		return tb
	}
	return nil
}
