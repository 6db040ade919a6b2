package app

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"stayline/config"
	"stayline/contacts"
	"stayline/failover"
	"stayline/history"
)

// fakeController records what the window asked of the manager; its gate is the real one, for the
// situation show() last put the window in.
type fakeController struct {
	mu        sync.Mutex
	available []failover.Action
	requests  []string
	muted     bool
	volume    float64
	tone      bool
	output    string
	asked     chan string
}

func (f *fakeController) Subscribe() *failover.Subscription { return nil }
func (f *fakeController) Status() failover.StatusEvent      { return failover.StatusEvent{} }
func (f *fakeController) SetMuted(m bool)                   { f.mu.Lock(); f.muted = m; f.mu.Unlock() }
func (f *fakeController) SetVolume(v float64)               { f.mu.Lock(); f.volume = v; f.mu.Unlock() }
func (f *fakeController) DialTone(on bool)                  { f.mu.Lock(); f.tone = on; f.mu.Unlock() }
func (f *fakeController) AudioDevices() ([]string, []string, error) {
	return nil, []string{"Speaker", "USB Headset"}, nil
}
func (f *fakeController) SwitchAudio(in, out string) error {
	f.mu.Lock()
	f.output = out
	f.mu.Unlock()
	return nil
}
func (f *fakeController) IsEmergency(target string) bool { return target == "911" || target == "112" }
func (f *fakeController) Check(a failover.Action, arg string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if (a == failover.ActDial && f.IsEmergency(arg)) || slices.Contains(f.available, a) {
		return nil
	}
	return &failover.Refusal{Action: a, Reason: "not now"}
}
func (f *fakeController) Request(a failover.Action, arg string) error {
	s := strings.TrimSpace(string(a) + " " + arg)
	f.mu.Lock()
	f.requests = append(f.requests, s)
	f.mu.Unlock()
	f.asked <- s
	return nil
}

// fakeTray is a desktop tray.
type fakeTray struct {
	menu    *fyne.Menu
	icon    fyne.Resource
	tooltip string
	icons   int // how often the icon was set
	host    bool
}

func (t *fakeTray) SetSystemTrayMenu(m *fyne.Menu)    { t.menu = m }
func (t *fakeTray) SetSystemTrayIcon(r fyne.Resource) { t.icon = r; t.icons++ }
func (t *fakeTray) SetTooltip(s string)               { t.tooltip = s }
func (t *fakeTray) HostPresent() bool                 { return t.host }

var t0 = time.Date(2026, 11, 24, 21, 4, 5, 0, time.UTC)

func newTestWindow(t *testing.T) (*Window, *fakeController) {
	t.Helper()
	a := test.NewTempApp(t)
	ctl := &fakeController{asked: make(chan string, 16)}
	w := New(a, ctl, ctl, Options{Extension: "Front desk · 1001", Lines: 3, Now: func() time.Time { return t0 }})
	t.Cleanup(w.Win.Close)
	return w, ctl
}

func stageEvent(st failover.Stage, server, reason string) *failover.StageEvent {
	ev := &failover.StageEvent{Stage: st, Server: server, Reason: reason}
	ev.Header = failover.Header{Time: failover.Timestamp(t0), Event: "stage"}
	return ev
}

// loggedOffEvent is the stage event of a phone the user logged off.
func loggedOffEvent() *failover.StageEvent {
	ev := stageEvent(failover.StageNoService, "", "logged off")
	ev.LoggedOff = true
	return ev
}

