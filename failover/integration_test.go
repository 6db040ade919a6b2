package failover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
	"stayline/phone"
)

// These tests run the real manager and the real SIP agent against two real Kamailio registrars.

var integrationTimers = lab.Timers{
	KeepaliveInterval: time.Second,
	KeepaliveTimeout:  500 * time.Millisecond,
	KeepaliveMisses:   1,
	FailbackHolddown:  2 * time.Second,
	BackoffBase:       500 * time.Millisecond,
	BackoffMax:        2 * time.Second,
	RegisterExpires:   60 * time.Second,
}

type livePhone struct {
	t   *testing.T
	m   *Manager
	sub *Subscription
	cfg *config.Config
}

func startLivePhone(t *testing.T, p *lab.Pair, extra string, edit ...func(*config.Config)) *livePhone {
	t.Helper()
	cfg, err := config.Parse("lab.toml", []byte(p.PhoneConfig("1001", integrationTimers, extra)))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(cfg)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := phone.ConfigOptions(cfg) // what internal/core does, which this package cannot import
	opts.Logger = quiet
	agent, err := phone.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	m := New(cfg, agent, WithLogger(quiet))
	lp := &livePhone{t: t, m: m, sub: m.Subscribe(), cfg: cfg}
	m.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.Shutdown(ctx)
		agent.Close()
	})
	return lp
}

// waitStage waits for a stage event (on server, if not "") and returns when it arrived.
func (lp *livePhone) waitStage(st Stage, server string, within time.Duration) time.Time {
	lp.t.Helper()
	ev := lp.waitEvent(within, string(st)+" on "+server, func(ev Event) bool {
		se, ok := ev.(*StageEvent)
		return ok && se.Stage == st && (server == "" || se.Server == server)
	})
	return ev.At()
}

func (lp *livePhone) waitEvent(within time.Duration, what string, match func(Event) bool) Event {
	lp.t.Helper()
	deadline := time.After(within)
	var seen []string
	for {
		select {
		case ev := <-lp.sub.C:
			if match(ev) {
				return ev
			}
			seen = append(seen, ev.Name()+" "+describeEvent(ev))
		case <-deadline:
			lp.t.Fatalf("no %s within %s; events:\n  %s", what, within, strings.Join(seen, "\n  "))
		}
	}
}

func describeEvent(ev Event) string {
	switch e := ev.(type) {
	case *StageEvent:
		return string(e.Stage) + "/" + e.Server + " (" + e.Reason + ")"
	case *RegisteredEvent:
		return e.Server
	case *UnregisteredEvent:
		return e.Server + " (" + e.Reason + ")"
	case *ServerEvent:
		return e.Server + " " + e.State + " (" + e.Reason + ")"
	}
	return ""
}

func killAt(t *testing.T, s *lab.Server) time.Time {
	t.Helper()
	at := time.Now()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	return at
}

func TestLiveKillHomeFailsOverToAlternate(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)

	killed := killAt(t, p.Home)
	lp.waitStage(StageTransition, "", 5*time.Second)
	onAlt := lp.waitStage(StageAlternate, "alternate", 5*time.Second)
	t.Logf("FIGURE failover.alternate.recover_ms %d (kill -9 of home -> registered on the alternate, UDP)",
		onAlt.Sub(killed).Milliseconds())
	if n := len(p.Alternate.RegisterLines()); n != 2 {
		t.Errorf("alternate saw %d REGISTERs, want 2 (challenge and answer)", n)
	}
	var r *Refusal
	if err := lp.m.Logoff(); !errors.As(err, &r) {
		t.Errorf("logoff on the alternate: %v, want refused", err)
	}

	// Home returns: failback once it has answered for the 2 s hold-down.
	if err := p.Home.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	lp.waitStage(StageFailback, "alternate", 10*time.Second)
	atHome := lp.waitStage(StageNormal, "home", 5*time.Second)
	if took := atHome.Sub(back); took < 2*time.Second {
		t.Errorf("failback %s after home returned, before the 2s hold-down", took)
	}
	lp.waitEvent(5*time.Second, "unregistered from the alternate", func(ev Event) bool {
		u, ok := ev.(*UnregisteredEvent)
		return ok && u.Server == "alternate"
	})
	time.Sleep(100 * time.Millisecond) // let the un-REGISTER reach Kamailio's log
	lines := p.Alternate.RegisterLines()
	if last := lines[len(lines)-1]; !strings.Contains(last, "expires=0") {
		t.Errorf("alternate's last REGISTER %q is not an un-REGISTER", last)
	}
}

