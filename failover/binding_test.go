package failover

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"stayline/phone"
)

// How a fake server answers the binding check, besides the modes of harness_test.go (its keep-alives and
// REGISTERs are answered at once).
const (
	forgetful     mode = 100 + iota // lost the phone's binding: the check is answered 404
	selfAnswering                   // answers the check itself (200): it says nothing of the binding
)

func (f *fakeAgent) CheckBinding(ctx context.Context, server int) (phone.BindingCheck, error) {
	switch m := f.record("check", server); m {
	case forgetful:
		return phone.BindingLost, &phone.StatusError{Method: "OPTIONS", Code: 404, Reason: "Not Found"}
	case selfAnswering:
		return phone.BindingUnsupported, &phone.StatusError{Method: "OPTIONS", Code: 200, Reason: "OK"}
	default:
		if err := f.answer(ctx, m, "options"); err != nil {
			return phone.BindingUnknown, err
		}
	}
	return phone.BindingReached, nil
}

// Issue 15, item 8: a registrar killed and restarted within one keep-alive interval answers keep-alives
// but has forgotten the phone. The check after the next keep-alive finds it, and the phone registers
// again at once, as a refresh: no stage changes, a registered event.
func TestRegistrarThatForgotThePhoneIsRegisteredAgainAtOnce(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.advance(600 * time.Millisecond) // the first keep-alive (phase 500 ms) and its check
	if h.agent.count("probe", 0) != 1 || h.agent.count("check", 0) != 1 {
		t.Fatalf("want one keep-alive and one binding check of home by now, log %v", h.agent.log)
	}
	h.agent.set(0, forgetful)
	took := h.advanceUntil(5*time.Second, "a REGISTER to home", func() bool { return h.agent.count("register", 0) == 2 })
	if limit := time.Second; took > limit {
		t.Fatalf("registered again after %s, want within one keep-alive interval (%s)", took, limit)
	}
	h.agent.set(0, up) // the REGISTER restored the binding
	h.advance(5 * time.Second)
	if n := h.agent.count("register", 0); n != 2 {
		t.Fatalf("%d REGISTERs to home, want 2 (the first, and one after the binding was lost)", n)
	}
	if got := h.stages(); !slices.Equal(got, []string{"normal/home"}) {
		t.Fatalf("stages = %v, want normal on home throughout", got)
	}
	if reg := of[*RegisteredEvent](h); len(reg) != 2 || reg[1].Server != "home" {
		t.Fatalf("registered events %+v, want a second one for home", reg)
	}
	if un := of[*UnregisteredEvent](h); len(un) != 0 {
		t.Fatalf("unregistered events %+v, want none", un)
	}
	if n := h.agent.count("check", 0); n < 6 {
		t.Fatalf("%d binding checks of home, want one after every keep-alive", n)
	}
	if n := h.agent.count("check", 1); n != 0 {
		t.Fatalf("%d binding checks of branch, where the phone is not registered", n)
	}
}

// A server the check misreads costs at most one REGISTER: one that says "not found" again right after
// the phone registered (it answers 404 for users itself), or one that answers the check itself, is not
// checked again. A storm of 1,000 phones re-registering every interval is what this prevents.
func TestBindingCheckTheServerMisreadsIsDropped(t *testing.T) {
	for _, tc := range []struct {
		name      string
		m         mode
		registers int
	}{{"404 for every user", forgetful, 2}, {"answered by the server", selfAnswering, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), map[int]mode{0: tc.m})
			h.advance(3 * time.Second)
			checks := h.agent.count("check", 0)
			h.advance(10 * time.Second)
			if n := h.agent.count("register", 0); n != tc.registers {
				t.Fatalf("%d REGISTERs to home, want %d", n, tc.registers)
			}
			if n := h.agent.count("check", 0); n != checks {
				t.Fatalf("binding checks went on (%d -> %d) at a server that misreads them", checks, n)
			}
			if n := h.agent.count("probe", 0); n < 12 {
				t.Fatalf("%d keep-alives of home, want them to go on", n)
			}
			h.wantStage(StageNormal, "home")
		})
	}
}

// A check without a verdict (no answer) changes nothing: the keep-alives judge whether a server lives.
func TestBindingCheckWithoutAnAnswerIsNoSignal(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.advance(600 * time.Millisecond)
	h.m.call(func() { h.m.bindingChecked(h.m.servers[0], phone.BindingUnknown, errors.New("no answer")) })
	h.advance(3 * time.Second)
	if n := h.agent.count("register", 0); n != 1 {
		t.Fatalf("%d REGISTERs to home, want 1", n)
	}
	h.wantStage(StageNormal, "home")
}

