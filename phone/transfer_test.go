package phone

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// Blind transfer: baresip, asked by REFER, calls the echoing far end, reports success by NOTIFY, and our
// call ends as transferred.
func TestBlindTransferToAnotherParty(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	far := labtest.FarEnd(t, "1002", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)
	id, err := a.Dial(context.Background(), 0, "1003", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.WaitEvent("CALL_INCOMING", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	bs.Command("accept", "")
	waitCall(t, a, id, CallActive, 3*time.Second)
	if err := a.Transfer(id, "1002"); err != nil {
		t.Fatal(err)
	}
	ended := waitCall(t, a, id, CallEnded, 10*time.Second)
	if ended.Reason != "transferred to sip:1002@127.0.0.1" {
		t.Fatalf("ended with %q", ended.Reason)
	}
	if far.Received("INVITE") != 1 {
		t.Fatal("the transfer target was never called")
	}
}

// Attended transfer between two Stayline phones: A talks to B, holds B, consults the far end, then
// transfers: B (the transferee) replaces A's consultation call with a call of its own (INVITE with
// Replaces) and both of A's calls end. (baresip 1.0 cannot be the transferee here: it runs the
// Refer-To through printf, and the escaped Replaces comes out as garbage.)
func TestAttendedTransferJoinsTheTwoCalls(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	far := labtest.FarEnd(t, "1002", k.Addr())
	a := startAgent(t, lab.Password, srv("home", k, config.TransportUDP))
	b := startPhone(t, Options{Account: config.Account{User: "1004"}, Servers: []config.Server{srv("home", k, config.TransportUDP)}})
	mustRegister(t, a)
	mustRegister(t, b)
	first, _ := callPhone(t, a, b, "1004")
	if err := a.Hold(first); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, first, CallHeld, 3*time.Second)
	consult, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, consult, CallActive, 3*time.Second)
	if err := a.Transfer(first, consult); err != nil {
		t.Fatal(err)
	}
	ended := map[string]string{}
	deadline := time.After(10 * time.Second)
	for len(ended) < 2 {
		select {
		case ev := <-a.Events():
			if ev.Kind == EventCall && ev.Call.State == CallEnded {
				ended[ev.Call.ID] = ev.Call.Reason
			}
		case <-deadline:
			t.Fatalf("ended so far: %v", ended)
		}
	}
	if ended[consult] != "joined by the transfer" || !strings.HasPrefix(ended[first], "transferred to sip:1002@127.0.0.1?Replaces=") {
		t.Fatalf("ended %v", ended)
	}
	msgs, _ := os.ReadFile(far.MessagesFile())
	if far.Received("INVITE") != 2 || !strings.Contains(string(msgs), "Replaces: ") {
		t.Fatal("the far end never got the transferee's INVITE with Replaces")
	}
	// B now talks to the far end.
	if calls := b.Calls(); len(calls) != 1 || calls[0].Remote != "1002@127.0.0.1" || calls[0].State != CallActive {
		t.Fatalf("the transferee's calls: %+v", calls)
	}
}

// baresip transfers us (blind): the phone calls the target itself and its first call ends.
func TestTransferredByBaresip(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	far := labtest.FarEnd(t, "1002", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)
	id := callBaresip(t, a, bs, "1003")
	if _, err := bs.Command("transfer", "sip:1002@127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	ended := waitCall(t, a, id, CallEnded, 10*time.Second)
	if ended.Reason != "transferred by the far end to sip:1002@127.0.0.1" {
		t.Fatalf("ended with %q", ended.Reason)
	}
	if far.Received("INVITE") != 1 {
		t.Fatal("the phone did not call the transfer target")
	}
	if calls := a.Calls(); len(calls) != 1 || calls[0].Remote != "1002@127.0.0.1" {
		t.Fatalf("calls after the transfer: %+v", calls)
	}
}

func TestParseReferTo(t *testing.T) {
	for _, tc := range []struct {
		value, target, replaces string
		ok                      bool
	}{
		{"<sip:1002@example.com>", "sip:1002@example.com", "", true},
		{"sip:1002@example.com", "sip:1002@example.com", "", true},
		{`"Bob" <sips:bob@example.com;transport=tls>`, "sips:bob@example.com;transport=tls", "", true},
		{"<sip:1002@example.com?Replaces=abc%40x%3Bto-tag%3D1%3Bfrom-tag%3D2>", "sip:1002@example.com", "abc@x;to-tag=1;from-tag=2", true},
		{"<sip:1002@example.com", "", "", false},
		{"<tel:+123>", "", "", false},
		{"<sip:1002@example.com?Replaces=%0d%0a>", "", "", false},
		{"<sip:1002@example.com?Replaces=%zz>", "", "", false},
	} {
		target, replaces, err := parseReferTo(tc.value)
		if (err == nil) != tc.ok || target != tc.target || replaces != tc.replaces {
			t.Errorf("%q: %q %q %v", tc.value, target, replaces, err)
		}
	}
}

func TestSipfragStatus(t *testing.T) {
	for body, want := range map[string]int{"SIP/2.0 200 OK\r\n": 200, "SIP/2.0 100 Trying": 100,
		"  SIP/2.0 487 Request Terminated\r\nVia: x": 487, "HTTP/1.1 200 OK": 0, "SIP/2.0 x": 0, "": 0} {
		if got := sipfragStatus([]byte(body)); got != want {
			t.Errorf("%q: %d, want %d", body, got, want)
		}
	}
}