func TestLiveBothDownIsNoService(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)
	killAt(t, p.Alternate)
	killAt(t, p.Home)
	lp.waitStage(StageNoService, "", 10*time.Second)
	for _, a := range []Action{ActDial, ActLogoff} {
		var r *Refusal
		if err := lp.m.Check(a, "1002"); !errors.As(err, &r) {
			t.Errorf("%s in noservice: %v, want refused", a, err)
		}
	}
	// The alternate returns first: the next backoff retry finds it.
	if err := p.Alternate.Start(); err != nil {
		t.Fatal(err)
	}
	lp.waitStage(StageAlternate, "alternate", 10*time.Second)
}

func TestLiveSimultaneousSwitchesWithoutRegister(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	lp := startLivePhone(t, p, "", func(c *config.Config) {
		c.Failover.Registration = config.RegisterSimultaneous
		c.Failover.SimultaneousRegistrations = 2
	})
	lp.waitStage(StageNormal, "home", 5*time.Second)
	lp.waitEvent(5*time.Second, "registered on the alternate too", func(ev Event) bool {
		r, ok := ev.(*RegisteredEvent)
		return ok && r.Server == "alternate"
	})
	before := len(p.Alternate.RegisterLines())
	killed := killAt(t, p.Home)
	lost := lp.waitStage(StageTransition, "", 5*time.Second)
	active := lp.waitStage(StageAlternate, "alternate", time.Second)
	if after := len(p.Alternate.RegisterLines()); after != before {
		t.Errorf("the switch sent %d REGISTERs to the alternate, want none", after-before)
	}
	t.Logf("FIGURE failover.simultaneous.switch_ms %d (kill -9 of home -> active on the alternate; detection %d ms + switch %d µs)",
		active.Sub(killed).Milliseconds(), lost.Sub(killed).Milliseconds(), active.Sub(lost).Microseconds())
}

func TestLiveTCPResetIsDetectedAtOnce(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	lp := startLivePhone(t, p, "", func(c *config.Config) {
		for i := range c.Servers {
			c.Servers[i].Transport = config.TransportTCP
		}
	})
	lp.waitStage(StageNormal, "home", 5*time.Second)
	killed := killAt(t, p.Home)
	lost := lp.waitStage(StageTransition, "", 5*time.Second)
	onAlt := lp.waitStage(StageAlternate, "alternate", 5*time.Second)
	t.Logf("FIGURE failover.tcp.detect_ms %.1f (kill -9 of home -> transition over TCP; on the alternate after %d ms)",
		float64(lost.Sub(killed).Microseconds())/1000, onAlt.Sub(killed).Milliseconds())
	for _, l := range p.Alternate.RegisterLines() {
		if !strings.Contains(l, "proto=tcp") {
			t.Errorf("REGISTER to the alternate not over TCP: %s", l)
		}
	}
}

func TestLiveWrongPasswordFollowsTheBackoff(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	lp := startLivePhone(t, p, "", func(c *config.Config) { c.Account.Password = "wrong" })
	lp.waitEvent(5*time.Second, "error telling the user", func(ev Event) bool {
		e, ok := ev.(*ErrorEvent)
		return ok && strings.Contains(e.Reason, "Check the password")
	})
	lp.waitStage(StageNoService, "", 5*time.Second)
	time.Sleep(4 * time.Second) // several backoff periods (0.5 s base, 2 s cap)
	for _, s := range []*lab.Server{p.Home, p.Alternate} {
		lines := s.RegisterLines()
		if len(lines)%2 != 0 && len(lines) > 1 {
			lines = lines[:len(lines)-1] // an attempt in flight at the end
		}
		var starts []float64
		for i := 0; i+1 < len(lines); i += 2 {
			// An attempt is two REGISTERs: one unauthenticated, answered with a challenge, then the answer.
			if field(lines[i], "auth") != "" || field(lines[i+1], "auth") == "" {
				t.Fatalf("%s: REGISTERs %d and %d are not one challenged attempt:\n%s\n%s", s.Name, i, i+1, lines[i], lines[i+1])
			}
			starts = append(starts, atof(field(lines[i], "t")))
		}
		if len(starts) < 2 || len(starts) > 7 {
			t.Fatalf("%s: %d attempts in about 5 s, want a few, spaced by the backoff", s.Name, len(starts))
		}
		for i := 1; i < len(starts); i++ {
			// failures=n waits min(2 s, 0.5 s·2^n) × 50-100 %: at least 0.5 s after the first.
			if gap := starts[i] - starts[i-1]; gap < 0.45 {
				t.Fatalf("%s: attempt %d only %.2f s after the previous one", s.Name, i, gap)
			}
		}
		t.Logf("%s: %d attempts, 2 REGISTERs each, at %v", s.Name, len(starts), starts)
	}
}

