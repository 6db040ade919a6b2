// Package app is Stayline's desk-phone window. It subscribes to the failover manager and shows what a desk
// phone shows: a status line (who, which server, a failover icon, the message-waiting lamp, a clock), a
// display of call appearances and messages, soft keys under it, a Phone button listing every action
// possible now, a dial pad. Every action goes to the manager, which decides. It also runs the tray icon,
// the desktop notifications and the failover timeline.
//
// The window is built on a fyne.App handed in (main makes it), so tests run on fyne's test app without a
// display. What it shows is computed by Model, which has no Fyne in it.
package app

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"stayline/assets"
	"stayline/failover"
)

// Controller is what the window asks of the failover manager; *failover.Manager implements it.
type Controller interface {
	Subscribe() *failover.Subscription
	Request(a failover.Action, arg string) error
	// Check asks the gate whether an action would be allowed now, without doing it.
	Check(a failover.Action, arg string) error
	IsEmergency(target string) bool
	Status() failover.StatusEvent
}

// Sound is the phone's sound as the window controls it: the microphone, the speaker, the dial tone and
// the devices. It is not the failover manager's business (internal/core implements it over the agent).
type Sound interface {
	SetMuted(bool)
	SetVolume(float64)
	DialTone(on bool)
	AudioDevices() (inputs, outputs []string, err error)
	SwitchAudio(input, output string) error
}

// Options adjust a Window.
type Options struct {
	Extension string           // "Front desk · 1001"
	Lines     int              // call appearances
	Voicemail string           // what the Messages key dials ("" : not set)
	Now       func() time.Time // the clock (tests fix it)
	OnQuit    func()           // quits the program; default: the app's Quit
	Tray      Tray             // the system tray (nil: none)
	// Minimise iconifies the window (false when it could not); closing the window with no tray host
	// minimises it, so the phone stays reachable.
	Minimise func() bool
	Settings SettingsStore // where the settings dialog reads and saves (nil: no settings button)
	History  HistoryStore  // the call history (nil: no history button)
	Contacts ContactStore  // the local directory (nil: no contacts button)
	// IdlePark parks Fyne's loop while the window is idle (idle.go): the desktop driver's window only, not
	// the test driver's.
	IdlePark bool
}

// WindowSize is the desk phone's fixed size: it fits a 1366x768 screen at scale 1.5 with a panel.
var WindowSize = fyne.NewSize(760, 430)

// The icons of the status line.
var (
	Icon           = fyne.NewStaticResource("stayline.png", assets.IconPNG)
	iconTransition = fyne.NewStaticResource("stage-transition.svg", assets.StageTransitionSVG)
	iconAlternate  = fyne.NewStaticResource("stage-alternate.svg", assets.StageAlternateSVG)
	iconFailback   = fyne.NewStaticResource("stage-failback.svg", assets.StageFailbackSVG)
	iconNoService  = fyne.NewStaticResource("stage-noservice.svg", assets.StageNoServiceSVG)
	iconLoggedOff  = fyne.NewStaticResource("stage-loggedoff.svg", assets.StageLoggedOffSVG)
	iconLampOn     = fyne.NewStaticResource("lamp-on.svg", assets.LampOnSVG)
	iconLampOff    = fyne.NewStaticResource("lamp-off.svg", assets.LampOffSVG)
	stageIcons     = map[failover.Stage]fyne.Resource{failover.StageTransition: iconTransition,
		failover.StageAlternate: iconAlternate, failover.StageFailback: iconFailback, failover.StageNoService: iconNoService}
	stageIconWords = map[failover.Stage]string{failover.StageTransition: "failover",
		failover.StageAlternate: "alternate server", failover.StageFailback: "failback", failover.StageNoService: "no service"}
)

