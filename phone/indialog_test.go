package phone

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"

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

// A re-INVITE without SDP asks for our offer: the 200 carries the session as it stands (the negotiated
// codec first, then our others) and is resent until the ACK, whose answer sets the media; an ACK without
// one leaves the media as it was. While our own offer is out, 491.
func TestReInviteWithoutSDPGetsOurOffer(t *testing.T) {
	first := string(sdpWith("127.0.0.1", "RTP/AVP", "0 101", telEvent))
	moved := strings.Replace(string(sdpWith("127.0.0.1", "RTP/AVP", "8 101", telEvent)), "6000", "6004", 1)
	for _, tc := range []struct {
		name          string
		answer        string // in the ACK
		remote, codec string // the media after it
	}{
		{"answered in the ACK: another port, another codec", moved, "127.0.0.1:6004", "PCMA"},
		{"ACK without SDP", "", "127.0.0.1:6000", "PCMU"},
		{"ACK with an unusable answer", string(sdpWith("127.0.0.1", "RTP/AVP", "18", "a=rtpmap:18 G729/8000\r\n")), "127.0.0.1:6000", "PCMU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := bareAgent()
			c := dialogCall(t, a, []byte(first))
			req := dialogRequest(t, "INVITE", dialogCallID, "ours", 2, "")
			tx := siptest.NewServerTxRecorder(req)
			done := make(chan struct{})
			go func() { a.onInvite(req, tx); close(done) }()
			var ok *sip.Response
			eventually(t, 2*time.Second, "the 200", func() bool {
				for _, r := range tx.Result() {
					if r.StatusCode == 200 {
						ok = r
						return true
					}
				}
				return false
			})
			body := string(ok.Body())
			port := strconv.Itoa(c.media.Port())
			for _, want := range []string{"m=audio " + port + " RTP/AVP 0 8 101", "a=sendrecv", "a=rtpmap:8 PCMA/8000"} {
				if !strings.Contains(body, want) {
					t.Errorf("our offer lacks %q:\n%s", want, body)
				}
			}
			// Another offer meanwhile meets ours: 491.
			upd := dialogRequest(t, "UPDATE", dialogCallID, "ours", 3, moved)
			utx := siptest.NewServerTxRecorder(upd)
			a.onUpdate(upd, utx)
			if res := finalResponse(t, utx); res.StatusCode != 491 {
				t.Fatalf("an UPDATE offering during our offer answered %d, want 491", res.StatusCode)
			}
			ack := dialogRequest(t, "ACK", dialogCallID, "ours", 2, tc.answer)
			a.onAck(ack, nil)
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				t.Fatal("the re-INVITE's handler still waits for its ACK")
			}
			if remote, codec, dir := mediaNow(c); remote != tc.remote || codec != tc.codec || dir != SendRecv {
				t.Fatalf("media to %s, %s, %s; want %s, %s, sendrecv", remote, codec, dir, tc.remote, tc.codec)
			}
			// The exchange is over: the far end may offer again.
			again := dialogRequest(t, "UPDATE", dialogCallID, "ours", 4, first)
			atx := siptest.NewServerTxRecorder(again)
			a.onUpdate(again, atx)
			if res := finalResponse(t, atx); res.StatusCode != 200 {
				t.Fatalf("an UPDATE offering after the ACK answered %d, want 200", res.StatusCode)
			}
		})
	}
}

// A re-INVITE, with an offer or without, during our own re-INVITE's offer (glare): 491, media unchanged.
func TestReInviteDuringOurOfferIsPending(t *testing.T) {
	for _, body := range []string{"", string(sdpWith("127.0.0.1", "RTP/AVP", "0", "a=sendonly\r\n"))} {
		a := bareAgent()
		c := dialogCall(t, a, sdpWith("127.0.0.1", "RTP/AVP", "0 101", telEvent))
		c.mu.Lock()
		_, err := c.sdp.reoffer("127.0.0.1", c.media.Port(), true)
		c.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		req := dialogRequest(t, "INVITE", dialogCallID, "ours", 2, body)
		tx := siptest.NewServerTxRecorder(req)
		a.onInvite(req, tx)
		if res := finalResponse(t, tx); res.StatusCode != 491 {
			t.Fatalf("re-INVITE (SDP %v) during our offer answered %d, want 491", body != "", res.StatusCode)
		}
		if remote, _, dir := mediaNow(c); remote != "127.0.0.1:6000" || dir != SendRecv {
			t.Fatalf("media to %s, %s after a refused re-INVITE", remote, dir)
		}
	}
}
