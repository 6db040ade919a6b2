package phone

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// The binding check through a real Kamailio, on every transport: without a binding the registrar answers
// 404 itself (BindingLost), with one it routes the check back to the phone (reached), and after an
// un-REGISTER it answers 404 again. The phone takes only its servers' requests (OnlyServers): the check
// comes from the server's address.
func TestBindingCheckThroughKamailio(t *testing.T) {
	files, err := lab.MakeTLS(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	k := labtest.Server(t, "home", lab.ServerOptions{TLS: &files})
	for _, tr := range []config.Transport{config.TransportUDP, config.TransportTCP, config.TransportTLS} {
		t.Run(string(tr), func(t *testing.T) {
			s := srv("home", k, tr)
			if tr == config.TransportTLS {
				s.Address = k.TLSAddr()
			}
			a := startPhone(t, Options{Servers: []config.Server{s}, TLSCA: files.CA, OnlyServers: true})
			check := func(want BindingCheck, when string) {
				t.Helper()
				got, err := a.CheckBinding(ctxFor(t, time.Second), 0)
				if got != want {
					t.Fatalf("%s: binding check %v (%v), want %v", when, got, err, want)
				}
			}
			check(BindingLost, "before registering")
			mustRegister(t, a)
			check(BindingReached, "registered")
			if err := a.Unregister(ctxFor(t, time.Second), 0, reqTimeout); err != nil {
				t.Fatal(err)
			}
			check(BindingLost, "unregistered")
		})
	}
}

// What a status says when the check did not reach the phone.
func TestBindingVerdicts(t *testing.T) {
	for code, want := range map[int]BindingCheck{
		sip.StatusNotFound: BindingLost, sip.StatusGone: BindingLost, sip.StatusTemporarilyUnavailable: BindingLost,
		sip.StatusServiceUnavailable: BindingUnknown, sip.StatusRequestTimeout: BindingUnknown,
		sip.StatusOK: BindingUnsupported, sip.StatusMethodNotAllowed: BindingUnsupported, sip.StatusForbidden: BindingUnsupported,
	} {
		if got := bindingVerdict(code); got != want {
			t.Errorf("%d: %v, want %v", code, got, want)
		}
	}
}
