package phone

import (
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
