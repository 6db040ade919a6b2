package failover

import (
	"testing"
	"time"

	"stayline/lab"
	"stayline/lab/labtest"
)

// Item 7 of "Real PBXs and carriers", on the lab: home is killed (-9) and 600, the echo, is dialled 100 ms
// later, before the keep-alives notice. The INVITE through home gets no answer; the call waits, dialing,
// while the phone fails over, and goes through the alternate as the same call: one id, dialing then
// active, never ended, no error for the user; the echo's audio comes back.
func TestLiveCallDialledAsHomeDiesGoesThroughTheAlternate(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{EchoAddr: labtest.Echo(t)})
	lp := startLivePhone(t, p, "")
	lp.waitStage(StageNormal, "home", 5*time.Second)
	killAt(t, p.Home)
	time.Sleep(100 * time.Millisecond)
	dialled := time.Now()
	if err := lp.m.Dial("600"); err != nil {
		t.Fatal(err)
	}
	calls, errs := lp.callAndErrorEvents(10*time.Second, func(calls []*CallEvent, _ []*ErrorEvent) bool {
		return len(calls) > 0 && (calls[len(calls)-1].State == "active" || calls[len(calls)-1].State == "ended")
	})
	connected := time.Since(dialled)
	first, last := calls[0], calls[len(calls)-1]
	if first.State != "dialing" || first.Server != "home" || last.State != "active" || last.Server != "alternate" {
		t.Fatalf("call events %v (errors %+v), want dialing through home, then active through the alternate",
			callStates(calls), errs)
	}
	for _, c := range calls {
		if c.ID != first.ID || c.State == "ended" {
			t.Fatalf("call events %v, want one call, never ended", callStates(calls))
		}
	}
	if len(errs) != 0 {
		t.Fatalf("errors %+v for a call that went through", errs)
	}
	t.Logf("FIGURE failover.dial_during_loss.connect_ms %d (kill -9 of home, dial 600 100 ms later -> active "+
		"through the alternate, one call; respTimeout %s)", connected.Milliseconds(), 2*integrationTimers.KeepaliveTimeout)

	time.Sleep(time.Second)
	if st := lp.callStats(first.ID); st.RxPackets < 30 || st.TxPackets < 30 {
		t.Fatalf("no echo through the alternate: %+v", st)
	}
	if st, srv := lp.m.Stage(); st != StageAlternate || srv != "alternate" {
		t.Fatalf("stage %s on %q, want alternate", st, srv)
	}
	if err := lp.m.Hangup(first.ID); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ended", 5*time.Second)
}
