package phone

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

const reqTimeout = 500 * time.Millisecond

func startAgent(t *testing.T, password string, servers ...config.Server) *Agent {
	t.Helper()
	a, err := Start(Options{
		Account: config.Account{User: "1001", Password: password, Domain: "127.0.0.1"},
		Servers: servers,
		Listen:  "127.0.0.1:0",
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func srv(name string, s *lab.Server, transport config.Transport) config.Server {
	return config.Server{Name: name, Address: s.Addr(), Transport: transport}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestRegisterRefreshUnregister(t *testing.T) {
	for _, tc := range []struct {
		transport config.Transport
		algorithm string
	}{{config.TransportUDP, ""}, {config.TransportTCP, ""}, {config.TransportUDP, "SHA-256"}} {
		t.Run(string(tc.transport)+"/"+tc.algorithm, func(t *testing.T) {
			k := labtest.Server(t, "home", lab.ServerOptions{AuthAlgorithm: tc.algorithm})
			a := startAgent(t, lab.Password, srv("home", k, tc.transport))
			b, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout)
			if err != nil {
				t.Fatal(err)
			}
			if b.Expires != 60*time.Second {
				t.Errorf("granted %s, want 60s", b.Expires)
			}
			if _, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout); err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if err := a.Unregister(ctxFor(t, 2*time.Second), 0, reqTimeout); err != nil {
				t.Fatal(err)
			}
			lines := k.RegisterLines()
			if len(lines) != 6 { // each REGISTER is challenged once
				t.Fatalf("server saw %d REGISTERs, want 6:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			callID := field(lines[0], "callid")
			for i, l := range lines {
				if field(l, "callid") != callID {
					t.Errorf("REGISTER %d changed Call-ID: %s", i, l)
				}
				if i > 0 && atoi(field(l, "cseq")) != atoi(field(lines[i-1], "cseq"))+1 {
					t.Errorf("CSeq did not grow by one at REGISTER %d", i)
				}
				if proto := field(l, "proto"); proto != string(tc.transport) {
					t.Errorf("REGISTER %d over %s, want %s", i, proto, tc.transport)
				}
			}
			if field(lines[5], "expires") != "0" {
				t.Errorf("unregister sent %s", lines[5])
			}
		})
	}
}

func TestWrongPasswordIsAnAuthFailureWithTwoRegisters(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := startAgent(t, "not-the-password", srv("home", k, config.TransportUDP))
	_, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("got %v, want ErrAuth", err)
	}
	if n := len(k.RegisterLines()); n != 2 {
		t.Fatalf("server saw %d REGISTERs for one attempt, want 2", n)
	}
}

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

func TestTCPConnectionLossIsReportedAtOnce(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := startAgent(t, lab.Password, srv("home", k, config.TransportTCP))
	if _, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout); err != nil {
		t.Fatal(err)
	}
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

func Test503CarriesRetryAfter(t *testing.T) {
	s := labtest.SIPp(t, "unavailable")
	a := startAgent(t, lab.Password, config.Server{Name: "busy", Address: "127.0.0.1:" + itoa(s.Port), Transport: config.TransportUDP})
	_, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout)
	if ra, ok := ServiceUnavailable(err); !ok || ra != 30*time.Second {
		t.Fatalf("register: %v; want 503 with Retry-After 30s", err)
	}
	if _, ok := ServiceUnavailable(a.Probe(ctxFor(t, reqTimeout), 0)); !ok {
		t.Fatal("probe answered 503 not reported as such")
	}
}

// The phone answers OPTIONS that servers (or anyone) send to its listen address.
func TestAnswersOptions(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := startAgent(t, lab.Password, srv("home", k, config.TransportUDP))
	if err := lab.Ping(a.Listen(), time.Second); err != nil {
		t.Fatalf("OPTIONS to the phone at %s: %v", a.Listen(), err)
	}
	c, err := net.Dial("tcp", a.Listen())
	if err != nil {
		t.Fatalf("the phone does not listen on TCP %s: %v", a.Listen(), err)
	}
	c.Close()
}

func field(line, name string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }

// A SIP scanner (any address that is not a configured server) cannot ring the phone nor probe it.
func TestStrangersAreRefused(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a, err := Start(Options{Account: config.Account{User: "1001", Password: lab.Password, Domain: "127.0.0.1"},
		Servers: []config.Server{srv("home", k, config.TransportUDP)}, Listen: "127.0.0.1:0", OnlyServers: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	caller := labtest.Caller(t, "1001", a.Listen(), time.Second, "-i", "127.0.0.2")
	caller.Wait(5 * time.Second)
	if caller.Received("SIP/2.0 403") < 1 {
		b, _ := os.ReadFile(caller.MessagesFile())
		t.Fatalf("a call from 127.0.0.2 was not refused with 403:\n%s", b)
	}
	for _, c := range a.Calls() {
		t.Fatalf("a stranger's call got through: %+v", c)
	}
	// The configured server's address is welcome.
	if err := lab.Ping(a.Listen(), time.Second); err != nil {
		t.Fatalf("OPTIONS from the server's address: %v", err)
	}
}

// A run that dies without unregistering leaves a binding behind; the next run of the same installation
// (same instance id) replaces it, and leaves other devices of the same user alone. Kamailio matches the
// binding by +sip.instance itself; a registrar that does not gets the phone's own clean-up
// (TestStaleContactsAreOursOnly). The control case shows what a new instance id each run would leave.
func TestNextRunReplacesTheBindingAKilledRunLeft(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	start := func(user, instance string) *Agent {
		a, err := Start(Options{
			Account:  config.Account{User: user, Password: lab.Password, Domain: "127.0.0.1"},
			Servers:  []config.Server{srv("home", k, config.TransportUDP)},
			Listen:   "127.0.0.1:0",
			Instance: instance,
			Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	register := func(a *Agent) Binding {
		t.Helper()
		b, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// bindingsAfterRestart registers a deskphone and a run of user, kills the run (no un-REGISTER, as
	// after kill -9), starts the next run with nextInstance and returns what the registrar then holds.
	bindingsAfterRestart := func(user, instance, nextInstance string) (got []string, deskphone, old, next string) {
		desk := register(start(user, "urn:uuid:00000000-0000-4000-8000-0000000000ff"))
		killed := start(user, instance)
		oldB := register(killed)
		killed.Close()
		nextA := start(user, nextInstance)
		register(nextA)
		after := register(nextA) // a refresh: the list as it stands after the first REGISTER's clean-up
		return after.Contacts, desk.Contact, oldB.Contact, after.Contact
	}

	const mine = "urn:uuid:00000000-0000-4000-8000-000000000001"
	got, desk, old, next := bindingsAfterRestart("1001", mine, mine)
	if want := []string{desk, next}; !sameSet(got, want) {
		t.Errorf("same installation: bindings %v, want %v (the killed run's %s gone, the deskphone kept)", got, want, old)
	}
	got, desk, old, next = bindingsAfterRestart("1002", mine, "urn:uuid:00000000-0000-4000-8000-000000000002")
	if want := []string{desk, old, next}; !sameSet(got, want) {
		t.Errorf("control, new instance id: bindings %v, want %v (the stale one stays)", got, want)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
