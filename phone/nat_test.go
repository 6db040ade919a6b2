package phone

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pion/stun/v3"

	"stayline/config"
)

// fakeRegistrar answers REGISTER and OPTIONS on a loopback UDP socket as a registrar behind which the phone
// sits: each answer's top Via gets what via returns for the n-th request (received/rport params, "" for
// none). challenge makes it answer each REGISTER without Authorization 401 first. It records the Contact of
// every REGISTER.
type fakeRegistrar struct {
	conn      net.PacketConn
	via       func(n int) string
	challenge bool

	mu       sync.Mutex
	n        int
	contacts []string // of every REGISTER, in order
	options  int
	noRport  int // requests whose Via did not ask for rport
}

func newFakeRegistrar(t *testing.T, challenge bool, via func(n int) string) *fakeRegistrar {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRegistrar{conn: c, via: via, challenge: challenge}
	t.Cleanup(func() { c.Close() })
	go f.serve()
	return f
}

func (f *fakeRegistrar) addr() string { return f.conn.LocalAddr().String() }

func (f *fakeRegistrar) serve() {
	buf := make([]byte, 65535)
	for {
		n, from, err := f.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			continue
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			continue
		}
		f.mu.Lock()
		f.n++
		if !req.Via().Params.Has("rport") {
			f.noRport++
		}
		params := f.via(f.n)
		var res *sip.Response
		switch {
		case req.Method == sip.REGISTER && f.challenge && req.GetHeader("Authorization") == nil:
			res = sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
			res.AppendHeader(sip.NewHeader("WWW-Authenticate", `Digest realm="lab", nonce="abc123", algorithm=MD5, qop="auth"`))
		case req.Method == sip.REGISTER:
			f.contacts = append(f.contacts, req.Contact().Address.String())
			res = sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
			res.AppendHeader(req.Contact().Clone())
		default:
			f.options++
			res = sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
		}
		f.mu.Unlock()
		if params != "" {
			via := res.Via()
			via.Params = sip.NewParams()
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(p, "=")
				via.Params.Add(k, v)
			}
			via.Params.Add("branch", req.Via().Params.GetOr("branch", ""))
		}
		f.conn.WriteTo([]byte(res.String()), from)
	}
}

func (f *fakeRegistrar) registered() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.contacts...)
}

func natPhone(t *testing.T, f *fakeRegistrar, stunServer string) *Agent {
	t.Helper()
	return startPhone(t, Options{Servers: []config.Server{{Name: "home", Address: f.addr(), Transport: config.TransportUDP}},
		STUN: stunServer})
}

func TestViaAddress(t *testing.T) {
	for _, tc := range []struct {
		via      string
		host     string
		port     int
		received bool
		ok       bool
	}{
		{"SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK1;rport=40000;received=203.0.113.9", "203.0.113.9", 40000, true, true},
		{"SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK1;rport=5070", "10.0.0.2", 5070, false, true},
		{"SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK1;rport", "10.0.0.2", 5070, false, true}, // rport asked, not filled
		{"SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1", "10.0.0.2", 5060, false, true},
		{"SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK1;received=2001:db8::5;rport=7000", "2001:db8::5", 7000, true, true},
		// Bad input: the whole word is void.
		{"SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK1;received=not-an-address;rport=40000", "", 0, false, false},
		{"SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK1;received=203.0.113.9;rport=99999", "", 0, false, false},
		{"SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK1;received=203.0.113.9;rport=-1", "", 0, false, false},
		{"SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK1;received=0.0.0.0;rport=40000", "", 0, false, false},
		{"SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK1;received=224.0.0.1;rport=40000", "", 0, false, false},
		{"SIP/2.0/UDP 10.0.0.2:5070;branch=z9hG4bK1;received=;rport=40000", "", 0, false, false},
	} {
		raw := "SIP/2.0 200 OK\r\nVia: " + tc.via + "\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\n" +
			"Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
		msg, err := sip.ParseMessage([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.via, err)
		}
		host, port, received, ok := viaAddress(msg.(*sip.Response))
		if host != tc.host || port != tc.port || received != tc.received || ok != tc.ok {
			t.Errorf("%s: got %q %d received=%v ok=%v, want %q %d %v %v", tc.via, host, port, received, ok,
				tc.host, tc.port, tc.received, tc.ok)
		}
	}
}

