package app

import (
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/failover"
)

var (
	homeSrv   = config.Server{Name: "home"}                                                   // offers everything
	branchSrv = config.Server{Name: "branch", Features: []config.Feature{config.FeatureHold}} // hold only
)

// modelIn builds the model of a phone in stage with the given calls, its actions computed by the real gate.
func modelIn(stage failover.Stage, loggedOff bool, calls ...CallView) *Model {
	m := NewModel()
	m.Stage, m.LoggedOff = stage, loggedOff
	var counts failover.CallCounts
	for i := range calls {
		c := calls[i]
		m.Calls[c.ID] = &c
		switch c.State {
		case "dialing":
			counts.Dialing++
		case "ringing", "early":
			counts.Ringing++
		case "incoming":
			counts.Incoming++
		case "active":
			counts.Active++
		case "held":
			counts.Held++
		}
		if c.Conference {
			counts.Conferenced++
		}
	}
	var srv *config.Server
	switch stage {
	case failover.StageNormal:
		srv = &homeSrv
	case failover.StageAlternate, failover.StageFailback:
		srv = &branchSrv
	}
	m.Available = failover.Available(stage, counts, srv, loggedOff, 3)
	return m
}

// slotText is the four slots as "A|B|_|D", "_" for a blank one.
func slotText(s Slots) string {
	var out []string
	for _, k := range s {
		if k.Label == "" {
			out = append(out, "_")
		} else {
			out = append(out, k.Label)
		}
	}
	return strings.Join(out, "|")
}

// gateDial is what the real gate says about dialling number in m's stage, as the window asks it.
func gateDial(m *Model, number string) DialCheck {
	cfg := config.Default()
	emergency := cfg.IsEmergency(number)
	if number == "" {
		return DialCheck{}
	}
	if emergency {
		return DialCheck{Allowed: true, Emergency: true}
	}
	return DialCheck{Allowed: m.can(failover.ActDial)}
}

// Every soft-key state of every failover stage (the seed's "certain soft keys may not display"), slot by
// slot: a key keeps its place in every stage and a forbidden one leaves its slot blank. Home offers every
// feature, the alternate (branch) offers hold only.
func TestSoftKeysOfEveryStageAndCallState(t *testing.T) {
	stages := []failover.Stage{failover.StageNormal, failover.StageTransition, failover.StageAlternate,
		failover.StageFailback, failover.StageNoService}
	call := func(id string, state failover.CallState) CallView {
		return CallView{ID: id, State: state, Remote: "1002@x"}
	}
	const blank = "_|_|_|_"
	cases := []struct {
		name   string
		calls  []CallView
		number string
		redial bool
		want   [5]string // normal, transition, alternate, failback, noservice
	}{
		{"idle", nil, "", false, [5]string{blank, blank, "_|Failback|_|_", blank, blank}},
		{"idle, number typed", nil, "1002", false, [5]string{"Dial|_|_|_", blank, "Dial|Failback|_|_", blank, blank}},
		{"idle, emergency typed", nil, "911", false, [5]string{"Emergency|_|_|_", "Emergency|_|_|_",
			"Emergency|Failback|_|_", "Emergency|_|_|_", "Emergency|_|_|_"}},
		{"idle, last number", nil, "", true, [5]string{"Redial|_|_|_", blank, "Redial|Failback|_|_", blank, blank}},
		{"incoming", []CallView{call("1", "incoming")}, "", false,
			[5]string{"Answer|_|_|Decline", "_|_|_|Decline", "Answer|_|_|Decline", "Answer|_|_|Decline", "_|_|_|Decline"}},
		{"dialing", []CallView{call("1", "dialing")}, "", false, [5]string{"_|_|_|Cancel", "_|_|_|Cancel", "_|_|_|Cancel", "_|_|_|Cancel", "_|_|_|Cancel"}},
		{"early media", []CallView{call("1", "early")}, "", false, [5]string{"_|_|_|Cancel", "_|_|_|Cancel", "_|_|_|Cancel", "_|_|_|Cancel", "_|_|_|Cancel"}},
		{"active", []CallView{call("1", "active")}, "", false,
			[5]string{"Hold|Transfer|_|Drop", "_|_|_|Drop", "Hold|_|_|Drop", "_|_|_|Drop", "_|_|_|Drop"}},
		{"held", []CallView{call("1", "held")}, "", false,
			[5]string{"Resume|_|_|Drop", "_|_|_|Drop", "Resume|_|_|Drop", "_|_|_|Drop", "_|_|_|Drop"}},
		{"active and held", []CallView{call("1", "held"), call("2", "active")}, "", false,
			[5]string{"Hold|Transfer|Conf|Drop", "_|_|_|Drop", "Hold|_|_|Drop", "_|_|_|Drop", "_|_|_|Drop"}},
	}
	for _, c := range cases {
		for i, st := range stages {
			m := modelIn(st, false, c.calls...)
			if c.redial {
				m.LastDial = "1002"
			}
			if got := slotText(m.SoftKeys(c.number, gateDial(m, c.number))); got != c.want[i] {
				t.Errorf("%s in %s: soft keys %q, want %q", c.name, st, got, c.want[i])
			}
		}
	}
	m := modelIn(failover.StageNoService, true)
	if got := slotText(m.SoftKeys("", DialCheck{})); got != "_|Log in|_|_" {
		t.Errorf("logged off: soft keys %q", got)
	}
	if got := slotText(m.SoftKeys("911", gateDial(m, "911"))); got != "Emergency|Log in|_|_" {
		t.Errorf("logged off, 911 typed: soft keys %q", got)
	}
	conf := modelIn(failover.StageNormal, false, CallView{ID: "1", State: "active", Conference: true}, CallView{ID: "2", State: "active", Conference: true})
	if got := slotText(conf.SoftKeys("", DialCheck{})); got != "Hold|Transfer|_|Drop" {
		t.Errorf("in a conference: soft keys %q (Conf offered again)", got)
	}
}

