package phone

import (
	"errors"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

func TestHoldAndResume(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	far := labtest.FarEnd(t, "1002", k.Addr())
	a, id := activeCall(t, srv("home", k, config.TransportUDP))
	if err := a.Hold(id); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallHeld, 2*time.Second)
	time.Sleep(100 * time.Millisecond)
	held := callStats(t, a, id).TxPackets
	time.Sleep(300 * time.Millisecond)
	if sent := callStats(t, a, id).TxPackets - held; sent != 0 {
		t.Fatalf("sent %d RTP packets while holding", sent)
	}
	if err := a.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 2*time.Second)
	resumed := callStats(t, a, id).TxPackets
	eventually(t, 2*time.Second, "audio again", func() bool { return callStats(t, a, id).TxPackets > resumed+10 })
	if n := far.Received("INVITE"); n != 3 {
		t.Fatalf("far end got %d INVITEs, want the call's and two re-INVITEs", n)
	}
}

// Hold, resume and tones need an established call; a call still dialing refuses them, and an unknown id
// is ErrNoCall.
func TestInDialogActionsNeedTheDialog(t *testing.T) {
	a := bareAgent()
	c := tracked(a, CallDialing)
	if err := a.Hold(c.id); err == nil || err.Error() != "call 1 cannot be held now" {
		t.Fatalf("hold while dialing: %v", err)
	}
	if err := a.Resume(c.id); err == nil || err.Error() != "call 1 cannot be resumed now" {
		t.Fatalf("resume while dialing: %v", err)
	}
	if err := a.SendDTMF(c.id, "1"); err == nil || err.Error() != "call 1 is not active" {
		t.Fatalf("tones while dialing: %v", err)
	}
	if err := a.Hold("9"); !errors.Is(err, ErrNoCall) {
		t.Fatalf("hold of an unknown call: %v", err)
	}
}
