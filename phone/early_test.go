package phone

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"stayline/audio"
	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// earlyPBX runs a SIPp scenario registered as 1002 on a fresh home Kamailio, and a phone with the null
// sound engine registered there; fail reports SIPp's messages with the failure.
func earlyPBX(t *testing.T, scenario string) (*Agent, *audio.Engine, *lab.SIPp, func(string, ...any)) {
	t.Helper()
	k := labtest.Server(t, "home", lab.ServerOptions{})
	pbx := labtest.SIPp(t, scenario, "-m", "1", "-mp", strconv.Itoa(mediaPortPair(t)))
	if err := lab.RegisterWith(t.TempDir(), "1002", pbx.Port, k.Addr()); err != nil {
		t.Fatal(err)
	}
	engine := nullEngine(t)
	a := startPhone(t, Options{Account: config.Account{Password: lab.Password}, Servers: []config.Server{srv("home", k, config.TransportUDP)},
		Codecs: []string{"PCMU", "PCMA"}, Audio: engine})
	mustRegister(t, a)
	fail := func(format string, args ...any) {
		t.Helper()
		b, _ := os.ReadFile(pbx.MessagesFile())
		t.Fatalf(format+"\nSIPp's messages:\n%s", append(args, b)...)
	}
	return a, engine, pbx, fail
}

// A carrier's announcement before the answer (lab/scenarios/uas-early-media.xml): its 183 with SDP comes
// reliably and is PRACKed (the scenario checks the RAck); the call is `early`, with the codec and packet
// counts of a talking call, the announcement is played and not the local ringback, and the 200 then
// makes it active; the carrier's BYE ends it.
func TestLiveEarlyMediaReliable183IsPRACKed(t *testing.T) {
	a, engine, pbx, fail := earlyPBX(t, "uas-early-media")
	id, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	early := waitCall(t, a, id, CallEarly, 3*time.Second)
	if early.Stats.Codec != "PCMA" {
		fail("early media codec %q, want the 183's PCMA", early.Stats.Codec)
	}
	eventually(t, 3*time.Second, "early audio received", func() bool { return callStats(t, a, id).RxPackets >= 50 })
	if tone := engine.CurrentTone(); tone != audio.ToneNone {
		fail("tone %s while the far end's early media plays, want none", tone)
	}
	if st := callStats(t, a, id); st.Lost > 5 {
		fail("early media lost %d packets", st.Lost)
	}
	for _, c := range a.Calls() {
		if c.ID == id && c.State != CallEarly {
			fail("call %s during the announcement, want early", c.State)
		}
	}
	waitCall(t, a, id, CallActive, 8*time.Second)
	if ended := waitCall(t, a, id, CallEnded, 5*time.Second); ended.End != EndRemote {
		fail("ended %q (%s), want the far end's hang-up", ended.Reason, ended.End)
	}
	if code := pbx.Wait(10 * time.Second); code != 0 {
		fail("SIPp exited %d", code)
	}
	msgs, _ := os.ReadFile(pbx.MessagesFile())
	inv := regexp.MustCompile(`(?m)^CSeq: (\d+) INVITE`).FindSubmatch(msgs)
	rack := regexp.MustCompile(`(?m)^RAck: 1 (\d+) INVITE`).FindSubmatch(msgs)
	if inv == nil || rack == nil || string(inv[1]) != string(rack[1]) {
		fail("the PRACK's RAck does not name the INVITE's CSeq")
	}
}

// Early media that stays silent (lab/scenarios/uas-early-silent.xml): the 181 says "forwarded" on the call,
// the 183 with SDP makes it early, and with no packet after a second the phone plays its own ringback; the
// 200's answer (PCMA) replaces the 183's (PCMU), and its P-Asserted-Identity names the party reached.
func TestLiveSilentEarlyMediaGetsTheLocalRingback(t *testing.T) {
	a, engine, pbx, fail := earlyPBX(t, "uas-early-silent")
	id, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c := waitCall(t, a, id, CallRinging, 3*time.Second); c.Progress != ProgressForwarded {
		fail("after the 181 the call's progress is %q, want %q", c.Progress, ProgressForwarded)
	}
	early := waitCall(t, a, id, CallEarly, 3*time.Second)
	if early.Stats.Codec != "PCMU" || early.Progress != ProgressForwarded {
		fail("early call %+v: want PCMU, still forwarded", early)
	}
	if tone := engine.CurrentTone(); tone != audio.ToneNone {
		fail("tone %s at once, want none until early media has been silent for %s", tone, earlyQuiet)
	}
	eventually(t, earlyQuiet+time.Second, "the local ringback", func() bool { return engine.CurrentTone() == audio.ToneRingback })
	active := waitCall(t, a, id, CallActive, 5*time.Second)
	if active.Stats.Codec != "PCMA" {
		fail("active call's codec %q, want the 200's PCMA", active.Stats.Codec)
	}
	if active.Remote != "1009@127.0.0.1" || active.Name != "Reception" {
		fail("answered by %q %q, want the 200's asserted \"Reception\" 1009@127.0.0.1", active.Name, active.Remote)
	}
	if tone := engine.CurrentTone(); tone != audio.ToneNone {
		fail("tone %s once answered", tone)
	}
	waitCall(t, a, id, CallEnded, 5*time.Second)
	if code := pbx.Wait(10 * time.Second); code != 0 {
		fail("SIPp exited %d", code)
	}
}