// The Phone button lists every action possible now, and Log off whenever logged in (refused with its
// reason during failover).
func TestPhoneListOfEveryStage(t *testing.T) {
	want := map[failover.Stage]string{
		failover.StageNormal:     "Dial Log off",
		failover.StageTransition: "Log off",
		failover.StageAlternate:  "Dial Failback Log off",
		failover.StageFailback:   "Log off",
		failover.StageNoService:  "Log off",
	}
	for st, w := range want {
		if got := labels(modelIn(st, false).PhoneList()); got != w {
			t.Errorf("%s: Phone list %q, want %q", st, got, w)
		}
	}
	if got := labels(modelIn(failover.StageNoService, true).PhoneList()); got != "Log in" {
		t.Errorf("logged off: Phone list %q", got)
	}
	active := modelIn(failover.StageNormal, false, CallView{ID: "1", State: "active"})
	if got := labels(active.PhoneList()); got != "Dial Drop Hold Send tones Transfer Log off" {
		t.Errorf("normal with a call: %q", got)
	}
}

// The banner names what is missing in each stage.
func TestBannerNamesWhatIsMissing(t *testing.T) {
	m := modelIn(failover.StageAlternate, false)
	m.Server = "branch"
	m.ApplyStatus(failover.StatusEvent{Registrations: []failover.RegistrationStatus{
		{Server: "home"}, {Server: "branch", Active: true, Features: []string{"hold"}}}})
	if got := m.Banner(); got != "Transfer, conference and message waiting unavailable on the alternate server branch." {
		t.Errorf("alternate banner %q", got)
	}
	for st, words := range map[failover.Stage]string{failover.StageNormal: "", failover.StageTransition: "new calls",
		failover.StageFailback: "back home", failover.StageNoService: "Emergency numbers are still tried"} {
		if got := modelIn(st, false).Banner(); (words == "") != (got == "") || !strings.Contains(got, words) {
			t.Errorf("%s banner %q, want %q in it", st, got, words)
		}
	}
	if got := modelIn(failover.StageNoService, true).Banner(); !strings.HasPrefix(got, "Logged off") {
		t.Errorf("logged off banner %q", got)
	}
}

// labels is a key list as space-separated labels.
func labels(keys []Key) string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Label)
	}
	return strings.Join(out, " ")
}

func TestSelectedAppearanceGetsTheKeys(t *testing.T) {
	m := modelIn(failover.StageNormal, false, CallView{ID: "1", State: "held"}, CallView{ID: "2", State: "active"})
	if m.Focus().ID != "2" {
		t.Fatal("without a selection the active call has the keys")
	}
	m.Selected = "1"
	if got := slotText(m.SoftKeys("", DialCheck{})); got != "Resume|_|Conf|Drop" {
		t.Fatalf("selected held call: %q", got)
	}
}

