package phone

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"stayline/config"
)

// messageWith is an INVITE (or, if response, its 180) from "Front Desk" <sip:1003@pbx> with extra headers.
func messageWith(t *testing.T, response bool, extra ...string) sip.Message {
	t.Helper()
	start := "INVITE sip:1001@127.0.0.1 SIP/2.0"
	if response {
		start = "SIP/2.0 180 Ringing"
	}
	raw := start + "\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-1\r\n" +
		"From: \"Front Desk\" <sip:1003@pbx>;tag=a\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: id@test\r\nCSeq: 1 INVITE\r\n" +
		"Contact: <sip:1003@127.0.0.1:5099>\r\n" + strings.Join(extra, "") + "Content-Length: 0\r\n\r\n"
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return m
}

// The party a message names: P-Asserted-Identity first (sip: over tel:), then Remote-Party-ID (the calling
// party in a request, the called in a response, unless hidden), then From; garbage is passed over.
func TestCallingParty(t *testing.T) {
	for _, tc := range []struct {
		name       string
		response   bool
		headers    []string
		remote     string
		display    string
		isAsserted bool
	}{
		{"From alone", false, nil, "1003@pbx", "Front Desk", false},
		{"PAI sip", false, []string{"P-Asserted-Identity: \"Alice Smith\" <sip:2001@example.com>\r\n"}, "2001@example.com", "Alice Smith", true},
		{"PAI tel", false, []string{"P-Asserted-Identity: <tel:+1-555-1234>\r\n"}, "+15551234", "", true},
		{"PAI tel with parameters", false, []string{"P-Asserted-Identity: tel:+15551234;cpc=ordinary\r\n"}, "+15551234", "", true},
		{"PAI tel then sip, one header", false, []string{"P-Asserted-Identity: \"Bob\" <tel:+15551234>, <sips:bob@example.com>\r\n"},
			"bob@example.com", "Bob", true},
		{"PAI sip then tel, two headers", false, []string{"P-Asserted-Identity: <sip:+15551234@gw;user=phone>\r\n",
			"P-Asserted-Identity: <tel:+15551234>\r\n"}, "+15551234@gw", "", true},
		{"quoted name with an escaped quote and a comma", false, []string{"P-Asserted-Identity: \"Smith, \\\"Al\\\"\" <sip:al@x>\r\n"},
			"al@x", `Smith, "Al"`, true},
		{"unquoted name", false, []string{"P-Asserted-Identity: Carol Jones <sip:carol@x>\r\n"}, "carol@x", "Carol Jones", true},
		{"PAI over RPID", false, []string{"Remote-Party-ID: <sip:rpid@x>;party=calling\r\n", "P-Asserted-Identity: <sip:pai@x>\r\n"}, "pai@x", "", true},
		{"RPID calling", false, []string{"Remote-Party-ID: \"Dan\" <sip:dan@x>;party=calling;screen=yes;privacy=off\r\n"}, "dan@x", "Dan", true},
		{"RPID without party", false, []string{"Remote-Party-ID: <sip:dan@x>\r\n"}, "dan@x", "", true},
		{"RPID called, in a request", false, []string{"Remote-Party-ID: <sip:callee@x>;party=called\r\n"}, "1003@pbx", "Front Desk", false},
		{"RPID called, in a response", true, []string{"Remote-Party-ID: \"Reached\" <sip:callee@x>;party=called\r\n"}, "callee@x", "Reached", true},
		{"RPID privacy=full", false, []string{"Remote-Party-ID: <sip:secret@x>;party=calling;privacy=full\r\n"}, "1003@pbx", "Front Desk", false},
		{"RPID privacy=uri", false, []string{"Remote-Party-ID: <sip:secret@x>;privacy=uri\r\n"}, "1003@pbx", "Front Desk", false},
		{"RPID privacy=name", false, []string{"Remote-Party-ID: \"Hidden\" <sip:eve@x>;privacy=name\r\n"}, "eve@x", "", true},
		{"RPID screen=no is still the caller's word", false, []string{"Remote-Party-ID: <sip:frank@x>;screen=no\r\n"}, "frank@x", "", true},
		{"garbage PAI", false, []string{"P-Asserted-Identity: <sip:\r\n"}, "1003@pbx", "Front Desk", false},
		{"PAI of another scheme", false, []string{"P-Asserted-Identity: <mailto:a@b>\r\n"}, "1003@pbx", "Front Desk", false},
		{"PAI tel without digits", false, []string{"P-Asserted-Identity: <tel:+-.>\r\n"}, "1003@pbx", "Front Desk", false},
		{"PAI tel with letters", false, []string{"P-Asserted-Identity: <tel:call-me>\r\n"}, "1003@pbx", "Front Desk", false},
		{"garbage first, good second", false, []string{"P-Asserted-Identity: <<<>>, <sip:ok@x>\r\n"}, "ok@x", "", true},
		{"name with control characters", false, []string{"P-Asserted-Identity: \"A\x01\tB\" <sip:ab@x>\r\n"}, "ab@x", "A B", true},
		{"Privacy: id hides PAI", false, []string{"P-Asserted-Identity: <sip:secret@x>\r\n", "Privacy: id\r\n"}, "1003@pbx", "Front Desk", false},
		{"Privacy: none does not", false, []string{"P-Asserted-Identity: <sip:open@x>\r\n", "Privacy: none\r\n"}, "open@x", "", true},
		{"Privacy: user;critical hides RPID", false, []string{"Remote-Party-ID: <sip:secret@x>\r\n", "Privacy: user;critical\r\n"}, "1003@pbx", "Front Desk", false},
		{"name only in the tel value", false, []string{"P-Asserted-Identity: \"Gail\" <tel:+4420>, <sip:gail@x>\r\n"}, "gail@x", "Gail", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := messageWith(t, tc.response, tc.headers...)
			remote, name, ok := assertedParty(m)
			if ok != tc.isAsserted {
				t.Fatalf("asserted %v (%q %q), want %v", ok, remote, name, tc.isAsserted)
			}
			if req, isReq := m.(*sip.Request); isReq {
				remote, name = callingParty(req)
			} else if !ok {
				return
			}
			if remote != tc.remote || name != tc.display {
				t.Fatalf("party %q %q, want %q %q", remote, name, tc.remote, tc.display)
			}
		})
	}
}

