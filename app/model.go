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
	State    string // dialing, ringing, incoming, active, held
	Remote   string
	Since    time.Time // when the call entered its state (the talk time counts from "active")
	Codec    string
	Lost     uint64
	JitterMs float64
	Rx       uint64
	SRTP     string // the suite encrypting the call, "" for plain RTP
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
		m.Stage, m.Server = e.Stage, e.Server
		m.LoggedOff = e.Stage == failover.StageNoService && e.Reason == "logged off"
		if e.Stage == failover.StageTransition && strings.HasPrefix(e.Reason, "logging in") {
			m.LoggedOff = false
		}
	case *failover.ActionsEvent:
		m.Available = e.Available
	case *failover.RefusedEvent:
		m.Message = e.Reason
	case *failover.ErrorEvent:
		m.Message = e.Reason
	case *failover.MWIEvent:
		m.MWI = e.Waiting
	case *failover.CallEvent:
		if e.State == "ended" {
			delete(m.Calls, e.ID)
			if m.Selected == e.ID {
				m.Selected = ""
			}
			if e.Reason != "" && e.Reason != "hung up" {
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
		c.State, c.Remote = e.State, e.Remote
	}
}

// ApplyStatus refreshes the calls' figures from a status answer.
func (m *Model) ApplyStatus(st failover.StatusEvent) {
	for _, cs := range st.Calls {
		if c, ok := m.Calls[cs.ID]; ok {
			c.Codec, c.Lost, c.JitterMs, c.Rx, c.SRTP = cs.Codec, cs.Lost, cs.JitterMs, cs.RxPackets, cs.SRTP
		}
	}
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

// Focus is the call the soft keys act on: the selected one, else the most pressing: ringing here, then
// talking, dialing, held.
func (m *Model) Focus() *CallView {
	if c, ok := m.Calls[m.Selected]; ok {
		return c
	}
	for _, st := range []string{"incoming", "active", "ringing", "dialing", "held"} {
		var best *CallView
		for _, c := range m.Calls {
			if c.State == st && (best == nil || failover.CallIDLess(best.ID, c.ID)) {
				best = c
			}
		}
		if best != nil {
			return best
		}
	}
	return nil
}

func (m *Model) can(a failover.Action) bool { return slices.Contains(m.Available, a) }

// SoftKeys are the keys under the display: the actions the manager allows now that apply to the focused
// call (or, with no call, to the phone). A key the stage forbids is not shown.
func (m *Model) SoftKeys(number string) []Key {
	var want []Key
	switch c := m.Focus(); {
	case c == nil:
		switch {
		case number != "":
			want = append(want, Key{failover.ActDial, "Dial"})
		case m.LastDial != "":
			want = append(want, Key{failover.ActDial, "Redial"})
		}
		want = append(want, Key{failover.ActFailback, "Failback"}, Key{failover.ActLogin, "Log in"})
	case c.State == "incoming":
		want = append(want, Key{failover.ActAnswer, "Answer"}, Key{failover.ActHangup, "Decline"})
	case c.State == "dialing" || c.State == "ringing":
		want = append(want, Key{failover.ActHangup, "Cancel"})
	case c.State == "active":
		if number != "" {
			want = append(want, Key{failover.ActTransfer, "Transfer"}, Key{failover.ActDial, "Dial"})
		}
		want = append(want, Key{failover.ActHold, "Hold"}, Key{failover.ActConference, "Conf"},
			Key{failover.ActHangup, "Drop"})
	case c.State == "held":
		want = append(want, Key{failover.ActResume, "Resume"}, Key{failover.ActHangup, "Drop"})
	}
	var out []Key
	for _, k := range want {
		if m.can(k.Action) {
			out = append(out, k)
		}
	}
	return out
}

// PhoneList is what the Phone button lists: every action possible now.
func (m *Model) PhoneList() []Key {
	var out []Key
	for _, a := range m.Available {
		out = append(out, Key{a, phoneLabels[a]})
	}
	return out
}

var phoneLabels = map[failover.Action]string{
	failover.ActDial: "Dial", failover.ActAnswer: "Answer", failover.ActHangup: "Hang up",
	failover.ActHold: "Hold", failover.ActResume: "Resume", failover.ActDTMF: "Send tones",
	failover.ActTransfer: "Transfer", failover.ActConference: "Conference", failover.ActLogoff: "Log off",
	failover.ActLogin: "Log in", failover.ActFailback: "Return to home server",
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