// A PBX that forwards the call (lab/scenarios/uas-redirect.xml: 302 to 1003, the better of two Contacts) is
// followed through the same server: the call shows the new party and is answered there (an echoing SIPp).
// A redirect back to the number dialled ends the call with words, after one INVITE.
func TestLiveRedirectIsFollowedAndALoopEnds(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	labtest.FarEnd(t, "1003", k.Addr())
	a := startPhone(t, Options{Account: config.Account{Password: lab.Password}, Servers: []config.Server{srv("home", k, config.TransportUDP)}})
	mustRegister(t, a)
	for _, c := range []struct{ pbx, target, alt, want string }{
		{"1002", "1003@127.0.0.1", "nobody@127.0.0.1:9", "active"},
		{"1004", "1004@127.0.0.1", "1004@127.0.0.1", "loop"},
	} {
		pbx := labtest.SIPp(t, "uas-redirect", "-m", "1", "-key", "target", c.target, "-key", "alt", c.alt)
		if err := lab.RegisterWith(t.TempDir(), c.pbx, pbx.Port, k.Addr()); err != nil {
			t.Fatal(err)
		}
		id, err := a.Dial(context.Background(), 0, c.pbx, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if c.want == "active" {
			if got := waitCall(t, a, id, CallActive, 5*time.Second); got.Remote != "1003@127.0.0.1" {
				t.Fatalf("redirected call answered as %q, want 1003@127.0.0.1", got.Remote)
			}
			a.Hangup(id, "done")
			waitCall(t, a, id, CallEnded, 5*time.Second)
		} else if got := waitCall(t, a, id, CallEnded, 5*time.Second); got.Reason != causeRedirectLoop.reason {
			t.Fatalf("redirect loop ended %q, want %q", got.Reason, causeRedirectLoop.reason)
		}
		if code := pbx.Wait(5 * time.Second); code != 0 {
			b, _ := os.ReadFile(pbx.MessagesFile())
			t.Fatalf("SIPp exited %d:\n%s", code, b)
		}
	}
}

// A 183 whose SDP cannot be used (garbage, then an offer of no codec of ours) changes nothing: the call
// rings, with no early media and no crash, and the 200's usable answer makes it active.
func TestUnusableEarlySDPKeepsTheCallRinging(t *testing.T) {
	server, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	a := startPhone(t, Options{Servers: []config.Server{{Name: "home", Address: server.LocalAddr().String(), Transport: config.TransportUDP}},
		Codecs: []string{"PCMU"}})
	go a.Dial(context.Background(), 0, "1002", 2*time.Second)
	server.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65536)
	n, from, err := server.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("the phone's INVITE: %v", err)
	}
	msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
	if err != nil {
		t.Fatal(err)
	}
	inv := msg.(*sip.Request)
	respond := func(code int, reason, body string) {
		t.Helper()
		res := sip.NewResponseFromRequest(inv, code, reason, nil)
		res.To().Params.Add("tag", "far")
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "1002", Host: "127.0.0.1", Port: server.LocalAddr().(*net.UDPAddr).Port}})
		if body != "" {
			res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			res.SetBody([]byte(body))
		}
		if _, err := server.WriteToUDP([]byte(res.String()), from); err != nil {
			t.Fatal(err)
		}
	}
	sdp := func(pt int, name string) string {
		return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP %d\r\na=rtpmap:%d %s/8000\r\n", pt, pt, name)
	}
	respond(183, "Session Progress", "this is no SDP\r\n")
	id := waitCall(t, a, "", CallRinging, 3*time.Second).ID
	respond(183, "Session Progress", sdp(18, "G729"))
	time.Sleep(200 * time.Millisecond)
	for _, c := range a.Calls() {
		if c.ID == id && c.State != CallRinging {
			t.Fatalf("after two unusable 183s the call is %s, want ringing", c.State)
		}
	}
	respond(200, "OK", sdp(0, "PCMU"))
	if c := waitCall(t, a, id, CallActive, 3*time.Second); c.Stats.Codec != "PCMU" {
		t.Fatalf("answered with codec %q, want the 200's PCMU", c.Stats.Codec)
	}
	a.Hangup(id, "done")
}