func TestModelFollowsEvents(t *testing.T) {
	m := NewModel()
	t0 := time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)
	stage := func(st failover.Stage, server, reason string, at time.Time) *failover.StageEvent {
		ev := &failover.StageEvent{Stage: st, Server: server, Reason: reason}
		ev.Header = failover.Header{Time: failover.Timestamp(at), Event: "stage"}
		return ev
	}
	m.Apply(stage(failover.StageNormal, "home", "registered on home", t0), t0)
	m.Apply(&failover.CallEvent{ID: "1", State: "active", Remote: "1002@x"}, t0)
	m.Apply(&failover.RefusedEvent{Action: failover.ActLogoff, Reason: "Log off is not available during failover"}, t0)
	if m.Message != "Log off is not available during failover" {
		t.Fatalf("message %q", m.Message)
	}
	m.Apply(stage(failover.StageTransition, "", "home: no answer", t0.Add(time.Minute)), t0)
	m.Apply(stage(failover.StageAlternate, "branch", "registered on branch", t0.Add(time.Minute+800*time.Millisecond)), t0)
	if m.Message != "" || m.StageText() != "Limited phone service" || m.Calls["1"].State != "active" || !m.Calls["1"].Preserved {
		t.Fatalf("after failover: message %q, text %q", m.Message, m.StageText())
	}
	m.Apply(&failover.MWIEvent{Waiting: true, Server: "home"}, t0)
	if !m.MWI {
		t.Fatal("lamp not lit")
	}
	m.Apply(&failover.CallEvent{ID: "1", State: "ended", Remote: "1002@x", Reason: "the far end hung up"}, t0)
	if len(m.Calls) != 0 || !strings.Contains(m.Message, "the far end hung up") {
		t.Fatalf("after the call ended: %d calls, message %q", len(m.Calls), m.Message)
	}
	text := m.TimelineText(t0.Add(2 * time.Minute))
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "transition") || !strings.Contains(lines[1], "800ms") ||
		!strings.Contains(lines[2], "branch") || !strings.Contains(lines[0], "1m0s") {
		t.Fatalf("timeline:\n%s", text)
	}
}

func TestCallQuality(t *testing.T) {
	for _, c := range []struct {
		rx, lost uint64
		jitter   float64
		want     int
	}{{0, 0, 0, 0}, {1000, 0, 2, 4}, {1000, 10, 2, 3}, {1000, 30, 2, 2}, {1000, 100, 2, 1}, {1000, 0, 70, 1}} {
		if q := (CallView{Rx: c.rx, Lost: c.lost, JitterMs: c.jitter}).Quality(); q != c.want {
			t.Errorf("rx %d lost %d jitter %.0f: quality %d, want %d", c.rx, c.lost, c.jitter, q, c.want)
		}
	}
}

func TestAppearanceSaysWhenACallIsEncrypted(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 30, 0, time.UTC)
	plain := CallView{ID: "c1", State: "active", Remote: "sip:1002@lab", Answered: now.Add(-30 * time.Second), Rx: 100}
	secure := plain
	secure.SRTP = "AES_CM_128_HMAC_SHA1_80"
	if got := appearanceText(1, &plain, shortRemote, now); strings.Contains(got, "encrypted") {
		t.Errorf("plain call shown as %q", got)
	}
	if got := appearanceText(1, &secure, shortRemote, now); !strings.Contains(got, "encrypted") || !strings.Contains(got, "00:30") {
		t.Errorf("SRTP call shown as %q, want its talk time and 'encrypted'", got)
	}
}

// The talk timer counts from the answer, across hold and resume.
func TestTalkTimerSurvivesHold(t *testing.T) {
	m := NewModel()
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i, st := range []failover.CallState{failover.CallDialing, failover.CallActive, failover.CallHeld, failover.CallActive} {
		m.Apply(&failover.CallEvent{ID: "1", State: st, Remote: "1002@x"}, at.Add(time.Duration(i)*time.Minute))
	}
	if got := appearanceText(1, m.Calls["1"], shortRemote, at.Add(4*time.Minute)); !strings.Contains(got, "03:00") {
		t.Fatalf("after hold and resume: %q, want 03:00 of talk", got)
	}
}

// A call the far end forwarded (181) or queued (182) says so on its line while it rings, and no longer once
// answered; early media reads as ringing.
func TestAppearanceSaysForwardedAndQueued(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		state    failover.CallState
		progress string
		want     string
	}{
		{failover.CallRinging, "forwarded", "1  Forwarded  1002"},
		{failover.CallEarly, "queued", "1  Queued  1002"},
		{failover.CallEarly, "", "1  Ringing  1002"},
		{failover.CallActive, "queued", "1  Talking  1002"},
	} {
		v := CallView{ID: "c1", State: c.state, Remote: "1002@lab", Progress: c.progress, Answered: now}
		if got := appearanceText(1, &v, shortRemote, now); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s with progress %q shown as %q, want %q...", c.state, c.progress, got, c.want)
		}
	}
}
