package phone

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"stayline/audio"
	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// waitCall waits for a call event of id (any id if "") in state.
func waitCall(t *testing.T, a *Agent, id string, state CallState, within time.Duration) CallInfo {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-a.Events():
			if ev.Kind == EventCall && (id == "" || ev.Call.ID == id) && ev.Call.State == state {
				return ev.Call
			}
		case <-deadline:
			t.Fatalf("call %s never %s", id, state)
		}
	}
}

func callStats(t *testing.T, a *Agent, id string) MediaStats {
	for _, c := range a.Calls() {
		if c.ID == id {
			return c.Stats
		}
	}
	t.Fatalf("no call %s", id)
	return MediaStats{}
}

func TestCallThroughKamailioToSIPpEcho(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	far := labtest.FarEnd(t, "1002", k.Addr())
	a := startAgent(t, lab.Password, srv("home", k, config.TransportUDP))
	a.opts.Codecs = []string{"PCMU"}
	if _, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	id, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 5*time.Second)
	t.Logf("FIGURE call.setup_ms %.1f (dial -> 200 OK and ACK through Kamailio to SIPp)", float64(time.Since(start).Microseconds())/1000)
	eventually(t, 3*time.Second, "echoed RTP", func() bool { return callStats(t, a, id).RxPackets >= 50 })
	st := callStats(t, a, id)
	if st.Codec != "PCMU" || st.Lost != 0 || st.TxPackets < 50 {
		t.Fatalf("stats %+v", st)
	}
	if err := a.Hangup(id, "hung up"); err != nil {
		t.Fatal(err)
	}
	ended := waitCall(t, a, id, CallEnded, 5*time.Second)
	if ended.Reason != "hung up" {
		t.Fatalf("ended: %+v", ended)
	}
	if n := far.Received("BYE"); n != 1 {
		b, _ := os.ReadFile(far.MessagesFile())
		t.Fatalf("the far end received %d BYEs, want 1\n%s", n, b)
	}
}

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

// callEventsUntil gathers a's call events until one satisfies last (included), failing after within.
func callEventsUntil(t *testing.T, a *Agent, within time.Duration, last func(CallInfo) bool) []CallInfo {
	t.Helper()
	deadline := time.After(within)
	var out []CallInfo
	for {
		select {
		case ev := <-a.Events():
			if ev.Kind != EventCall {
				continue
			}
			out = append(out, ev.Call)
			if last(ev.Call) {
				return out
			}
		case <-deadline:
			t.Fatalf("call events so far %s, and no more within %s", describeCalls(out), within)
		}
	}
}

// describeCalls lists call events as "id state (server) reason".
func describeCalls(calls []CallInfo) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "[%s %s (%d) %s] ", c.ID, c.State, c.Server, c.Reason)
	}
	return b.String()
}

