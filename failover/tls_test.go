package failover

import (
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// tlsFiles makes a CA and a server certificate for 127.0.0.1 for this test.
func tlsFiles(t *testing.T) lab.TLSFiles {
	t.Helper()
	f, err := lab.MakeTLS(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// overTLS points the phone at the servers' TLS listeners and trusts ca.
func overTLS(p *lab.Pair, ca string) func(*config.Config) {
	return func(c *config.Config) {
		for i, s := range []*lab.Server{p.Home, p.Alternate} {
			c.Servers[i].Address, c.Servers[i].Transport = s.TLSAddr(), config.TransportTLS
		}
		c.SIP.TLSCA = ca
	}
}

func TestLiveTLSFailoverAndFailback(t *testing.T) {
	files := tlsFiles(t)
	p := labtest.Pair(t, lab.ServerOptions{TLS: &files})
	lp := startLivePhone(t, p, "", overTLS(p, files.CA))
	lp.waitStage(StageNormal, "home", 5*time.Second)
	killed := killAt(t, p.Home)
	lost := lp.waitStage(StageTransition, "", 5*time.Second)
	lp.waitStage(StageAlternate, "alternate", 5*time.Second)
	t.Logf("FIGURE failover.tls.detect_ms %.1f (kill -9 of home -> transition: the TLS connection's end)",
		float64(lost.Sub(killed).Microseconds())/1000)
	if lines := p.Alternate.RegisterLines(); len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "proto=tls") {
		t.Errorf("the alternate was not registered over TLS: %v", lines)
	}
	if err := p.Home.Start(); err != nil {
		t.Fatal(err)
	}
	lp.waitStage(StageNormal, "home", integrationTimers.FailbackHolddown+5*time.Second)
}

// A home whose certificate the phone does not trust is never used: the user is told once, why, and the
// phone serves from the alternate.
func TestLiveTLSUntrustedHomeIsShownAndAvoided(t *testing.T) {
	trusted, stranger := tlsFiles(t), tlsFiles(t)
	p := &lab.Pair{
		Home:      labtest.Server(t, "home", lab.ServerOptions{TLS: &stranger}),
		Alternate: labtest.Server(t, "alternate", lab.ServerOptions{TLS: &trusted}),
	}
	lp := startLivePhone(t, p, "", overTLS(p, trusted.CA))
	ev := lp.waitEvent(5*time.Second, "the certificate error", func(ev Event) bool {
		e, ok := ev.(*ErrorEvent)
		return ok && strings.Contains(e.Reason, "TLS certificate is not trusted")
	}).(*ErrorEvent)
	if !strings.Contains(ev.Reason, "home") || !strings.Contains(ev.Reason, "unknown authority") {
		t.Errorf("error %q does not name the server and the cause", ev.Reason)
	}
	lp.waitStage(StageAlternate, "alternate", 5*time.Second)
	for _, e := range lp.eventsFor(3 * integrationTimers.BackoffBase) {
		if er, ok := e.(*ErrorEvent); ok && strings.Contains(er.Reason, "TLS certificate") {
			t.Errorf("the certificate error was repeated: %q", er.Reason)
		}
		if r, ok := e.(*RegisteredEvent); ok && r.Server == "home" {
			t.Error("registered on a server whose certificate is not trusted")
		}
	}
	if n := len(p.Home.RegisterLines()); n != 0 {
		t.Errorf("the untrusted home received %d REGISTERs", n)
	}
}
