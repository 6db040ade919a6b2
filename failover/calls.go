package failover

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"stayline/phone"
)

// This file is the manager's side of calls: it gates every call action, picks the server a call goes
// through, mirrors the agent's call states for the gate and the front ends, and applies the stage rules
// to calls (480 in limbo, held calls dropped on failover).

// callCounts summarises the calls by state.
func (m *Manager) callCounts() CallCounts {
	var c CallCounts
	for _, ci := range m.calls {
		switch ci.State {
		case phone.CallDialing:
			c.Dialing++
		case phone.CallRinging, phone.CallEarly:
			c.Ringing++
		case phone.CallIncoming:
			c.Incoming++
		case phone.CallActive:
			c.Active++
		case phone.CallHeld:
			c.Held++
		}
		if ci.Conference && (ci.State == phone.CallActive || ci.State == phone.CallHeld) {
			c.Conferenced++
		}
	}
	return c
}

// onCall mirrors a call's new state and tells the front ends.
func (m *Manager) onCall(ci phone.CallInfo) {
	m.autoAnswer(ci)
	if ci.State == phone.CallEnded {
		delete(m.calls, ci.ID)
	} else {
		m.calls[ci.ID] = ci
	}
	dir, server := "in", ""
	if ci.Outgoing {
		dir = "out"
	}
	if ci.Server >= 0 && ci.Server < len(m.servers) {
		server = m.servers[ci.Server].cfg.Name
	}
	m.emit("call", &CallEvent{ID: ci.ID, State: CallState(ci.State), Remote: ci.Remote, DisplayName: ci.Name, Reason: ci.Reason,
		Direction: dir, Server: server, Conference: ci.Conference, Cause: ci.End, Code: ci.Code,
		Progress: ci.Progress})
	if m.closing && len(m.calls) == 0 && m.callsGone != nil {
		f := m.callsGone
		m.callsGone = nil
		f()
	}
}

// callStatus is the status event's list of calls, with their media figures.
func (m *Manager) callStatus() []CallStatus {
	out := []CallStatus{}
	for _, ci := range m.agent.Calls() {
		out = append(out, CallStatus{ID: ci.ID, State: CallState(ci.State), Remote: ci.Remote, Codec: ci.Stats.Codec,
			RxPackets: ci.Stats.RxPackets, TxPackets: ci.Stats.TxPackets, Lost: ci.Stats.Lost, JitterMs: ci.Stats.JitterMs,
			SRTP: ci.Stats.SRTP, FirstAudioMs: float64(ci.Stats.FirstAudio.Microseconds()) / 1000})
	}
	sort.Slice(out, func(i, j int) bool { return CallIDLess(out[i].ID, out[j].ID) })
	return out
}

// CallIDLess is the order calls are listed in, the status event's and the window's alike: the agent's
// numeric ids in the order the calls began; anything else after them, by name (never map order).
func CallIDLess(a, b string) bool {
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	switch {
	case ea == nil && eb == nil:
		return na < nb
	case ea == nil || eb == nil:
		return ea == nil
	default:
		return a < b
	}
}

// admit decides about an incoming call (the agent asks, from its own goroutine): the gate's answer.
// The server it came through may be a signal about the one in use (inviteFrom).
func (m *Manager) admit(server int) (int, string) {
	code, reason := 480, "Shutting Down"
	m.call(func() {
		code, reason = m.situation().admission()
		m.inviteFrom(server)
	})
	return code, reason
}

// dropHeldCalls ends the calls §2 lets a failover drop: held ones (and, later, transfer and conference
// legs). Active calls stay.
func (m *Manager) dropHeldCalls() {
	for id, ci := range m.calls {
		if ci.State == phone.CallHeld {
			go m.agent.Hangup(id, "held call dropped: the server failed")
		}
	}
}

// RedialWithin bounds how long a call whose INVITE the server in use did not answer at all waits, from
// that moment, for another server to come into service, to be tried there once as the same call. The
// unanswered INVITE marks the server down at once (inviteUnanswered), so what is waited for is the
// failover it starts: a REGISTER on the next server, one round trip to a live one (the manager gives it
// at most 2.5 x keepalive_timeout, 1.25 s in the lab), or an immediate switch under the simultaneous
// policy; when the loss was not itself a detection signal (a server that could not be reached), the
// keep-alives find it within keepalive_interval + keepalive_timeout, 1.5 s in the lab. 5 s covers both
// with room. It is not longer because the caller has by then already waited respTimeout in silence: a
// call that connects much later finds nobody on the line, and an honest "the server did not answer" is
// better than that.
const RedialWithin = 5 * time.Second