func TestDialErrorSpeaksPlainly(t *testing.T) {
	noAnswer := func(name string) error { return fmt.Errorf("%w within 1s (%s)", ErrNoResponse, name) }
	unreachable := fmt.Errorf("%w: dial tcp 127.0.0.1:5060: connect: connection refused", errUnreachable)
	unavailable := &StatusError{Method: "INVITE", Code: 503, Reason: "Service Unavailable"}
	for _, tc := range []struct {
		attempts []DialAttempt
		want     string
	}{
		{[]DialAttempt{{0, "home", noAnswer("home")}}, "the server did not answer (home)"},
		{[]DialAttempt{{0, "home", unreachable}}, "the server could not be reached (home)"},
		{[]DialAttempt{{0, "home", unavailable}}, "service unavailable (503 Service Unavailable)"},
		{[]DialAttempt{{0, "home", noAnswer("home")}, {1, "branch", unreachable}}, "no server answered (tried home, branch)"},
		{[]DialAttempt{{0, "home", noAnswer("home")}, {1, "branch", unavailable}},
			"no server took the call (home: did not answer; branch: service unavailable (503 Service Unavailable))"},
	} {
		e := &DialError{Target: "911", Attempts: tc.attempts}
		if got := e.Reason(); got != tc.want {
			t.Errorf("Reason() = %q, want %q", got, tc.want)
		}
	}
	e := &DialError{Target: "911", Attempts: []DialAttempt{{0, "home", noAnswer("home")}, {1, "branch", unreachable}}}
	if !errors.Is(e, ErrNoResponse) || !slices.Equal(e.Unanswered(), []int{0}) {
		t.Errorf("unanswered %v, errors.Is(ErrNoResponse) %v", e.Unanswered(), errors.Is(e, ErrNoResponse))
	}
	// The log keeps the details.
	if s := e.Error(); !strings.Contains(s, "home: the server did not answer the INVITE within 1s") || !strings.Contains(s, "connection refused") {
		t.Errorf("Error() = %q", s)
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

// registeredAgent is an agent registered as 1001 on k.
func registeredAgent(t *testing.T, k *lab.Server, transport config.Transport) *Agent {
	t.Helper()
	a := startAgent(t, lab.Password, srv("home", k, transport))
	if _, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout); err != nil {
		t.Fatal(err)
	}
	return a
}

// nullEngine is a sound engine with no device, closed at the end of the test.
func nullEngine(t *testing.T) *audio.Engine {
	t.Helper()
	e, err := audio.OpenEngine(audio.EngineOptions{Backend: "null"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// activeCall registers on k, calls 1002 (an echoing SIPp) and waits for media.
func activeCall(t *testing.T, servers ...config.Server) (*Agent, string) {
	t.Helper()
	a := startAgent(t, lab.Password, servers...)
	if _, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout); err != nil {
		t.Fatal(err)
	}
	id, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 5*time.Second)
	eventually(t, 3*time.Second, "echoed RTP", func() bool { return callStats(t, a, id).RxPackets >= 10 })
	return a, id
}

func TestHoldAndResume(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	far := labtest.FarEnd(t, "1002", k.Addr())
	a, id := activeCall(t, srv("home", k, config.TransportUDP))
	if err := a.Hold(id); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallHeld, 2*time.Second)
	time.Sleep(100 * time.Millisecond)
	held := callStats(t, a, id).TxPackets
	time.Sleep(300 * time.Millisecond)
	if sent := callStats(t, a, id).TxPackets - held; sent != 0 {
		t.Fatalf("sent %d RTP packets while holding", sent)
	}
	if err := a.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 2*time.Second)
	resumed := callStats(t, a, id).TxPackets
	eventually(t, 2*time.Second, "audio again", func() bool { return callStats(t, a, id).TxPackets > resumed+10 })
	if n := far.Received("INVITE"); n != 3 {
		t.Fatalf("far end got %d INVITEs, want the call's and two re-INVITEs", n)
	}
}

// The echoing far end sends our RFC 4733 events back, so the digits come in as well as go out.
func TestDTMFOutAndBackIn(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	labtest.FarEnd(t, "1002", k.Addr())
	a, id := activeCall(t, srv("home", k, config.TransportUDP))
	if err := a.SendDTMF(id, "42#"); err != nil {
		t.Fatal(err)
	}
	var got []byte
	deadline := time.After(3 * time.Second)
	for len(got) < 3 {
		select {
		case ev := <-a.Events():
			if ev.Kind == EventDigit && ev.Call.ID == id {
				got = append(got, ev.Digit)
			}
		case <-deadline:
			t.Fatalf("digits received back: %q, want 42#", got)
		}
	}
	if string(got) != "42#" {
		t.Fatalf("digits received back: %q, want 42#", got)
	}
}

// After the proxy in the route set dies, the call's media keeps flowing (it never went through the
// proxy) and the BYE still reaches the far end, sent to its Contact directly.
func TestHangupAfterProxyDied(t *testing.T) {
	for _, told := range []bool{true, false} {
		name := map[bool]string{true: "manager knows the proxy is down", false: "route fails first"}[told]
		t.Run(name, func(t *testing.T) {
			k := labtest.Server(t, "home", lab.ServerOptions{})
			far := labtest.FarEnd(t, "1002", k.Addr())
			a, id := activeCall(t, srv("home", k, config.TransportUDP))
			a.opts.RequestTimeout = 300 * time.Millisecond
			before := callStats(t, a, id)
			if err := k.Kill(); err != nil {
				t.Fatal(err)
			}
			if told {
				a.SetServerHealth(0, false)
			}
			time.Sleep(500 * time.Millisecond)
			after := callStats(t, a, id)
			if after.RxPackets < before.RxPackets+20 || after.Lost != 0 {
				t.Fatalf("media across the proxy's death: before %+v, after %+v", before, after)
			}
			start := time.Now()
			if err := a.Hangup(id, "hung up"); err != nil {
				t.Fatal(err)
			}
			waitCall(t, a, id, CallEnded, 5*time.Second)
			if n := far.Received("BYE"); n < 1 {
				t.Fatalf("the BYE never reached the far end")
			}
			t.Logf("hangup took %s", time.Since(start))
		})
	}
}

