// Package labtest starts the lab's real servers for tests and stops them when the test ends.
package labtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"stayline/lab"
)

// Need skips the test when a lab program is missing, or fails it when STAYLINE_REQUIRE_LAB is set (make
// test sets it, so CI can never pass by skipping).
func Need(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			if os.Getenv("STAYLINE_REQUIRE_LAB") != "" {
				t.Fatalf("%s is not installed; make test installs it", p)
			}
			t.Skipf("%s is not installed (make test installs it)", p)
		}
	}
}

// Pair starts home and alternate registrars on free ports in a directory of the test's own.
func Pair(t testing.TB, opts lab.ServerOptions) *lab.Pair {
	t.Helper()
	Need(t, "kamailio")
	opts.DieWithMe = true
	p, err := lab.NewPair(t.TempDir(), 0, 0, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop lab: %v", err)
		}
	})
	return p
}

// Server starts one registrar on a free port.
func Server(t testing.TB, name string, opts lab.ServerOptions) *lab.Server {
	t.Helper()
	Need(t, "kamailio")
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	opts.DieWithMe = true
	s := lab.NewServer(t.TempDir(), name, port, opts)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	return s
}

// SIPp runs a SIPp scenario of the lab on a free port until the test ends.
func SIPp(t testing.TB, scenario string, extra ...string) *lab.SIPp {
	t.Helper()
	Need(t, "sipp")
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s, err := lab.StartSIPp(t.TempDir(), scenario, port, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// FarEnd runs an echoing SIPp UAS registered as user on the given registrars (host:port).
func FarEnd(t testing.TB, user string, registrars ...string) *lab.FarEnd {
	return farEnd(t, lab.StartFarEnd, user, registrars)
}

// FarEndWithoutEvents is FarEnd offering no telephone-event.
func FarEndWithoutEvents(t testing.TB, user string, registrars ...string) *lab.FarEnd {
	return farEnd(t, lab.StartFarEndWithoutEvents, user, registrars)
}

func farEnd(t testing.TB, start func(string, string, ...string) (*lab.FarEnd, error), user string, registrars []string) *lab.FarEnd {
	t.Helper()
	Need(t, "sipp")
	f, err := start(t.TempDir(), user, registrars...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f
}

// Caller runs the lab's caller scenario once against proxy (see lab.Caller).
func Caller(t testing.TB, user, proxy string, talk time.Duration, extra ...string) *lab.SIPp {
	t.Helper()
	Need(t, "sipp")
	s, err := lab.Caller(t.TempDir(), user, proxy, talk, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Baresip runs baresip as user registered at registrar until the test ends.
func Baresip(t testing.TB, user, registrar string) *lab.Baresip {
	t.Helper()
	Need(t, "baresip")
	b, err := lab.StartBaresip(t.TempDir(), user, registrar)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return b
}

// Echo runs the lab's echo test (lab.Echo) in this process until the test ends and returns its
// host:port, for ServerOptions.EchoAddr. It logs to echo.log in a directory of the test's own.
func Echo(t testing.TB) string {
	t.Helper()
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(t.TempDir(), "echo.log"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := lab.ListenEcho(fmt.Sprintf("127.0.0.1:%d", port), lab.EchoOptions{
		Logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		logf.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Serve(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		logf.Close()
	})
	return e.Addr()
}

// Voicemail runs the lab's voicemail and returns its host:port, for ServerOptions.VoicemailAddr.
func Voicemail(t testing.TB) (string, *lab.SIPp) {
	t.Helper()
	Need(t, "sipp")
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s, err := lab.StartVoicemail(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return fmt.Sprintf("127.0.0.1:%d", port), s
}

// NetPair is a lab pair whose servers each run in a network namespace of their own, so a test can cut
// one off silently (Netns.Partition) instead of killing it.
type NetPair struct {
	*lab.Pair
	HomeNet, AltNet *lab.Netns
}

// NetworkPair starts home and alternate each in a namespace of its own. It skips the test, saying why,
// where namespaces cannot be made (not root, no nftables, a kernel that refuses).
func NetworkPair(t testing.TB, opts lab.ServerOptions) *NetPair {
	t.Helper()
	Need(t, "kamailio")
	if why := lab.NetnsUsable(); why != "" {
		t.Skipf("partition tests skipped: %s", why)
	}
	dir := t.TempDir()
	np := &NetPair{Pair: &lab.Pair{Dir: dir}}
	for _, side := range []struct {
		name string
		net  **lab.Netns
		srv  **lab.Server
	}{{"home", &np.HomeNet, &np.Home}, {"alternate", &np.AltNet, &np.Alternate}} {
		n, err := lab.NewNetns()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() }) // after the server's stop, registered below
		port, err := lab.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		o := opts
		o.Netns, o.DieWithMe = n, true
		s := lab.NewServer(dir, side.name, port, o)
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Stop() })
		*side.net, *side.srv = n, s
	}
	return np
}

// FarEndAt is FarEnd listening on ip (the near end of a NetPair's namespace, which both servers reach).
func FarEndAt(t testing.TB, ip, user string, registrars ...string) *lab.FarEnd {
	return farEnd(t, func(dir, user string, regs ...string) (*lab.FarEnd, error) {
		return lab.StartFarEndAt(dir, ip, user, regs...)
	}, user, registrars)
}

// BaresipWith is Baresip with options (media encryption).
func BaresipWith(t testing.TB, user, registrar string, opts lab.BaresipOptions) *lab.Baresip {
	t.Helper()
	Need(t, "baresip")
	b, err := lab.StartBaresipWith(t.TempDir(), user, registrar, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return b
}

// Linphone runs linphonec as user registered at registrar until the test ends.
func Linphone(t testing.TB, user, registrar string) *lab.Linphone {
	t.Helper()
	Need(t, "linphonec")
	l, err := lab.StartLinphone(t.TempDir(), user, registrar)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Stop)
	return l
}
