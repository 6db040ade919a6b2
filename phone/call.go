package phone

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"stayline/audio"
)

// A call of the phone's: the type, its states, the agent's table of calls, and its end. Placing one is in
// outgoing.go, receiving one in incoming.go, what happens within its dialog in indialog.go, its SDP in
// negotiate.go, and the words it ends with in endcause.go.

// CallState is where a call stands, as the `call` event reports it.
type CallState string

// The call states of README.md, "Headless control".
const (
	CallDialing  CallState = "dialing"
	CallRinging  CallState = "ringing"
	CallEarly    CallState = "early" // the far end's early media plays before the answer (early.go)
	CallIncoming CallState = "incoming"
	CallActive   CallState = "active"
	CallHeld     CallState = "held"
	CallEnded    CallState = "ended"
)

// CallInfo is a snapshot of one call.
type CallInfo struct {
	ID         string
	State      CallState
	Remote     string // the far end, user@host (a tel: identity: the number alone)
	Name       string // the far end's display name, "" if none (identity.go)
	Outgoing   bool
	Server     int     // the server the call went through (-1: not from a configured server)
	Reason     string  // why it ended, in words
	End        EndKind // why it ended, as a value ("" while the call is up)
	Code       int     // the SIP status that ended it, when one did
	Conference bool    // mixed with the phone's other conference calls
	Progress   string  // before the answer: ProgressForwarded, ProgressQueued, or ""
	// AutoAnswer: an incoming call asks to be answered by itself after AnswerAfter (intercom, paging;
	// autoanswer.go). The failover manager decides whether it is.
	AutoAnswer  bool
	AnswerAfter time.Duration
	Stats       MediaStats
}

type call struct {
	a        *Agent
	id       string
	outgoing bool
	link     *serverLink
	server   int
	remote   string
	name     string // the far end's display name

	mu    sync.Mutex
	state CallState
	cause endCause // why it ended
	dlg   *dialog
	media *media
	sdp   sdpSession // the SDP offer/answer state

	port          *audio.Port             // the call's connection to the sound engine, once it talks
	cancel        context.CancelCauseFunc // outgoing: ends the INVITE
	answerCh      chan struct{}           // incoming: answer it
	rejectCh      chan endCause           // incoming: refuse it, with this cause
	ss            *sipgo.DialogServerSession
	reliable      *reliable180 // incoming: the 180 sent reliably (RFC 3262), nil if unreliable (prack.go)
	autoAnswer    autoAnswer   // incoming: what the INVITE asked about answering by itself
	referDone     chan int     // the final status the far end reports for our REFER
	referTo       string       // where we asked the far end to go
	referredTo    string       // where the far end asked us to go
	conference    bool         // mixed with the other conference calls
	st            sessionTimer // RFC 4028 (sessiontimer.go)
	early         earlyCall    // outgoing: what came before the answer
	progressWords string       // outgoing: what the last provisional response said (Progress)
	done          chan struct{}
	endOnce       sync.Once
}

func (c *call) info() CallInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	ci := CallInfo{ID: c.id, State: c.state, Remote: c.remote, Name: c.name, Outgoing: c.outgoing, Server: c.server,
		AutoAnswer: c.autoAnswer.asked, AnswerAfter: c.autoAnswer.after,
		Reason: c.cause.reason, End: c.cause.kind, Code: c.cause.code, Conference: c.conference,
		Progress: c.progressWords}
	if c.media != nil {
		ci.Stats = c.media.Stats()
	}
	return ci
}

// announce reports the call as it stands now.
func (c *call) announce() {
	ci := c.info()
	c.a.notify(Event{Kind: EventCall, Server: ci.Server, Call: ci})
}

func (c *call) setState(s CallState) {
	c.mu.Lock()
	if c.state == CallEnded || c.state == s {
		c.mu.Unlock()
		return
	}
	c.state = s
	c.mu.Unlock()
	if s == CallActive || s == CallEarly {
		c.connectAudio(s == CallActive)
	}
	c.a.updateTone(false)
	c.announce()
}

// connectAudio gives a call the speaker (early media) and, once it talks, the microphone too: before the
// answer the far end hears nothing of the room.
func (c *call) connectAudio(talking bool) {
	e := c.a.opts.Audio
	c.mu.Lock()
	defer c.mu.Unlock()
	if e == nil || c.sdp.codec == nil {
		return
	}
	if c.port == nil {
		c.port = e.NewPort(c.sdp.codec.SampleRate())
		c.media.setAudio(nil, c.port)
	}
	if talking {
		c.media.setAudio(c.port, nil)
	}
}

// end closes the call once, with the cause the user will read.
func (c *call) end(cause endCause) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.state, c.cause = CallEnded, cause
		m, port := c.media, c.port
		c.mu.Unlock()
		c.stopSessionTimer()
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
		c.a.updateTone(cause.busy())
		close(c.done)
		c.announce()
	})
}

// Hangup ends a call in any state: cancel, decline or BYE. reason is what the call event will say.
func (a *Agent) Hangup(id, reason string) error {
	c, err := a.lookup(id)
	if err != nil {
		return err
	}
	c.hangup(hangupCause(reason))
	return nil
}

func (c *call) hangup(cause endCause) {
	c.mu.Lock()
	state, dlg := c.state, c.dlg
	c.mu.Unlock()
	switch {
	case state == CallEnded:
	case !c.outgoing && dlg == nil:
		select {
		case c.rejectCh <- cause:
		default:
		}
	case c.outgoing && dlg == nil:
		c.cancel(nil) // CANCEL the INVITE; runOutgoing ends the call
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			// The CANCEL's answer or the 487 is slow (sipgo waits for them): the call is over for the
			// user all the same, and a call hung up before the answer was cancelled, whoever asked.
			c.end(causeCancelled)
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
		c.end(cause)
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