// The registrar says it sees the phone elsewhere: the phone registers again, once, with that address, and
// its refreshes use it from the start.
func TestRegisterTakesTheAddressTheServerSees(t *testing.T) {
	f := newFakeRegistrar(t, false, func(int) string { return "received=203.0.113.9;rport=40000" })
	a := natPhone(t, f, "")
	b := mustRegister(t, a)
	got := f.registered()
	if len(got) != 2 || strings.Contains(got[0], "203.0.113.9") || got[1] != "sip:1001@203.0.113.9:40000" {
		t.Fatalf("REGISTER contacts %q, want the local one, then sip:1001@203.0.113.9:40000", got)
	}
	if b.Contact != "sip:1001@203.0.113.9:40000" {
		t.Errorf("binding contact %q", b.Contact)
	}
	mustRegister(t, a)
	if got := f.registered(); len(got) != 3 || got[2] != "sip:1001@203.0.113.9:40000" {
		t.Fatalf("refresh contacts %q, want one more, at the public address", got)
	}
	if r := a.Reachable(0); r.Contact != "sip:1001@203.0.113.9:40000" || r.Media != "203.0.113.9" {
		t.Errorf("reachable %+v", r)
	}
}

// A 401 that carries the address counts: the authenticated REGISTER already has it.
func TestChallengeCarriesTheAddress(t *testing.T) {
	f := newFakeRegistrar(t, true, func(int) string { return "received=198.51.100.20;rport=31000" })
	a := natPhone(t, f, "")
	mustRegister(t, a)
	if got := f.registered(); len(got) != 1 || got[0] != "sip:1001@198.51.100.20:31000" {
		t.Fatalf("REGISTER contacts after the challenge %q, want only sip:1001@198.51.100.20:31000", got)
	}
}

// A registrar that names another address in every answer costs one REGISTER more, not a loop.
func TestReRegisterOnceNoLoop(t *testing.T) {
	f := newFakeRegistrar(t, false, func(n int) string { return "received=203.0.113.9;rport=" + string(rune('0'+n%10)) + "0000" })
	a := natPhone(t, f, "")
	mustRegister(t, a)
	if got := f.registered(); len(got) != 2 {
		t.Fatalf("%d REGISTERs (%q), want 2: one more with the address seen, then no more", len(got), got)
	}
}

// A received that is not an address (or an rport out of range) is passed over: the phone keeps its own.
func TestBadReceivedIsIgnored(t *testing.T) {
	for _, via := range []string{"received=not-an-address;rport=40000", "received=203.0.113.9;rport=70000", "received=0.0.0.0"} {
		f := newFakeRegistrar(t, false, func(int) string { return via })
		a := natPhone(t, f, "")
		mustRegister(t, a)
		got := f.registered()
		if len(got) != 1 || !strings.HasPrefix(got[0], "sip:1001@127.0.0.1:") {
			t.Errorf("%s: REGISTER contacts %q, want one at the phone's own address", via, got)
		}
	}
}