// Issue 15, item 7: an INVITE that arrives through a server other than the one in use is a failover
// signal. Home is probed at once, not at its next keep-alive, and a dead home is found within one
// keep-alive timeout of the INVITE.
func TestInviteThroughTheAlternateProbesHomeAtOnce(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.advance(600 * time.Millisecond) // home's keep-alive went at 500 ms; the next is due at 1.5 s
	if code, _ := h.agent.admission(0); code != 0 {
		t.Fatalf("a call through home: %d, want it to ring", code)
	}
	h.settle()
	if n := h.agent.count("probe", 0); n != 1 {
		t.Fatalf("a call through home, the server in use, probed it: %d keep-alives", n)
	}

	h.agent.set(0, silent) // home has died; the servers route calls through branch
	invited := h.clk.Now()
	if code, _ := h.agent.admission(1); code != 0 {
		t.Fatalf("a call through branch while home is in use: %d, want it to ring", code)
	}
	h.settle()
	probes := h.agent.times("probe", 0)
	if len(probes) != 2 || !probes[1].Equal(invited) {
		t.Fatalf("keep-alives of home at %v, want a second one at once (%v)", probes, invited)
	}
	if code, _ := h.agent.admission(1); code != 0 || h.agent.count("probe", 0) != 2 {
		t.Fatalf("a second INVITE while the probe is in flight sent another (%d keep-alives)", h.agent.count("probe", 0))
	}
	took := h.advanceUntil(5*time.Second, "home lost", func() bool { return h.stage() != StageNormal })
	if limit := 500 * time.Millisecond; took > limit {
		t.Fatalf("home found dead %s after the INVITE, want within the keep-alive timeout (%s)", took, limit)
	}
	h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	h.wantStage(StageAlternate, "branch")

	// On the alternate, an INVITE through home (whose keep-alives go on) probes branch at once.
	h.agent.set(0, up)
	before := h.agent.count("probe", 1)
	h.agent.admission(0)
	h.settle()
	if n := h.agent.count("probe", 1); n != before+1 {
		t.Fatalf("an INVITE through home while on branch: %d -> %d keep-alives of branch, want one at once", before, n)
	}
}

// A server left unchecked is checked again once it has been lost and registered anew: the server that
// comes back may be another.
func TestBindingChecksResumeAfterTheServerWasLost(t *testing.T) {
	h := newHarness(t, testConfig(), map[int]mode{0: selfAnswering})
	h.advance(3 * time.Second)
	checks := h.agent.count("check", 0)
	if checks != 1 {
		t.Fatalf("%d binding checks of a server that answers them itself, want 1", checks)
	}
	h.agent.set(0, silent)
	h.advanceUntil(5*time.Second, "alternate", func() bool { return h.stage() == StageAlternate })
	h.advance(1500 * time.Millisecond) // a keep-alive of branch, and its check
	if h.agent.count("check", 1) == 0 {
		t.Fatal("no binding check of branch, the server in use")
	}
	h.agent.set(0, up)
	h.advanceUntil(30*time.Second, "back home", func() bool { return h.stage() == StageNormal })
	h.advance(2 * time.Second)
	if n := h.agent.count("check", 0); n <= checks {
		t.Fatalf("home not checked again after it was lost and registered anew (%d checks)", n)
	}
}

// Once checks have reached the phone through a server, a 200 that did not come from the phone means
// another device of the account answered: this phone's binding is gone, and it registers again.
func TestAnotherDeviceAnsweringTheCheckMeansTheBindingIsGone(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.advance(600 * time.Millisecond) // a check reached the phone
	h.agent.set(0, selfAnswering)
	took := h.advanceUntil(5*time.Second, "a REGISTER to home", func() bool { return h.agent.count("register", 0) == 2 })
	if limit := time.Second; took > limit {
		t.Fatalf("registered again after %s, want within one keep-alive interval (%s)", took, limit)
	}
	h.agent.set(0, up)
	h.advance(3 * time.Second)
	if n := h.agent.count("register", 0); n != 2 {
		t.Fatalf("%d REGISTERs to home, want 2", n)
	}
	h.wantStage(StageNormal, "home")
}
