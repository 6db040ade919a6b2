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
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"stayline/assets"
	"stayline/failover"
)

// Controller is what the window asks of the failover manager; *failover.Manager implements it.
type Controller interface {
	Subscribe() *failover.Subscription
	Request(a failover.Action, arg string) error
	Status() failover.StatusEvent
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
	Now       func() time.Time // the clock (tests fix it)
	OnQuit    func()           // quits the program; default: the app's Quit
	Settings  SettingsStore    // where the settings dialog reads and saves (nil: no settings button)
	History   HistoryStore     // the call history (nil: no history button)
	Contacts  ContactStore     // the local directory (nil: no contacts button)
}

// The icons of the status line and the tray.
var (
	Icon             = fyne.NewStaticResource("stayline.png", assets.IconPNG)
	iconTransition   = fyne.NewStaticResource("stage-transition.svg", assets.StageTransitionSVG)
	iconAlternate    = fyne.NewStaticResource("stage-alternate.svg", assets.StageAlternateSVG)
	iconFailback     = fyne.NewStaticResource("stage-failback.svg", assets.StageFailbackSVG)
	iconNoService    = fyne.NewStaticResource("stage-noservice.svg", assets.StageNoServiceSVG)
	iconLampOn       = fyne.NewStaticResource("lamp-on.svg", assets.LampOnSVG)
	iconLampOff      = fyne.NewStaticResource("lamp-off.svg", assets.LampOffSVG)
	stageIcons       = map[failover.Stage]fyne.Resource{failover.StageTransition: iconTransition, failover.StageAlternate: iconAlternate, failover.StageFailback: iconFailback, failover.StageNoService: iconNoService}
	stageIconTooltip = map[failover.Stage]string{failover.StageTransition: "failover", failover.StageAlternate: "alternate server", failover.StageFailback: "failback", failover.StageNoService: "no service"}
)

// Window is the desk phone. Its widgets are exported so tests can read and tap them.
type Window struct {
	Win    fyne.Window
	app    fyne.App
	ctl    Controller
	ctx    context.Context
	unbind context.CancelFunc // ends the event loop of the current controller
	opts   Options
	model  *Model
	note   *notifier
	tray   trayHost

	Extension   *widget.Label
	Server      *widget.Label
	StageIcon   *widget.Icon
	StageName   *widget.Label // the failover icon's words, for readers and screen readers
	Lamp        *widget.Icon
	Clock       *widget.Label
	Appearances []*widget.Button
	StageLine   *widget.Label
	Message     *widget.Label
	SoftKeys    *fyne.Container
	Phone       *widget.Button
	Number      *numberEntry
	Pad         map[string]*widget.Button
	Mute        *widget.Check
	Volume      *widget.Slider
	Output      *widget.Select // speaker or headset
	Timeline    *widget.Button
	HistoryBtn  *widget.Button
	ContactsBtn *widget.Button
	SettingsBtn *widget.Button

	keys []Key // the soft keys shown

	configNote    string       // what is wrong with (or pending from) the configuration file, under the message
	pendingApply  func() error // a changed configuration the user put off until the calls end
	ConfigDialog  *dialog.ConfirmDialog
	problemDialog dialog.Dialog
}

// New builds the window for ctl on a.
func New(a fyne.App, ctl Controller, opts Options) *Window {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Lines < 1 {
		opts.Lines = 3
	}
	w := &Window{Win: a.NewWindow("Stayline"), app: a, ctl: ctl, opts: opts, model: NewModel(), note: newNotifier()}
	if opts.History != nil {
		w.model.LastDial = opts.History.LastDialled() // Redial works across restarts
	}
	if w.opts.OnQuit == nil {
		w.opts.OnQuit = a.Quit
	}
	w.Win.SetIcon(Icon)
	w.build()
	if d, ok := a.(desktop.App); ok {
		w.setTray(d)
	}
	w.Win.SetCloseIntercept(w.close)
	w.render()
	return w
}

