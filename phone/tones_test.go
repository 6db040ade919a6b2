package phone

import (
	"context"
	"testing"
	"time"

	"stayline/audio"
	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// The phone's own tones follow its calls: ringback while the far end rings, silence once it answers.
func TestTonesFollowTheCall(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)
	engine := nullEngine(t)
	a.opts.Audio = engine
	id, err := a.Dial(context.Background(), 0, "1003", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallRinging, 3*time.Second)
	if tone := engine.CurrentTone(); tone != audio.ToneRingback {
		t.Fatalf("tone while the far end rings: %s", tone)
	}
	if _, err := bs.Command("accept", ""); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 3*time.Second)
	if tone := engine.CurrentTone(); tone != audio.ToneNone {
		t.Fatalf("tone during the call: %s", tone)
	}
	a.Hangup(id, "hung up")
}

// The tone follows the calls' states; a busy end plays the busy tone for a moment, then silence.
func TestToneOfTheCalls(t *testing.T) {
	engine := nullEngine(t)
	a := bareAgent()
	a.opts.Audio = engine
	expect := func(want audio.Tone, when string) {
		t.Helper()
		if tone := engine.CurrentTone(); tone != want {
			t.Fatalf("%s: %s, want %s", when, tone, want)
		}
	}
	incoming := tracked(a, CallIncoming)
	a.updateTone(false)
	expect(audio.ToneRingtone, "incoming")
	talking := tracked(a, CallActive)
	a.updateTone(false)
	expect(audio.ToneWaiting, "incoming while talking")
	incoming.end(causeCallerCancelled)
	talking.end(statusCause(486, "Busy Here"))
	expect(audio.ToneBusy, "after a busy end")
	eventually(t, busyToneFor+2*time.Second, "silence after the busy tone", func() bool {
		return engine.CurrentTone() == audio.ToneNone
	})
	ringing := tracked(a, CallDialing)
	ringing.setState(CallRinging)
	expect(audio.ToneRingback, "the far end rings")
	ringing.end(causeCancelled)
	expect(audio.ToneNone, "after a cancelled call")
}
