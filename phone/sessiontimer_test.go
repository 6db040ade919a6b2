package phone

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// timerPBX runs a SIPp session-timer scenario registered as 1002 on a fresh home Kamailio, and a phone
// there asking for a 2 s session and taking 1 s (RFC 4028's 90 s floor, shortened for the test).
func timerPBX(t *testing.T, scenario string, calls int) (*Agent, *lab.SIPp) {
	t.Helper()
	k := labtest.Server(t, "home", lab.ServerOptions{})
	pbx := labtest.SIPp(t, scenario, "-m", strconv.Itoa(calls), "-rtp_echo", "-mp", strconv.Itoa(mediaPortPair(t)))
	if err := lab.RegisterWith(t.TempDir(), "1002", pbx.Port, k.Addr()); err != nil {
		t.Fatal(err)
	}
	a := startPhone(t, Options{Account: config.Account{Password: lab.Password}, Servers: []config.Server{srv("home", k, config.TransportUDP)},
		Codecs: []string{"PCMU"}, SessionExpires: 2 * time.Second, MinSE: time.Second})
	mustRegister(t, a)
	return a, pbx
}

func sippMessages(pbx *lab.SIPp) string {
	b, _ := os.ReadFile(pbx.MessagesFile())
	return string(b)
}

// A PBX that wants a longer session (422 Min-SE: 4) is asked again with 4 s; it makes the phone the
// refresher and allows UPDATE: two UPDATE refreshes come at half the interval, each naming the phone as
// refresher (lab/scenarios/uas-timer-update.xml checks them), and the call lasts until the PBX's BYE.
// Without UPDATE in the far end's Allow (uas-timer-reinvite.xml) the refresh is a re-INVITE offering the
// session as it is, ACKed.
func TestLiveSessionRefreshedByThePhone(t *testing.T) {
	for _, c := range []struct {
		scenario       string
		calls, updates int
	}{{"uas-timer-update", 2, 2}, {"uas-timer-reinvite", 1, 0}} {
		a, pbx := timerPBX(t, c.scenario, c.calls)
		id, err := a.Dial(context.Background(), 0, "1002", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		waitCall(t, a, id, CallActive, 5*time.Second)
		if ended := waitCall(t, a, id, CallEnded, 8*time.Second); ended.End != EndRemote {
			t.Fatalf("%s: ended %q, want the PBX's BYE after the refreshes\n%s", c.scenario, ended.Reason, sippMessages(pbx))
		}
		if code := pbx.Wait(5 * time.Second); code != 0 {
			t.Fatalf("%s: SIPp exited %d\n%s", c.scenario, code, sippMessages(pbx))
		}
		if n := pbx.Received("UPDATE"); n != c.updates {
			t.Fatalf("%s: SIPp got %d UPDATEs, want %d", c.scenario, n, c.updates)
		}
	}
}

// A far end that took the refresher's role and never refreshes: the phone ends the call before the
// interval is over, with a BYE and words.
func TestLiveSessionExpiresWithoutTheFarEndsRefresh(t *testing.T) {
	a, pbx := timerPBX(t, "uas-timer-silent", 1)
	id, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 5*time.Second)
	start := time.Now()
	ended := waitCall(t, a, id, CallEnded, 5*time.Second)
	if ended.Reason != causeSessionExpired.reason {
		t.Fatalf("ended %q, want %q", ended.Reason, causeSessionExpired.reason)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("ended %s after the answer, after the 3 s interval", d)
	}
	if code := pbx.Wait(5 * time.Second); code != 0 {
		t.Fatalf("SIPp exited %d\n%s", code, sippMessages(pbx))
	}
}