// A keep-alive whose answer says the address moved reports it, once per move.
func TestKeepaliveReportsAMovedAddress(t *testing.T) {
	var mu sync.Mutex
	seen := "received=203.0.113.9;rport=40000"
	f := newFakeRegistrar(t, false, func(int) string { mu.Lock(); defer mu.Unlock(); return seen })
	a := natPhone(t, f, "")
	mustRegister(t, a)
	probe := func() {
		t.Helper()
		if err := a.Probe(ctxFor(t, time.Second), 0); err != nil {
			t.Fatal(err)
		}
	}
	probe() // same address: nothing to report
	mu.Lock()
	seen = "received=203.0.113.9;rport=40002" // the NAT forgot the mapping and made another
	mu.Unlock()
	probe()
	probe()
	// Probe reports before it returns, in order: everything reported comes before this mark.
	const mark EventKind = "test_mark"
	a.notify(Event{Kind: mark})
	var kinds []EventKind
	for ev := range a.Events() {
		if ev.Kind == mark {
			break
		}
		kinds = append(kinds, ev.Kind)
	}
	if len(kinds) != 1 || kinds[0] != EventAddressChanged {
		t.Fatalf("events %v, want one %s", kinds, EventAddressChanged)
	}
	if r := a.Reachable(0); r.Contact != "sip:1001@203.0.113.9:40002" {
		t.Errorf("contact after the move %q", r.Contact)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noRport != 0 || f.options != 3 {
		t.Errorf("%d of the requests did not ask for rport (RFC 3581), %d keep-alives seen", f.noRport, f.options)
	}
}

// fakeSTUN answers Binding requests on loopback with answer(request) (nil: no answer), counting them.
type fakeSTUN struct {
	conn   net.PacketConn
	mu     sync.Mutex
	asked  int
	answer func(req *stun.Message) []byte
}

func newFakeSTUN(t *testing.T, answer func(req *stun.Message) []byte) *fakeSTUN {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSTUN{conn: c, answer: answer}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil {
				continue
			}
			s.mu.Lock()
			s.asked++
			s.mu.Unlock()
			if out := s.answer(req); out != nil {
				c.WriteTo(out, from)
			}
		}
	}()
	return s
}

func (s *fakeSTUN) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked
}

func mappedAnswer(ip string, port int) func(req *stun.Message) []byte {
	return func(req *stun.Message) []byte {
		res, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: net.ParseIP(ip), Port: port}, stun.Fingerprint)
		if err != nil {
			panic(err)
		}
		return res.Raw
	}
}

// stunPhoneWithMedia is a phone the registrar sees at 203.0.113.9:40000 and STUN at 198.51.100.7:41000,
// registered, with a call's media open (the caller closes it).
func stunPhoneWithMedia(t *testing.T) (*Agent, *media) {
	t.Helper()
	f := newFakeRegistrar(t, false, func(int) string { return "received=203.0.113.9;rport=40000" })
	s := newFakeSTUN(t, mappedAnswer("198.51.100.7", 41000))
	a := natPhone(t, f, s.conn.LocalAddr().String())
	mustRegister(t, a)
	m, err := a.openCallMedia(a.servers[0])
	if err != nil {
		t.Fatal(err)
	}
	return a, m
}

// STUN's answer is the call's media address, port included, over the registrar's word.
func TestSTUNGivesTheMediaAddress(t *testing.T) {
	a, m := stunPhoneWithMedia(t)
	defer m.close()
	if ip, port := a.mediaAddr(a.servers[0], m); ip != "198.51.100.7" || port != 41000 {
		t.Fatalf("media address %s:%d, want STUN's 198.51.100.7:41000", ip, port)
	}
	sess := a.newSDPSession()
	if err := sess.prepareOffer(); err != nil {
		t.Fatal(err)
	}
	body, err := sess.offer(a.mediaAddr(a.servers[0], m))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "c=IN IP4 198.51.100.7") || !strings.Contains(string(body), "m=audio 41000 ") {
		t.Errorf("offer does not give STUN's address:\n%s", body)
	}
	if r := a.Reachable(0); r.Media != "198.51.100.7:41000" {
		t.Errorf("reachable media %q, want STUN's", r.Media)
	}
}

