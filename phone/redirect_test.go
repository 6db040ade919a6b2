package phone

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

func parseResponse(t *testing.T, raw string) *sip.Response {
	t.Helper()
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return msg.(*sip.Response)
}

// A 3xx's Contacts are tried best q first, the order given where equal; garbage and other responses are
// no redirect; the follow stops at a target tried before and after maxRedirects.
func TestRedirectTargetsAndTheirLimits(t *testing.T) {
	head := "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n"
	res := parseResponse(t, "SIP/2.0 302 Moved\r\n"+head+"Contact: <sip:low@h>;q=0.1, \"Name, Inc\" <sip:high@h>;q=0.9\r\n"+
		"Contact: <sip:plain@h>\r\nContent-Length: 0\r\n\r\n")
	rd := redirectOf(&sipgo.ErrDialogResponse{Res: res})
	if rd == nil {
		t.Fatal("302 not read as a redirect")
	}
	var got []string
	for _, u := range rd.targets {
		got = append(got, u.User)
	}
	if want := "plain high low"; strings.Join(got, " ") != want {
		t.Fatalf("targets %v, want %s", got, want)
	}
	for _, raw := range []string{
		"SIP/2.0 486 Busy\r\n" + head + "Contact: <sip:x@h>\r\nContent-Length: 0\r\n\r\n",
		"SIP/2.0 302 Moved\r\n" + head + "Content-Length: 0\r\n\r\n",
	} {
		if rd := redirectOf(&sipgo.ErrDialogResponse{Res: parseResponse(t, raw)}); rd != nil {
			t.Errorf("%q read as a redirect %v", raw[:20], rd)
		}
	}
	o := outgoing{uri: sip.Uri{Scheme: "sip", User: "start", Host: "h"}}
	loop := &redirected{code: 302, targets: []sip.Uri{{Scheme: "sip", User: "start", Host: "h"}}}
	if _, ok := o.follow(loop); ok {
		t.Fatal("followed a redirect back to the number dialled")
	}
	for i := 0; i < maxRedirects; i++ {
		next := &redirected{code: 302, targets: []sip.Uri{{Scheme: "sip", User: string(rune('a' + i)), Host: "h"}}}
		if _, ok := o.follow(next); !ok {
			t.Fatalf("redirect %d not followed", i+1)
		}
	}
	if _, ok := o.follow(&redirected{code: 302, targets: []sip.Uri{{Scheme: "sip", User: "z", Host: "h"}}}); ok {
		t.Fatalf("followed more than %d redirects", maxRedirects)
	}
}