func (w *Window) build() {
	w.Extension = widget.NewLabelWithStyle(w.opts.Extension, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	w.Server = widget.NewLabel("")
	w.StageIcon = widget.NewIcon(nil)
	w.StageName = widget.NewLabel("")
	w.Lamp = widget.NewIcon(iconLampOff)
	w.Clock = widget.NewLabel("")
	status := container.NewBorder(nil, nil, container.NewHBox(w.Extension, widget.NewSeparator()),
		container.NewHBox(w.Lamp, w.Clock), container.NewHBox(w.Server, w.StageIcon, w.StageName))

	rows := []fyne.CanvasObject{}
	for i := 0; i < w.opts.Lines; i++ {
		b := widget.NewButton("", nil)
		b.Alignment = widget.ButtonAlignLeading
		idx := i
		b.OnTapped = func() { w.selectLine(idx) }
		w.Appearances = append(w.Appearances, b)
		rows = append(rows, b)
	}
	w.StageLine = widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	w.Message = widget.NewLabel("")
	w.Message.Wrapping = fyne.TextWrapWord
	display := container.NewVBox(append(rows, w.StageLine, w.Message)...)
	screen := container.NewStack(canvasBackground(), container.NewPadded(display))

	w.SoftKeys = container.NewGridWithColumns(4)
	w.Phone = widget.NewButtonWithIcon("Phone", theme.MenuIcon(), w.showPhoneList)
	w.Number = newNumberEntry()
	w.Number.SetPlaceHolder("Number or SIP address")
	w.Number.OnSubmitted = func(string) { w.enter() }
	w.Number.OnChanged = func(string) { w.numberChanged() }
	w.Number.onFocus = w.numberFocus
	back := widget.NewButtonWithIcon("", theme.NavigateBackIcon(), w.backspace)

	w.Pad = map[string]*widget.Button{}
	var pad []fyne.CanvasObject
	for _, k := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"} {
		key := k
		b := widget.NewButton(key, func() { w.key(key) })
		w.Pad[key] = b
		pad = append(pad, b)
	}
	w.Mute = widget.NewCheck("Mute", func(m bool) { w.ctl.SetMuted(m) })
	w.Volume = widget.NewSlider(0, 2)
	w.Volume.Step, w.Volume.Value = 0.1, 1
	w.Volume.OnChanged = func(v float64) { w.ctl.SetVolume(v) }
	w.Timeline = widget.NewButtonWithIcon("Timeline", theme.HistoryIcon(), w.showTimeline)
	w.Output = widget.NewSelect([]string{systemDefault}, func(name string) {
		go func() {
			if err := w.ctl.SwitchAudio("", deviceName(name)); err != nil {
				fyne.Do(func() {
					w.model.Message = "Sound device: " + err.Error()
					w.render()
				})
			}
		}()
	})
	w.Output.PlaceHolder = "Speaker or headset"
	if _, outs, err := w.ctl.AudioDevices(); err == nil {
		w.Output.Options = append([]string{systemDefault}, outs...)
	}
	side := container.NewVBox(w.Mute, widget.NewLabel("Volume"), w.Volume, w.Output, w.Timeline)
	if w.opts.History != nil {
		w.HistoryBtn = widget.NewButtonWithIcon("History", theme.ListIcon(), func() { w.ShowHistory() })
		side.Add(w.HistoryBtn)
	}
	if w.opts.Contacts != nil {
		w.ContactsBtn = widget.NewButtonWithIcon("Contacts", theme.AccountIcon(), func() { w.ShowContacts() })
		side.Add(w.ContactsBtn)
	}
	if w.opts.Settings != nil {
		w.SettingsBtn = widget.NewButtonWithIcon("Settings", theme.SettingsIcon(), func() { w.ShowSettings(w.opts.Settings) })
		side.Add(w.SettingsBtn)
	}

	dialRow := container.NewBorder(nil, nil, nil, container.NewHBox(back, w.Phone), w.Number)
	bottom := container.NewGridWithColumns(2, container.NewGridWithColumns(3, pad...), side)
	w.Win.SetContent(container.NewVBox(status, widget.NewSeparator(), screen, w.SoftKeys, widget.NewSeparator(),
		dialRow, bottom))
	w.Win.Resize(fyne.NewSize(460, 580))
	w.Win.Canvas().SetOnTypedKey(w.typedKey)
	w.Win.Canvas().SetOnTypedRune(w.typedRune)
}

// Start follows the manager's events, and once a second the clock and the calls' figures, until ctx ends.
func (w *Window) Start(ctx context.Context) {
	w.ctx = ctx
	w.bind(w.ctl)
}

// SetExtension changes the status line's name and extension (after a configuration change).
func (w *Window) SetExtension(text string) {
	w.opts.Extension = text
	w.Extension.SetText(text)
}

// SetController moves the window to another manager (the settings were applied by starting a new one).
// The display starts over from its events; the timeline is kept.

func (w *Window) SetController(ctl Controller) {
	timeline, last := w.model.Timeline, w.model.LastDial
	w.model = NewModel()
	w.model.Timeline, w.model.LastDial = timeline, last
	w.ctl = ctl
	w.bind(ctl)
	w.render()
}

