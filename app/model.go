package app

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"stayline/failover"
)

// CallView is one call appearance as the display shows it.
type CallView struct {
	ID       string
	State    failover.CallState
	Remote   string
	Since    time.Time // when the call entered its state
	Answered time.Time // when it was first answered (the talk timer counts from here, across hold)
	Codec    string
	Lost     uint64
	JitterMs float64
	Rx       uint64
	SRTP     string // the suite encrypting the call, "" for plain RTP
	// Preserved marks a call that was up when the phone lost its server and was kept through the failover.
	Preserved  bool
	Conference bool   // mixed into the phone's conference
	Progress   string // before the answer: "forwarded", "queued" (the call event's progress)
	Name       string // the far end's display name, from the call event ("" if none)
}

// Quality grades a talking call from its loss and jitter: 4 bars (good) to 1 (poor), 0 when unknown.
func (c CallView) Quality() int {
	if c.Rx == 0 {
		return 0
	}
	loss := float64(c.Lost) / float64(c.Rx+c.Lost)
	switch {
	case loss > 0.05 || c.JitterMs > 60:
		return 1
	case loss > 0.02 || c.JitterMs > 40:
		return 2
	case loss > 0.005 || c.JitterMs > 20:
		return 3
	}
	return 4
}

// TimelineEntry is one stage change, for the failover timeline.
type TimelineEntry struct {
	At     time.Time
	Stage  failover.Stage
	Server string
	Reason string
}

// Key is a soft key or a Phone-list entry: the action and its label.
type Key struct {
	Action failover.Action
	Label  string
}

// Model is what the window shows, built from the manager's events. It has no Fyne in it: the widgets
// render it, and tests check it directly.
type Model struct {
	Stage     failover.Stage
	Server    string
	MWI       bool
	Available []failover.Action
	Calls     map[string]*CallView
	Selected  string // the call appearance the soft keys act on ("" = the most pressing call)
	Message   string // a refusal or an error, shown until the next stage change or action
	Timeline  []TimelineEntry
	LastDial  string // for Redial
	LoggedOff bool
	// Missing lists the features the server in use does not offer (from the status), for the banner.
	Missing []string
	// Reach says where each registered server reaches the phone (from the status; reach.go).
	Reach []string
}

// NewModel is the model before any event: acquiring service.
func NewModel() *Model {
	return &Model{Stage: failover.StageTransition, Calls: map[string]*CallView{}}
}

// Apply takes one event in; at is when the window got it.
func (m *Model) Apply(ev failover.Event, at time.Time) {
	switch e := ev.(type) {
	case *failover.StageEvent:
		m.Message = ""
		if e.Stage != m.Stage || e.Server != m.Server || len(m.Timeline) == 0 {
			m.Timeline = append(m.Timeline, TimelineEntry{At: e.At(), Stage: e.Stage, Server: e.Server, Reason: e.Reason})
		}
		inService := m.Stage == failover.StageNormal || m.Stage == failover.StageAlternate
		if inService && e.Stage != m.Stage && e.Stage != failover.StageNormal {
			for _, c := range m.Calls {
				if c.State.Talking() {
					c.Preserved = true
				}
			}
		}
		m.Stage, m.Server = e.Stage, e.Server
		m.LoggedOff = e.LoggedOff
	case *failover.ActionsEvent:
		m.Available = e.Available
	case *failover.RefusedEvent:
		m.Message = e.Reason
	case *failover.ErrorEvent:
		m.Message = e.Reason
	case *failover.NetworkEvent:
		m.Message = "Network changed: re-registering (" + e.Reason + ")"
	case *failover.MWIEvent:
		m.MWI = e.Waiting
	case *failover.CallEvent:
		if e.State == failover.CallEnded {
			delete(m.Calls, e.ID)
			if m.Selected == e.ID {
				m.Selected = ""
			}
			if e.Reason != "" && e.Cause != failover.EndLocal { // the user knows why a call they ended ended
				m.Message = fmt.Sprintf("Call with %s ended: %s", shortRemote(e.Remote), e.Reason)
			}
			return
		}
		c, ok := m.Calls[e.ID]
		if !ok {
			c = &CallView{ID: e.ID}
			m.Calls[e.ID] = c
		}
		if c.State != e.State {
			c.Since = at
		}
		if e.State == failover.CallActive && c.Answered.IsZero() {
			c.Answered = at
		}
		c.State, c.Remote, c.Conference, c.Progress = e.State, e.Remote, e.Conference, e.Progress
		if e.DisplayName != "" {
			c.Name = e.DisplayName
		}
	}
}

