package app

import (
	"image/color"
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
	"stayline/failover"
)

// fakeController records what the window asked of the manager.
type fakeController struct {
	mu       sync.Mutex
	requests []string
	muted    bool
	volume   float64
	tone     bool
	output   string
	asked    chan string
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
	menu *fyne.Menu
	icon fyne.Resource
}

func (t *fakeTray) SetSystemTrayMenu(m *fyne.Menu)    { t.menu = m }
func (t *fakeTray) SetSystemTrayIcon(r fyne.Resource) { t.icon = r }

var t0 = time.Date(2026, 11, 24, 21, 4, 5, 0, time.UTC)

func newTestWindow(t *testing.T) (*Window, *fakeController) {
	t.Helper()
	a := test.NewTempApp(t)
	ctl := &fakeController{asked: make(chan string, 16)}
	w := New(a, ctl, Options{Extension: "Front desk · 1001", Lines: 3, Now: func() time.Time { return t0 }})
	t.Cleanup(w.Win.Close)
	return w, ctl
}

func stageEvent(st failover.Stage, server, reason string) *failover.StageEvent {
	ev := &failover.StageEvent{Stage: st, Server: server, Reason: reason}
	ev.Header = failover.Header{Time: failover.Timestamp(t0), Event: "stage"}
	return ev
}

// show puts the window in stage with the given calls, the actions from the real gate.
func show(w *Window, st failover.Stage, server string, calls ...CallView) {
	w.Apply(stageEvent(st, server, ""))
	var counts failover.CallCounts
	for _, c := range calls {
		w.Apply(&failover.CallEvent{ID: c.ID, State: c.State, Remote: c.Remote})
		switch c.State {
		case "incoming":
			counts.Incoming++
		case "active":
			counts.Active++
		case "held":
			counts.Held++
		}
	}
	srv := map[string]*config.Server{"home": &homeSrv, "branch": &branchSrv}[server]
	w.Apply(&failover.ActionsEvent{Available: failover.Available(st, counts, srv, false, 3)})
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
	if got := w.VisibleKeys(); !slices.Equal(got, []string{"Hold", "Conf", "Drop"}) {
		t.Fatalf("keys %v", got)
	}
	test.Tap(w.Appearances[0]) // select the held call on line 1
	if got := w.VisibleKeys(); !slices.Equal(got, []string{"Resume", "Drop"}) {
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
	if slices.Contains(w.PhoneItems(), "Log off") {
		t.Fatal("Log off listed during failover")
	}
	w.run(failover.ActLogoff) // as from the tray
	<-ctl.asked
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

// Notifications: failover starting, service on the alternate, failback starting, normal service back.
func TestNotificationsOnFailoverAndFailback(t *testing.T) {
	w, _ := newTestWindow(t)
	show(w, failover.StageNormal, "home")
	test.AssertNotificationSent(t, fyne.NewNotification("Stayline: failover",
		"Lost server home. Looking for another server; new calls are not possible meanwhile. A call in progress stays up."),
		func() { w.Apply(stageEvent(failover.StageTransition, "", "home: no answer")) })
	test.AssertNotificationSent(t, fyne.NewNotification("Stayline: limited service",
		"Phone service is active on the alternate server branch. Some features may not be available."),
		func() { w.Apply(stageEvent(failover.StageAlternate, "branch", "")) })
	test.AssertNotificationSent(t, fyne.NewNotification("Stayline: returning home",
		"The home server is back; the phone is moving to it."),
		func() { w.Apply(stageEvent(failover.StageFailback, "branch", "")) })
	test.AssertNotificationSent(t, fyne.NewNotification("Stayline: normal service", "Normal service is restored on home."),
		func() { w.Apply(stageEvent(failover.StageNormal, "home", "")) })
}

func TestTrayMenuAndIconFollowTheStage(t *testing.T) {
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
	show(w, failover.StageAlternate, "branch")
	if tray.icon != iconAlternate {
		t.Fatal("tray icon did not change on the alternate")
	}
	show(w, failover.StageNormal, "home")
	if tray.icon != Icon {
		t.Fatal("tray icon not back to the phone on home")
	}
	tray.menu.Items[2].Action() // Log off
	if got := <-ctl.asked; got != "logoff" {
		t.Fatalf("tray Log off asked %q", got)
	}
}

func TestQuitDuringFailoverAsksFirst(t *testing.T) {
	a := test.NewTempApp(t)
	quits := 0
	w := New(a, &fakeController{asked: make(chan string, 4)}, Options{Lines: 3, Now: func() time.Time { return t0 },
		OnQuit: func() { quits++ }})
	defer w.Win.Close()
	w.Win.Resize(fyne.NewSize(460, 580))
	show(w, failover.StageAlternate, "branch")
	w.Quit()
	if quits != 0 || len(w.Win.Canvas().Overlays().List()) == 0 {
		t.Fatalf("quit during failover without asking (quits %d)", quits)
	}
	show(w, failover.StageNormal, "home")
	w.Quit()
	if quits != 1 {
		t.Fatal("quit on home did not quit")
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

// The rendered window, compared with committed references (testdata/*.png): the desk phone at a
// glance in the four screens a user meets most.
func TestRenderedScreens(t *testing.T) {
	screens := []struct {
		file   string
		stage  failover.Stage
		server string
		calls  []CallView
		mwi    bool
	}{
		{"normal.png", failover.StageNormal, "home", nil, true},
		{"transition.png", failover.StageTransition, "", []CallView{{ID: "1", State: "active", Remote: "1002@example.com"}}, false},
		{"alternate.png", failover.StageAlternate, "branch", nil, false},
		{"in-call.png", failover.StageNormal, "home", []CallView{
			{ID: "1", State: "held", Remote: "1003@example.com"},
			{ID: "2", State: "active", Remote: "1002@example.com", Rx: 2000, JitterMs: 3}}, false},
	}
	for _, s := range screens {
		t.Run(s.file, func(t *testing.T) {
			w, _ := newTestWindow(t)
			w.Win.Resize(fyne.NewSize(460, 580))
			show(w, s.stage, s.server, s.calls...)
			for _, c := range s.calls {
				w.model.Calls[c.ID].Since = t0.Add(-83 * time.Second)
				w.model.Calls[c.ID].Rx, w.model.Calls[c.ID].JitterMs = c.Rx, c.JitterMs
			}
			if s.mwi {
				w.Apply(&failover.MWIEvent{Waiting: true, Server: "home"})
			}
			w.Render()
			test.AssertRendersToImage(t, s.file, w.Win.Canvas())
		})
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
		w := New(a, &fakeController{asked: make(chan string, 4)}, Options{Extension: "1001", Lines: 3, Now: func() time.Time { return t0 }})
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
