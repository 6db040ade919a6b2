package phone

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

func TestStaleContactsAreOursOnly(t *testing.T) {
	const mine = "urn:uuid:00000000-0000-4000-8000-000000000001"
	raw := "SIP/2.0 200 OK\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK1\r\n" +
		"From: <sip:1001@example.com>;tag=a\r\nTo: <sip:1001@example.com>;tag=b\r\n" +
		"Call-ID: x\r\nCSeq: 2 REGISTER\r\n" +
		"Contact: <sip:1001@127.0.0.1:5099>;expires=60;+sip.instance=\"<" + mine + ">\", " +
		"<sip:1001@127.0.0.1:4000>;expires=30;+sip.instance=\"<" + mine + ">\"\r\n" +
		"Contact: <sip:1001@10.0.0.9:5060>;expires=50;+sip.instance=\"<urn:uuid:00000000-0000-4000-8000-0000000000ff>\"\r\n" +
		"Contact: <sip:1001@10.0.0.8:5060>;expires=50\r\n" +
		"Content-Length: 0\r\n\r\n"
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	res := msg.(*sip.Response)
	ours := sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1", Port: 5099}
	stale := staleContacts(res, ours, mine)
	if len(stale) != 1 || stale[0].Port != 4000 {
		t.Fatalf("stale = %v, want only sip:1001@127.0.0.1:4000", stale)
	}
	if all := listedContacts(res); len(all) != 4 {
		t.Fatalf("listed = %v, want 4 contacts", all)
	}
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

// A run that dies without unregistering leaves a binding behind; the next run of the same installation
// (same instance id) replaces it, and leaves other devices of the same user alone. Kamailio matches the
// binding by +sip.instance itself; a registrar that does not gets the phone's own clean-up
// (TestStaleContactsAreOursOnly). The control case shows what a new instance id each run would leave.
func TestNextRunReplacesTheBindingAKilledRunLeft(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	start := func(user, instance string) *Agent {
		return startPhone(t, Options{Account: config.Account{User: user}, Servers: []config.Server{srv("home", k, config.TransportUDP)},
			Instance: instance})
	}
	register := func(a *Agent) Binding { return mustRegister(t, a) }
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