// Window is the desk phone. Its widgets are exported so tests can read and tap them.
type Window struct {
	Win     fyne.Window
	app     fyne.App
	ctl     Controller
	sound   Sound
	ctx     context.Context
	unbind  context.CancelFunc // ends the event loop of the current controller
	gen     int                // counts the controllers followed: events of an earlier one are dropped
	opts    Options
	model   *Model
	note    *notifier
	tray    Tray
	stopped atomic.Bool // the program is quitting: no tray, no notices, no events
	idle    *idler      // parks Fyne's loop while nothing moves (nil: never)

	trayShown trayState
	trayTip   string

	Extension   *widget.Label
	Server      *widget.Label
	StageIcon   *widget.Icon
	StageName   *widget.Label // the failover icon's words, for readers and screen readers
	Lamp        *widget.Icon
	LampLabel   *widget.Label
	Clock       *widget.Label
	Banner      *widget.Label // what the stage lacks, across the display
	Appearances []*widget.Button
	StageLine   *widget.Label
	Message     *widget.Label
	SoftKeys    *fyne.Container // the four soft-key slots
	Phone       *widget.Button
	Messages    *widget.Button
	Number      *numberEntry
	Pad         map[string]*widget.Button
	Mute        *widget.Check
	Volume      *widget.Slider
	Output      *widget.Select // speaker or headset
	Timeline    *widget.Button
	HistoryBtn  *widget.Button
	ContactsBtn *widget.Button
	SettingsBtn *widget.Button

	panel *canvas.Rectangle // the display's background
	keys  Slots             // the soft keys shown
	slots [SlotCount]*widget.Button

	configNote    string       // what is wrong with (or pending from) the configuration file, under the message
	pendingApply  func() error // a changed configuration the user put off until the calls end
	ConfigDialog  *dialog.ConfirmDialog
	problemDialog dialog.Dialog
	QuitDialog    *dialog.ConfirmDialog // the open "quit?" or "log off?" question (tests answer it)
	settings      *Settings             // the open settings (sounddevices.go lists their devices again)
}

// New builds the window for ctl (the manager) and sound on a.
func New(a fyne.App, ctl Controller, sound Sound, opts Options) *Window {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Lines < 1 {
		opts.Lines = 3
	}
	w := &Window{Win: a.NewWindow("Stayline"), app: a, ctl: ctl, sound: sound, opts: opts, model: NewModel(), note: newNotifier()}
	if opts.History != nil {
		w.model.LastDial = opts.History.LastDialled() // Redial works across restarts
	}
	if w.opts.OnQuit == nil {
		w.opts.OnQuit = a.Quit
	}
	w.Win.SetIcon(Icon)
	w.build()
	if opts.Tray != nil {
		w.setTray(opts.Tray)
	}
	w.Win.SetCloseIntercept(w.close)
	w.followDevices()
	w.render()
	return w
}

// SetExtension changes the status line's name and extension (after a configuration change).
func (w *Window) SetExtension(text string) {
	w.opts.Extension = text
	w.Extension.SetText(text)
}

// SetMinimiser sets how the window is minimised (main has the driver's way; see Options.Minimise).
func (w *Window) SetMinimiser(f func() bool) { w.opts.Minimise = f }

// SetVoicemail changes what the Messages key dials (after a configuration change).
func (w *Window) SetVoicemail(target string) { w.opts.Voicemail = target }

func (w *Window) notify(n *Notice) {
	if n != nil && !w.stopped.Load() {
		w.app.SendNotification(fyne.NewNotification(n.Title, n.Content))
	}
}

// Stop ends the window's part before the program quits: no more events, tray changes or notices (the
// tray's D-Bus connection closes with the app, and touching it then panics).
func (w *Window) Stop() {
	w.stopped.Store(true)
	if w.unbind != nil {
		w.unbind()
	}
}

// Stopped says whether Stop was called.
func (w *Window) Stopped() bool { return w.stopped.Load() }