// The phone's own tones follow its calls: ringback while the far end rings, silence once it answers.
func TestTonesFollowTheCall(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)
	engine := nullEngine(t)
	a.opts.Audio = engine
	id, err := a.Dial(context.Background(), 0, "1003", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallRinging, 3*time.Second)
	if tone := engine.CurrentTone(); tone != audio.ToneRingback {
		t.Fatalf("tone while the far end rings: %s", tone)
	}
	if _, err := bs.Command("accept", ""); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 3*time.Second)
	if tone := engine.CurrentTone(); tone != audio.ToneNone {
		t.Fatalf("tone during the call: %s", tone)
	}
	a.Hangup(id, "hung up")
}

// Blind transfer: baresip, asked by REFER, calls the echoing far end, reports success by NOTIFY, and our
// call ends as transferred.
func TestBlindTransferToAnotherParty(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	far := labtest.FarEnd(t, "1002", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)
	id, err := a.Dial(context.Background(), 0, "1003", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.WaitEvent("CALL_INCOMING", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	bs.Command("accept", "")
	waitCall(t, a, id, CallActive, 3*time.Second)
	if err := a.Transfer(id, "1002"); err != nil {
		t.Fatal(err)
	}
	ended := waitCall(t, a, id, CallEnded, 10*time.Second)
	if ended.Reason != "transferred to sip:1002@127.0.0.1" {
		t.Fatalf("ended with %q", ended.Reason)
	}
	if far.Received("INVITE") != 1 {
		t.Fatal("the transfer target was never called")
	}
}

// Attended transfer between two Stayline phones: A talks to B, holds B, consults the far end, then
// transfers: B (the transferee) replaces A's consultation call with a call of its own (INVITE with
// Replaces) and both of A's calls end. (baresip 1.0 cannot be the transferee here: it runs the
// Refer-To through printf, and the escaped Replaces comes out as garbage.)
func TestAttendedTransferJoinsTheTwoCalls(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	far := labtest.FarEnd(t, "1002", k.Addr())
	a := startAgent(t, lab.Password, srv("home", k, config.TransportUDP))
	b, err := Start(Options{Account: config.Account{User: "1004", Password: lab.Password, Domain: "127.0.0.1"},
		Servers: []config.Server{srv("home", k, config.TransportUDP)}, Listen: "127.0.0.1:0",
		Logger: a.opts.Logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for _, ag := range []*Agent{a, b} {
		if _, err := ag.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout); err != nil {
			t.Fatal(err)
		}
	}
	first, err := a.Dial(context.Background(), 0, "1004", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	in := waitCall(t, b, "", CallIncoming, 3*time.Second)
	b.Answer(in.ID)
	waitCall(t, a, first, CallActive, 3*time.Second)
	if err := a.Hold(first); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, first, CallHeld, 3*time.Second)
	consult, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, consult, CallActive, 3*time.Second)
	if err := a.Transfer(first, consult); err != nil {
		t.Fatal(err)
	}
	ended := map[string]string{}
	deadline := time.After(10 * time.Second)
	for len(ended) < 2 {
		select {
		case ev := <-a.Events():
			if ev.Kind == EventCall && ev.Call.State == CallEnded {
				ended[ev.Call.ID] = ev.Call.Reason
			}
		case <-deadline:
			t.Fatalf("ended so far: %v", ended)
		}
	}
	if ended[consult] != "joined by the transfer" || !strings.HasPrefix(ended[first], "transferred to sip:1002@127.0.0.1?Replaces=") {
		t.Fatalf("ended %v", ended)
	}
	msgs, _ := os.ReadFile(far.MessagesFile())
	if far.Received("INVITE") != 2 || !strings.Contains(string(msgs), "Replaces: ") {
		t.Fatal("the far end never got the transferee's INVITE with Replaces")
	}
	// B now talks to the far end.
	if calls := b.Calls(); len(calls) != 1 || calls[0].Remote != "1002@127.0.0.1" || calls[0].State != CallActive {
		t.Fatalf("the transferee's calls: %+v", calls)
	}
}

// baresip transfers us (blind): the phone calls the target itself and its first call ends.
func TestTransferredByBaresip(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	far := labtest.FarEnd(t, "1002", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)
	id := callBaresip(t, a, bs, "1003")
	if _, err := bs.Command("transfer", "sip:1002@127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	ended := waitCall(t, a, id, CallEnded, 10*time.Second)
	if ended.Reason != "transferred by the far end to sip:1002@127.0.0.1" {
		t.Fatalf("ended with %q", ended.Reason)
	}
	if far.Received("INVITE") != 1 {
		t.Fatal("the phone did not call the transfer target")
	}
	if calls := a.Calls(); len(calls) != 1 || calls[0].Remote != "1002@127.0.0.1" {
		t.Fatalf("calls after the transfer: %+v", calls)
	}
}

// A three-way conference mixed here: what baresip says (its 440 Hz tone) is sent on to the echoing far
// end, which plays it back: the level received on the echo call rises from silence to the tone's.
func TestConferenceMixesTheParties(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	labtest.FarEnd(t, "1002", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)
	engine := nullEngine(t)
	a.opts.Audio = engine
	echo, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, echo, CallActive, 3*time.Second)
	if err := a.Hold(echo); err != nil {
		t.Fatal(err)
	}
	tone := callBaresip(t, a, bs, "1003")
	eventually(t, 3*time.Second, "baresip's tone", func() bool { return callStats(t, a, tone).RxLevel > 1000 })
	if err := a.Conference(echo, tone); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "baresip's tone, echoed back through the conference",
		func() bool { return callStats(t, a, echo).RxLevel > 1000 })
}

func TestMessageWaitingFromTheVoicemail(t *testing.T) {
	vmAddr, vm := labtest.Voicemail(t)
	k := labtest.Server(t, "home", lab.ServerOptions{VoicemailAddr: vmAddr})
	a := startAgent(t, lab.Password, srv("home", k, config.TransportUDP))
	if err := a.SubscribeMWI(ctxFor(t, 2*time.Second), 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(3 * time.Second)
	for {
		select {
		case ev := <-a.Events():
			if ev.Kind == EventMWI {
				if !ev.Waiting || ev.Server != 0 {
					t.Fatalf("MWI event %+v", ev)
				}
				if err := a.UnsubscribeMWI(ctxFor(t, 2*time.Second), 0); err != nil {
					t.Fatalf("unsubscribe: %v", err)
				}
				if vm.Received("SUBSCRIBE") != 2 {
					t.Fatal("the voicemail did not see the subscription end")
				}
				return
			}
		case <-deadline:
			t.Fatal("no message-waiting report")
		}
	}
}

// recorder is a Sink that keeps what it is given.
type recorder struct {
	mu  sync.Mutex
	pcm []int16
}

func (r *recorder) Write(pcm []int16) {
	r.mu.Lock()
	r.pcm = append(r.pcm, pcm...)
	r.mu.Unlock()
}

func (r *recorder) samples() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.pcm...)
}

