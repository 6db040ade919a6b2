package failover

import (
	"testing"
	"time"

	"stayline/lab"
	"stayline/lab/labtest"
)

// The lab's echo test (600) is a far end that answers as RFC 3261 says: after home, which recorded the
// route, dies, hold and resume go through the alternate and the echo's answers come back that way (SIPp,
// the echo before it, sent them to the dead home and the hold failed). The call's audio goes on.
func TestLiveEchoHoldAndResumeAfterHomeDies(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{EchoAddr: labtest.Echo(t)})
	lp := startLivePhone(t, p, "")
	id := lp.callEcho() // before the failover

	killAt(t, p.Home)
	lp.waitStage(StageAlternate, "alternate", 5*time.Second)
	if err := lp.m.Hold(id); err != nil {
		t.Fatalf("hold through the alternate: %v", err)
	}
	lp.waitCall("held", 5*time.Second)
	if err := lp.m.Resume(id); err != nil {
		t.Fatalf("resume through the alternate: %v", err)
	}
	lp.waitCall("active", 5*time.Second)

	before := lp.callStats(id)
	time.Sleep(time.Second)
	after := lp.callStats(id)
	// A packet or two may be lost on a loaded machine (the in-process echo, under the race detector, is
	// starved and its socket overflows); a path that stopped loses fifty a second.
	if after.RxPackets < before.RxPackets+40 || after.TxPackets < before.TxPackets+40 || after.Lost > 2 {
		t.Fatalf("echo after hold and resume through the alternate: before %+v, after %+v", before, after)
	}
	if err := lp.m.Hangup(id); err != nil {
		t.Fatal(err)
	}
	lp.waitCall("ended", 5*time.Second)
}
