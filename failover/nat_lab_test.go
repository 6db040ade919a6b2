package failover

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// NAT (docs/ARCHITECTURE.md, "NAT"): the phone in the tests' namespace behind a router namespace that
// masquerades (nftables, no SIP helper), Kamailio and baresip on the "Internet" beyond it. The router gives
// the phone's SIP port a public port of its own choosing, so only the registrar's word (RFC 3581) can tell
// the phone where it is reachable; the Internet reaches the LAN only through mappings the phone opened.

// natLab is a NAT with a registrar and a baresip far end (1003) on its Internet side.
type natLab struct {
	nat    *lab.NAT
	home   *lab.Server
	far    *lab.Baresip
	lp     *livePhone
	sip    int // the phone's SIP port on the LAN
	public int // the public port the router gives it
	stun   *lab.STUNServer
}

// startNATLab starts the phone behind the NAT, with a STUN server on the Internet side when withSTUN.
func startNATLab(t *testing.T, withSTUN bool) *natLab {
	t.Helper()
	labtest.Need(t, "kamailio", "baresip", "conntrack")
	if why := lab.NATUsable(); why != "" {
		t.Skipf("NAT tests skipped: %s", why)
	}
	n, err := lab.NewNAT()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() }) // after the processes inside, registered below
	dir := t.TempDir()
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	home := lab.NewServer(dir, "home", port, lab.ServerOptions{Netns: n.Internet, DieWithMe: true})
	if err := home.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { home.Stop() })
	nl := &natLab{nat: n, home: home}
	if nl.sip, err = lab.FreePort(); err != nil {
		t.Fatal(err)
	}
	nl.public = 20000 + nl.sip%20000 // another port than the phone's: only rport can tell it
	if err := n.MapPort(nl.sip, nl.public); err != nil {
		t.Fatal(err)
	}
	far, err := lab.StartBaresipWith(t.TempDir(), "1003", home.Addr(), lab.BaresipOptions{Netns: n.Internet, Codecs: "PCMU"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(far.Stop)
	nl.far = far
	if withSTUN {
		c, err := n.Internet.ListenUDP(net.JoinHostPort(n.Internet.PeerIP, "3478"))
		if err != nil {
			t.Fatal(err)
		}
		nl.stun = lab.StartSTUN(c)
		t.Cleanup(func() { nl.stun.Close() })
	}
	nl.lp = startLivePhone(t, &lab.Pair{Dir: dir, Home: home, Alternate: home}, "", func(c *config.Config) {
		c.Servers = c.Servers[:1]
		c.SIP.Listen = "0.0.0.0:" + strconv.Itoa(nl.sip)
		if nl.stun != nil {
			c.NAT.STUN = nl.stun.Addr()
		}
	})
	return nl
}

// contact is the phone's registered contact on home, from the status.
func (nl *natLab) contact() string {
	for _, r := range nl.lp.m.Status().Registrations {
		if r.Server == "home" {
			return r.Contact
		}
	}
	return ""
}

// callRings has baresip call the phone through the registrar; the phone answers, and half a second of
// audio must flow both ways through the NAT, counted at both ends after the hangup.
func (nl *natLab) callRings(t *testing.T, round string) {
	t.Helper()
	if _, err := nl.far.Command("dial", "sip:1001@"+nl.home.Addr()); err != nil {
		t.Fatal(err)
	}
	in := nl.lp.waitCall("incoming", 5*time.Second)
	if err := nl.lp.m.Answer(in.ID); err != nil {
		t.Fatal(err)
	}
	nl.lp.waitCall("active", 3*time.Second)
	if _, err := nl.far.WaitEvent("CALL_ESTABLISHED", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a second of audio each way
	st := nl.lp.callStats(in.ID)
	if _, err := nl.far.Command("hangup", ""); err != nil {
		t.Fatal(err)
	}
	nl.lp.waitCall("ended", 3*time.Second)
	if _, err := nl.far.WaitEvent("CALL_CLOSED", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	farRx, farTx := baresipPackets(t, nl.far, round)
	t.Logf("FIGURE nat.%s.call phone rx %d tx %d; baresip rx %d tx %d (1 s of audio, through the NAT)",
		round, st.RxPackets, st.TxPackets, farRx, farTx)
	if st.RxPackets < 35 || st.TxPackets < 35 {
		t.Errorf("%s: the phone received %d and sent %d RTP packets in a second, want audio both ways", round, st.RxPackets, st.TxPackets)
	}
	if farRx < 35 {
		t.Errorf("%s: baresip received %d RTP packets from the phone behind the NAT, want a second's worth", round, farRx)
	}
}

// baresipStats matches the "packets" line of baresip's rtp_stats summary: what it sent, then received.
var baresipStats = regexp.MustCompile(`(?m)^\s*packets:\s+(\d+)\s+(\d+)`)

// baresipPackets reads the RTP packets baresip received and sent on its last call (rtp_stats).
func baresipPackets(t *testing.T, b *lab.Baresip, round string) (rx, tx int) {
	t.Helper()
	var m [][]string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if m = baresipStats.FindAllStringSubmatch(b.Log(), -1); len(m) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(m) == 0 {
		t.Fatalf("%s: no rtp_stats in baresip's log:\n%s", round, b.Log())
	}
	last := m[len(m)-1]
	tx, _ = strconv.Atoi(last[1])
	rx, _ = strconv.Atoi(last[2])
	return rx, tx
}

func TestLiveNATIncomingCallsAndMedia(t *testing.T) {
	nl := startNATLab(t, false)
	lp := nl.lp
	lp.waitStage(StageNormal, "home", 5*time.Second)
	want := "sip:1001@" + nl.nat.WANIP + ":" + strconv.Itoa(nl.public)
	if c := nl.contact(); c != want {
		t.Fatalf("registered contact %q, want the public address %s", c, want)
	}
	if media := lp.m.Status().Registrations[0].MediaAddress; media != nl.nat.WANIP {
		t.Errorf("media address in the status %q, want the public host %s", media, nl.nat.WANIP)
	}
	nl.callRings(t, "first")

	// The router forgets its mappings and maps the phone's port anew (a router restarted): the phone's old
	// public address is dead. Its next keep-alive's answer says where it is now; it registers there again.
	nl.public++
	if err := nl.nat.MapPort(nl.sip, nl.public); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	if err := nl.nat.Flush(); err != nil {
		t.Fatal(err)
	}
	want = "sip:1001@" + nl.nat.WANIP + ":" + strconv.Itoa(nl.public)
	ev := lp.waitEvent(3*integrationTimers.KeepaliveInterval+2*time.Second, "registered at the new public address", func(ev Event) bool {
		if se, ok := ev.(*StageEvent); ok && se.Stage != StageNormal {
			t.Errorf("stage %s (%s): a NAT's new mapping is no server failure", se.Stage, se.Reason)
		}
		r, ok := ev.(*RegisteredEvent)
		return ok && r.Contact == want
	})
	t.Logf("FIGURE nat.relearn_ms %d (mappings flushed to registered at the new public port; keep-alive interval %s)",
		ev.At().Sub(flushed).Milliseconds(), integrationTimers.KeepaliveInterval)
	if c := nl.contact(); c != want {
		t.Fatalf("contact after the flush %q, want %s", c, want)
	}
	nl.callRings(t, "after_flush")
}

// With a STUN server beyond the NAT, each call's media asks it for its public address: the status shows
// STUN's host and port, and the call's audio flows both ways.
func TestLiveNATWithSTUN(t *testing.T) {
	nl := startNATLab(t, true)
	nl.lp.waitStage(StageNormal, "home", 5*time.Second)
	nl.callRings(t, "stun")
	if n := nl.stun.Requests(); n < 1 {
		t.Fatalf("the STUN server answered %d requests, want the call's", n)
	}
	media := nl.lp.m.Status().Registrations[0].MediaAddress
	host, port, err := net.SplitHostPort(media)
	if err != nil || host != nl.nat.WANIP || port == "" {
		t.Fatalf("media address %q, want STUN's answer: the router's public address %s with a port", media, nl.nat.WANIP)
	}
	if strings.Contains(nl.contact(), nl.nat.LANIP) {
		t.Errorf("contact %q names the private address", nl.contact())
	}
	t.Logf("FIGURE nat.stun.media %s (public, from STUN through the NAT; %d requests)", media, nl.stun.Requests())
}