func field(line, name string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}

func atof(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func (lp *livePhone) waitCall(state CallState, within time.Duration) *CallEvent {
	lp.t.Helper()
	return lp.waitEvent(within, "call "+string(state), func(ev Event) bool {
		c, ok := ev.(*CallEvent)
		return ok && c.State == state
	}).(*CallEvent)
}

func (lp *livePhone) callStats(id string) CallStatus {
	lp.t.Helper()
	for _, c := range lp.m.Status().Calls {
		if c.ID == id {
			return c
		}
	}
	lp.t.Fatalf("no call %s in status", id)
	return CallStatus{}
}

// The seed's first rule: "If you are on a call when failover occurs, the call will remain active."
func TestLiveCallSurvivesFailoverAndHangsUpAfter(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	far := labtest.FarEnd(t, "1002", p.Home.Addr(), p.Alternate.Addr())
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)
	if err := lp.m.Dial("1002"); err != nil {
		t.Fatal(err)
	}
	id := lp.waitCall("active", 5*time.Second).ID
	time.Sleep(500 * time.Millisecond)
	before := lp.callStats(id)

	killAt(t, p.Home)
	lp.waitStage(StageTransition, "", 5*time.Second)
	lp.waitStage(StageAlternate, "alternate", 5*time.Second)
	if st := lp.callStats(id); st.State != "active" {
		t.Fatalf("call %s is %s after failover", id, st.State)
	}
	time.Sleep(time.Second)
	after := lp.callStats(id)
	if after.RxPackets < before.RxPackets+40 || after.TxPackets < before.TxPackets+40 {
		t.Fatalf("RTP stalled across the failover: before %+v, after %+v", before, after)
	}
	if after.Lost != 0 {
		t.Fatalf("lost %d RTP packets across the failover", after.Lost)
	}
	t.Logf("FIGURE call.rtp_lost %d (across kill -9 of home; rx %d -> %d, tx %d -> %d)",
		after.Lost, before.RxPackets, after.RxPackets, before.TxPackets, after.TxPackets)

	// Home returns: no failback while the call is up, whatever the hold-down says.
	if err := p.Home.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(integrationTimers.FailbackHolddown + 1500*time.Millisecond)
	if st, _ := lp.m.Stage(); st != StageAlternate {
		t.Fatalf("stage %s during a call: failback must wait until the phone is idle", st)
	}
	if err := lp.m.Hangup(id); err != nil {
		t.Fatal(err)
	}
	if ended := lp.waitCall("ended", 5*time.Second); ended.Reason != "hung up" {
		t.Fatalf("ended: %+v", ended)
	}
	if far.Received("BYE") != 1 {
		t.Fatal("the BYE did not reach the far end after the failover")
	}
	lp.waitStage(StageFailback, "alternate", 5*time.Second)
	lp.waitStage(StageNormal, "home", 5*time.Second)
}

func TestLiveIncomingCallAnsweredAndEndedByTheCaller(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)
	caller := labtest.Caller(t, "1001", p.Home.Addr(), 1500*time.Millisecond)
	in := lp.waitCall("incoming", 5*time.Second)
	if !strings.HasPrefix(in.Remote, "caller@") {
		t.Errorf("incoming call from %q", in.Remote)
	}
	if err := lp.m.Answer(""); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("active", 3*time.Second)
	time.Sleep(700 * time.Millisecond)
	if st := lp.callStats(in.ID); st.RxPackets < 20 || st.Lost != 0 {
		t.Fatalf("media of the answered call: %+v", st)
	}
	if ended := lp.waitCall("ended", 5*time.Second); ended.Reason != "the far end hung up" {
		t.Fatalf("ended: %+v", ended)
	}
	if code := caller.Wait(5 * time.Second); code != 0 {
		t.Fatalf("the caller's scenario failed (exit %d)", code)
	}
}