// ApplyStatus refreshes the calls' figures, and what the server in use lacks, from a status answer.
func (m *Model) ApplyStatus(st failover.StatusEvent) {
	for _, cs := range st.Calls {
		if c, ok := m.Calls[cs.ID]; ok {
			c.Codec, c.Lost, c.JitterMs, c.Rx, c.SRTP = cs.Codec, cs.Lost, cs.JitterMs, cs.RxPackets, cs.SRTP
		}
	}
	m.Missing, m.Reach = nil, reachLines(st.Registrations)
	for _, r := range st.Registrations {
		if r.Active {
			m.Missing = missingFeatures(r.Features)
		}
	}
}

// featureNames are the server features the banner can name as missing, in the order it names them.
var featureNames = []struct{ feature, words string }{
	{"hold", "Hold"}, {"transfer", "Transfer"}, {"conference", "Conference"}, {"mwi", "Message waiting"},
}

func missingFeatures(offered []string) []string {
	var out []string
	for _, f := range featureNames {
		if !slices.Contains(offered, f.feature) {
			out = append(out, f.words)
		}
	}
	return out
}

// Appearances lists the calls in line order (by id), then empty lines up to lines.
func (m *Model) Appearances(lines int) []*CallView {
	var out []*CallView
	for _, c := range m.Calls {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return failover.CallIDLess(out[i].ID, out[j].ID) })
	for len(out) < lines {
		out = append(out, nil)
	}
	return out
}

// Focus is the call the soft keys act on: the selected one, else the one the phone attends to first
// (failover.FocusOrder: ringing here, then talking, ...).
func (m *Model) Focus() *CallView {
	if c, ok := m.Calls[m.Selected]; ok {
		return c
	}
	refs := make([]failover.CallRef, 0, len(m.Calls))
	for _, c := range m.Calls {
		refs = append(refs, failover.CallRef{ID: c.ID, State: c.State})
	}
	if id, ok := failover.PickCall(refs, failover.FocusOrder); ok {
		return m.Calls[id]
	}
	return nil
}

func (m *Model) can(a failover.Action) bool { return slices.Contains(m.Available, a) }

// SlotCount is the number of soft keys under the display. Each call state puts its keys in fixed slots,
// whatever the stage: a key the stage forbids leaves its slot blank, so Drop is always the fourth key and
// a user's hand learns the row (docs/ARCHITECTURE.md, "The window").
const SlotCount = 4

// Slots is the soft-key row; a slot with no Label is blank.
type Slots [SlotCount]Key

// Labels lists the keys shown, blanks left out.
func (s Slots) Labels() []string {
	var out []string
	for _, k := range s {
		if k.Label != "" {
			out = append(out, k.Label)
		}
	}
	return out
}

// DialCheck is the gate's answer for the number typed: whether it may be dialled now, and whether it is
// an emergency number (which the gate lets through in every stage).
type DialCheck struct {
	Allowed   bool
	Emergency bool
}

// SoftKeys are the keys under the display for the focused call (or, with no call, for the phone): each
// call state has its layout of four slots; a key shows only when the manager allows its action now.
// number is what is typed; dial is the gate's answer for it.
func (m *Model) SoftKeys(number string, dial DialCheck) Slots {
	var want Slots
	switch c := m.Focus(); {
	case c == nil:
		switch {
		case number != "" && dial.Emergency:
			want[0] = Key{failover.ActDial, "Emergency"}
		case number != "":
			want[0] = Key{failover.ActDial, "Dial"}
		case m.LastDial != "":
			want[0] = Key{failover.ActDial, "Redial"}
		}
		want[1] = Key{failover.ActFailback, "Failback"}
		if m.LoggedOff {
			want[1] = Key{failover.ActLogin, "Log in"}
		}
	case c.State == failover.CallIncoming:
		want[0] = Key{failover.ActAnswer, "Answer"}
		want[3] = Key{failover.ActHangup, "Decline"}
	case c.State.Alerting():
		want[3] = Key{failover.ActHangup, "Cancel"}
	case c.State == failover.CallActive:
		want = Slots{{failover.ActHold, "Hold"}, {failover.ActTransfer, "Transfer"},
			{failover.ActConference, "Conf"}, {failover.ActHangup, "Drop"}}
	case c.State == failover.CallHeld:
		want = Slots{{failover.ActResume, "Resume"}, {}, {failover.ActConference, "Conf"}, {failover.ActHangup, "Drop"}}
	}
	for i, k := range want {
		switch {
		case k.Label == "":
		case k.Action == failover.ActDial && number != "":
			if !dial.Allowed {
				want[i] = Key{}
			}
		case !m.can(k.Action):
			want[i] = Key{}
		}
	}
	return want
}

