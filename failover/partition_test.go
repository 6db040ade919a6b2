package failover

import (
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// Partitions: each server runs in a network namespace of its own and is cut off by dropping every packet
// (nftables), so nothing says it is gone: no RST, no ICMP, no closed socket. Only the keep-alives can tell.

// startPartitionPhone runs the phone against a NetPair over transport, listening on every address so
// that both namespaces reach it.
func startPartitionPhone(t *testing.T, np *labtest.NetPair, transport config.Transport) *livePhone {
	return startLivePhone(t, np.Pair, "", func(c *config.Config) {
		c.SIP.Listen = "0.0.0.0:0"
		for i := range c.Servers {
			c.Servers[i].Transport = transport
		}
	})
}

// detectionBound is the longest a silent loss may take to notice: the keep-alive interval for each miss
// allowed, the last keep-alive's timeout, and 300 ms for the machine (scheduling, a busy CI runner).
func detectionBound() time.Duration {
	t := integrationTimers
	return time.Duration(t.KeepaliveMisses)*t.KeepaliveInterval + t.KeepaliveTimeout + 300*time.Millisecond
}

func TestPartitionOfHomeIsDetectedByKeepalives(t *testing.T) {
	for _, transport := range []config.Transport{config.TransportUDP, config.TransportTCP} {
		t.Run(string(transport), func(t *testing.T) {
			np := labtest.NetworkPair(t, lab.ServerOptions{})
			lp := startPartitionPhone(t, np, transport)
			lp.waitStage(StageNormal, "home", 5*time.Second)
			time.Sleep(300 * time.Millisecond) // some way into a keep-alive interval

			cut := time.Now()
			if err := np.HomeNet.Partition(); err != nil {
				t.Fatal(err)
			}
			lost := lp.waitStage(StageTransition, "", 5*time.Second)
			alt := lp.waitStage(StageAlternate, "alternate", 5*time.Second)
			if d := lost.Sub(cut); d > detectionBound() {
				t.Errorf("silent loss of home noticed after %s, want within %s (interval x misses + timeout)", d, detectionBound())
			}
			t.Logf("FIGURE partition.%s.detect_ms %d, on alternate %d ms (home's packets dropped silently; bound %d ms)",
				transport, lost.Sub(cut).Milliseconds(), alt.Sub(cut).Milliseconds(), detectionBound().Milliseconds())

			// The link comes back: home answers again and the phone fails back after the hold-down.
			if err := np.HomeNet.Heal(); err != nil {
				t.Fatal(err)
			}
			lp.waitStage(StageFailback, "alternate", integrationTimers.FailbackHolddown+5*time.Second)
			lp.waitStage(StageNormal, "home", 5*time.Second)
		})
	}
}

// The alternate is cut off while the phone is on it, then home returns: noservice in between, never a
// stage that claims service without a server.
func TestPartitionOfTheAlternateWhileOnIt(t *testing.T) {
	np := labtest.NetworkPair(t, lab.ServerOptions{})
	lp := startPartitionPhone(t, np, config.TransportUDP)
	lp.waitStage(StageNormal, "home", 5*time.Second)
	if err := np.HomeNet.Partition(); err != nil {
		t.Fatal(err)
	}
	lp.waitStage(StageAlternate, "alternate", 5*time.Second)

	cut := time.Now()
	if err := np.AltNet.Partition(); err != nil {
		t.Fatal(err)
	}
	// Noticed: the first stage change, whichever (transition while home is tried, or noservice at once).
	first := lp.waitEvent(5*time.Second, "the alternate's loss noticed", func(ev Event) bool {
		se, ok := ev.(*StageEvent)
		return ok && se.Stage != StageAlternate
	}).(*StageEvent)
	lost, none := first.At(), first.At()
	if first.Stage != StageNoService {
		none = lp.waitStage(StageNoService, "", 5*time.Second)
	}
	if d := lost.Sub(cut); d > detectionBound() {
		t.Errorf("silent loss of the alternate noticed after %s, want within %s", d, detectionBound())
	}
	t.Logf("FIGURE partition.alternate.detect_ms %d, noservice %d ms (alternate cut while in use, home cut before)",
		lost.Sub(cut).Milliseconds(), none.Sub(cut).Milliseconds())
	if err := lp.m.Dial("1002"); err == nil {
		t.Error("dial allowed with no server")
	}
	if err := np.HomeNet.Heal(); err != nil {
		t.Fatal(err)
	}
	// The backoff retries find home (backoff max 2 s in these timers).
	lp.waitStage(StageNormal, "home", integrationTimers.BackoffMax+5*time.Second)
}

// Both servers cut at once: noservice; the alternate's link returns first, then home's.
func TestPartitionOfBothServers(t *testing.T) {
	np := labtest.NetworkPair(t, lab.ServerOptions{})
	lp := startPartitionPhone(t, np, config.TransportUDP)
	lp.waitStage(StageNormal, "home", 5*time.Second)
	for _, n := range []*lab.Netns{np.HomeNet, np.AltNet} {
		if err := n.Partition(); err != nil {
			t.Fatal(err)
		}
	}
	lp.waitStage(StageNoService, "", 10*time.Second)
	if err := np.AltNet.Heal(); err != nil {
		t.Fatal(err)
	}
	lp.waitStage(StageAlternate, "alternate", integrationTimers.BackoffMax+5*time.Second)
	if err := np.HomeNet.Heal(); err != nil {
		t.Fatal(err)
	}
	lp.waitStage(StageNormal, "home", integrationTimers.FailbackHolddown+integrationTimers.BackoffMax+5*time.Second)
}

// Home flaps (cut and healed every 1.5 s) while a call is up on the alternate: the call is never
// dropped and no failback happens during it; once the call ends, at most one failback per hold-down.
func TestPartitionHomeFlapsDuringACall(t *testing.T) {
	np := labtest.NetworkPair(t, lab.ServerOptions{})
	far := labtest.FarEndAt(t, np.HomeNet.HostIP, "1002", np.Home.Addr(), np.Alternate.Addr())
	lp := startPartitionPhone(t, np, config.TransportUDP)
	lp.waitStage(StageNormal, "home", 5*time.Second)
	if err := np.HomeNet.Partition(); err != nil {
		t.Fatal(err)
	}
	lp.waitStage(StageAlternate, "alternate", 5*time.Second)
	if err := lp.m.Dial("1002"); err != nil {
		t.Fatal(err)
	}
	id := lp.waitCall("active", 5*time.Second).ID

	flap := func(d time.Duration) []Event {
		t.Helper()
		var evs []Event
		cut := true
		for end := time.Now().Add(d); time.Now().Before(end); cut = !cut {
			var err error
			if cut {
				err = np.HomeNet.Heal()
			} else {
				err = np.HomeNet.Partition()
			}
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, lp.eventsFor(1500*time.Millisecond)...)
		}
		return evs
	}
	during := flap(4 * integrationTimers.FailbackHolddown)
	for _, ev := range during {
		if c, ok := ev.(*CallEvent); ok && c.ID == id && c.State != "active" {
			t.Fatalf("call %s went %s (%s) while home flapped:%s", id, c.State, c.Reason, describeAll(during))
		}
		if se, ok := ev.(*StageEvent); ok && se.Stage != StageAlternate {
			t.Fatalf("stage %s during a call while home flapped: failback waits for an idle phone:%s", se.Stage, describeAll(during))
		}
	}
	st := lp.callStats(id)
	if st.State != "active" || st.RxPackets < 200 {
		t.Fatalf("call after the flapping: %+v, want active with media flowing", st)
	}
	if err := lp.m.Hangup(id); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ended", 5*time.Second)
	if far.Received("BYE") != 1 {
		t.Error("the far end did not get the BYE")
	}

	// Idle now, home still flapping: failbacks are allowed, at most one per hold-down.
	window := 4 * integrationTimers.FailbackHolddown
	after := flap(window)
	failbacks := 0
	for _, ev := range after {
		if se, ok := ev.(*StageEvent); ok && se.Stage == StageFailback {
			failbacks++
		}
	}
	if max := int(window/integrationTimers.FailbackHolddown) + 1; failbacks > max {
		t.Errorf("%d failbacks in %s of flapping, want at most one per hold-down (%d):%s", failbacks, window, max, describeAll(after))
	}
	t.Logf("FIGURE partition.flap.failbacks %d in %s idle (hold-down %s); call kept through %s of flapping (rx %d packets)",
		failbacks, window, integrationTimers.FailbackHolddown, 4*integrationTimers.FailbackHolddown, st.RxPackets)
	// The link settles: the phone ends up home.
	if err := np.HomeNet.Heal(); err != nil {
		t.Fatal(err)
	}
	lp.waitStage(StageNormal, "home", 2*integrationTimers.FailbackHolddown+5*time.Second)
}
