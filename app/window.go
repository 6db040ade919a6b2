// Package app is Stayline's desk-phone window: a status line (extension, server in use, failover marker,
// clock), a message line, soft keys chosen from what the failover manager allows now, a Phone button that
// lists every possible action, and a dial entry. It is a front end: every action goes to the manager.
//
// The window is built on a fyne.App handed in (main makes it), so tests run on fyne's test app with no
// display.
package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"stayline/assets"
	"stayline/config"
	"stayline/failover"
)

// Controller is what the window asks of the failover manager; *failover.Manager implements it.
type Controller interface {
	Subscribe() *failover.Subscription
	Request(a failover.Action, arg string) error
}

// Icon is the application icon as a Fyne resource.
var Icon = fyne.NewStaticResource("stayline.png", assets.IconPNG)

// Window is the desk phone. Its widgets are exported so tests can tap them by name.
type Window struct {
	Win  fyne.Window
	ctl  Controller
	cfg  *config.Config
	now  func() time.Time
	keys map[failover.Action]*widget.Button

	Extension *widget.Label // display name and extension
	Server    *widget.Label // the server in use
	Failover  *widget.Label // the failover marker, empty on home
	Clock     *widget.Label
	Message   *widget.Label // "Acquiring service...", refusals and their reasons
	SoftKeys  *fyne.Container
	Phone     *widget.Button // lists every action possible now
	Number    *widget.Entry

	stage     failover.Stage
	available []failover.Action
}

// keyOrder is the order of the soft keys under the display; dtmf and logoff have no soft key (logoff is in
// the Phone list, as on a desk phone).
var keyOrder = []failover.Action{failover.ActDial, failover.ActAnswer, failover.ActHangup, failover.ActHold,
	failover.ActResume, failover.ActTransfer, failover.ActConference, failover.ActFailback, failover.ActLogin}

var actionLabels = map[failover.Action]string{
	failover.ActDial: "Dial", failover.ActAnswer: "Answer", failover.ActHangup: "Drop",
	failover.ActHold: "Hold", failover.ActResume: "Resume", failover.ActDTMF: "Tones",
	failover.ActTransfer: "Transfer", failover.ActConference: "Conf", failover.ActLogoff: "Log off",
	failover.ActLogin: "Log in", failover.ActFailback: "Failback",
}

// stageMessages is what the display says in each stage (the seed's wording where it has one).
var stageMessages = map[failover.Stage]string{
	failover.StageNormal:     "",
	failover.StageTransition: "Acquiring service...",
	failover.StageAlternate:  "Limited phone service",
	failover.StageFailback:   "Returning to the home server...",
	failover.StageNoService:  "No service",
}

// stageMarkers is the failover marker of the status line, shown whenever the phone is not on home.
var stageMarkers = map[failover.Stage]string{
	failover.StageNormal:     "",
	failover.StageTransition: "⇄ acquiring",
	failover.StageAlternate:  "⚠ failover",
	failover.StageFailback:   "↩ failback",
	failover.StageNoService:  "✕ no service",
}

// New builds the window for ctl on a.
func New(a fyne.App, ctl Controller, cfg *config.Config) *Window {
	w := &Window{
		Win:       a.NewWindow("Stayline"),
		ctl:       ctl,
		cfg:       cfg,
		now:       time.Now,
		keys:      map[failover.Action]*widget.Button{},
		Extension: widget.NewLabel(extensionText(cfg)),
		Server:    widget.NewLabel(""),
		Failover:  widget.NewLabel(""),
		Clock:     widget.NewLabel(""),
		Message:   widget.NewLabel(""),
		Number:    widget.NewEntry(),
	}
	w.Win.SetIcon(Icon)
	w.Message.Wrapping = fyne.TextWrapWord
	w.Number.SetPlaceHolder("Number or SIP address")
	w.Number.OnSubmitted = func(string) { w.run(failover.ActDial) }
	for _, a := range keyOrder {
		w.keys[a] = widget.NewButton(actionLabels[a], func() { w.run(a) })
	}
	w.SoftKeys = container.NewHBox()
	w.Phone = widget.NewButton("Phone", w.showPhoneMenu)
	w.tick()

	status := container.NewHBox(w.Extension, widget.NewSeparator(), w.Server, w.Failover, layout.NewSpacer(), w.Clock)
	display := container.NewVBox(w.Message)
	w.Win.SetContent(container.NewVBox(status, widget.NewSeparator(), display, w.SoftKeys,
		widget.NewSeparator(), container.NewBorder(nil, nil, nil, w.Phone, w.Number)))
	w.Win.Resize(fyne.NewSize(520, 260))
	w.apply(&failover.StageEvent{Stage: failover.StageTransition})
	return w
}

