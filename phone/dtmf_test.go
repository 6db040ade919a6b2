package phone

import (
	"os"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// The echoing far end sends our RFC 4733 events back, so the digits come in as well as go out.
func TestDTMFOutAndBackIn(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	labtest.FarEnd(t, "1002", k.Addr())
	a, id := activeCall(t, srv("home", k, config.TransportUDP))
	if err := a.SendDTMF(id, "42#"); err != nil {
		t.Fatal(err)
	}
	var got []byte
	deadline := time.After(3 * time.Second)
	for len(got) < 3 {
		select {
		case ev := <-a.Events():
			if ev.Kind == EventDigit && ev.Call.ID == id {
				got = append(got, ev.Digit)
			}
		case <-deadline:
			t.Fatalf("digits received back: %q, want 42#", got)
		}
	}
	if string(got) != "42#" {
		t.Fatalf("digits received back: %q, want 42#", got)
	}
}

// A far end without RFC 4733 gets its digits by SIP INFO, one request a digit.
func TestDTMFFallsBackToSIPInfo(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	far := labtest.FarEndWithoutEvents(t, "1002", k.Addr())
	a, id := activeCall(t, srv("home", k, config.TransportUDP))
	if err := a.SendDTMF(id, "73"); err != nil {
		t.Fatal(err)
	}
	if n := far.Received("INFO"); n != 2 {
		t.Fatalf("far end got %d INFOs, want 2", n)
	}
	msgs, _ := os.ReadFile(far.MessagesFile())
	if !strings.Contains(string(msgs), "Signal=7") || !strings.Contains(string(msgs), "Signal=3") {
		t.Fatal("the INFO bodies do not carry the digits")
	}
}

// RFC 4733 encoding: a digit's packets share its timestamp, the duration grows, the last three carry
// the end bit, and the receiver reports the digit once.
func TestDTMFEventEncoding(t *testing.T) {
	code, _ := dtmfCode('#')
	s := &dtmfSender{digit: code, ts: 4242}
	var rx lastDigit
	var got []byte
	ends := 0
	for i := 0; !s.done(); i++ {
		p, marker := s.next(160)
		if marker != (i == 0) {
			t.Fatalf("packet %d marker %v", i, marker)
		}
		if p[0] != 11 || p[1]&0x3f != dtmfVolume {
			t.Fatalf("packet %d payload % x", i, p)
		}
		if p[1]&0x80 != 0 {
			ends++
		}
		if d, ok := rx.event(s.ts, p); ok {
			got = append(got, d)
		}
	}
	if ends != dtmfEndRepeat || string(got) != "#" {
		t.Fatalf("%d end packets, digits %q", ends, got)
	}
	if _, ok := dtmfCode('x'); ok {
		t.Fatal("x accepted as a DTMF key")
	}
}

// SIP INFO digits: what we send reads back, and the far end's bodies give their valid keys only.
func TestDTMFRelayBodies(t *testing.T) {
	for _, d := range []byte("0123456789*#ABCD") {
		if got := dtmfRelayDigits(dtmfRelayBody(d)); string(got) != string(d) {
			t.Errorf("digit %c reads back as %q", d, got)
		}
	}
	for body, want := range map[string]string{
		"Signal=5\r\nDuration=160\r\n": "5",
		"signal = #\nduration=100":     "#",
		"Signal=\r\n":                  "",
		"Signal=12\r\n":                "",
		"Signal=x\r\n":                 "",
		"Duration=160\r\n":             "",
		"Signal=1\r\nSignal=2\r\n":     "12",
		"":                             "",
	} {
		if got := dtmfRelayDigits([]byte(body)); string(got) != want {
			t.Errorf("%q gives %q, want %q", body, got, want)
		}
	}
}
