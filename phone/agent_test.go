package phone

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

const reqTimeout = 500 * time.Millisecond

// startPhone starts an agent listening on 127.0.0.1 that logs nothing, closed when the test ends: opts as
// given, as user 1001 with the lab's password at 127.0.0.1 where opts.Account leaves them empty.
func startPhone(t *testing.T, opts Options) *Agent {
	t.Helper()
	acc := &opts.Account
	acc.User, acc.Password, acc.Domain = cmp.Or(acc.User, "1001"), cmp.Or(acc.Password, lab.Password), cmp.Or(acc.Domain, "127.0.0.1")
	opts.Listen = "127.0.0.1:0"
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func startAgent(t *testing.T, password string, servers ...config.Server) *Agent {
	t.Helper()
	return startPhone(t, Options{Account: config.Account{Password: password}, Servers: servers})
}

// mustRegister registers a on its first server for a minute.
func mustRegister(t *testing.T, a *Agent) Binding {
	t.Helper()
	b, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func srv(name string, s *lab.Server, transport config.Transport) config.Server {
	return config.Server{Name: name, Address: s.Addr(), Transport: transport}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
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

// A SIP scanner (any address that is not a configured server) cannot ring the phone nor probe it.
func TestStrangersAreRefused(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := startPhone(t, Options{Servers: []config.Server{srv("home", k, config.TransportUDP)}, OnlyServers: true})
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
