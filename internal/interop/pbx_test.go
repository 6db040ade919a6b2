package interop

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
	"stayline/phone"
)

// pbxInterval is the lab PBX's session interval (lab.ServerOptions.SessionExpires): 90 s, RFC 4028's
// floor and what PBXs commonly enforce; STAYLINE_PBX_INTERVAL (seconds) shortens it when trying things out.
func pbxInterval() time.Duration {
	if v, err := strconv.Atoi(os.Getenv("STAYLINE_PBX_INTERVAL")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 90 * time.Second
}

// waitCall waits for a call event of id in state, failing on an end it does not wait for.
func waitCall(t *testing.T, a *phone.Agent, id string, state phone.CallState, within time.Duration) phone.CallInfo {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-a.Events():
			if ev.Kind != phone.EventCall || ev.Call.ID != id {
				continue
			}
			if ev.Call.State == state {
				return ev.Call
			}
			if ev.Call.State == phone.CallEnded {
				t.Fatalf("call %s ended (%q) while waiting for %s", id, ev.Call.Reason, state)
			}
		case <-deadline:
			t.Fatalf("call %s never %s", id, state)
		}
	}
}

func rxPackets(a *phone.Agent, id string) uint64 {
	for _, c := range a.Calls() {
		if c.ID == id {
			return c.Stats.RxPackets
		}
	}
	return 0
}

// callBaresip starts a phone registered on k (RequestTimeout 500 ms, logging to log) and a baresip 1003 there, and calls
// it: the call is active when it returns.
func callBaresip(t *testing.T, k *lab.Server, log io.Writer) (*phone.Agent, string) {
	t.Helper()
	bs := labtest.Baresip(t, "1003", k.Addr())
	a, err := phone.Start(phone.Options{Account: config.Account{User: "1001", Password: lab.Password, Domain: "127.0.0.1"},
		Servers: []config.Server{{Name: "home", Address: k.Addr(), Transport: config.TransportUDP}},
		Listen:  "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(log, nil)), RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.Register(ctx, 0, time.Minute, time.Second); err != nil {
		t.Fatal(err)
	}
	id, err := a.Dial(ctx, 0, "1003", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, phone.CallRinging, 5*time.Second)
	if _, err := bs.Command("accept", ""); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, phone.CallActive, 5*time.Second)
	return a, id
}

// syncBuffer is a log both the phone's goroutines and the test use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lastsFor fails the test if the call ends within d, and checks that media still flows after it.
func lastsFor(t *testing.T, a *phone.Agent, id string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for waiting := true; waiting; {
		select {
		case ev := <-a.Events():
			if ev.Kind == phone.EventCall && ev.Call.ID == id && ev.Call.State == phone.CallEnded {
				t.Fatalf("the call ended within %s: %q", d, ev.Call.Reason)
			}
		case <-deadline:
			waiting = false
		}
	}
	before := rxPackets(a, id)
	time.Sleep(time.Second)
	if after := rxPackets(a, id); after < before+20 {
		t.Fatalf("media after %s: %d packets in a second", d, after-before)
	}
}

// A PBX that enforces session timers and hides its topology (Kamailio with sst at 90 s and topoh): a call
// to a real far end that knows nothing of timers (baresip) is refreshed by the phone, which the PBX made
// the refresher, and outlives the interval by 15 s (the refreshes at half of it and at its end both
// taken), media flowing to the end. Without the phone's refreshes the PBX ends it (BYE both ways) after one
// interval: this test then fails. (One interval, not two: 90 s of make test's budget.)
func TestLivePBXSessionTimerAndHiddenTopology(t *testing.T) {
	interval := pbxInterval()
	k := labtest.Server(t, "home", lab.ServerOptions{SessionExpires: int(interval / time.Second), HideTopology: true})
	a, id := callBaresip(t, k, io.Discard)
	lastsFor(t, a, id, interval+15*time.Second)
	if err := a.Hangup(id, "done"); err != nil {
		t.Fatal(err)
	}
}

// The same PBX (a 4 s interval here) dies in the middle of the call: the phone's refreshes find the proxy
// dead and go straight to baresip's Contact, which answers them, so the call, whose media never went
// through the proxy, is kept for two intervals more; it is not torn down because its proxy died.
func TestLiveSessionRefreshedStraightToTheFarEndWhenTheProxyDies(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{SessionExpires: 4})
	log := &syncBuffer{}
	a, id := callBaresip(t, k, log)
	if err := k.Kill(); err != nil {
		t.Fatal(err)
	}
	lastsFor(t, a, id, 10*time.Second)
	text := log.String()
	if !strings.Contains(text, "sending it straight to the far end") || strings.Contains(text, "session refresh not answered") ||
		strings.Contains(text, "session refresh refused") {
		t.Fatalf("the refreshes did not reach baresip straight; the phone's log:\n%s", text)
	}
	if err := a.Hangup(id, "done"); err != nil {
		t.Fatal(err)
	}
}