// render makes the widgets show the model.
func (w *Window) render() {
	m := w.model
	now := w.opts.Now()
	w.Clock.SetText(now.Format("15:04"))
	w.Server.SetText(m.Server)
	switch r := stageIcons[m.Stage]; {
	case m.LoggedOff:
		w.StageIcon.SetResource(iconLoggedOff)
		w.StageIcon.Show()
		w.StageName.SetText("logged off")
		w.StageName.Show()
	case r != nil:
		w.StageIcon.SetResource(r)
		w.StageIcon.Show()
		w.StageName.SetText(stageIconWords[m.Stage])
		w.StageName.Show()
	default:
		w.StageIcon.Hide()
		w.StageName.Hide()
	}
	if m.MWI {
		w.Lamp.SetResource(iconLampOn)
		w.LampLabel.SetText("Message")
	} else {
		w.Lamp.SetResource(iconLampOff)
		w.LampLabel.SetText("")
	}
	focus := m.Focus()
	for i, c := range m.Appearances(w.opts.Lines) {
		if i >= len(w.Appearances) {
			break
		}
		b := w.Appearances[i]
		b.SetText(appearanceText(i+1, c, w.party, now))
		b.SetIcon(appearanceIcon(c))
		switch {
		case c != nil && c.State == failover.CallIncoming:
			b.Importance = widget.WarningImportance
		case c != nil && focus != nil && c.ID == focus.ID:
			b.Importance = widget.HighImportance
		default:
			b.Importance = widget.LowImportance
		}
		b.Refresh()
	}
	if c := displayColor(); c != w.panel.FillColor {
		w.panel.FillColor = c
		w.panel.Refresh()
	}
	w.Banner.SetText(m.Banner())
	w.StageLine.SetText(m.StageText())
	msg := m.Message
	if w.configNote != "" {
		msg = strings.TrimSpace(msg + "\n" + w.configNote)
	}
	w.Message.SetText(msg)
	if m.LastDial != "" {
		w.Number.SetPlaceHolder("Redial " + shortRemote(m.LastDial) + ", or type a number")
	} else {
		w.Number.SetPlaceHolder("Number or SIP address")
	}
	w.renderKeys()
	w.renderTray()
	// Texts change sizes: lay the window out again (it is small; this is cheap).
	if c := w.Win.Content(); c != nil {
		c.Refresh()
	}
}

// renderKeys puts the soft keys in their slots: the layout of the focused call's state, blank where the
// stage forbids the action.
func (w *Window) renderKeys() {
	number := strings.TrimSpace(w.Number.Text)
	w.keys = w.model.SoftKeys(number, w.dialCheck(number))
	for i, k := range w.keys {
		b := w.slots[i]
		text, importance := k.Label, widget.MediumImportance
		switch {
		case k.Label == "":
			text = " "
		case k.Label == "Emergency" || k.Action == failover.ActHangup:
			importance = widget.DangerImportance
		}
		if b.Text == text && b.Importance == importance && b.Disabled() == (k.Label == "") {
			continue
		}
		b.Text, b.Importance = text, importance
		if k.Label == "" {
			b.Disable()
		} else {
			b.Enable()
		}
		b.Refresh() // the colour too: SetText alone redraws the text only
	}
}

// dialCheck asks the gate about dialling number now.
func (w *Window) dialCheck(number string) DialCheck {
	if number == "" {
		return DialCheck{}
	}
	return DialCheck{Allowed: w.ctl.Check(failover.ActDial, number) == nil, Emergency: w.ctl.IsEmergency(number)}
}

func (w *Window) pressSlot(i int) {
	if k := w.keys[i]; k.Label != "" {
		w.run(k.Action)
	}
}

// VisibleKeys lists the labels of the soft keys shown now, blanks left out.
func (w *Window) VisibleKeys() []string { return w.keys.Labels() }

// SlotLabels lists the four soft-key slots, "" for a blank one.
func (w *Window) SlotLabels() [SlotCount]string {
	var out [SlotCount]string
	for i, k := range w.keys {
		out[i] = k.Label
	}
	return out
}

// PhoneItems lists the Phone button's entries now.
func (w *Window) PhoneItems() []string {
	var out []string
	for _, k := range w.model.PhoneList() {
		out = append(out, k.Label)
	}
	return out
}

// PressKey taps the soft key labelled label (for tests and the tray); false if it is not shown.
func (w *Window) PressKey(label string) bool {
	for i, k := range w.keys {
		if k.Label == label {
			w.slots[i].OnTapped()
			return true
		}
	}
	return false
}

func (w *Window) showPhoneList() {
	var items []*fyne.MenuItem
	for _, k := range w.model.PhoneList() {
		key := k
		items = append(items, fyne.NewMenuItem(key.Label, func() { w.run(key.Action) }))
	}
	if len(items) == 0 {
		items = append(items, fyne.NewMenuItem(w.model.StageText()+": nothing can be done now", nil))
	}
	widget.ShowPopUpMenuAtRelativePosition(fyne.NewMenu("Phone", items...), w.Win.Canvas(),
		fyne.NewPos(0, w.Phone.Size().Height), w.Phone)
}

