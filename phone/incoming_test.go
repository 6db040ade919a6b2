package phone

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// Calls from baresip: one answered (media both ways), one declined here (603, ended with the words the
// hang-up gave), one the caller gives up while it rings.
func TestIncomingCallsAnsweredDeclinedAndCancelled(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)

	bs.Command("dial", "sip:1001@127.0.0.1")
	in := waitCall(t, a, "", CallIncoming, 3*time.Second)
	if in.Outgoing || in.Remote != "1003@127.0.0.1" || in.Server != 0 {
		t.Fatalf("incoming call %+v", in)
	}
	if err := a.Answer(in.ID); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, in.ID, CallActive, 3*time.Second)
	if err := a.Answer(in.ID); err == nil {
		t.Fatal("an active call was answered again")
	}
	eventually(t, 3*time.Second, "baresip's audio", func() bool { return callStats(t, a, in.ID).RxPackets > 20 })
	a.Hangup(in.ID, "hung up")
	waitCall(t, a, in.ID, CallEnded, 3*time.Second)
	if _, err := bs.WaitEvent("CALL_CLOSED", 3*time.Second); err != nil {
		t.Fatal(err)
	}

	bs.Command("dial", "sip:1001@127.0.0.1")
	in = waitCall(t, a, "", CallIncoming, 3*time.Second)
	if err := a.Hangup(in.ID, "declined here"); err != nil {
		t.Fatal(err)
	}
	if ended := waitCall(t, a, in.ID, CallEnded, 3*time.Second); ended.Reason != "declined here" || ended.End != EndLocal {
		t.Fatalf("declined call ended %q (%s)", ended.Reason, ended.End)
	}
	ev, err := bs.WaitEvent("CALL_CLOSED", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p := fmtAny(ev["param"]); !strings.Contains(p, "603") {
		t.Errorf("baresip's call closed with %q, want 603", p)
	}

	bs.Command("dial", "sip:1001@127.0.0.1")
	in = waitCall(t, a, "", CallIncoming, 3*time.Second)
	bs.Command("hangup", "")
	if ended := waitCall(t, a, in.ID, CallEnded, 3*time.Second); ended.Reason != "cancelled by the caller" || ended.End != EndRemote {
		t.Fatalf("cancelled call ended %q (%s)", ended.Reason, ended.End)
	}
}

// A stranger's INVITE is answered by the first server of its transport.
func TestLinkForAStranger(t *testing.T) {
	a := bareAgent()
	a.servers = []*serverLink{{index: 0, cfg: config.Server{Name: "home", Transport: config.TransportUDP}},
		{index: 1, cfg: config.Server{Name: "tcp", Transport: config.TransportTCP}}}
	for _, tc := range []struct {
		server    int
		transport string
		want      int
	}{{1, "UDP", 1}, {-1, "TCP", 1}, {-1, "udp", 0}, {-1, "TLS", 0}} {
		if got := a.linkFor(tc.server, tc.transport); got.index != tc.want {
			t.Errorf("linkFor(%d, %s) = server %d, want %d", tc.server, tc.transport, got.index, tc.want)
		}
	}
}

// A caller with a delayed offer (SIPp, lab/scenarios/uac-delayed-offer.xml, through Kamailio): its INVITE
// without SDP rings; answered, the phone's 200 carries the offer, and the answer in the ACK sets the media:
// the phone sends to the address and port the ACK names, and hears SIPp's echo of it.
func TestDelayedOfferFromACaller(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := registeredAgent(t, k, config.TransportUDP)
	mport := mediaPortPair(t)
	caller := labtest.SIPp(t, "uac-delayed-offer", "-m", "1", "-s", "1001", "-rtp_echo", "-mp", strconv.Itoa(mport),
		"-d", "3000", k.Addr())
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
	c, err := a.lookup(in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if remote, codec, dir := mediaNow(c); remote != fmt.Sprintf("127.0.0.1:%d", mport) || codec != "PCMU" || dir != SendRecv {
		fail("media to %s, %s, %s; want the ACK's answer: 127.0.0.1:%d, PCMU, sendrecv", remote, codec, dir, mport)
	}
	eventually(t, 2*time.Second, "RTP to SIPp and its echo", func() bool {
		st := callStats(t, a, in.ID)
		return st.TxPackets >= 20 && st.RxPackets >= 20
	})
	if ended := waitCall(t, a, in.ID, CallEnded, 10*time.Second); ended.Reason != "the far end hung up" {
		t.Fatalf("ended %q", ended.Reason)
	}
	if code := caller.Wait(10 * time.Second); code != 0 {
		fail("SIPp exited %d", code)
	}
}

// An INVITE without SDP answered here, whose ACK brings no answer: the call ends with a BYE and a plain
// reason (no lab: the caller is hand-made SIP).
func TestDelayedOfferWithoutAnswerInTheAck(t *testing.T) {
	server, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	a := startPhone(t, Options{Servers: []config.Server{{Name: "home", Address: server.LocalAddr().String(),
		Transport: config.TransportUDP}}, RequestTimeout: 200 * time.Millisecond})
	r := newRawSender(t, a.Listen())
	r.send(r.request("INVITE", "delayed-no-answer", "", ""))
	in := waitCall(t, a, "", CallIncoming, 2*time.Second)
	if err := a.Answer(in.ID); err != nil {
		t.Fatal(err)
	}
	var ok string
	eventually(t, 2*time.Second, "the 200", func() bool {
		if rs := r.responses("SIP/2.0 200"); len(rs) > 0 {
			ok = rs[0]
			return true
		}
		return false
	})
	for _, want := range []string{"Content-Type: application/sdp", "m=audio ", "a=sendrecv", "a=rtpmap:0 PCMU/8000"} {
		if !strings.Contains(ok, want) {
			t.Errorf("the 200 to an INVITE without SDP lacks %q: no offer\n%s", want, ok)
		}
	}
	r.send(ackOf2xx(ok, ""))
	ended := waitCall(t, a, in.ID, CallEnded, 3*time.Second)
	if ended.Reason != "the far end's answer could not be used" || ended.End != EndFailed {
		t.Fatalf("ended %q (%s)", ended.Reason, ended.End)
	}
	eventually(t, 2*time.Second, "the BYE", func() bool {
		for _, m := range r.responses("BYE ") {
			if strings.Contains(m, "Call-ID: delayed-no-answer\r\n") {
				return true
			}
		}
		return false
	})
}

// ackOf2xx is the ACK of a 2xx the phone sent to a rawSender's INVITE (a new transaction: a branch of its
// own), with body as its SDP unless "".
func ackOf2xx(res, body string) []byte {
	header := func(name string) string {
		for _, l := range strings.Split(res, "\r\n") {
			if strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
				return strings.TrimSpace(l[len(name)+1:])
			}
		}
		return ""
	}
	via, _, _ := strings.Cut(header("Via"), ";branch=")
	contact := strings.Trim(header("Contact"), "<>")
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\n"
	}
	seq, _, _ := strings.Cut(header("CSeq"), " ")
	return []byte(fmt.Sprintf("ACK %s SIP/2.0\r\nVia: %s;branch=z9hG4bK-ack%d\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"+
		"CSeq: %s ACK\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s",
		contact, via, rand.Int64(), header("From"), header("To"), header("Call-ID"), seq, ct, len(body), body))
}