func (w *Window) bind(ctl Controller) {
	if w.unbind != nil {
		w.unbind()
	}
	parent := w.ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	w.unbind = cancel
	sub := ctl.Subscribe()
	go func() {
		defer sub.Close()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case ev, ok := <-sub.C:
				if !ok {
					return
				}
				fyne.Do(func() { w.apply(ev) })
			case <-tick.C:
				st := ctl.Status()
				fyne.Do(func() {
					w.model.ApplyStatus(st)
					w.render()
				})
			case <-ctx.Done():
				return
			}
		}
	}()
}

// apply shows one event (on Fyne's goroutine).
func (w *Window) apply(ev failover.Event) {
	prevServer := w.model.Server
	w.model.Apply(ev, w.opts.Now())
	switch e := ev.(type) {
	case *failover.StageEvent:
		if n := w.note.stage(e.Stage, e.Server, prevServer, w.opts.Now()); n != nil {
			w.app.SendNotification(fyne.NewNotification(n.Title, n.Content))
		}
		if w.tray != nil {
			w.tray.SetSystemTrayIcon(trayIcon(e.Stage))
		}
	case *failover.CallEvent:
		if e.State == "incoming" {
			w.app.SendNotification(fyne.NewNotification("Stayline: incoming call", shortRemote(e.Remote)))
			w.Win.Show()
			w.Win.RequestFocus()
		}
		if e.State == "ended" {
			defer w.offerPendingConfig()
		}
	}
	w.render()
}

// render makes the widgets show the model.
func (w *Window) render() {
	m := w.model
	now := w.opts.Now()
	w.Clock.SetText(now.Format("15:04"))
	w.Server.SetText(m.Server)
	if r := stageIcons[m.Stage]; r != nil {
		w.StageIcon.SetResource(r)
		w.StageIcon.Show()
		w.StageName.SetText(stageIconTooltip[m.Stage])
		w.StageName.Show()
	} else {
		w.StageIcon.Hide()
		w.StageName.Hide()
	}
	if m.MWI {
		w.Lamp.SetResource(iconLampOn)
	} else {
		w.Lamp.SetResource(iconLampOff)
	}
	focus := m.Focus()
	for i, c := range m.Appearances(w.opts.Lines) {
		if i >= len(w.Appearances) {
			break
		}
		b := w.Appearances[i]
		b.SetText(appearanceText(i+1, c, w.party, now))
		if c != nil && focus != nil && c.ID == focus.ID {
			b.Importance = widget.HighImportance
		} else {
			b.Importance = widget.LowImportance
		}
		b.Refresh()
	}
	w.StageLine.SetText(m.StageText())
	msg := m.Message
	if w.configNote != "" {
		msg = strings.TrimSpace(msg + "\n" + w.configNote)
	}
	w.Message.SetText(msg)
	w.renderKeys()
	// Texts and keys change sizes: lay the window out again (it is small; this is cheap).
	if c := w.Win.Content(); c != nil {
		c.Refresh()
	}
}

func (w *Window) renderKeys() {
	keys := w.model.SoftKeys(strings.TrimSpace(w.Number.Text))
	if labels(keys) == labels(w.keys) && len(w.SoftKeys.Objects) == len(keys) {
		return
	}
	w.keys = keys
	w.SoftKeys.RemoveAll()
	for _, k := range keys {
		key := k
		w.SoftKeys.Add(widget.NewButton(key.Label, func() { w.run(key.Action) }))
	}
}

func labels(keys []Key) string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Label)
	}
	return strings.Join(out, " ")
}