// expectTone checks that the last half second of pcm (at rate) is a tone of freq Hz (±20), clearly audible.
func expectTone(t *testing.T, pcm []int16, rate, freq int, what string) {
	t.Helper()
	if len(pcm) < rate {
		t.Fatalf("%s: only %d samples played", what, len(pcm))
	}
	tail := pcm[len(pcm)-rate/2:] // half a second, well after the start
	crossings := 0
	var peak int16
	for i := 1; i < len(tail); i++ {
		if (tail[i-1] < 0) != (tail[i] < 0) {
			crossings++
		}
		peak = max(peak, tail[i])
	}
	got := float64(crossings) / 2 / 0.5
	if got < float64(freq-20) || got > float64(freq+20) || peak < 1000 {
		t.Fatalf("decoded %s as %.0f Hz at peak %d, want its %d Hz tone", what, got, peak, freq)
	}
}

// Wideband calls with baresip: the codec is negotiated, and our decoder turns baresip's audio back into
// its 440 Hz tone at 16 kHz.
func TestWidebandCallsWithBaresip(t *testing.T) {
	for _, codec := range []string{"G722", "opus"} {
		t.Run(codec, func(t *testing.T) { widebandCall(t, codec) })
	}
}

func widebandCall(t *testing.T, codec string) {
	if _, err := audio.NewCodec(codec); err != nil {
		t.Skip(err)
	}
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)
	a.opts.Codecs = []string{codec}
	id := callBaresip(t, a, bs, "1003")
	c, err := a.lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	c.media.setAudio(&audio.Sine{Freq: 1000, Rate: 16000, Level: 0.3}, rec)
	time.Sleep(1500 * time.Millisecond)
	if st := callStats(t, a, id); st.Codec != codec || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
	expectTone(t, rec.samples(), 16000, 440, "baresip's "+codec)
	if !strings.Contains(strings.ToLower(bs.Log()), "set audio decoder: "+strings.ToLower(codec)) {
		t.Fatalf("baresip did not decode %s", codec)
	}
}