func (w *Window) selectLine(i int) {
	apps := w.model.Appearances(w.opts.Lines)
	if i < len(apps) && apps[i] != nil {
		w.model.Selected = apps[i].ID
	} else {
		w.model.Selected = ""
	}
	w.render()
}

// run sends an action to the manager, for the focused call. A refusal comes back as an event; other
// errors are shown on the display in words.
func (w *Window) run(a failover.Action) {
	arg := ""
	number := strings.TrimSpace(w.Number.Text)
	focus := w.model.Focus()
	switch a {
	case failover.ActLogoff:
		w.LogOff()
		return
	case failover.ActDial:
		arg = number
		if arg == "" {
			arg = w.model.LastDial
		}
		if arg == "" {
			w.model.Message = "Type a number to dial."
			w.render()
			return
		}
		if w.ctl.Check(failover.ActDial, arg) == nil { // a refused dial keeps what was typed
			w.model.LastDial = arg
			w.Number.SetText("")
		}
		w.sound.DialTone(false)
	case failover.ActTransfer, failover.ActDTMF:
		if number == "" {
			w.model.Message = numberFirst[a]
			w.render()
			return
		}
		arg = number
		w.Number.SetText("")
	case failover.ActAnswer, failover.ActHangup, failover.ActHold, failover.ActResume:
		if focus != nil {
			arg = focus.ID
		}
	}
	w.model.Message = ""
	line := w.lineOf(arg)
	go func() {
		err := w.ctl.Request(a, arg)
		var r *failover.Refusal
		if err != nil && !errors.As(err, &r) {
			w.Do(func() {
				w.model.Message = actionFailed(a, line, err)
				w.render()
			})
		}
	}()
	w.render()
}

// numberFirst says what to type before an action that takes the typed number.
var numberFirst = map[failover.Action]string{
	failover.ActTransfer: "Type the number to transfer to, then press Transfer.",
	failover.ActDTMF:     "Press the dial-pad keys during the call: each is sent as a tone.",
}

// lineOf is the display line (1-based) of call id, 0 when it has none.
func (w *Window) lineOf(id string) int {
	for i, c := range w.model.Appearances(w.opts.Lines) {
		if c != nil && c.ID == id {
			return i + 1
		}
	}
	return 0
}

// key is a dial-pad key: a tone on a talking call when no number is being typed, else a digit.
func (w *Window) key(k string) {
	if c := w.model.Focus(); c != nil && c.State == failover.CallActive && w.Number.Text == "" {
		go w.ctl.Request(failover.ActDTMF, k)
		return
	}
	w.Number.SetText(w.Number.Text + k)
}

func (w *Window) backspace() {
	if t := w.Number.Text; t != "" {
		w.Number.SetText(t[:len(t)-1])
	}
}

func (w *Window) clearNumber() {
	w.Number.SetText("")
}

// enter is the Enter key: answer a ringing call, else dial what was typed (or redial).
func (w *Window) enter() {
	if c := w.model.Focus(); c != nil && c.State == failover.CallIncoming && w.model.can(failover.ActAnswer) {
		w.run(failover.ActAnswer)
		return
	}
	if strings.TrimSpace(w.Number.Text) != "" || w.model.LastDial != "" {
		w.run(failover.ActDial) // not allowed now: the manager says why
	}
}

// callMessages is the Messages key: it calls the voicemail.
func (w *Window) callMessages() {
	if w.opts.Voicemail == "" {
		w.model.Message = "No voicemail number is set: Settings > Account > Voicemail."
		w.render()
		return
	}
	w.Number.SetText(w.opts.Voicemail)
	w.run(failover.ActDial)
}

func (w *Window) numberChanged() {
	if w.Number.Text != "" {
		w.sound.DialTone(false) // the first digit ends the dial tone
	}
	w.renderKeys()
}

// numberFocus plays the dial tone while the empty number field has the focus, no call is up and the gate
// would let a call out.
func (w *Window) numberFocus(focused bool) {
	w.sound.DialTone(focused && w.Number.Text == "" && len(w.model.Calls) == 0 && w.model.can(failover.ActDial))
}

// Model is what the window shows (for tests).
func (w *Window) Model() *Model { return w.model }

// Render redraws from the model (for tests that change it).
func (w *Window) Render() { w.render() }

// Apply shows one event, as the event loop does (for tests).
func (w *Window) Apply(ev failover.Event) { w.apply(ev) }
