package phone

import (
	"context"
	"errors"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// A three-way conference mixed here: what baresip says (its 440 Hz tone) is sent on to the echoing far
// end, which plays it back: the level received on the echo call rises from silence to the tone's.
func TestConferenceMixesTheParties(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	labtest.FarEnd(t, "1002", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)
	engine := nullEngine(t)
	a.opts.Audio = engine
	echo, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, echo, CallActive, 3*time.Second)
	if err := a.Hold(echo); err != nil {
		t.Fatal(err)
	}
	tone := callBaresip(t, a, bs, "1003")
	eventually(t, 3*time.Second, "baresip's tone", func() bool { return callStats(t, a, tone).RxLevel > 1000 })
	if err := a.Conference(echo, tone); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "baresip's tone, echoed back through the conference",
		func() bool { return callStats(t, a, echo).RxLevel > 1000 })
}

// What a conference cannot be made of is refused before anything changes.
func TestConferenceRefusals(t *testing.T) {
	a := bareAgent()
	if err := a.Conference("1", "2"); err == nil || err.Error() != "conference: no audio engine to mix in" {
		t.Fatalf("without a sound engine: %v", err)
	}
	a.opts.Audio = nullEngine(t)
	if err := a.Conference("1"); err == nil || err.Error() != "conference: it takes two calls" {
		t.Fatalf("one call: %v", err)
	}
	if err := a.Conference("1", "2"); !errors.Is(err, ErrNoCall) {
		t.Fatalf("unknown calls: %v", err)
	}
}