func TestLiveIncomingCallsRefusedWhenNoServiceOrBusy(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	labtest.FarEnd(t, "1002", p.Home.Addr())
	lp := startLivePhone(t, p, "", func(c *config.Config) {
		c.Calls.Lines = 1
		c.SIP.OnlyServers = false // the caller below rings the phone directly, with both servers dead
	})
	lp.waitStage(StageNormal, "home", 5*time.Second)

	// Every line in use: 486 Busy Here, relayed by the proxy.
	if err := lp.m.Dial("1002"); err != nil {
		t.Fatal(err)
	}
	id := lp.waitCall("active", 5*time.Second).ID
	busy := labtest.Caller(t, "1001", p.Home.Addr(), time.Second)
	busy.Wait(5 * time.Second)
	if busy.Received("SIP/2.0 486") != 1 {
		t.Fatal("a caller reaching a phone with every line busy did not get 486")
	}
	if err := lp.m.Hangup(id); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ended", 5*time.Second)

	// No service: 480, so a server would divert the call.
	killAt(t, p.Home)
	killAt(t, p.Alternate)
	lp.waitStage(StageNoService, "", 10*time.Second)
	direct := labtest.Caller(t, "1001", lp.m.Status().Listen, time.Second)
	direct.Wait(5 * time.Second)
	if direct.Received("SIP/2.0 480") != 1 {
		t.Fatal("a call in noservice was not answered 480")
	}
}

func (lp *livePhone) waitDigit(within time.Duration) string {
	lp.t.Helper()
	return lp.waitEvent(within, "a DTMF digit", func(ev Event) bool { _, ok := ev.(*DTMFEvent); return ok }).(*DTMFEvent).Digit
}

// baresip, a real softphone, as the far end: a call both ways, DTMF both ways, hold and resume, and the
// kill -9 of home in the middle of the call.
func TestLiveCallsWithBaresip(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", p.Home.Addr())
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)

	if err := lp.m.Dial("1003"); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.WaitEvent("CALL_INCOMING", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Command("accept", ""); err != nil {
		t.Fatal(err)
	}
	id := lp.waitCall("active", 5*time.Second).ID
	time.Sleep(600 * time.Millisecond)
	if st := lp.callStats(id); st.RxPackets < 20 || st.Lost != 0 {
		t.Fatalf("audio from baresip: %+v", st)
	}

	// DTMF out (RFC 4733), seen by baresip; and in, from baresip.
	if err := lp.m.DTMF("5"); err != nil {
		t.Fatal(err)
	}
	ev, err := bs.WaitEvent("CALL_DTMF_START", 3*time.Second)
	if err != nil || ev["param"] != "5" {
		t.Fatalf("baresip's DTMF event %v, %v; want 5", ev, err)
	}
	if _, err := bs.Command("sndcode", "9"); err != nil {
		t.Fatal(err)
	}
	if d := lp.waitDigit(3 * time.Second); d != "9" {
		t.Fatalf("digit from baresip %q, want 9", d)
	}

	// Hold and resume.
	if err := lp.m.Hold(""); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("held", 3*time.Second)
	if err := lp.m.Resume(""); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("active", 3*time.Second)

	// Home dies mid-call: the call and its audio go on; the hangup reaches baresip directly.
	before := lp.callStats(id)
	killAt(t, p.Home)
	lp.waitStage(StageAlternate, "alternate", 5*time.Second)
	time.Sleep(time.Second)
	after := lp.callStats(id)
	if after.RxPackets < before.RxPackets+40 || after.Lost != 0 {
		t.Fatalf("audio across the failover: before %+v, after %+v", before, after)
	}
	// The alternate offers hold: a re-INVITE after the failover reaches baresip past the dead proxy.
	if err := lp.m.Hold(id); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("held", 5*time.Second)
	if err := lp.m.Resume(id); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("active", 5*time.Second)
	if err := lp.m.Hangup(id); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ended", 5*time.Second)
	if _, err := bs.WaitEvent("CALL_CLOSED", 3*time.Second); err != nil {
		t.Fatalf("baresip never saw the hangup: %v", err)
	}
}

