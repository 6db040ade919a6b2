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
	last := calls[len(calls)-1]
	if calls[0].ID != id || calls[0].State != CallDialing || last.State != CallActive || last.Server != 1 {
		t.Fatalf("call events %s, want %s dialing ... active through the alternate", describeCalls(calls), id)
	}
	for _, c := range calls {
		if c.ID != id || c.State == CallEnded {
			t.Fatalf("call events %s: want one call %s, never ended", describeCalls(calls), id)
		}
	}
	if n := far.Received("INVITE"); n != 1 {
		t.Fatalf("the far end received %d INVITEs, want 1 (through the alternate)", n)
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