// A long display name is cut; an empty From gives nothing.
func TestDisplayNameBounds(t *testing.T) {
	long := strings.Repeat("é", 100)
	m := messageWith(t, false, "P-Asserted-Identity: \""+long+"\" <sip:x@y>\r\n")
	if _, name, _ := assertedParty(m); len([]rune(name)) != maxNameRunes {
		t.Fatalf("name of %d runes", len([]rune(name)))
	}
	if r, n := callingParty(sip.NewRequest(sip.INVITE, sip.Uri{Host: "x"})); r != "" || n != "" {
		t.Fatalf("no From: %q %q", r, n)
	}
}

// An incoming INVITE with P-Asserted-Identity rings as the asserted party, with its name.
func TestIncomingCallShowsTheAssertedParty(t *testing.T) {
	a := rawPhone(t)
	r := newRawSender(t, a.Listen())
	r.send(r.request("INVITE", "pai-call", "P-Asserted-Identity: \"Reception\" <sip:100@pbx.example.com>, <tel:+15550100>\r\n", goodOffer))
	in := waitCall(t, a, "", CallIncoming, 2*time.Second)
	if in.Remote != "100@pbx.example.com" || in.Name != "Reception" {
		t.Fatalf("incoming call from %q %q, want the asserted 100@pbx.example.com \"Reception\"", in.Remote, in.Name)
	}
	declineRaw(t, a, r, in.ID)
}

// declineRaw declines a rawSender's ringing call and acknowledges the 603.
func declineRaw(t *testing.T, a *Agent, r *rawSender, id string) {
	t.Helper()
	a.Hangup(id, "test over")
	eventually(t, 2*time.Second, "the 603", func() bool { return len(r.responses("SIP/2.0 603")) > 0 })
	r.ack(r.responses("SIP/2.0 603")[0])
	waitCall(t, a, id, CallEnded, 2*time.Second)
}

// rawPhone is a phone whose one server is a UDP socket that never answers (127.0.0.1: a rawSender's
// requests come from the server's address).
func rawPhone(t *testing.T) *Agent {
	t.Helper()
	server, err := sipListen(t)
	if err != nil {
		t.Fatal(err)
	}
	return startPhone(t, Options{Servers: []config.Server{{Name: "home", Address: server, Transport: config.TransportUDP}},
		RequestTimeout: 200 * time.Millisecond})
}

// sipListen is a UDP socket on 127.0.0.1 that reads nothing, closed when the test ends: a server that
// never answers.
func sipListen(t *testing.T) (string, error) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().String(), nil
}