func extensionText(cfg *config.Config) string {
	if cfg.Account.DisplayName != "" {
		return cfg.Account.DisplayName + " · " + cfg.Account.User
	}
	return cfg.Account.User
}

// Start follows the manager's events and the clock until ctx ends.
func (w *Window) Start(ctx context.Context) {
	sub := w.ctl.Subscribe()
	go func() {
		defer sub.Close()
		for {
			select {
			case ev, ok := <-sub.C:
				if !ok {
					return
				}
				fyne.Do(func() { w.apply(ev) })
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fyne.Do(w.tick)
			case <-ctx.Done():
				return
			}
		}
	}()
}

func (w *Window) tick() { w.Clock.SetText(w.now().Format("15:04")) }

// apply shows one event. It runs on Fyne's goroutine.
func (w *Window) apply(ev failover.Event) {
	switch e := ev.(type) {
	case *failover.StageEvent:
		w.stage = e.Stage
		w.Server.SetText(e.Server)
		w.Failover.SetText(stageMarkers[e.Stage])
		msg := stageMessages[e.Stage]
		if e.Stage == failover.StageNoService && e.Reason == "logged off" {
			msg = "Logged off"
		}
		w.Message.SetText(msg)
	case *failover.ActionsEvent:
		w.available = e.Available
		w.layoutKeys()
	case *failover.RefusedEvent:
		w.Message.SetText(e.Reason)
	case *failover.ErrorEvent:
		w.Message.SetText(e.Reason)
	}
}

// layoutKeys shows exactly the soft keys the manager allows now.
func (w *Window) layoutKeys() {
	w.SoftKeys.RemoveAll()
	for _, a := range keyOrder {
		if w.allowed(a) {
			w.SoftKeys.Add(w.keys[a])
		}
	}
	w.SoftKeys.Refresh()
}

func (w *Window) allowed(a failover.Action) bool {
	for _, b := range w.available {
		if a == b {
			return true
		}
	}
	return false
}

// VisibleKeys lists the labels of the soft keys shown now.
func (w *Window) VisibleKeys() []string {
	var out []string
	for _, o := range w.SoftKeys.Objects {
		out = append(out, o.(*widget.Button).Text)
	}
	return out
}

// PhoneItems lists the Phone button's entries now: every action possible.
func (w *Window) PhoneItems() []string {
	var out []string
	for _, a := range w.available {
		out = append(out, actionLabels[a])
	}
	return out
}

func (w *Window) showPhoneMenu() {
	var items []*fyne.MenuItem
	for _, a := range w.available {
		items = append(items, fyne.NewMenuItem(actionLabels[a], func() { w.run(a) }))
	}
	if len(items) == 0 {
		items = append(items, fyne.NewMenuItem(stageMessages[w.stage]+" — nothing can be done now", nil))
	}
	widget.ShowPopUpMenuAtRelativePosition(fyne.NewMenu("Phone", items...), w.Win.Canvas(),
		fyne.NewPos(0, w.Phone.Size().Height), w.Phone)
}

// run sends an action to the manager. A refusal comes back as an event; other errors are shown here.
func (w *Window) run(a failover.Action) {
	target := strings.TrimSpace(w.Number.Text)
	arg := ""
	if a == failover.ActDial {
		arg = target
	}
	go func() {
		err := w.ctl.Request(a, arg)
		var r *failover.Refusal
		if err != nil && !errors.As(err, &r) {
			fyne.Do(func() { w.Message.SetText(fmt.Sprint(err)) })
		}
	}()
}
