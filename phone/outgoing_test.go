package phone

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

func TestCallToNobodyEndsWithTheReason(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := startAgent(t, lab.Password, srv("home", k, config.TransportUDP))
	id, err := a.Dial(context.Background(), 0, "4444", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ended := waitCall(t, a, id, CallEnded, 5*time.Second)
	if ended.Reason != "not found (404 Not Found)" {
		t.Fatalf("reason %q", ended.Reason)
	}
}

func TestDialDeadServerReportsNoResponse(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := startAgent(t, lab.Password, srv("home", k, config.TransportUDP))
	k.Kill()
	start := time.Now()
	_, err := a.Dial(context.Background(), 0, "1002", 500*time.Millisecond)
	if err == nil {
		t.Fatal("a dead server took the call")
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Dial took %s to give up", took)
	}
}

// An emergency call with home dead goes on to the alternate as one call: one id from dialing to active.
func TestEmergencyDialWithHomeDeadReachesTheAlternateAsOneCall(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	far := labtest.FarEnd(t, "911", p.Home.Addr(), p.Alternate.Addr())
	a := startAgent(t, lab.Password, srv("home", p.Home, config.TransportUDP), srv("alternate", p.Alternate, config.TransportUDP))
	if err := p.Home.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	id, err := a.DialServers(ctxFor(t, 5*time.Second), []int{0, 1}, "911", 500*time.Millisecond)
	if err != nil {
		t.Fatalf("the alternate did not take the call: %v", err)
	}
	calls := callEventsUntil(t, a, 5*time.Second, func(c CallInfo) bool { return c.State == CallActive || c.State == CallEnded })
	t.Logf("FIGURE call.emergency_fallthrough_ms %d (home dead, 500 ms to answer -> active through the alternate)",
		time.Since(start).Milliseconds())
	wantOneCallThroughTheAlternate(t, a, id, calls, far.Received("INVITE"))
}

// wantOneCallThroughTheAlternate checks call events of a call placed while home was dead: one id, dialing
// through home, active through the alternate (server 1), never ended; the far end got one INVITE
// (invites); then the call is hung up.
func wantOneCallThroughTheAlternate(t *testing.T, a *Agent, id string, calls []CallInfo, invites int) {
	t.Helper()
	last := calls[len(calls)-1]
	if calls[0].ID != id || calls[0].State != CallDialing || calls[0].Server != 0 || last.State != CallActive || last.Server != 1 {
		t.Fatalf("call events %s, want %s dialing through home ... active through the alternate", describeCalls(calls), id)
	}
	for _, c := range calls {
		if c.ID != id || c.State == CallEnded {
			t.Fatalf("call events %s: want one call %s, never ended", describeCalls(calls), id)
		}
	}
	if invites != 1 {
		t.Fatalf("the far end received %d INVITEs, want 1 (through the alternate)", invites)
	}
	if err := a.Hangup(id, "hung up"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallEnded, 5*time.Second)
}

// With every server dead an emergency call is still one call: dialing, then one ended with plain words.
func TestEmergencyDialWithEveryServerDeadIsOneEndedCall(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	for _, s := range []*lab.Server{p.Home, p.Alternate} {
		if err := s.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	for _, transport := range []config.Transport{config.TransportUDP, config.TransportTCP} {
		t.Run(string(transport), func(t *testing.T) {
			a := startAgent(t, lab.Password, srv("home", p.Home, transport), srv("alternate", p.Alternate, transport))
			id, err := a.DialServers(ctxFor(t, 5*time.Second), []int{0, 1}, "911", 300*time.Millisecond)
			var de *DialError
			if !errors.As(err, &de) || len(de.Attempts) != 2 {
				t.Fatalf("dial through two dead servers: %v", err)
			}
			if transport == config.TransportUDP && !slices.Equal(de.Unanswered(), []int{0, 1}) {
				t.Fatalf("unanswered %v, want both servers (%v)", de.Unanswered(), err)
			}
			calls := callEventsUntil(t, a, time.Second, func(c CallInfo) bool { return c.State == CallEnded })
			time.Sleep(200 * time.Millisecond) // anything more would come now
		drain:
			for {
				select {
				case ev := <-a.Events():
					if ev.Kind == EventCall {
						calls = append(calls, ev.Call)
					}
				default:
					break drain
				}
			}
			const plain = "no server answered (tried home, alternate)"
			if len(calls) != 2 || calls[0].ID != id || calls[1].ID != id || calls[0].State != CallDialing ||
				calls[1].Reason != plain || de.Reason() != plain {
				t.Fatalf("call events %s (error %v), want one call %s: dialing, then ended %q", describeCalls(calls), err, id, plain)
			}
		})
	}
}

// DialVia: home dead, the next server chosen as the call goes (here after a wait, as the failover manager
// waits for the next server in service). One call: dialing through home, active through the alternate;
// or, when next gives up, one ended call in plain words; or, hung up during the wait, one cancelled call.
func TestDialViaWaitsForTheNextServerAsOneCall(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	far := labtest.FarEnd(t, "1002", p.Home.Addr(), p.Alternate.Addr())
	if err := p.Home.Kill(); err != nil {
		t.Fatal(err)
	}
	servers := func() []config.Server {
		return []config.Server{srv("home", p.Home, config.TransportUDP), srv("alternate", p.Alternate, config.TransportUDP)}
	}
	// via tries home, then, once home got no answer, waits wait (or until ctx ends) and names server.
	via := func(server int, wait time.Duration, waited chan<- error) NextServer {
		return func(ctx context.Context, tried []DialAttempt) (int, bool) {
			if len(tried) == 0 {
				return 0, true
			}
			if len(tried) > 1 || !tried[0].NoAnswer() || tried[0].Server != 0 {
				return -1, false
			}
			select {
			case <-ctx.Done():
				waited <- ctx.Err()
				return -1, false
			case <-time.After(wait):
				waited <- nil
			}
			return server, server >= 0
		}
	}

	t.Run("through the alternate", func(t *testing.T) {
		a := startAgent(t, lab.Password, servers()...)
		waited := make(chan error, 1)
		id, err := a.DialVia(ctxFor(t, 5*time.Second), via(1, 300*time.Millisecond, waited), "1002", 500*time.Millisecond)
		if err != nil {
			t.Fatalf("the alternate did not take the call: %v", err)
		}
		calls := callEventsUntil(t, a, 5*time.Second, func(c CallInfo) bool { return c.State == CallActive || c.State == CallEnded })
		wantOneCallThroughTheAlternate(t, a, id, calls, far.Received("INVITE"))
	})

	t.Run("next gives up", func(t *testing.T) {
		a := startAgent(t, lab.Password, servers()...)
		waited := make(chan error, 1)
		id, err := a.DialVia(ctxFor(t, 5*time.Second), via(-1, 100*time.Millisecond, waited), "1002", 300*time.Millisecond)
		var de *DialError
		if !errors.As(err, &de) || len(de.Attempts) != 1 || !slices.Equal(de.Unanswered(), []int{0}) {
			t.Fatalf("dial: %v, want a DialError of home's unanswered INVITE", err)
		}
		calls := callEventsUntil(t, a, time.Second, func(c CallInfo) bool { return c.State == CallEnded })
		const plain = "the server did not answer (home)"
		if len(calls) != 2 || calls[0].ID != id || calls[1].ID != id || calls[1].Reason != plain {
			t.Fatalf("call events %s, want one call %s: dialing, then ended %q", describeCalls(calls), id, plain)
		}
	})

	t.Run("hung up while waiting", func(t *testing.T) {
		a := startAgent(t, lab.Password, servers()...)
		waited := make(chan error, 1)
		go a.DialVia(ctxFor(t, 10*time.Second), via(1, time.Minute, waited), "1002", 300*time.Millisecond)
		dialing := callEventsUntil(t, a, time.Second, func(c CallInfo) bool { return c.State == CallDialing })
		time.Sleep(500 * time.Millisecond) // home's 300 ms are over: the call waits in next
		start := time.Now()
		if err := a.Hangup(dialing[0].ID, "hung up"); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("the hang-up took %s: the wait for the next server did not end", took)
		}
		select {
		case err := <-waited:
			if err == nil {
				t.Fatal("next's wait was not cut short by the hang-up")
			}
		case <-time.After(time.Second):
			t.Fatal("next never returned")
		}
		ended := waitCall(t, a, dialing[0].ID, CallEnded, time.Second)
		if ended.Reason != "cancelled" {
			t.Fatalf("ended with %q, want cancelled", ended.Reason)
		}
	})
}

// What the user dials becomes a SIP URI: numbers and users at the account's domain.
func TestTargetURI(t *testing.T) {
	a := bareAgent()
	a.opts.Account.Domain = "example.com"
	for target, want := range map[string]string{
		"1002":                   "sip:1002@example.com",
		"bob@other.example":      "sip:bob@other.example",
		"sip:1002@10.0.0.1:5070": "sip:1002@10.0.0.1:5070",
		"sips:bob@example.com":   "sips:bob@example.com",
		"":                       "",
		"@example.com":           "",
		"bob@":                   "",
	} {
		u, err := a.targetURI(target)
		if want == "" {
			if err == nil {
				t.Errorf("%q accepted as %s", target, u.String())
			}
			continue
		}
		if err != nil || u.String() != want {
			t.Errorf("%q: %s, %v; want %s", target, u.String(), err, want)
		}
	}
}