// A STUN server that answers garbage, or nothing: the wait is bounded, the call carries on with the
// registrar's word, and the server is not asked again until stunQuiet has passed (on the injected clock).
func TestSTUNGarbageOrSilenceIsBounded(t *testing.T) {
	for name, answer := range map[string]func(*stun.Message) []byte{
		"garbage": func(*stun.Message) []byte { return []byte("\x01\x01\x00\x08garbage that is no STUN answer") },
		"wrong-transaction": func(req *stun.Message) []byte {
			res, _ := stun.Build(stun.TransactionID, stun.BindingSuccess, &stun.XORMappedAddress{IP: net.ParseIP("192.0.2.1"), Port: 9}, stun.Fingerprint)
			return res.Raw
		},
		"silent": func(*stun.Message) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeRegistrar(t, false, func(int) string { return "received=203.0.113.9;rport=40000" })
			s := newFakeSTUN(t, answer)
			a := natPhone(t, f, s.conn.LocalAddr().String())
			now := time.Date(2026, 11, 28, 6, 0, 0, 0, time.UTC)
			a.stun.now = func() time.Time { return now }
			mustRegister(t, a)

			start := time.Now()
			m, err := a.openCallMedia(a.servers[0])
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			defer m.close()
			if took > stunWait+300*time.Millisecond {
				t.Errorf("waited %s for STUN, want at most %s", took, stunWait)
			}
			if ip, port := a.mediaAddr(a.servers[0], m); ip != "203.0.113.9" || port != m.Port() {
				t.Errorf("media address %s:%d, want the registrar's word 203.0.113.9:%d", ip, port, m.Port())
			}
			asked := s.requests()
			if asked < 2 {
				t.Errorf("STUN asked %d times in the wait, want the request resent", asked)
			}
			t.Logf("FIGURE nat.stun.%s.wait_ms %d (bound %d ms, %d requests)", name, took.Milliseconds(), stunWait.Milliseconds(), asked)

			// Quiet: the next call does not wait for it.
			m2, err := a.openCallMedia(a.servers[0])
			if err != nil {
				t.Fatal(err)
			}
			m2.close()
			if s.requests() != asked {
				t.Errorf("STUN asked again within the quiet minute")
			}
			now = now.Add(stunQuiet + time.Second)
			m3, err := a.openCallMedia(a.servers[0])
			if err != nil {
				t.Fatal(err)
			}
			m3.close()
			if s.requests() == asked {
				t.Errorf("STUN not asked again after the quiet minute")
			}
		})
	}
}

// forgetAddress (the phone's own address changed) drops the NAT's word and STUN's.
func TestForgetAddress(t *testing.T) {
	a, m := stunPhoneWithMedia(t)
	m.close()
	a.forgetAddress(a.servers[0])
	r := a.Reachable(0)
	if r.Media != "" || !strings.HasPrefix(r.Contact, "sip:1001@127.0.0.1:") {
		t.Errorf("after forgetAddress: %+v, want the phone's own address and no public media", r)
	}
}

// A keep-alive learns the new address while a refresh is on its way with the old Contact: the refresh's
// answer adds nothing new, but the binding it made is stale, so the phone registers once more.
func TestRefreshInFlightWhenTheAddressMoved(t *testing.T) {
	var phone atomic.Pointer[Agent]
	f := newFakeRegistrar(t, false, func(n int) string {
		if n < 3 {
			return "received=203.0.113.9;rport=40000"
		}
		if n == 3 { // what the keep-alive learned meanwhile
			phone.Load().servers[0].nat.set("203.0.113.9", 40002)
		}
		return "received=203.0.113.9;rport=40002"
	})
	a := natPhone(t, f, "")
	phone.Store(a)
	mustRegister(t, a) // 2 REGISTERs: local, then 40000
	mustRegister(t, a) // the refresh: 40000 (stale on arrival), then 40002
	got := f.registered()
	if len(got) != 4 || got[2] != "sip:1001@203.0.113.9:40000" || got[3] != "sip:1001@203.0.113.9:40002" {
		t.Fatalf("REGISTER contacts %q, want the refresh at 40000 followed by one at 40002", got)
	}
}
