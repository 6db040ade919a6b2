package failover

import (
	"fmt"
	"slices"
	"testing"

	"stayline/config"
)

var homeServer = config.Server{Name: "home"} // nil features: offers everything
var branchServer = config.Server{Name: "branch", Features: []config.Feature{config.FeatureHold}}

func sit(stage Stage, calls CallCounts) situation {
	s := situation{stage: stage, calls: calls, lines: 3, policy: config.FailbackAuto}
	switch stage {
	case StageNormal:
		s.server, s.hasServer = homeServer, true
	case StageAlternate, StageFailback:
		s.server, s.hasServer = branchServer, true
	}
	return s
}

// TestGateTable is docs/ARCHITECTURE.md, "Stages and their rules"'s table, row by row, for every stage.
func TestGateTable(t *testing.T) {
	oneActive := CallCounts{Active: 1}
	activeAndHeld := CallCounts{Active: 1, Held: 1}
	incoming := CallCounts{Incoming: 1}
	y, n := true, false
	rows := []struct {
		action    Action
		calls     CallCounts
		emergency bool
		// normal, transition, alternate, failback, noservice
		allowed [5]bool
	}{
		{ActHangup, oneActive, false, [5]bool{y, y, y, y, y}},
		{ActDTMF, oneActive, false, [5]bool{y, y, y, y, y}},
		{ActDial, CallCounts{}, false, [5]bool{y, n, y, n, n}},
		{ActDial, CallCounts{}, true, [5]bool{y, y, y, y, y}},
		{ActAnswer, incoming, false, [5]bool{y, n, y, y, n}},
		{ActHold, oneActive, false, [5]bool{y, n, y, n, n}}, // branch offers hold
		{ActResume, CallCounts{Held: 1}, false, [5]bool{y, n, y, n, n}},
		{ActTransfer, oneActive, false, [5]bool{y, n, n, n, n}}, // branch does not offer transfer
		{ActConference, activeAndHeld, false, [5]bool{y, n, n, n, n}},
		{ActConference, CallCounts{Active: 2, Conferenced: 2}, false, [5]bool{n, n, n, n, n}},          // already joined
		{ActConference, CallCounts{Active: 2, Held: 1, Conferenced: 2}, false, [5]bool{y, n, n, n, n}}, // a third joins
		{ActLogoff, CallCounts{}, false, [5]bool{y, n, n, n, n}},
		{ActFailback, CallCounts{}, false, [5]bool{n, n, y, n, n}},
		{ActFailback, oneActive, false, [5]bool{n, n, n, n, n}}, // never during a call
	}
	for _, r := range rows {
		for i, st := range Stages {
			name := fmt.Sprintf("%s/%s/calls=%+v/emergency=%v", r.action, st, r.calls, r.emergency)
			ref := sit(st, r.calls).check(r.action, r.emergency)
			if (ref == nil) != r.allowed[i] {
				t.Errorf("%s: allowed=%v, want %v (%v)", name, ref == nil, r.allowed[i], ref)
			}
			if ref != nil && (ref.Reason == "" || ref.Action != r.action) {
				t.Errorf("%s: refusal without a reason: %+v", name, ref)
			}
		}
	}
}

func TestGateReasons(t *testing.T) {
	cases := []struct {
		s      situation
		action Action
		want   string
	}{
		{sit(StageTransition, CallCounts{}), ActLogoff, "Log off is not available during failover"},
		{sit(StageTransition, CallCounts{}), ActDial, "New calls are not possible while the phone moves to another server"},
		{sit(StageAlternate, CallCounts{Active: 1}), ActTransfer, "Transfer is not offered by server branch"},
		{sit(StageNormal, CallCounts{Active: 3}), ActDial, "All 3 lines are in use"},
		{situation{stage: StageNoService, loggedOff: true, lines: 3}, ActDial, "The phone is logged off"},
	}
	for _, c := range cases {
		if r := c.s.check(c.action, false); r == nil || r.Reason != c.want {
			t.Errorf("%s in %s: %v, want %q", c.action, c.s.stage, r, c.want)
		}
	}
}

func TestAvailableActions(t *testing.T) {
	cases := []struct {
		s    situation
		want []Action
	}{
		{sit(StageNormal, CallCounts{}), []Action{ActDial, ActLogoff}},
		{sit(StageTransition, CallCounts{}), []Action{}},
		{sit(StageAlternate, CallCounts{}), []Action{ActDial, ActFailback}},
		{sit(StageFailback, CallCounts{}), []Action{}},
		{sit(StageNoService, CallCounts{}), []Action{}},
		{sit(StageNormal, CallCounts{Active: 1}), []Action{ActDial, ActHangup, ActHold, ActDTMF, ActTransfer, ActLogoff}},
		{sit(StageTransition, CallCounts{Active: 1}), []Action{ActHangup, ActDTMF}},
		{sit(StageAlternate, CallCounts{Active: 1}), []Action{ActDial, ActHangup, ActHold, ActDTMF}},
		{sit(StageNoService, CallCounts{Active: 1}), []Action{ActHangup, ActDTMF}},
		{situation{stage: StageNoService, loggedOff: true, lines: 3}, []Action{ActLogin}},
	}
	for _, c := range cases {
		if got := c.s.available(); !slices.Equal(got, c.want) {
			t.Errorf("%s calls=%+v logged off=%v: %v, want %v", c.s.stage, c.s.calls, c.s.loggedOff, got, c.want)
		}
	}
}

// An incoming call rings in service with a free line; otherwise the server is told why, so it can divert.
func TestAdmissionTable(t *testing.T) {
	want := map[Stage]int{StageNormal: 0, StageTransition: 480, StageAlternate: 0, StageFailback: 480, StageNoService: 480}
	for _, st := range Stages {
		if code, _ := sit(st, CallCounts{}).admission(); code != want[st] {
			t.Errorf("%s: %d, want %d", st, code, want[st])
		}
	}
	full := sit(StageNormal, CallCounts{Active: 2, Held: 1})
	full.lines = 3
	if code, reason := full.admission(); code != 486 || reason != "Busy Here" {
		t.Errorf("every line in use: %d %s", code, reason)
	}
	off := sit(StageNoService, CallCounts{})
	off.loggedOff = true
	if code, reason := off.admission(); code != 480 || reason != "Logged Off" {
		t.Errorf("logged off: %d %s", code, reason)
	}
}
