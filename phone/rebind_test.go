package phone

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"stayline/config"
)

// startWildcard starts an agent listening on every address (what Rebind needs), for a server at addr that
// need not exist.
func startWildcard(t *testing.T, addr string) *Agent {
	t.Helper()
	a, err := Start(Options{Account: config.Account{User: "1001", Password: "x", Domain: "127.0.0.1"},
		Servers: []config.Server{{Name: "home", Address: addr, Transport: config.TransportUDP}},
		Listen:  "0.0.0.0:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// Rebind moves a link whose address is no longer the one that routes to its server: a new address, a new
// sipgo client naming it in Via, the NAT's word forgotten; a link whose address still routes is left alone.
func TestRebindMovesALinkWhoseAddressNoLongerRoutes(t *testing.T) {
	a := startWildcard(t, "127.0.0.1:5999")
	l := a.servers[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if r, err := a.Rebind(ctx); err != nil || len(r.Moved) != 0 {
		t.Fatalf("Rebind with nothing changed: %+v, %v; want nothing moved", r, err)
	}
	// As if the phone had been on another network: its old address and what a NAT made of it.
	old := l.sipClient()
	l.addrMu.Lock()
	l.local = "192.0.2.7"
	l.addrMu.Unlock()
	l.nat.set("198.51.100.9", 40000)
	r, err := a.Rebind(ctx)
	if err != nil || len(r.Moved) != 1 || r.Moved[0] != (Moved{Server: 0, From: "192.0.2.7", To: "127.0.0.1"}) {
		t.Fatalf("Rebind: %+v, %v; want home moved from 192.0.2.7 to 127.0.0.1", r, err)
	}
	if l.localIP() != "127.0.0.1" || l.sipClient() == old || l.sipClient().Hostname() != "127.0.0.1" {
		t.Errorf("link after the move: local %s, client host %s (new client: %v)", l.localIP(), l.sipClient().Hostname(), l.sipClient() != old)
	}
	if h, _ := l.nat.get(); h != "" {
		t.Errorf("the NAT's word on the old address survived the move: %s", h)
	}
	if got := a.contactURI(l); got.Host != "127.0.0.1" {
		t.Errorf("Contact after the move names %s", got.Host)
	}
}

// A call's RTP socket is bound to every address when the phone listens on every address (so it outlives
// the phone's address), and to the listen address otherwise; an agent on one address has nothing to move.
func TestMediaBindAndFixedListenAddress(t *testing.T) {
	a := startWildcard(t, "127.0.0.1:5999")
	if ip := a.mediaBindIP(a.servers[0]); ip != "" {
		t.Errorf("media bound to %q with the phone on every address, want every address", ip)
	}
	fixed := startPhone(t, Options{Servers: []config.Server{{Name: "home", Address: "127.0.0.1:5999", Transport: config.TransportUDP}}})
	if ip := fixed.mediaBindIP(fixed.servers[0]); ip != "127.0.0.1" {
		t.Errorf("media bound to %q with the phone on 127.0.0.1, want 127.0.0.1", ip)
	}
	fixed.servers[0].addrMu.Lock()
	fixed.servers[0].local = "192.0.2.7"
	fixed.servers[0].addrMu.Unlock()
	if r, err := fixed.Rebind(context.Background()); err != nil || len(r.Moved) != 0 {
		t.Errorf("Rebind on a fixed listen address: %+v, %v; want nothing", r, err)
	}
}

// A call moved from behind a NAT waits for its server to say where it sees the phone's new address before
// offering it (else the far end would be sent the new private address), and stops waiting when the call
// ends; ownAddress knows this machine's addresses from others.
func TestMoveBehindANATWaitsForTheServersWord(t *testing.T) {
	a := startWildcard(t, "127.0.0.1:5999")
	c := &call{a: a, link: a.servers[0], done: make(chan struct{})}
	go func() {
		time.Sleep(200 * time.Millisecond)
		c.link.nat.set("198.51.100.9", 40000)
	}()
	start := time.Now()
	a.awaitAddress(c)
	if d := time.Since(start); d < 200*time.Millisecond || d > natWait/2 {
		t.Fatalf("waited %s for an address learned after 200 ms", d)
	}
	c.link.nat.set("", 0)
	close(c.done)
	start = time.Now()
	a.awaitAddress(c)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("an ended call waited %s", d)
	}
	if !ownAddress("127.0.0.1") || ownAddress("198.51.100.9") || ownAddress("not an address") {
		t.Fatal("ownAddress: wrong about 127.0.0.1, 198.51.100.9 or garbage")
	}
}
