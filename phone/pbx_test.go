package phone

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// pbxInterval is the lab PBX's session interval (lab.ServerOptions.SessionExpires): 90 s, RFC 4028's
// floor and what PBXs commonly enforce; STAYLINE_PBX_INTERVAL shortens it when trying things out.
func pbxInterval(t *testing.T) time.Duration {
	if v, err := strconv.Atoi(os.Getenv("STAYLINE_PBX_INTERVAL")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 90 * time.Second
}

// A PBX that enforces session timers and hides its topology (Kamailio with sst at 90 s and topoh): a call
// to a real far end that knows nothing of timers (baresip) is refreshed by the phone, which the PBX made
// the refresher, and survives two session intervals, media flowing to the end. Without the phone's
// refreshes the PBX would end it after one interval.
func TestLivePBXSessionTimerAndHiddenTopology(t *testing.T) {
	interval := pbxInterval(t)
	k := labtest.Server(t, "home", lab.ServerOptions{SessionExpires: int(interval / time.Second), HideTopology: true})
	bs := labtest.Baresip(t, "1003", k.Addr())
	a := startPhone(t, Options{Account: config.Account{Password: lab.Password}, Servers: []config.Server{srv("home", k, config.TransportUDP)}})
	mustRegister(t, a)
	id, err := a.Dial(context.Background(), 0, "1003", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallRinging, 5*time.Second)
	if _, err := bs.Command("accept", ""); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 5*time.Second)
	c, err := a.lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	st := c.st
	c.mu.Unlock()
	if st.interval != interval || !st.weRefresh {
		t.Fatalf("session timer %s, phone refreshing %v: want the PBX's %s with the phone as refresher", st.interval, st.weRefresh, interval)
	}
	deadline := time.After(2*interval + 5*time.Second)
	for {
		select {
		case ev := <-a.Events():
			if ev.Kind == EventCall && ev.Call.ID == id && ev.Call.State == CallEnded {
				t.Fatalf("the call ended after %s: %q", interval, ev.Call.Reason)
			}
			continue
		case <-deadline:
		}
		break
	}
	before := callStats(t, a, id).RxPackets
	eventually(t, 2*time.Second, "media after two intervals", func() bool { return callStats(t, a, id).RxPackets > before+20 })
	a.Hangup(id, "done")
}
