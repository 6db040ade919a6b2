package app

import (
	"errors"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"stayline/failover"
)

// Closing, quitting and logging off: the moments a user can lose calls or service by accident. Each asks
// first when something would be lost, says what, and defaults to no.

// close is the window's close button: hide to the tray when a tray host shows the phone (it keeps
// taking calls), else minimise; quit only where neither is possible.
func (w *Window) close() {
	switch {
	case w.tray != nil && w.tray.HostPresent():
		w.Win.Hide()
	case w.opts.Minimise != nil && w.opts.Minimise():
	default:
		w.Quit()
	}
}

// Quit ends the program. With calls up, or during failover, it asks first and says what will happen;
// the question's default is to keep running.
func (w *Window) Quit() {
	if q := w.quitConsequences(); q != "" {
		w.ask("Quit Stayline?", q+"\n\nQuit anyway?", "Quit", w.quitNow)
		return
	}
	w.quitNow()
}

func (w *Window) quitNow() {
	w.Stop()
	w.opts.OnQuit()
}

// quitConsequences says what quitting now would cost ("" : nothing worth asking about).
func (w *Window) quitConsequences() string {
	var parts []string
	if n := len(w.model.Calls); n == 1 {
		parts = append(parts, "Your call will end.")
	} else if n > 1 {
		parts = append(parts, fmt.Sprintf("Your %d calls will end.", n))
	}
	// Whether quitting leaves a registration behind is the gate's answer about log off, not a list of
	// stages kept here; the words say where the phone stands.
	switch m := w.model; {
	case m.LoggedOff || m.can(failover.ActLogoff):
	case m.Stage == failover.StageNoService:
		parts = append(parts, "No server answers now; quitting stops the phone from trying again.")
	case m.Server != "" && m.Stage == failover.StageAlternate:
		parts = append(parts, fmt.Sprintf("The phone is on the alternate server %s: it stays registered there "+
			"(log off is not possible during failover), and calls may go to it until the registration expires.", m.Server))
	default:
		parts = append(parts, "The phone is between servers (failover): it cannot log off now, and until it "+
			"runs again no calls reach you here.")
	}
	return strings.Join(parts, " ")
}

// LogOff asks the manager to log off, after asking the user in normal service; during failover the
// manager refuses it and the display says why.
func (w *Window) LogOff() {
	send := func() {
		w.model.Message = ""
		go func() {
			var r *failover.Refusal
			if err := w.ctl.Request(failover.ActLogoff, ""); err != nil && !errors.As(err, &r) {
				w.Do(func() {
					w.model.Message = actionFailed(failover.ActLogoff, 0, err)
					w.render()
				})
			}
		}()
	}
	if w.ctl.Check(failover.ActLogoff, "") != nil {
		send() // refused: the reason comes back as an event
		return
	}
	q := "The phone unregisters: no calls reach you until you log in again. Emergency numbers still work."
	if n := len(w.model.Calls); n > 0 {
		q = fmt.Sprintf("Your call(s) will end (%d). ", n) + q
	}
	w.ask("Log off?", q, "Log off", send)
}

// ask shows a question whose default answer (Enter, Escape, closing it) is no.
func (w *Window) ask(title, text, yes string, onYes func()) {
	if w.QuitDialog != nil {
		w.QuitDialog.Hide()
	}
	msg := widget.NewLabel(text)
	msg.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomConfirm(title, yes, "Cancel", msg, func(ok bool) {
		w.QuitDialog = nil
		if ok {
			onYes()
		}
	}, w.Win)
	d.SetConfirmImportance(widget.DangerImportance)
	d.Resize(dialogSize(w.Win, fyne.NewSize(WindowSize.Width*0.8, 0)))
	w.QuitDialog = d
	d.Show()
}
