package lab

import "testing"

func TestParseRegister(t *testing.T) {
	r, err := parseRegister("stayline-lab: REGISTER user=1001 callid=ab05@x cseq=25028 expires=0 auth=149 src=127.0.0.1:31363 proto=udp t=1795632256.863676")
	if err != nil {
		t.Fatal(err)
	}
	if r.User != "1001" || r.CallID != "ab05@x" || r.CSeq != 25028 || !r.Auth || !r.Unregister || r.At.Unix() != 1795632256 {
		t.Fatalf("parsed %+v", r)
	}
	r, err = parseRegister("stayline-lab: REGISTER user=1002 callid=c cseq=1 expires=<null> auth= src=x proto=udp t=1795632256.5")
	if err != nil || r.Auth || r.Unregister {
		t.Fatalf("first REGISTER of an attempt parsed as %+v, %v", r, err)
	}
	if _, err := parseRegister("stayline-lab: REGISTER garbage"); err == nil {
		t.Fatal("a line without user and time was accepted")
	}
}