// show puts the window in stage with the given calls, the actions from the real gate.
func show(w *Window, st failover.Stage, server string, calls ...CallView) {
	w.Apply(stageEvent(st, server, ""))
	var counts failover.CallCounts
	for _, c := range calls {
		w.Apply(&failover.CallEvent{ID: c.ID, State: c.State, Remote: c.Remote, Conference: c.Conference})
		switch c.State {
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
	srv := map[string]*config.Server{"home": &homeSrv, "branch": &branchSrv}[server]
	available := failover.Available(st, counts, srv, false, 3)
	if f, ok := w.ctl.(*fakeController); ok {
		f.mu.Lock()
		f.available = available
		f.mu.Unlock()
	}
	w.Apply(&failover.ActionsEvent{Available: available})
}

func TestEachStageShowsItsMarkerTextAndKeys(t *testing.T) {
	cases := []struct {
		stage  failover.Stage
		server string
		text   string
		marker string
		keys   []string
	}{
		{failover.StageNormal, "home", "", "", nil},
		{failover.StageTransition, "", "Acquiring service...", "failover", nil},
		{failover.StageAlternate, "branch", "Limited phone service", "alternate server", []string{"Failback"}},
		{failover.StageFailback, "branch", "Returning to the home server...", "failback", nil},
		{failover.StageNoService, "", "No service", "no service", nil},
	}
	for _, c := range cases {
		t.Run(string(c.stage), func(t *testing.T) {
			w, _ := newTestWindow(t)
			show(w, c.stage, c.server)
			if w.StageLine.Text != c.text || w.Server.Text != c.server {
				t.Errorf("display %q on %q", w.StageLine.Text, w.Server.Text)
			}
			if (c.marker == "") != !w.StageIcon.Visible() || (c.marker != "" && w.StageName.Text != c.marker) {
				t.Errorf("failover marker visible=%v %q, want %q", w.StageIcon.Visible(), w.StageName.Text, c.marker)
			}
			if got := w.VisibleKeys(); !slices.Equal(got, c.keys) {
				t.Errorf("soft keys %v, want %v", got, c.keys)
			}
		})
	}
}

func TestSoftKeysActOnTheFocusedCall(t *testing.T) {
	w, ctl := newTestWindow(t)
	show(w, failover.StageNormal, "home", CallView{ID: "1", State: "held", Remote: "1003@x"}, CallView{ID: "2", State: "active", Remote: "1002@x"})
	if got := w.SlotLabels(); got != [4]string{"Hold", "Transfer", "Conf", "Drop"} {
		t.Fatalf("keys %v", got)
	}
	test.Tap(w.Appearances[0]) // select the held call on line 1
	if got := w.SlotLabels(); got != [4]string{"Resume", "", "Conf", "Drop"} {
		t.Fatalf("keys for the held call %v", got)
	}
	if !w.PressKey("Resume") {
		t.Fatal("no Resume key")
	}
	if got := <-ctl.asked; got != "resume 1" {
		t.Fatalf("asked %q", got)
	}
	if !strings.Contains(w.Appearances[1].Text, "Talking  1002") || !strings.Contains(w.Appearances[0].Text, "On hold  1003") {
		t.Fatalf("appearances %q / %q", w.Appearances[0].Text, w.Appearances[1].Text)
	}
}

func TestRefusedLogoffIsShownWithItsReason(t *testing.T) {
	w, ctl := newTestWindow(t)
	show(w, failover.StageAlternate, "branch")
	if !slices.Contains(w.PhoneItems(), "Log off") {
		t.Fatal("Log off not listed during failover (it is, and refused with the reason)")
	}
	w.run(failover.ActLogoff) // as from the tray: refused, so no question first
	if got := <-ctl.asked; got != "logoff" {
		t.Fatalf("asked %q", got)
	}
	w.Apply(&failover.RefusedEvent{Action: failover.ActLogoff, Reason: "Log off is not available during failover"})
	if w.Message.Text != "Log off is not available during failover" {
		t.Fatalf("message %q", w.Message.Text)
	}
	show(w, failover.StageNormal, "home")
	if !slices.Contains(w.PhoneItems(), "Log off") {
		t.Fatalf("Phone list on home %v lacks Log off", w.PhoneItems())
	}
}

func TestKeyboardDialsClearsAndDeletes(t *testing.T) {
	w, ctl := newTestWindow(t)
	show(w, failover.StageNormal, "home")
	for _, r := range "1002x#" {
		w.typedRune(r)
	}
	if w.Number.Text != "1002#" {
		t.Fatalf("number %q", w.Number.Text)
	}
	w.typedKey(&fyne.KeyEvent{Name: fyne.KeyBackspace})
	w.typedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if got := <-ctl.asked; got != "dial 1002" {
		t.Fatalf("Enter asked %q", got)
	}
	if w.Number.Text != "" || w.model.LastDial != "1002" {
		t.Fatalf("after dialling: number %q, last %q", w.Number.Text, w.model.LastDial)
	}
	w.typedRune('5')
	w.typedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if w.Number.Text != "" {
		t.Fatal("Escape did not clear")
	}
	if got := w.VisibleKeys(); !slices.Equal(got, []string{"Redial"}) {
		t.Fatalf("idle keys after a call %v", got)
	}
}

func TestDialPadSendsTonesDuringACall(t *testing.T) {
	w, ctl := newTestWindow(t)
	show(w, failover.StageNormal, "home", CallView{ID: "1", State: "active", Remote: "600@x"})
	test.Tap(w.Pad["5"])
	if got := <-ctl.asked; got != "dtmf 5" {
		t.Fatalf("keypad during a call asked %q", got)
	}
	if w.Number.Text != "" {
		t.Fatal("a tone was also typed into the number")
	}
	test.Tap(w.Mute)
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if !ctl.muted {
		t.Fatal("Mute did not reach the manager")
	}
}

// Notifications say where the phone landed: on the alternate after losing home, back on home.
func TestNotificationsOnFailoverAndFailback(t *testing.T) {
	w, _ := newTestWindow(t)
	show(w, failover.StageNormal, "home")
	w.Apply(stageEvent(failover.StageTransition, "", "home: no answer"))
	test.AssertNotificationSent(t, fyne.NewNotification("Stayline: failover",
		"Server home was lost. Phone service is on the alternate server branch; some features may not be available."),
		func() { w.Apply(stageEvent(failover.StageAlternate, "branch", "")) })
	test.AssertNotificationSent(t, nil, func() { w.Apply(stageEvent(failover.StageFailback, "branch", "")) })
	test.AssertNotificationSent(t, fyne.NewNotification("Stayline: normal service", "Normal service is restored on home."),
		func() { w.Apply(stageEvent(failover.StageNormal, "home", "")) })
}

func TestTrayMenuIconAndTooltipFollowTheStage(t *testing.T) {
	w, ctl := newTestWindow(t)
	tray := &fakeTray{}
	w.setTray(tray)
	var items []string
	for _, it := range tray.menu.Items {
		if !it.IsSeparator {
			items = append(items, it.Label)
		}
	}
	if !slices.Equal(items, []string{"Show", "Dial...", "Log off", "Quit"}) {
		t.Fatalf("tray menu %v", items)
	}
	seen := map[string]string{}
	for _, s := range []struct {
		stage  failover.Stage
		server string
		tip    string
	}{
		{failover.StageNormal, "home", "Stayline: normal service on home"},
		{failover.StageTransition, "", "Stayline: failover: looking for a server"},
		{failover.StageAlternate, "branch", "Stayline: limited service on the alternate server branch"},
		{failover.StageFailback, "branch", "Stayline: failback: returning to the home server"},
		{failover.StageNoService, "", "Stayline: no service"},
	} {
		show(w, s.stage, s.server)
		if tray.tooltip != s.tip {
			t.Errorf("%s: tooltip %q, want %q", s.stage, tray.tooltip, s.tip)
		}
		icon := tray.icon.Content()
		if _, err := png.Decode(bytes.NewReader(icon)); err != nil {
			t.Fatalf("%s: the tray icon is not a PNG (%v): trays cannot draw SVG", s.stage, err)
		}
		if other, dup := seen[string(icon)]; dup {
			t.Errorf("%s has the tray icon of %s", s.stage, other)
		}
		seen[string(icon)] = string(s.stage)
	}
	before := tray.icons
	w.Apply(&failover.MWIEvent{Waiting: true})
	if tray.icons != before {
		t.Error("the tray icon was set again without a change of stage")
	}
	w.Apply(loggedOffEvent())
	if _, dup := seen[string(tray.icon.Content())]; dup || tray.tooltip != "Stayline: logged off" {
		t.Errorf("logged off looks like an outage in the tray (tooltip %q)", tray.tooltip)
	}
	show(w, failover.StageNormal, "home")
	tray.menu.Items[2].Action() // Log off, in normal service: asks first
	if w.QuitDialog == nil {
		t.Fatal("log off without a question")
	}
	w.QuitDialog.Confirm()
	if got := <-ctl.asked; got != "logoff" {
		t.Fatalf("tray Log off asked %q", got)
	}
}

// After Stop (the program quitting) the window touches neither the tray nor the desktop's notifications:
// their D-Bus connection is gone by then, and Fyne's tray panics on it.
func TestNothingReachesTheTrayAfterStop(t *testing.T) {
	w, _ := newTestWindow(t)
	tray := &fakeTray{}
	w.setTray(tray)
	show(w, failover.StageNormal, "home")
	w.Stop()
	icons, tip := tray.icons, tray.tooltip
	test.AssertNotificationSent(t, nil, func() {
		w.Apply(stageEvent(failover.StageTransition, "", "shutting down"))
		w.Apply(stageEvent(failover.StageAlternate, "branch", ""))
		w.tick(failover.StatusEvent{})
	})
	if tray.icons != icons || tray.tooltip != tip {
		t.Fatal("the tray was changed after Stop")
	}
}

// Closing the window hides it where a tray host shows the phone, else minimises it.
func TestCloseHidesOnlyWithATrayHost(t *testing.T) {
	w, _ := newTestWindow(t)
	minimised := 0
	w.opts.Minimise = func() bool { minimised++; return true }
	tray := &fakeTray{host: false}
	w.setTray(tray)
	w.Win.Show()
	w.close()
	if minimised != 1 {
		t.Fatalf("no tray host: minimised %d times", minimised)
	}
	tray.host = true
	w.close()
	if minimised != 1 {
		t.Fatal("minimised although a tray host shows the phone")
	}
}

// Quit asks when calls are up or a failover is on, says what will happen, and its default is no.
func TestQuitAsksDuringCallsAndFailover(t *testing.T) {
	cases := []struct {
		name  string
		stage failover.Stage
		calls []CallView
		ask   string // "" : quits at once
	}{
		{"home, idle", failover.StageNormal, nil, ""},
		{"home, a call", failover.StageNormal, []CallView{{ID: "1", State: "active", Remote: "1002@x"}}, "Your call will end."},
		{"transition", failover.StageTransition, nil, "between servers"},
		{"alternate", failover.StageAlternate, nil, "stays registered there"},
		{"failback", failover.StageFailback, nil, "between servers"},
		{"no service", failover.StageNoService, nil, "stops the phone from trying again"},
		{"alternate, two calls", failover.StageAlternate, []CallView{{ID: "1", State: "active"}, {ID: "2", State: "held"}}, "Your 2 calls will end."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, _ := newTestWindow(t)
			quits := 0
			w.opts.OnQuit = func() { quits++ }
			server := map[failover.Stage]string{failover.StageNormal: "home", failover.StageAlternate: "branch", failover.StageFailback: "branch"}[c.stage]
			show(w, c.stage, server, c.calls...)
			w.Quit()
			if c.ask == "" {
				if quits != 1 || w.QuitDialog != nil {
					t.Fatalf("quits %d, asked %v", quits, w.QuitDialog != nil)
				}
				return
			}
			if quits != 0 || w.QuitDialog == nil {
				t.Fatalf("quit without asking (quits %d)", quits)
			}
			if markup := test.RenderObjectToMarkup(w.Win.Canvas().Overlays().Top()); !strings.Contains(markup, c.ask) {
				t.Fatalf("the question does not say %q:\n%s", c.ask, markup)
			}
			w.typedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
			if quits != 0 {
				t.Fatal("Enter quit: the default must be no")
			}
			w.typedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
			if quits != 0 || w.Stopped() || w.QuitDialog != nil {
				t.Fatal("Escape did not answer no")
			}
			w.Quit()
			w.QuitDialog.Confirm()
			if quits != 1 || !w.Stopped() {
				t.Fatalf("Quit confirmed: quits %d, stopped %v", quits, w.Stopped())
			}
		})
	}
}

func TestTimelineDialogListsTheChanges(t *testing.T) {
	w, _ := newTestWindow(t)
	show(w, failover.StageNormal, "home")
	w.Apply(stageEvent(failover.StageTransition, "", "home: no answer to 1 keep-alive"))
	w.Apply(stageEvent(failover.StageAlternate, "branch", "registered on branch"))
	test.Tap(w.Timeline)
	overlays := w.Win.Canvas().Overlays().List()
	if len(overlays) == 0 {
		t.Fatal("no timeline dialog")
	}
	markup := test.RenderObjectToMarkup(overlays[0])
	for _, want := range []string{"transition", "home: no answer to 1 keep-alive", "branch", "Copy"} {
		if !strings.Contains(markup, want) {
			t.Errorf("timeline dialog lacks %q", want)
		}
	}
}

// screen is one state of the window for the rendered references.
type screen struct {
	name   string
	stage  failover.Stage
	server string
	calls  []CallView
	mwi    bool
	number string
	setup  func(w *Window)
}

// screens are the window's states a user meets: every stage idle and with a call kept through it, and
// the ringing, emergency, logged-off and conference screens.
func screens() []screen {
	talking := []CallView{{ID: "1", State: "active", Remote: "1002@example.com", Rx: 2000, JitterMs: 3}}
	var out []screen
	for _, st := range []struct {
		stage  failover.Stage
		server string
	}{{failover.StageNormal, "home"}, {failover.StageTransition, ""}, {failover.StageAlternate, "branch"},
		{failover.StageFailback, "branch"}, {failover.StageNoService, ""}} {
		out = append(out, screen{name: string(st.stage), stage: st.stage, server: st.server, mwi: st.stage == failover.StageNormal})
		out = append(out, screen{name: string(st.stage) + "-call", stage: st.stage, server: st.server, calls: talking})
	}
	return append(out,
		screen{name: "ringing", stage: failover.StageNormal, server: "home", calls: []CallView{
			{ID: "1", State: "active", Remote: "1002@example.com", Rx: 2000}, {ID: "2", State: "incoming", Remote: "1004@example.com"}}},
		screen{name: "emergency", stage: failover.StageNoService, number: "911"},
		screen{name: "loggedoff", stage: failover.StageNoService, setup: func(w *Window) {
			w.Apply(loggedOffEvent())
			w.Apply(&failover.ActionsEvent{Available: failover.Available(failover.StageNoService, failover.CallCounts{}, nil, true, 3)})
		}},
		screen{name: "conference", stage: failover.StageNormal, server: "home", calls: []CallView{
			{ID: "1", State: "active", Remote: "1002@example.com", Rx: 2000, Conference: true},
			{ID: "2", State: "active", Remote: "1003@example.com", Rx: 2000, Conference: true}}},
	)
}

// showScreen puts w in s, the call kept through failover where the stage is not normal.
func showScreen(w *Window, s screen) {
	if s.stage != failover.StageNormal && len(s.calls) > 0 {
		show(w, failover.StageNormal, "home", s.calls...)
	}
	show(w, s.stage, s.server, s.calls...)
	w.model.ApplyStatus(failover.StatusEvent{Registrations: []failover.RegistrationStatus{
		{Server: "home", Active: s.server == "home", Features: []string{"hold", "transfer", "conference", "mwi"}},
		{Server: "branch", Active: s.server == "branch", Features: []string{"hold"}}}})
	for _, c := range s.calls {
		v := w.model.Calls[c.ID]
		v.Answered = t0.Add(-83 * time.Second)
		v.Rx, v.JitterMs, v.Conference = c.Rx, c.JitterMs, c.Conference
	}
	if s.mwi {
		w.Apply(&failover.MWIEvent{Waiting: true, Server: "home"})
	}
	if s.setup != nil {
		s.setup(w)
	}
	w.Number.SetText(s.number)
	w.Render()
}

// The rendered window, compared with committed references (testdata/screens/*.png): every screen at
// scale 1 and 1.5, in the dark and the light theme. testdata/failed/ has the image of a
// screen that changed; look at it, and copy it over the reference when the change is meant.
func TestRenderedScreens(t *testing.T) {
	for _, look := range []struct {
		name    string
		scale   float32
		variant fyne.ThemeVariant
	}{{"dark", 1, theme.VariantDark}, {"light", 1, theme.VariantLight}, {"dark-1.5", 1.5, theme.VariantDark},
		{"light-1.5", 1.5, theme.VariantLight}} {
		for _, s := range screens() {
			t.Run(look.name+"/"+s.name, func(t *testing.T) {
				a := test.NewTempApp(t)
				a.Settings().SetTheme(forcedVariant{look.variant})
				cfg := config.Default()
				ctl := &fakeController{asked: make(chan string, 16)}
				w := New(a, ctl, ctl, Options{Extension: "Front desk · 1001", Lines: 3, Now: func() time.Time { return t0 },
					History: tempHistory(t), Contacts: tempContacts(t), Settings: &memStore{cfg: &cfg}})
				defer w.Win.Close()
				w.Win.Canvas().(interface{ SetScale(float32) }).SetScale(look.scale)
				showScreen(w, s)
				test.AssertRendersToImage(t, "screens/"+look.name+"/"+s.name+".png", w.Win.Canvas())
			})
		}
	}
}

// The window keeps one size, which fits a 1366x768 screen at scale 1.5 with a title bar and a panel, and
// its content fits that size in every screen, with long messages too.
func TestFixedSizeFitsEveryScreen(t *testing.T) {
	if WindowSize.Width*1.5 > 1366 || WindowSize.Height*1.5+2*40 > 768 {
		t.Fatalf("window %v at scale 1.5 does not fit 1366x768 with a title bar and a panel", WindowSize)
	}
	for _, s := range screens() {
		w, _ := newTestWindow(t)
		showScreen(w, s)
		w.model.Message = strings.Repeat("A long message about what went wrong with the call. ", 6)
		w.Render()
		if min := w.Win.Content().MinSize(); min.Width > WindowSize.Width || min.Height > WindowSize.Height {
			t.Errorf("%s: content needs %v, the window is %v", s.name, min, WindowSize)
		}
		if got := w.Win.Canvas().Size(); got != WindowSize {
			t.Errorf("%s: window %v, want %v", s.name, got, WindowSize)
		}
	}
}

func TestSpeakerOrHeadsetSwitchesTheDevice(t *testing.T) {
	w, ctl := newTestWindow(t)
	if !slices.Equal(w.Output.Options, []string{"System default", "Speaker", "USB Headset"}) {
		t.Fatalf("output choices %v", w.Output.Options)
	}
	w.Output.SetSelected("USB Headset")
	deadline := time.Now().Add(2 * time.Second)
	for {
		ctl.mu.Lock()
		out := ctl.output
		ctl.mu.Unlock()
		if out == "USB Headset" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("switched to %q", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// forcedVariant is the default theme held to one variant (as the desktop's light or dark setting).
type forcedVariant struct{ v fyne.ThemeVariant }

func (f forcedVariant) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	return theme.DefaultTheme().Color(n, f.v)
}
func (f forcedVariant) Font(s fyne.TextStyle) fyne.Resource     { return theme.DefaultTheme().Font(s) }
func (f forcedVariant) Icon(n fyne.ThemeIconName) fyne.Resource { return theme.DefaultTheme().Icon(n) }
func (f forcedVariant) Size(n fyne.ThemeSizeName) float32       { return theme.DefaultTheme().Size(n) }

// The window follows the desktop's light or dark theme: nothing in it is painted in fixed colours.
func TestWindowFollowsLightAndDarkThemes(t *testing.T) {
	brightness := func(v fyne.ThemeVariant) float64 {
		a := test.NewTempApp(t)
		a.Settings().SetTheme(forcedVariant{v})
		ctl := &fakeController{asked: make(chan string, 4)}
		w := New(a, ctl, ctl, Options{Extension: "1001", Lines: 3, Now: func() time.Time { return t0 }})
		defer w.Win.Close()
		show(w, failover.StageAlternate, "branch")
		img := w.Win.Canvas().Capture()
		var sum float64
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y += 4 {
			for x := b.Min.X; x < b.Max.X; x += 4 {
				r, g, bl, _ := img.At(x, y).RGBA()
				sum += float64(r+g+bl) / 3 / 65535
			}
		}
		return sum / float64((b.Dx()/4)*(b.Dy()/4))
	}
	light, dark := brightness(theme.VariantLight), brightness(theme.VariantDark)
	if light < 0.6 || dark > 0.35 {
		t.Fatalf("mean brightness light %.2f, dark %.2f: the window does not follow the theme", light, dark)
	}
}

// Keyboard reachable: Tab moves the focus through the number field, the Phone button, the soft keys and
// the dial pad, and a focused key is pressed with Space.
func TestEveryControlIsReachableByKeyboard(t *testing.T) {
	w, ctl := newTestWindow(t)
	show(w, failover.StageNormal, "home", CallView{ID: "1", State: "active", Remote: "1002@x"})
	c := w.Win.Canvas()
	seen := map[fyne.Focusable]bool{}
	for i := 0; i < 60; i++ {
		test.FocusNext(c)
		if f := c.Focused(); f != nil {
			seen[f] = true
		}
	}
	drop := w.SoftKeys.Objects[len(w.SoftKeys.Objects)-1].(*widget.Button)
	for name, obj := range map[string]fyne.Focusable{"number": w.Number, "Phone": w.Phone, "Drop": drop,
		"5": w.Pad["5"], "Timeline": w.Timeline} {
		if !seen[obj] {
			t.Errorf("%s is never reached with Tab", name)
		}
	}
	c.Focus(drop)
	drop.TypedKey(&fyne.KeyEvent{Name: fyne.KeySpace})
	if got := <-ctl.asked; got != "hangup 1" {
		t.Fatalf("Space on Drop asked %q", got)
	}
}

func tempHistory(t *testing.T) *history.Store {
	s, err := history.Open(filepath.Join(t.TempDir(), "history.json"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tempContacts(t *testing.T) *contacts.Store {
	s, err := contacts.Open(filepath.Join(t.TempDir(), "contacts.json"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The keyboard of a desk phone: Enter answers a ringing call, Escape clears the number field itself, and
// the shortcuts reach Answer, Drop, Hold and Resume.
func TestKeyboardAnswersClearsAndHasShortcuts(t *testing.T) {
	w, ctl := newTestWindow(t)
	show(w, failover.StageNormal, "home", CallView{ID: "7", State: "incoming", Remote: "1004@x"})
	w.typedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if got := <-ctl.asked; got != "answer 7" {
		t.Fatalf("Enter on a ringing call asked %q", got)
	}
	w.Number.SetText("1002")
	w.Win.Canvas().Focus(w.Number)
	w.Number.TypedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if w.Number.Text != "" {
		t.Fatalf("Escape in the number field left %q", w.Number.Text)
	}
	show(w, failover.StageNormal, "home", CallView{ID: "7", State: "active", Remote: "1004@x"})
	for sc, want := range map[fyne.Shortcut]string{ShortcutDrop: "hangup 7", ShortcutHold: "hold 7"} {
		w.Win.Canvas().(fyne.Shortcutable).TypedShortcut(sc)
		if got := <-ctl.asked; got != want {
			t.Fatalf("shortcut %s asked %q, want %q", sc.ShortcutName(), got, want)
		}
	}
}

// A dial the gate refuses keeps what was typed; Redial says what it will dial; Messages calls the
// voicemail; Send tones with nothing typed says how.
func TestDialKeepsARefusedNumberAndRedialSaysWhat(t *testing.T) {
	w, ctl := newTestWindow(t)
	show(w, failover.StageTransition, "")
	w.Number.SetText("1002")
	w.enter()
	if got := <-ctl.asked; got != "dial 1002" {
		t.Fatalf("asked %q", got)
	}
	if w.Number.Text != "1002" {
		t.Fatalf("a refused dial wiped the number (now %q)", w.Number.Text)
	}
	show(w, failover.StageNormal, "home")
	w.enter()
	<-ctl.asked
	if w.Number.Text != "" || w.Number.PlaceHolder != "Redial 1002, or type a number" {
		t.Fatalf("after dialling: number %q, placeholder %q", w.Number.Text, w.Number.PlaceHolder)
	}
	test.Tap(w.Messages)
	if !strings.Contains(w.Message.Text, "No voicemail number") {
		t.Fatalf("Messages without a number: %q", w.Message.Text)
	}
	w.SetVoicemail("*97")
	test.Tap(w.Messages)
	if got := <-ctl.asked; got != "dial *97" {
		t.Fatalf("Messages asked %q", got)
	}
	show(w, failover.StageNormal, "home", CallView{ID: "1", State: "active", Remote: "600@x"})
	w.run(failover.ActDTMF)
	if !strings.Contains(w.Message.Text, "dial-pad keys") {
		t.Fatalf("Send tones with nothing typed: %q", w.Message.Text)
	}
}

// An emergency number typed in any stage, logged off too, gives an Emergency key that dials it.
func TestEmergencyKeyInEveryStage(t *testing.T) {
	for _, st := range failover.Stages {
		w, ctl := newTestWindow(t)
		show(w, st, "")
		w.Number.SetText("911")
		if got := w.SlotLabels(); got[0] != "Emergency" {
			t.Fatalf("%s: keys %v", st, got)
		}
		if !w.PressKey("Emergency") {
			t.Fatal("no Emergency key to press")
		}
		if got := <-ctl.asked; got != "dial 911" {
			t.Fatalf("%s: Emergency asked %q", st, got)
		}
	}
}

// A failure comes back in words with its line: no Go error, no internal id.
func TestFailuresAreWorded(t *testing.T) {
	got := actionFailed(failover.ActHold, 2, fmt.Errorf("hold call 4: INVITE: %w", context.DeadlineExceeded))
	if got != "Hold on line 2 did not work: the other side did not answer in time." {
		t.Fatalf("worded %q", got)
	}
	for _, bad := range []string{"call 4", "INVITE", "context", "deadline"} {
		if strings.Contains(got, bad) {
			t.Errorf("%q shows %q", got, bad)
		}
	}
}

// Escape closes an open dialog (here the timeline) or the Phone list, and keeps the number otherwise.
func TestEscapeClosesDialogs(t *testing.T) {
	w, _ := newTestWindow(t)
	show(w, failover.StageNormal, "home")
	w.Number.SetText("1002")
	test.Tap(w.Timeline)
	if w.Win.Canvas().Overlays().Top() == nil {
		t.Fatal("no timeline dialog")
	}
	w.typedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if top := w.Win.Canvas().Overlays().Top(); top != nil {
		t.Fatal("Escape left the timeline open")
	}
	if w.Number.Text != "1002" {
		t.Fatal("Escape closing a dialog also cleared the number")
	}
	test.Tap(w.Phone)
	w.typedKey(&fyne.KeyEvent{Name: fyne.KeyEscape})
	if w.Win.Canvas().Overlays().Top() != nil {
		t.Fatal("Escape left the Phone list open")
	}
}

// The Phone list, six entries long with two calls, opens inside the window (Fyne moves it up over the
// display when it would pass the bottom edge).
func TestPhoneListFitsTheWindow(t *testing.T) {
	w, _ := newTestWindow(t)
	show(w, failover.StageNormal, "home", CallView{ID: "1", State: "active", Remote: "1002@x"},
		CallView{ID: "2", State: "held", Remote: "1003@x"})
	test.Tap(w.Phone)
	var menu *widget.PopUpMenu
	for _, o := range test.LaidOutObjects(w.Win.Canvas().Overlays().Top()) {
		if m, ok := o.(*widget.PopUpMenu); ok {
			menu = m
		}
	}
	if menu == nil {
		t.Fatal("no Phone list")
	}
	pos, size := fyne.CurrentApp().Driver().AbsolutePositionForObject(menu), menu.Size()
	if pos.Y < 0 || pos.Y+size.Height > WindowSize.Height || len(w.PhoneItems()) < 5 {
		t.Fatalf("the Phone list (%d items) spans y %v to %v in a window %v high", len(w.PhoneItems()), pos.Y, pos.Y+size.Height, WindowSize.Height)
	}
}

// A soft key that changes while shown is redrawn whole: typed digit by digit on the alternate (Dial,
// then Emergency on the same enabled key), 911 looks as when the screen is drawn with it.
func TestKeysTypedOneByOneLookLikeTheScreen(t *testing.T) {
	render := func(digitByDigit bool) image.Image {
		w, _ := newTestWindow(t)
		show(w, failover.StageAlternate, "branch")
		if digitByDigit { // as typing does: only the keys are rendered again
			for _, d := range []string{"9", "91", "911"} {
				w.Number.SetText(d)
			}
		} else {
			w.Number.SetText("911")
			w.Render() // the whole window drawn again
		}
		return w.Win.Canvas().Capture()
	}
	typed, drawn := render(true), render(false)
	b := drawn.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if typed.At(x, y) != drawn.At(x, y) {
				t.Fatalf("typed digit by digit, the window differs at (%d,%d): a key kept its old colour", x, y)
			}
		}
	}
}
