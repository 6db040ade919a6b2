package phone

import (
	"errors"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

func startTLSAgent(t *testing.T, caFile string, servers ...config.Server) *Agent {
	t.Helper()
	return startPhone(t, Options{Servers: servers, TLSCA: caFile})
}

// tlsServer starts a Kamailio with a TLS listener whose certificate (for names) a new test CA signed.
func tlsServer(t *testing.T, names ...string) (config.Server, *lab.Server, lab.TLSFiles) {
	t.Helper()
	files, err := lab.MakeTLS(t.TempDir(), names...)
	if err != nil {
		t.Fatal(err)
	}
	k := labtest.Server(t, "home", lab.ServerOptions{TLS: &files})
	return config.Server{Name: "home", Address: k.TLSAddr(), Transport: config.TransportTLS}, k, files
}

func TestTLSRegistersWithTheConfiguredCA(t *testing.T) {
	srv, k, files := tlsServer(t, "127.0.0.1", "localhost")
	a := startTLSAgent(t, files.CA, srv)
	b, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.Contact, "transport=tls") {
		t.Errorf("contact %s does not say TLS", b.Contact)
	}
	if err := a.Probe(ctxFor(t, time.Second), 0); err != nil {
		t.Errorf("keep-alive over TLS: %v", err)
	}
	if _, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, time.Second); err != nil {
		t.Errorf("refresh over TLS: %v", err)
	}
	if err := a.Unregister(ctxFor(t, 2*time.Second), 0, time.Second); err != nil {
		t.Errorf("unregister over TLS: %v", err)
	}
	lines := k.RegisterLines()
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "proto=tls") {
		t.Errorf("the server did not see the REGISTERs over TLS: %v", lines)
	}
}

func TestTLSVerificationFailuresAreReported(t *testing.T) {
	srv, _, _ := tlsServer(t, "127.0.0.1")
	// The system's roots do not know the test's CA.
	_, err := startTLSAgent(t, "", srv).Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, time.Second)
	if !errors.Is(err, ErrCertificate) || !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("unknown CA: %v, want ErrCertificate naming the unknown authority", err)
	}
	// A certificate from the trusted CA, but for another name.
	other, _, files := tlsServer(t, "sip.example.net")
	_, err = startTLSAgent(t, files.CA, other).Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, time.Second)
	if !errors.Is(err, ErrCertificate) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("wrong name: %v, want ErrCertificate naming the address", err)
	}
	// A CA file that holds no certificate is refused at start, not ignored.
	if _, err := Start(Options{Servers: []config.Server{srv}, Listen: "127.0.0.1:0", TLSCA: files.Key,
		Account: config.Account{User: "1001", Domain: "127.0.0.1"}}); err == nil {
		t.Error("a key given as the CA file was accepted")
	}
}

// Calls both ways over TLS: the phone calls a second phone registered over TLS on the same server, which
// must receive the INVITE on its TLS connection (the phone has no TLS listener of its own).
func TestTLSCallsBothWays(t *testing.T) {
	srv, _, files := tlsServer(t, "127.0.0.1")
	a := startTLSAgent(t, files.CA, srv)
	b := startPhone(t, Options{Account: config.Account{User: "1004"}, Servers: []config.Server{srv}, TLSCA: files.CA})
	for _, ag := range []*Agent{a, b} {
		if _, err := ag.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	id, err := a.Dial(ctxFor(t, 5*time.Second), 0, "1004", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	in := waitCall(t, b, "", CallIncoming, 3*time.Second)
	if err := b.Answer(in.ID); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 3*time.Second)
	eventually(t, 3*time.Second, "media both ways", func() bool {
		return callStats(t, a, id).RxPackets >= 20 && callStats(t, b, in.ID).RxPackets >= 20
	})
	if err := b.Hangup(in.ID, "hung up"); err != nil {
		t.Fatal(err)
	}
	if ended := waitCall(t, a, id, CallEnded, 3*time.Second); ended.Reason == "" {
		t.Errorf("ended without a reason: %+v", ended)
	}
}
