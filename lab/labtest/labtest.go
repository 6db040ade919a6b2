// Package labtest starts the lab's real servers for tests and stops them when the test ends.
package labtest

import (
	"fmt"
	"os"
	"os/exec"
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

// Echo runs the lab's echo test (see lab.StartEcho) and returns its host:port, for ServerOptions.EchoAddr.
func Echo(t testing.TB) string {
	t.Helper()
	Need(t, "sipp")
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s, err := lab.StartEcho(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return fmt.Sprintf("127.0.0.1:%d", port)
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