// PhoneList is what the Phone button lists: every action possible now, and Log off whenever the phone is
// logged in (during failover it is refused with the reason, which the user should read rather than miss).
func (m *Model) PhoneList() []Key {
	var out []Key
	for _, a := range m.Available {
		out = append(out, Key{a, phoneLabels[a]})
	}
	if !m.LoggedOff && !m.can(failover.ActLogoff) {
		out = append(out, Key{failover.ActLogoff, phoneLabels[failover.ActLogoff]})
	}
	return out
}

var phoneLabels = map[failover.Action]string{
	failover.ActDial: "Dial", failover.ActAnswer: "Answer", failover.ActHangup: "Drop",
	failover.ActHold: "Hold", failover.ActResume: "Resume", failover.ActDTMF: "Send tones",
	failover.ActTransfer: "Transfer", failover.ActConference: "Conference", failover.ActLogoff: "Log off",
	failover.ActLogin: "Log in", failover.ActFailback: "Failback",
}

// StageText is the display's line for the stage (the seed's wording where it has one).
func (m *Model) StageText() string {
	switch m.Stage {
	case failover.StageTransition:
		return "Acquiring service..."
	case failover.StageAlternate:
		return "Limited phone service"
	case failover.StageFailback:
		return "Returning to the home server..."
	case failover.StageNoService:
		if m.LoggedOff {
			return "Logged off"
		}
		return "No service"
	}
	return ""
}

// ServiceText says in a few words where the phone's service is: the tray's tooltip.
func (m *Model) ServiceText() string {
	switch {
	case m.LoggedOff:
		return "logged off"
	case m.Stage == failover.StageNormal:
		return "normal service on " + m.Server
	case m.Stage == failover.StageTransition:
		return "failover: looking for a server"
	case m.Stage == failover.StageAlternate:
		return "limited service on the alternate server " + m.Server
	case m.Stage == failover.StageFailback:
		return "failback: returning to the home server"
	}
	return "no service"
}

// Banner is the display's line across the top during failover: what is missing now, in words. Empty in
// normal service.
func (m *Model) Banner() string {
	switch {
	case m.LoggedOff:
		return "Logged off: no calls arrive. Log in to take calls; emergency numbers still work."
	case m.Stage == failover.StageTransition:
		return "Failover: new calls, hold, transfer and conference are unavailable until the phone has a server."
	case m.Stage == failover.StageFailback:
		return "Failback: new calls, hold, transfer and conference wait until the phone is back home."
	case m.Stage == failover.StageNoService:
		return "No server answers: calls cannot be made or taken. Emergency numbers are still tried."
	case m.Stage == failover.StageAlternate && len(m.Missing) > 0:
		return fmt.Sprintf("%s unavailable on the alternate server %s.", joinWords(m.Missing), m.Server)
	case m.Stage == failover.StageAlternate:
		return "On the alternate server " + m.Server + "; log off is unavailable until the phone is home."
	}
	return ""
}

// joinWords is "A", "A and B", "A, B and C".
func joinWords(w []string) string {
	if len(w) < 2 {
		return strings.Join(w, "")
	}
	rest := make([]string, len(w)-1)
	for i, s := range w[1:] {
		rest[i] = strings.ToLower(s)
	}
	return strings.Join(append([]string{w[0]}, rest[:len(rest)-1]...), ", ") + " and " + rest[len(rest)-1]
}

// TimelineText is the timeline as plain text, one line a change with how long the stage lasted, for the
// user to give to support.
func (m *Model) TimelineText(now time.Time) string {
	var b strings.Builder
	for i, e := range m.Timeline {
		end := now
		if i+1 < len(m.Timeline) {
			end = m.Timeline[i+1].At
		}
		server := e.Server
		if server == "" {
			server = "-"
		}
		fmt.Fprintf(&b, "%s  %-10s %-10s %8s  %s\n", e.At.Local().Format("2006-01-02 15:04:05.000"), e.Stage, server,
			end.Sub(e.At).Round(time.Millisecond), e.Reason)
	}
	return b.String()
}

func shortRemote(r string) string {
	if user, _, ok := strings.Cut(r, "@"); ok && user != "" {
		return user
	}
	return r
}
