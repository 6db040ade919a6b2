package phone

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

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

func itoa(n int) string { return strconv.Itoa(n) }

// A 503's Retry-After, in its forms; an answer that is no 503 is not "service unavailable".
func TestStatusErrorRetryAfter(t *testing.T) {
	for value, want := range map[string]time.Duration{
		"120": 120 * time.Second, "30 (maintenance)": 30 * time.Second, "60;duration=10": time.Minute,
		"0": 0, "-5": 0, "soon": 0, "99999999": 0, "": 0,
	} {
		res := sip.NewResponse(503, "Service Unavailable")
		if value != "" {
			res.AppendHeader(sip.NewHeader("Retry-After", value))
		}
		err := fmt.Errorf("register: %w", statusError(sip.REGISTER, res))
		if ra, ok := ServiceUnavailable(err); !ok || ra != want {
			t.Errorf("Retry-After %q: %s %v, want %s", value, ra, ok, want)
		}
	}
	e := statusError(sip.INVITE, sip.NewResponse(486, "Busy Here"))
	if _, ok := ServiceUnavailable(e); ok || e.Error() != "INVITE answered 486 Busy Here" {
		t.Errorf("486: %v", e)
	}
	if s := (&StatusError{Method: "REGISTER", Code: 503, Reason: "Service Unavailable", RetryAfter: time.Minute}).Error(); s != "REGISTER answered 503 Service Unavailable (retry after 1m0s)" {
		t.Errorf("Error() = %q", s)
	}
}
