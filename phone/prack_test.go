package phone

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// headerOf is the value of a raw message's first header called name ("" if none).
func headerOf(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// prackFor is the caller's PRACK of a raw 180 (in its early dialog), with CSeq seq and RAck as given.
func prackFor(r *rawSender, res string, seq int, rack string) []byte {
	via, _, _ := strings.Cut(headerOf(res, "Via"), ";branch=")
	return []byte(fmt.Sprintf("PRACK %s SIP/2.0\r\nVia: %s;branch=z9hG4bK-prack%d\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"+
		"CSeq: %d PRACK\r\nRAck: %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		strings.Trim(headerOf(res, "Contact"), "<>"), via, rand.Int64(), headerOf(res, "From"), headerOf(res, "To"),
		headerOf(res, "Call-ID"), seq, rack))
}

// responsesTo are the raw responses of status (e.g. "SIP/2.0 200") whose CSeq names method.
func responsesTo(r *rawSender, status, method string) []string {
	var out []string
	for _, m := range r.responses(status) {
		if strings.HasSuffix(headerOf(m, "CSeq"), " "+method) {
			out = append(out, m)
		}
	}
	return out
}

// An INVITE that requires 100rel (RFC 3262): the 180 carries Require: 100rel and an RSeq and is resent
// until its PRACK; a PRACK of another RSeq, and a second PRACK of the same 180, get 481; the PRACK gets 200.
// Answered before the PRACK, the call's 200 waits for it.
func TestIncomingCallRequiringReliableRinging(t *testing.T) {
	a := rawPhone(t)
	r := newRawSender(t, a.Listen())
	r.send(r.request("INVITE", "rel-call", "Require: 100rel\r\nSupported: 100rel\r\n", goodOffer))
	in := waitCall(t, a, "", CallIncoming, 2*time.Second)
	if err := a.Answer(in.ID); err != nil { // before the PRACK
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "the 180 three times (T1 doubling)", func() bool { return len(r.responses("SIP/2.0 180")) >= 3 })
	if ok := responsesTo(r, "SIP/2.0 200", "INVITE"); len(ok) > 0 {
		t.Fatalf("the 200 went before the 180's PRACK:\n%s", ok[0])
	}
	ringing := r.responses("SIP/2.0 180")
	first := ringing[0]
	rseq, err := strconv.ParseUint(headerOf(first, "RSeq"), 10, 32)
	if err != nil || rseq < 1 || rseq > 1<<31-1 || headerOf(first, "Require") != "100rel" {
		t.Fatalf("the reliable 180 has RSeq %q, Require %q:\n%s", headerOf(first, "RSeq"), headerOf(first, "Require"), first)
	}
	for _, again := range ringing[1:] {
		if headerOf(again, "RSeq") != headerOf(first, "RSeq") || headerOf(again, "To") != headerOf(first, "To") {
			t.Fatalf("a retransmission differs:\n%s\nfirst:\n%s", again, first)
		}
	}

	r.send(prackFor(r, first, 2, fmt.Sprintf("%d 1 INVITE", rseq+1)))
	eventually(t, 2*time.Second, "481 to a PRACK of another RSeq", func() bool { return len(responsesTo(r, "SIP/2.0 481", "PRACK")) == 1 })
	r.send(prackFor(r, first, 3, fmt.Sprintf("%d 1 INVITE", rseq)))
	eventually(t, 2*time.Second, "200 to the PRACK", func() bool { return len(responsesTo(r, "SIP/2.0 200", "PRACK")) == 1 })
	var answer string
	eventually(t, 2*time.Second, "the 200 to the INVITE, after the PRACK", func() bool {
		ok := responsesTo(r, "SIP/2.0 200", "INVITE")
		if len(ok) > 0 {
			answer = ok[0]
		}
		return answer != ""
	})
	if !listsTag([]sip.Header{sip.NewHeader("Supported", headerOf(answer, "Supported"))}, "100rel") {
		t.Errorf("the 200 does not say Supported: 100rel:\n%s", answer)
	}
	resent := len(r.responses("SIP/2.0 180"))
	r.send(prackFor(r, first, 4, fmt.Sprintf("%d 1 INVITE", rseq)))
	eventually(t, 2*time.Second, "481 to a second PRACK of the same 180", func() bool { return len(responsesTo(r, "SIP/2.0 481", "PRACK")) == 2 })
	r.send(ackOf2xx(answer, ""))
	waitCall(t, a, in.ID, CallActive, 2*time.Second)
	time.Sleep(1200 * time.Millisecond)
	if n := len(r.responses("SIP/2.0 180")); n != resent {
		t.Errorf("the 180 was resent after its PRACK: %d, then %d", resent, n)
	}
	// The caller's next request goes on from the PRACK's CSeq.
	bye := strings.Replace(string(prackFor(r, answer, 5, "")), "PRACK", "BYE", 2)
	r.send([]byte(strings.Replace(bye, "RAck: \r\n", "", 1)))
	if ended := waitCall(t, a, in.ID, CallEnded, 2*time.Second); ended.End != EndRemote {
		t.Fatalf("ended %+v", ended)
	}
}

// A PRACK that matches no call, and one of a call whose 180 was not reliable, get 481.
func TestPrackOfNothingIs481(t *testing.T) {
	a := rawPhone(t)
	r := newRawSender(t, a.Listen())
	r.send(r.request("PRACK", "no-such-call", "RAck: 1 1 INVITE\r\n", ""))
	r.send(r.request("INVITE", "unreliable", "Supported: 100rel\r\n", goodOffer))
	in := waitCall(t, a, "", CallIncoming, 2*time.Second)
	var ringing string
	eventually(t, 2*time.Second, "the 180", func() bool {
		if rs := r.responses("SIP/2.0 180"); len(rs) > 0 {
			ringing = rs[0]
		}
		return ringing != ""
	})
	if headerOf(ringing, "Require") != "" || headerOf(ringing, "RSeq") != "" {
		t.Errorf("a 180 to an INVITE that only supports 100rel is reliable:\n%s", ringing)
	}
	r.send(prackFor(r, ringing, 2, "1 1 INVITE"))
	eventually(t, 2*time.Second, "two 481s", func() bool { return len(responsesTo(r, "SIP/2.0 481", "PRACK")) == 2 })
	declineRaw(t, a, r, in.ID)
}

// The reliable 180's resends: at first, 2*first, 4*first...; none after the PRACK; failed when they run out.
func TestReliable180Retransmissions(t *testing.T) {
	inv := messageWith(t, false).(*sip.Request)
	rel := newReliable180(inv)
	sent := make(chan time.Time, 100)
	start := time.Now()
	go rel.retransmit(func() error { sent <- time.Now(); return nil }, 20*time.Millisecond, 330*time.Millisecond)
	select {
	case <-rel.failedCh():
	case <-time.After(2 * time.Second):
		t.Fatal("the retransmissions never ran out")
	}
	rel.stop()
	close(sent)
	var at []time.Duration
	for s := range sent {
		at = append(at, s.Sub(start))
	}
	// 20, 60, 140, 300 ms.
	if len(at) != 4 || at[0] < 20*time.Millisecond || at[3] < 300*time.Millisecond {
		t.Fatalf("resent at %v, want 20, 60, 140, 300 ms", at)
	}

	rel = newReliable180(inv)
	go rel.retransmit(func() error { return nil }, time.Millisecond, time.Hour)
	rack, ok := parseRAck(fmt.Sprintf("%d %d INVITE", rel.rseq, rel.cseq))
	if !ok || !rel.acknowledge(rel.remoteTag, rel.localTag, rack, 9) {
		t.Fatal("the matching PRACK was not taken")
	}
	select {
	case <-rel.done:
	case <-time.After(time.Second):
		t.Fatal("resent after the PRACK")
	}
	if rel.lastSeq() != 9 || rel.acknowledge(rel.remoteTag, rel.localTag, rack, 10) {
		t.Fatal("a second PRACK was taken")
	}
}

// RAck: "RSeq CSeq Method"; anything else is no RAck.
func TestParseRAck(t *testing.T) {
	for in, want := range map[string]bool{"1 1 INVITE": true, " 2147483647  20 invite ": true, "4294967295 1 INVITE": true,
		"0 1 INVITE": false, "1 INVITE": false, "1 1 INVITE x": false, "-1 1 INVITE": false, "4294967296 1 INVITE": false, "": false} {
		r, ok := parseRAck(in)
		if ok != want {
			t.Errorf("parseRAck(%q) ok %v, want %v", in, ok, want)
		}
		if ok && r.method != sip.INVITE {
			t.Errorf("parseRAck(%q) method %q", in, r.method)
		}
	}
	if r, ok := parseRAck(formatRAck(7, 3)); !ok || r.rseq != 7 || r.cseq != 3 {
		t.Errorf("formatRAck does not read back: %+v", r)
	}
}

// A caller that requires 100rel (SIPp, lab/scenarios/uac-100rel.xml, through Kamailio): its PRACK of the
// reliable 180 gets 200, the call is answered after it, talks, and the caller hangs up.
func TestLiveCallerRequiring100rel(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := startPhone(t, Options{Account: config.Account{Password: lab.Password}, Servers: []config.Server{srv("home", k, config.TransportUDP)}})
	mustRegister(t, a)
	mport := mediaPortPair(t)
	caller := labtest.SIPp(t, "uac-100rel", "-m", "1", "-s", "1001", "-rtp_echo", "-mp", strconv.Itoa(mport), "-d", "500", k.Addr())
	fail := func(format string, args ...any) {
		t.Helper()
		b, _ := os.ReadFile(caller.MessagesFile())
		t.Fatalf(format+"\nSIPp's messages:\n%s", append(args, b)...)
	}
	in := waitCall(t, a, "", CallIncoming, 5*time.Second)
	if err := a.Answer(in.ID); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, in.ID, CallActive, 5*time.Second)
	if ended := waitCall(t, a, in.ID, CallEnded, 10*time.Second); ended.Reason != "the far end hung up" {
		fail("ended %q", ended.Reason)
	}
	if code := caller.Wait(10 * time.Second); code != 0 {
		fail("SIPp exited %d", code)
	}
}
