package failover

import (
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// Issue 15, item 8, on the lab: home (Kamailio, location in memory) is killed -9 and started again
// within 0.5 s. It answers keep-alives as before but has forgotten the phone; the binding check after
// the next keep-alive finds that (404 from lookup("location") instead of the check coming back to the
// phone) and the phone registers again within 3 s, without leaving home. A call to the phone through
// home 3 s after the restart rings it.
//
// keepalive_misses is 2 here: a keep-alive that falls into the restart's half second is asked again
// rather than failing over, so the test sees the binding check, whatever the keep-alives' phase. (With
// one miss the phone fails over and comes back by failback: the other path, tested elsewhere.)
func TestLiveRegistrarRestartedWithinAKeepaliveIsRegisteredAgain(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	lp := startLivePhone(t, p, "", func(c *config.Config) { c.Failover.KeepaliveMisses = 2 })
	lp.waitStage(StageNormal, "home", 5*time.Second)

	// A few keep-alives and binding checks first: a check that reached the phone through home forces
	// no REGISTER.
	time.Sleep(2500 * time.Millisecond)
	before := registersOf(t, p.Home, "1001")
	if before != 1 {
		t.Fatalf("home logged %d authenticated REGISTERs before the restart, want 1: the binding check "+
			"does not come back to the phone through it", before)
	}

	killed := killAt(t, p.Home)
	if err := p.Home.Start(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	if gap := restarted.Sub(killed); gap > 500*time.Millisecond {
		t.Fatalf("home took %s to restart, want within 0.5 s", gap)
	}

	var again time.Time
	for deadline := restarted.Add(3 * time.Second); again.IsZero(); time.Sleep(20 * time.Millisecond) {
		rs, err := p.Home.Registers()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.User == "1001" && r.Auth && !r.Unregister && r.At.After(restarted) {
				again = r.At
				break
			}
		}
		if again.IsZero() && time.Now().After(deadline) {
			t.Fatalf("no REGISTER reached home within 3 s of its restart")
		}
	}
	t.Logf("FIGURE failover.registrar_restart.reregister_ms %d (kill -9 of home and restart in %d ms -> "+
		"the phone's REGISTER on it; keep-alive %s, one binding check after each)", again.Sub(restarted).Milliseconds(),
		restarted.Sub(killed).Milliseconds(), integrationTimers.KeepaliveInterval)

	time.Sleep(time.Until(restarted.Add(3 * time.Second)))
	labtest.Caller(t, "1001", p.Home.Addr(), 500*time.Millisecond)
	in := lp.waitCall("incoming", 5*time.Second)
	if in.Server != "home" {
		t.Fatalf("the call rang through %q, want home", in.Server)
	}
	if st, srv := lp.m.Stage(); st != StageNormal || srv != "home" {
		t.Fatalf("stage %s on %q, want normal on home throughout", st, srv)
	}
	if err := lp.m.Hangup(in.ID); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ended", 5*time.Second)
}

// registersOf counts the authenticated REGISTERs (not un-REGISTERs) of user that s logged.
func registersOf(t *testing.T, s *lab.Server, user string) int {
	t.Helper()
	rs, err := s.Registers()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rs {
		if r.User == user && r.Auth && !r.Unregister {
			n++
		}
	}
	return n
}
