package phone

import (
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

func TestTCPConnectionLossIsReportedAtOnce(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := startAgent(t, lab.Password, srv("home", k, config.TransportTCP))
	mustRegister(t, a)
	if err := a.Probe(ctxFor(t, reqTimeout), 0); err != nil {
		t.Fatalf("CRLF keep-alive on a live connection: %v", err)
	}
	pid, _ := k.Pid()
	killed := time.Now()
	if err := k.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-a.Events():
		took := time.Since(killed)
		if ev.Kind != EventConnectionLost || ev.Server != 0 {
			t.Fatalf("event %+v", ev)
		}
		t.Logf("connection loss reported %s after kill -9 of pid %d", took, pid)
		if took > 100*time.Millisecond {
			t.Fatalf("reported after %s, want ≤ 100ms", took)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no event after the server was killed")
	}
	if err := a.Probe(ctxFor(t, reqTimeout), 0); err == nil {
		t.Fatal("probe of a killed TCP server answered")
	}
}
