package phone

import (
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

func TestProbeUDP(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := startAgent(t, lab.Password, srv("home", k, config.TransportUDP))
	if err := a.Probe(ctxFor(t, reqTimeout), 0); err != nil {
		t.Fatalf("probe of a live server: %v", err)
	}
	if err := k.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := a.Probe(ctxFor(t, reqTimeout), 0)
	if err == nil {
		t.Fatal("probe of a killed server answered")
	}
	if took := time.Since(start); took > reqTimeout+200*time.Millisecond {
		t.Fatalf("probe took %s, beyond its %s deadline", took, reqTimeout)
	}
}