// Dial places a call. Through the server in use; an emergency number is tried on every server in turn
// until one answers, in any stage, as one call (one id, one outcome). A call the server in use did not
// answer at all (the server died a moment ago) is tried once more, as the same call, through the next
// server that comes into service within RedialWithin (redial). Progress arrives as call events; a call no
// server took also ends with an error event in the user's words.
func (m *Manager) Dial(target string) error {
	if err := checkTarget(target); err != nil {
		return err
	}
	var servers []int
	var names []string
	emergency := m.cfg.IsEmergency(target)
	err := m.act(ActDial, target, func() error {
		if m.active >= 0 {
			servers = append(servers, m.active)
		}
		if emergency {
			for i := range m.servers {
				if i != m.active {
					servers = append(servers, i)
				}
			}
		}
		if len(servers) == 0 {
			return fmt.Errorf("dial %s: no server to call through", target)
		}
		for _, s := range servers {
			names = append(names, m.servers[s].cfg.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	respTimeout := 2 * m.cfg.Failover.KeepaliveTimeout.D()
	signalled := map[int]bool{} // servers already marked by their unanswered INVITE; loop-owned
	m.background(func() func() {
		var err error
		if !emergency {
			_, err = m.agent.DialVia(m.ctx, m.redial(target, servers[0], signalled), target, respTimeout)
		} else {
			_, err = m.agent.DialServers(m.ctx, servers, target, respTimeout)
		}
		return func() {
			if err != nil {
				var de *phone.DialError
				if errors.As(err, &de) {
					for _, s := range de.Unanswered() {
						if !signalled[s] {
							m.inviteUnanswered(s)
						}
					}
				}
				m.log.Warn("call failed", "target", target, "servers", names, "error", err)
				if m.ctx.Err() == nil {
					m.emit("error", &ErrorEvent{Reason: dialFailure(target, err)})
				}
			}
			m.reconcile()
		}
	})
	return nil
}

// redial is the phone.NextServer of an ordinary call: first, the server in use when it was dialled; then,
// once, if that server did not answer the INVITE at all, the next server in service, waited for up to
// RedialWithin. A server that answered, even to refuse (503), is not tried again elsewhere. Each
// unanswered INVITE is a detection signal at once, so the failover starts while the call waits; those
// servers go into signalled.
func (m *Manager) redial(target string, first int, signalled map[int]bool) phone.NextServer {
	return func(ctx context.Context, tried []phone.DialAttempt) (int, bool) {
		if len(tried) == 0 {
			return first, true
		}
		last := tried[len(tried)-1]
		m.call(func() {
			if errors.Is(last.Err, phone.ErrNoResponse) && !signalled[last.Server] {
				signalled[last.Server] = true
				m.inviteUnanswered(last.Server)
				m.reconcile()
			}
		})
		if len(tried) > 1 || !last.NoAnswer() {
			return -1, false
		}
		m.log.Info("call not answered; waiting for another server", "target", target, "server", last.Name,
			"within", RedialWithin)
		return m.awaitServer(ctx, tried)
	}
}

// awaitServer waits until a server not tried yet is in service and the stage lets a call out through it
// (the gate's rule for dial, the call's own line aside: it already holds it), at most RedialWithin on the
// manager's clock, asking again at every change the manager publishes.
func (m *Manager) awaitServer(ctx context.Context, tried []phone.DialAttempt) (int, bool) {
	limit := make(chan struct{})
	timer := m.clock.AfterFunc(RedialWithin, func() { close(limit) })
	defer timer.Stop()
	sub := m.Subscribe() // after the timer: a test that sees the subscription knows the timer is set
	defer sub.Close()
	for {
		server := -1
		if m.call(func() {
			sit := m.situation()
			sit.lines++ // this call already holds its line
			if m.active < 0 || sit.check(ActDial, false) != nil {
				return
			}
			for _, t := range tried {
				if t.Server == m.active {
					return
				}
			}
			server = m.active
		}) != nil {
			return -1, false
		}
		if server >= 0 {
			return server, true
		}
		select {
		case <-ctx.Done():
			return -1, false
		case <-limit:
			m.log.Info("no other server came into service in time", "within", RedialWithin)
			return -1, false
		case _, ok := <-sub.C: // something changed: look again
			if !ok {
				return -1, false
			}
		}
	}
}

// dialFailure is a call that could not be placed, in the user's words: "Call to 911 failed: no server
// answered (tried home, branch)". The details (servers, errors) go to the log.
func dialFailure(target string, err error) string {
	var de *phone.DialError
	if errors.As(err, &de) {
		return fmt.Sprintf("Call to %s failed: %s", target, de.Reason())
	}
	return fmt.Sprintf("Call to %s failed: the phone could not place it", target)
}

// inviteUnanswered is a detection signal: an INVITE the server did not answer at all.
func (m *Manager) inviteUnanswered(server int) {
	if s := m.servers[server]; s.registered {
		m.markDown(s, "INVITE not answered", 0)
	}
}

// Answer picks up an incoming call (id "": the newest ringing one). A call already in progress is put
// on hold first, as a desk phone does on call waiting, where the server offers hold.
func (m *Manager) Answer(id string) error {
	var holdFirst []string
	err := m.callAction(ActAnswer, id, func(id string) error {
		for _, other := range holdFirst {
			if err := m.agent.Hold(other); err != nil {
				m.log.Info("could not hold the call in progress", "call", other, "error", err)
			}
		}
		return m.agent.Answer(id)
	}, func() {
		if m.situation().check(ActHold, false) == nil {
			for cid, ci := range m.calls {
				if ci.State == phone.CallActive {
					holdFirst = append(holdFirst, cid)
				}
			}
		}
	})
	return err
}

// Hangup ends a call in any state (id "": the active call, else the newest).
func (m *Manager) Hangup(id string) error {
	return m.callAction(ActHangup, id, func(id string) error { return m.agent.Hangup(id, "hung up") })
}

// Hold puts a call on hold (id "": the active call).
func (m *Manager) Hold(id string) error {
	return m.callAction(ActHold, id, m.agent.Hold)
}

// Resume takes a call off hold (id "": the held call).
func (m *Manager) Resume(id string) error {
	return m.callAction(ActResume, id, m.agent.Resume)
}

// DTMF sends digits on the active call.
func (m *Manager) DTMF(digits string) error {
	return m.callAction(ActDTMF, "", func(id string) error { return m.agent.SendDTMF(id, digits) })
}

// Transfer hands the active call over to target (a blind transfer). When target is the id of a held
// call, that call is transferred to the active call's party instead (an attended transfer: consult
// first, then join the two).
func (m *Manager) Transfer(target string) error {
	var call, to string
	err := m.act(ActTransfer, "", func() error {
		active, err := m.pickCall("", ActTransfer)
		if err != nil {
			return err
		}
		if ci, ok := m.calls[target]; ok {
			if ci.State != phone.CallHeld {
				return fmt.Errorf("transfer: call %s is not on hold", target)
			}
			call, to = target, active
			return nil
		}
		if err := checkTarget(target); err != nil {
			return err
		}
		call, to = active, target
		return nil
	})
	if err != nil {
		return err
	}
	return m.agent.Transfer(call, to)
}

// Conference joins the active call and the held calls into one conference, mixed by the phone.
func (m *Manager) Conference() error {
	var ids []string
	err := m.act(ActConference, "", func() error {
		for id, ci := range m.calls {
			if ci.State == phone.CallActive || ci.State == phone.CallHeld {
				ids = append(ids, id)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return CallIDLess(ids[i], ids[j]) })
		return nil
	})
	if err != nil {
		return err
	}
	return m.agent.Conference(ids...)
}

// callAction gates a on the call id (or the call a applies to) and runs do outside the loop; look, if
// given, runs in the loop once the gate has allowed a, to gather what do needs.
func (m *Manager) callAction(a Action, id string, do func(id string) error, look ...func()) error {
	var chosen string
	err := m.act(a, "", func() error {
		var err error
		chosen, err = m.pickCall(id, a)
		for _, f := range look {
			f()
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := do(chosen); err != nil {
		return fmt.Errorf("%s call %s: %w", a, chosen, err)
	}
	return nil
}

// pickCall returns id if it names a call, else the call action a applies to (PickCall, actionOrder).
func (m *Manager) pickCall(id string, a Action) (string, error) {
	if id != "" {
		if _, ok := m.calls[id]; !ok {
			return "", fmt.Errorf("no call %s", id)
		}
		return id, nil
	}
	refs := make([]CallRef, 0, len(m.calls))
	for cid, ci := range m.calls {
		refs = append(refs, CallRef{cid, CallState(ci.State)})
	}
	if chosen, ok := PickCall(refs, actionOrder[a]); ok {
		return chosen, nil
	}
	return "", errors.New("no call in a state for that")
}

// hangUpAll ends every call for a shutdown and calls done once all have ended (or at once if none).
func (m *Manager) hangUpAll(done func()) {
	if len(m.calls) == 0 {
		done()
		return
	}
	m.callsGone = done
	for id := range m.calls {
		go m.agent.Hangup(id, "the phone was closed")
	}
	// Do not wait forever on a far end that never answers the BYE.
	m.after(3*time.Second, func() {
		if m.callsGone != nil {
			f := m.callsGone
			m.callsGone = nil
			f()
		}
	})
}

// Request runs any action by name: the front ends' single entry point. arg is the target, call id or
// digits the action takes.
func (m *Manager) Request(a Action, arg string) error {
	switch a {
	case ActDial:
		return m.Dial(arg)
	case ActAnswer:
		return m.Answer(arg)
	case ActHangup:
		return m.Hangup(arg)
	case ActHold:
		return m.Hold(arg)
	case ActResume:
		return m.Resume(arg)
	case ActDTMF:
		return m.DTMF(arg)
	case ActTransfer:
		return m.Transfer(arg)
	case ActConference:
		return m.Conference()
	case ActLogoff:
		return m.Logoff()
	case ActLogin:
		return m.Login()
	case ActFailback:
		return m.Failback()
	}
	return fmt.Errorf("unknown action %q", a)
}
