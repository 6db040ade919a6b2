package failover

import (
	"strings"
	"testing"
	"time"

	"stayline/lab"
	"stayline/lab/labtest"
	"stayline/phone"
)

// linphonec (Debian's linphone-cli 5.1), a second real softphone beside baresip, as the far end through
// a real Kamailio: Stayline calls it and it answers; it holds and resumes from its side; DTMF both ways;
// audio counted at both ends; then it calls Stayline and Stayline answers. Two calls carry every check,
// so the whole takes a few seconds.
func TestLiveCallsWithLinphone(t *testing.T) {
	start := time.Now()
	p := labtest.Pair(t, lab.ServerOptions{})
	lin := labtest.Linphone(t, "1004", p.Home.Addr())
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)
	expect := func(text string) {
		t.Helper()
		if _, err := lin.Expect(text, 5*time.Second); err != nil {
			t.Fatalf("%v\nlinphonec printed:\n%s", err, lin.Output())
		}
	}
	do := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// (1) Stayline calls linphonec, linphonec answers.
	do(lp.m.Dial("1004"))
	expect("Receiving new incoming call from")
	do(lin.Answer())
	id := lp.waitCall("active", 5*time.Second).ID
	expect("connected")
	if !strings.Contains(lin.Log(), "RtpSession bound to [127.0.0.1]") {
		t.Fatal("linphonec's RTP is not bound to loopback alone (lab.linphoneConfig's [rtp] bind_address)")
	}

	// (5) Audio both ways, counted here.
	time.Sleep(time.Second)
	if st := lp.callStats(id); st.RxPackets < 35 || st.TxPackets < 35 || st.Lost != 0 {
		t.Fatalf("a second of audio with linphonec: %+v", st)
	}

	// (4) DTMF: ours (RFC 4733) reported by linphonec; linphonec's reported by the phone.
	do(lp.m.DTMF("5"))
	if d, err := lin.WaitDigit(3 * time.Second); err != nil || d != "5" {
		t.Fatalf("linphonec heard digit %q, %v; want 5\n%s", d, err, lin.Output())
	}
	do(lin.SendDTMF("9"))
	if d := lp.waitDigit(3 * time.Second); d != "9" {
		t.Fatalf("digit from linphonec %q, want 9", d)
	}

	// (3) linphonec holds: its re-INVITE offers sendonly, our answer says recvonly and our sending stops
	// while its hold music still comes in. The phone has no call state for a hold by the far end (the
	// call stays active), so what it does is the check.
	mark := lin.LogMark()
	do(lin.Pause())
	expect("is now paused")
	if sdp, err := lin.WaitLog(mark, 2*time.Second, "a=sendonly", "a=recvonly"); err != nil {
		t.Fatalf("hold: %v (linphonec's offer sendonly, our answer recvonly); its log since the pause ends:\n%s", err, lastOf(sdp, 40))
	}
	held := lp.callStats(id)
	time.Sleep(500 * time.Millisecond)
	stillHeld := lp.callStats(id)
	if stillHeld.TxPackets > held.TxPackets+2 {
		t.Fatalf("the phone kept sending while held by the far end: %d then %d packets sent", held.TxPackets, stillHeld.TxPackets)
	}
	// Resumed: media flows both ways again, and linphonec receives it.
	readings := len(lin.Bandwidths())
	do(lin.Resume())
	expect("Media streams established")
	resumed := lp.callStats(id)
	time.Sleep(600 * time.Millisecond)
	after := lp.callStats(id)
	if after.RxPackets < resumed.RxPackets+20 || after.TxPackets < resumed.TxPackets+20 || after.Lost != 0 {
		t.Fatalf("media after linphonec resumed: at resume %+v, 600 ms later %+v", resumed, after)
	}
	if bw, err := lin.WaitBandwidth(readings, 40, 3*time.Second); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("linphonec after resume: receives %.1f kbit/s, sends %.1f kbit/s", bw.Down, bw.Up)
	}

	// We hang up; linphonec logs its counters for the call, which match ours.
	blocks := len(lin.RTPStats())
	final := lp.callStats(id)
	do(lp.m.Hangup(id))
	lp.waitCall("ended", 5*time.Second)
	expect("ended")
	got, err := lin.WaitRTPStats(blocks, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("call 1: phone rx %d tx %d; linphonec received %d sent %d lost %d", final.RxPackets, final.TxPackets,
		got.Received, got.Sent, got.Lost)
	if got.Received < 60 || got.Received < int64(final.TxPackets)*9/10 || got.Lost != 0 {
		t.Fatalf("linphonec received %d RTP packets (lost %d); the phone sent %d", got.Received, got.Lost, final.TxPackets)
	}
	if got.Sent < int64(final.RxPackets) {
		t.Fatalf("linphonec sent %d RTP packets, fewer than the phone received (%d)", got.Sent, final.RxPackets)
	}

	// (2) linphonec calls Stayline, Stayline answers; what linphonec hears is recorded.
	host, _, _ := strings.Cut(p.Home.Addr(), ":")
	do(lin.Call("sip:1001@" + host))
	in := lp.waitCall("incoming", 5*time.Second)
	if !strings.HasPrefix(in.Remote, "1004@") {
		t.Errorf("incoming from %q, want 1004", in.Remote)
	}
	do(lp.m.Answer(in.ID))
	lp.waitCall("active", 5*time.Second)
	expect("connected")
	recorded := lin.RecordSize()
	time.Sleep(800 * time.Millisecond)
	if st := lp.callStats(in.ID); st.RxPackets < 25 || st.TxPackets < 25 || st.Lost != 0 {
		t.Fatalf("audio of linphonec's call: %+v", st)
	}
	if grown := lin.RecordSize() - recorded; grown < 4000 {
		t.Fatalf("linphonec's recording of what it hears grew by %d bytes in 800 ms", grown)
	} else {
		t.Logf("call 2: linphonec's recording grew by %d bytes in 800 ms", grown)
	}
	do(lin.Terminate())
	if ended := lp.waitCall("ended", 5*time.Second); ended.Cause != phone.EndRemote {
		t.Fatalf("linphonec's hangup ended the call with %+v", ended)
	}
	t.Logf("lab, linphonec, phone and two calls in %s", time.Since(start).Round(time.Millisecond))
}

// lastOf is the last n lines of s.
func lastOf(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
