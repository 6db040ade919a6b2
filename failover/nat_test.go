package failover

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	"stayline/internal/clock"
	"stayline/phone"
)

// A keep-alive's answer says home sees the phone at another address (a NAT's new mapping): the phone
// registers on home again at once, as a refresh; no stage changes. A server it is not registered on has
// nothing to move.
func TestAddressChangedRegistersAgainAtOnce(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.wantStage(StageNormal, "home")
	homeBefore, altBefore := h.agent.count("register", 0), h.agent.count("register", 1)
	h.agent.events <- phone.Event{Kind: phone.EventAddressChanged, Server: 0}
	h.agent.events <- phone.Event{Kind: phone.EventAddressChanged, Server: 1}
	h.settle()
	if n := h.agent.count("register", 0); n != homeBefore+1 {
		t.Fatalf("%d REGISTERs to home, want %d: one more at once", n, homeBefore+1)
	}
	if n := h.agent.count("register", 1); n != altBefore {
		t.Fatalf("%d REGISTERs to the alternate, want %d: it is not registered", n, altBefore)
	}
	if got := h.stages(); !slices.Equal(got, []string{"normal/home"}) {
		t.Fatalf("stages = %v, want normal on home throughout", got)
	}
	if reg := of[*RegisteredEvent](h); len(reg) != 2 {
		t.Fatalf("registered events %+v, want a second one for home", reg)
	}
}

// reachAgent is a fake agent that says where each server reaches the phone.
type reachAgent struct {
	*fakeAgent
}

func (reachAgent) Reachable(server int) phone.Reach {
	return phone.Reach{Contact: "sip:1001@203.0.113.5:40000", Media: "203.0.113.5"}
}

// The status gives each registration's contact and public media address; none for a server the phone
// is not registered on, and none from an agent that cannot say.
func TestStatusSaysWhereThePhoneIsReachable(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.wantStage(StageNormal, "home")
	if r := h.m.Status().Registrations[0]; !r.Registered || r.Contact != "" || r.MediaAddress != "" {
		t.Errorf("from an agent that cannot say: %+v", r)
	}

	// A manager not started, its state set by hand: status() reads it as the loop would.
	m := New(testConfig(), reachAgent{newFakeAgent(clock.NewFake(t0))}, WithClock(clock.NewFake(t0)),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	m.servers[0].registered = true
	st := m.status()
	home, alt := st.Registrations[0], st.Registrations[1]
	if home.Contact != "sip:1001@203.0.113.5:40000" || home.MediaAddress != "203.0.113.5" {
		t.Errorf("home %+v, want its contact and media address", home)
	}
	if alt.Registered || alt.Contact != "" || alt.MediaAddress != "" {
		t.Errorf("alternate %+v, want no address: not registered", alt)
	}
}