// appearanceText is one line of the display: line number, state, party, time, quality.
func appearanceText(line int, c *CallView, party func(string) string, now time.Time) string {
	if c == nil {
		return fmt.Sprintf("%d", line)
	}
	state := map[string]string{"dialing": "Calling", "ringing": "Ringing", "incoming": "Incoming",
		"active": "Talking", "held": "On hold"}[c.State]
	s := fmt.Sprintf("%d  %s  %s", line, state, party(c.Remote))
	if c.State == "active" || c.State == "held" {
		d := now.Sub(c.Since).Truncate(time.Second)
		s += fmt.Sprintf("  %02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
	}
	if q := c.Quality(); q > 0 && c.State == "active" {
		s += "  " + strings.Repeat("▮", q) + strings.Repeat("▯", 4-q)
	}
	if c.SRTP != "" && (c.State == "active" || c.State == "held") {
		s += "  encrypted"
	}
	return s
}

// party is how the window names the far end: its contact name, else its number.
func (w *Window) party(remote string) string {
	number := shortRemote(remote)
	if w.opts.Contacts != nil {
		for _, key := range []string{remote, number} {
			if name := w.opts.Contacts.NameOf(key); name != "" {
				return name + " (" + number + ")"
			}
		}
	}
	return number
}

// VisibleKeys lists the labels of the soft keys shown now.
func (w *Window) VisibleKeys() []string {
	var out []string
	for _, k := range w.keys {
		out = append(out, k.Label)
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
			w.SoftKeys.Objects[i].(*widget.Button).OnTapped()
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
// errors are shown on the display.
func (w *Window) run(a failover.Action) {
	arg := ""
	number := strings.TrimSpace(w.Number.Text)
	focus := w.model.Focus()
	switch a {
	case failover.ActDial:
		arg = number
		if arg == "" {
			arg = w.model.LastDial
		}
		w.model.LastDial = arg
		w.Number.SetText("")
		w.ctl.DialTone(false)
	case failover.ActTransfer:
		arg = number
		w.Number.SetText("")
	case failover.ActAnswer, failover.ActHangup, failover.ActHold, failover.ActResume:
		if focus != nil {
			arg = focus.ID
		}
	}
	w.model.Message = ""
	go func() {
		err := w.ctl.Request(a, arg)
		var r *failover.Refusal
		if err != nil && !errors.As(err, &r) {
			fyne.Do(func() {
				w.model.Message = err.Error()
				w.render()
			})
		}
	}()
	w.render()
}

// key is a dial-pad key: a tone on a talking call when no number is being typed, else a digit.
func (w *Window) key(k string) {
	if c := w.model.Focus(); c != nil && c.State == "active" && w.Number.Text == "" {
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

// enter is the Enter key: dial what was typed (or redial).
func (w *Window) enter() {
	for _, k := range w.model.SoftKeys(strings.TrimSpace(w.Number.Text)) {
		if k.Action == failover.ActDial {
			w.run(failover.ActDial)
			return
		}
	}
	if strings.TrimSpace(w.Number.Text) != "" {
		w.run(failover.ActDial) // not allowed now: the manager says why
	}
}

func (w *Window) numberChanged() {
	if w.Number.Text != "" {
		w.ctl.DialTone(false) // the first digit ends the dial tone
	}
	w.renderKeys()
}

// numberFocus plays the dial tone while the empty number field has the focus and no call is up.
func (w *Window) numberFocus(focused bool) {
	w.ctl.DialTone(focused && w.Number.Text == "" && len(w.model.Calls) == 0 && w.model.Stage == failover.StageNormal)
}

// typedKey handles the keys typed outside the number field: Enter dials, Escape clears, Backspace.
func (w *Window) typedKey(ev *fyne.KeyEvent) {
	switch ev.Name {
	case fyne.KeyReturn, fyne.KeyEnter:
		w.enter()
	case fyne.KeyEscape:
		w.Number.SetText("")
	case fyne.KeyBackspace:
		w.backspace()
	}
}

// typedRune takes dial-pad characters typed outside the number field.
func (w *Window) typedRune(r rune) {
	if strings.ContainsRune("0123456789*#", r) {
		w.key(string(r))
	} else if r == '+' && w.Number.Text == "" {
		w.Number.SetText("+")
	}
}

// showTimeline shows every stage change with its time, server and duration, and can copy it for support.
func (w *Window) showTimeline() {
	text := w.model.TimelineText(w.opts.Now())
	box := widget.NewMultiLineEntry()
	box.SetText(text)
	box.TextStyle = fyne.TextStyle{Monospace: true}
	box.Wrapping = fyne.TextWrapOff
	copyButton := widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), func() {
		w.app.Clipboard().SetContent(text)
	})
	d := dialog.NewCustom("Failover timeline", "Close", container.NewBorder(nil, copyButton, nil, nil, box), w.Win)
	d.Resize(fyne.NewSize(620, 320))
	d.Show()
}

// close is the window's close button: hide to the tray when there is one (the phone keeps taking
// calls), else quit.
func (w *Window) close() {
	if w.tray != nil {
		w.Win.Hide()
		return
	}
	w.Quit()
}

// Quit ends the program, asking first during failover (quitting then keeps the registration on the
// alternate, and the phone may not get back in).
func (w *Window) Quit() {
	switch w.model.Stage {
	case failover.StageTransition, failover.StageAlternate, failover.StageFailback:
		dialog.ShowConfirm("Quit during failover?",
			"The phone is not on its home server. Quitting now keeps its registration where it is;\n"+
				"it will not log off. Quit anyway?",
			func(ok bool) {
				if ok {
					w.opts.OnQuit()
				}
			}, w.Win)
	default:
		w.opts.OnQuit()
	}
}

// Model is what the window shows (for tests).
func (w *Window) Model() *Model { return w.model }

// Render redraws from the model (for tests that change it).
func (w *Window) Render() { w.render() }

// Apply shows one event, as the event loop does (for tests).
func (w *Window) Apply(ev failover.Event) { w.apply(ev) }
