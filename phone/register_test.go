package phone

import (
	"testing"

	"github.com/emiago/sipgo/sip"
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
