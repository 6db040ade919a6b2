package phone

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// The phone's CANCEL is its INVITE's (RFC 3261 §9.1): the same Request-URI, top Via, From, To, Call-ID and
// CSeq number, sent where the INVITE went; it is due once both a hang-up and a provisional response came,
// whichever first, and only once.
func TestCancelIsTheInvites(t *testing.T) {
	inv := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "1003", Host: "example.com"})
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5080,
		Params: sip.NewParams()}
	via.Params.Add("branch", "z9hG4bK.abc")
	inv.AppendHeader(via)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "example.com"}, Params: sip.NewParams()}
	from.Params.Add("tag", "mine")
	inv.AppendHeader(from)
	inv.AppendHeader(&sip.ToHeader{Address: inv.Recipient})
	callID := sip.CallIDHeader("call@stayline")
	inv.AppendHeader(&callID)
	inv.AppendHeader(&sip.CSeqHeader{SeqNo: 2, MethodName: sip.INVITE})
	inv.SetDestination("127.0.0.1:47000")

	c := cancelFor(inv)
	if c.Method != sip.CANCEL || c.Recipient.String() != inv.Recipient.String() || c.CSeq().SeqNo != 2 ||
		c.CSeq().MethodName != sip.CANCEL || c.Destination() != "127.0.0.1:47000" || c.Via().Value() != via.Value() ||
		c.CallID().Value() != "call@stayline" || c.From().Value() != from.Value() {
		t.Fatalf("CANCEL of the INVITE:\n%s", c)
	}

	var cn canceller
	if cn.provisional(inv) != nil {
		t.Fatal("a CANCEL due without a hang-up")
	}
	if got := cn.hangup(); got == nil || got.CSeq().SeqNo != 2 {
		t.Fatal("no CANCEL due after the provisional and the hang-up")
	}
	if cn.hangup() != nil || cn.provisional(inv) != nil {
		t.Fatal("a second CANCEL due")
	}
	var early canceller
	if early.hangup() != nil {
		t.Fatal("a CANCEL due before any provisional response")
	}
	if early.provisional(inv) == nil {
		t.Fatal("no CANCEL due with the first provisional after an early hang-up")
	}
}