// A far end without RFC 4733 gets its digits by SIP INFO, one request a digit.
func TestDTMFFallsBackToSIPInfo(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	far := labtest.FarEndWithoutEvents(t, "1002", k.Addr())
	a, id := activeCall(t, srv("home", k, config.TransportUDP))
	if err := a.SendDTMF(id, "73"); err != nil {
		t.Fatal(err)
	}
	if n := far.Received("INFO"); n != 2 {
		t.Fatalf("far end got %d INFOs, want 2", n)
	}
	msgs, _ := os.ReadFile(far.MessagesFile())
	if !strings.Contains(string(msgs), "Signal=7") || !strings.Contains(string(msgs), "Signal=3") {
		t.Fatal("the INFO bodies do not carry the digits")
	}
}

// RFC 4733 encoding: a digit's packets share its timestamp, the duration grows, the last three carry
// the end bit, and the receiver reports the digit once.
func TestDTMFEventEncoding(t *testing.T) {
	code, _ := dtmfCode('#')
	s := &dtmfSender{digit: code, ts: 4242}
	var rx lastDigit
	var got []byte
	ends := 0
	for i := 0; !s.done(); i++ {
		p, marker := s.next(160)
		if marker != (i == 0) {
			t.Fatalf("packet %d marker %v", i, marker)
		}
		if p[0] != 11 || p[1]&0x3f != dtmfVolume {
			t.Fatalf("packet %d payload % x", i, p)
		}
		if p[1]&0x80 != 0 {
			ends++
		}
		if d, ok := rx.event(s.ts, p); ok {
			got = append(got, d)
		}
	}
	if ends != dtmfEndRepeat || string(got) != "#" {
		t.Fatalf("%d end packets, digits %q", ends, got)
	}
	if _, ok := dtmfCode('x'); ok {
		t.Fatal("x accepted as a DTMF key")
	}
}

// A call over TCP to the phone's server, the far end on UDP behind it: the proxy bridges the
// transports; after the proxy dies the hangup goes straight to the far end, over the far end's own UDP.
func TestCallOverTCPAndHangupAfterTheProxyDied(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	far := labtest.FarEnd(t, "1002", k.Addr())
	a, id := activeCall(t, srv("home", k, config.TransportTCP))
	a.opts.RequestTimeout = 300 * time.Millisecond
	st := callStats(t, a, id)
	if st.Lost != 0 || st.RxPackets < 10 {
		t.Fatalf("media of a TCP-signalled call: %+v", st)
	}
	k.Kill()
	select {
	case ev := <-a.Events():
		for ev.Kind != EventConnectionLost {
			ev = <-a.Events()
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the TCP connection's end was not seen")
	}
	a.SetServerHealth(0, false)
	if err := a.Hangup(id, "hung up"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallEnded, 5*time.Second)
	if far.Received("BYE") != 1 {
		t.Fatal("the BYE did not reach the far end")
	}
}

// callBaresip dials user's baresip from a, has it accept, and waits until the call is active on a.
func callBaresip(t *testing.T, a *Agent, bs *lab.Baresip, user string) string {
	t.Helper()
	id, err := a.Dial(context.Background(), 0, user, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.WaitEvent("CALL_INCOMING", 3*time.Second); err != nil {
		t.Fatalf("baresip %s: %v", user, err)
	}
	bs.Command("accept", "")
	waitCall(t, a, id, CallActive, 3*time.Second)
	return id
}