// The headers, both ways: Session-Expires and its compact form read with their refresher, a request
// below Min-SE answered 422 with ours, and our answer to a far end's request choosing the refresher.
func TestSessionTimerHeaders(t *testing.T) {
	m := sip.NewRequest(sip.UPDATE, sip.Uri{Scheme: "sip", Host: "h"})
	m.AppendHeader(sip.NewHeader("x", "120 ; refresher=UAS"))
	if d, r, ok := sessionExpiresOf(m); !ok || d != 120*time.Second || r != "uas" {
		t.Fatalf("compact Session-Expires read as %s %q %v", d, r, ok)
	}
	for _, bad := range []string{"", "0", "-5", "ninety", "99999999999"} {
		r := sip.NewRequest(sip.UPDATE, sip.Uri{Scheme: "sip", Host: "h"})
		r.AppendHeader(sip.NewHeader("Session-Expires", bad))
		if _, _, ok := sessionExpiresOf(r); ok {
			t.Errorf("Session-Expires %q taken", bad)
		}
	}
	a := bareAgent()
	short := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", Host: "h"})
	short.AppendHeader(sip.NewHeader("Session-Expires", "60"))
	res := a.tooBrief(short)
	if res == nil || res.StatusCode != 422 {
		t.Fatalf("Session-Expires 60 below Min-SE 90 answered %v, want 422", res)
	}
	if se, ok := minSEOf(res); !ok || se != rfcMinSE {
		t.Fatalf("422's Min-SE %s, want %s", se, rfcMinSE)
	}
	c := tracked(a, CallActive)
	for _, tc := range []struct{ se, supported, want string }{
		{"1800", "timer", "1800;refresher=uac"},
		{"1800", "", "1800;refresher=uas"},
		{"1800;refresher=uas", "timer", "1800;refresher=uas"},
		{"90;refresher=uac", "timer", "90;refresher=uac"},
	} {
		req := sip.NewRequest(sip.UPDATE, sip.Uri{Scheme: "sip", Host: "h"})
		req.AppendHeader(sip.NewHeader("Session-Expires", tc.se))
		if tc.supported != "" {
			req.AppendHeader(sip.NewHeader("Supported", tc.supported))
		}
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		c.answerSessionTimer(req, res)
		if h := res.GetHeader("Session-Expires"); h == nil || h.Value() != tc.want {
			t.Errorf("Session-Expires %s (Supported %q) answered %v, want %s", tc.se, tc.supported, h, tc.want)
		}
		if req := res.GetHeader("Require"); (req != nil) != (tc.want[len(tc.want)-3:] == "uac") {
			t.Errorf("Session-Expires %s: Require %v", tc.se, req)
		}
	}
	c.end(causeCancelled)
}

// A caller with session timers, through Kamailio (lab/scenarios/uac-timer.xml): asking for 1 s it is
// refused 422 with our Min-SE; asking for 4 s it is answered as the refresher (Session-Expires:
// 4;refresher=uac, Require: timer); its one UPDATE refresh is taken; when it stops refreshing, the phone
// ends the call with words before the interval is over.
func TestLiveCallerSessionTimer(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := startPhone(t, Options{Account: config.Account{Password: lab.Password}, Servers: []config.Server{srv("home", k, config.TransportUDP)},
		Codecs: []string{"PCMU"}, MinSE: 2 * time.Second})
	mustRegister(t, a)
	caller := labtest.SIPp(t, "uac-timer", "-m", "1", "-s", "1001", "-rtp_echo", "-mp", strconv.Itoa(mediaPortPair(t)), k.Addr())
	in := waitCall(t, a, "", CallIncoming, 5*time.Second)
	if err := a.Answer(in.ID); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, in.ID, CallActive, 5*time.Second)
	if ended := waitCall(t, a, in.ID, CallEnded, 8*time.Second); ended.Reason != causeSessionExpired.reason {
		t.Fatalf("ended %q, want %q\n%s", ended.Reason, causeSessionExpired.reason, sippMessages(caller))
	}
	if code := caller.Wait(5 * time.Second); code != 0 {
		t.Fatalf("SIPp exited %d\n%s", code, sippMessages(caller))
	}
}

// Glare (lab/scenarios/uas-glare.xml): the far end answers the phone's hold 491; the phone offers the hold
// again after RFC 3261's 2.1 to 4 s (it placed the call), and the call is held.
func TestLiveHoldRetriedAfterGlare(t *testing.T) {
	a, pbx := timerPBX(t, "uas-glare", 1)
	id, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 5*time.Second)
	start := time.Now()
	if err := a.Hold(id); err != nil {
		t.Fatalf("hold after a 491: %v\n%s", err, sippMessages(pbx))
	}
	if d := time.Since(start); d < 2100*time.Millisecond || d > 5*time.Second {
		t.Fatalf("held after %s, want the second offer 2.1 to 4 s after the 491", d)
	}
	waitCall(t, a, id, CallHeld, time.Second)
	waitCall(t, a, id, CallEnded, 5*time.Second)
	if code := pbx.Wait(5 * time.Second); code != 0 {
		t.Fatalf("SIPp exited %d\n%s", code, sippMessages(pbx))
	}
}