func TestLiveBaresipCallsThePhone(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", p.Home.Addr())
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)
	if _, err := bs.Command("dial", "sip:1001@"+p.Home.Addr()); err != nil {
		t.Fatal(err)
	}
	in := lp.waitCall("incoming", 5*time.Second)
	if !strings.HasPrefix(in.Remote, "1003@") {
		t.Errorf("incoming from %q, want 1003", in.Remote)
	}
	if err := lp.m.Answer(in.ID); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("active", 3*time.Second)
	if _, err := bs.WaitEvent("CALL_ESTABLISHED", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if st := lp.callStats(in.ID); st.RxPackets < 15 || st.Lost != 0 {
		t.Fatalf("audio from baresip: %+v", st)
	}
	if _, err := bs.Command("hangup", ""); err != nil {
		t.Fatal(err)
	}
	if ended := lp.waitCall("ended", 3*time.Second); ended.Reason != "the far end hung up" {
		t.Fatalf("ended %+v", ended)
	}
}

// callEcho waits for service on home, dials the lab's echo (600) and checks half a second of it comes
// back whole; it returns the call's id.
func (lp *livePhone) callEcho() string {
	lp.t.Helper()
	lp.waitStage(StageNormal, "home", 5*time.Second)
	if err := lp.m.Dial("600"); err != nil {
		lp.t.Fatal(err)
	}
	id := lp.waitCall("active", 5*time.Second).ID
	time.Sleep(500 * time.Millisecond)
	if st := lp.callStats(id); st.RxPackets < 15 || st.Lost != 0 {
		lp.t.Fatalf("echo: %+v", st)
	}
	return id
}

// make run's newcomer dials 600 and hears themself.
func TestLiveEchoTest600(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{EchoAddr: labtest.Echo(t)})
	lp := startLivePhone(t, p, "")
	if err := lp.m.Hangup(lp.callEcho()); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ended", 5*time.Second)
}

// The seed: "The Message Waiting Indicator is cleared" during failover; it comes back on home.
func TestLiveMessageWaitingAcrossFailover(t *testing.T) {
	vm, _ := labtest.Voicemail(t)
	p := labtest.Pair(t, lab.ServerOptions{VoicemailAddr: vm})
	lp := startLivePhone(t, p, "")
	lamp := func(waiting bool) {
		t.Helper()
		lp.waitEvent(5*time.Second, fmt.Sprintf("lamp %v", waiting), func(ev Event) bool {
			m, ok := ev.(*MWIEvent)
			return ok && m.Waiting == waiting
		})
	}
	lamp(true)
	killAt(t, p.Home)
	lamp(false) // cleared at once by the failover
	lp.waitStage(StageAlternate, "alternate", 5*time.Second)
	if err := p.Home.Start(); err != nil {
		t.Fatal(err)
	}
	lp.waitStage(StageNormal, "home", 10*time.Second)
	lamp(true) // subscribed again on home
}

// Hanging up a call that still rings cancels it; hanging up an incoming call declines it.
func TestLiveCancelAndDecline(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", p.Home.Addr())
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)

	if err := lp.m.Dial("1003"); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ringing", 5*time.Second)
	if _, err := bs.WaitEvent("CALL_INCOMING", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := lp.m.Hangup(""); err != nil {
		t.Fatal(err)
	}
	if ended := lp.waitCall("ended", 5*time.Second); ended.Reason != "cancelled" {
		t.Fatalf("cancelled call ended with %q", ended.Reason)
	}
	if _, err := bs.WaitEvent("CALL_CLOSED", 3*time.Second); err != nil {
		t.Fatalf("baresip never saw the CANCEL:\n%s", bs.Log())
	}

	if _, err := bs.Command("dial", "sip:1001@127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("incoming", 5*time.Second)
	if err := lp.m.Hangup(""); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ended", 5*time.Second)
	ev, err := bs.WaitEvent("CALL_CLOSED", 3*time.Second)
	if err != nil || !strings.Contains(fmt.Sprint(ev["param"]), "603") {
		t.Fatalf("baresip's view of the declined call: %v %v", ev, err)
	}
}
