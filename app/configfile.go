package app

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
)

// The configuration file can change under the running phone (edited by hand, provisioned). The window
// never lets a broken file take the phone down: it says what is wrong, naming the line, and the phone runs
// on with the configuration it has. A valid edit is applied when the user says so, not in the middle of a
// call.

// ConfigProblem tells the user the configuration file cannot be used (err names its line) and that the
// phone keeps running with its last good configuration.
func (w *Window) ConfigProblem(err error) {
	w.configNote = "Configuration file not applied: " + err.Error()
	w.render()
	w.hideConfigDialogs()
	w.problemDialog = dialog.NewInformation("Configuration not applied",
		fmt.Sprintf("%v\n\nThe phone keeps running with its last good configuration.\n"+
			"Fix the file (it is read again when saved), or change the settings here.", err), w.Win)
	w.problemDialog.Show()
}

// hideConfigDialogs takes away what the window said about an earlier state of the file.
func (w *Window) hideConfigDialogs() {
	if w.problemDialog != nil {
		w.problemDialog.Hide()
		w.problemDialog = nil
	}
	if w.ConfigDialog != nil {
		w.ConfigDialog.Hide()
		w.ConfigDialog = nil
	}
}

// ConfigChanged offers to apply a valid configuration that was written outside the window. apply
// restarts the phone with it; its error, if any, is shown. Later keeps the offer until the last call ends.
func (w *Window) ConfigChanged(apply func() error) {
	w.configNote = ""
	w.pendingApply = nil
	w.render()
	w.hideConfigDialogs()
	msg := "The configuration file was changed. Apply it now? The phone registers again."
	if n := len(w.model.Calls); n > 0 {
		msg = fmt.Sprintf("The configuration file was changed. Applying it now ends %d call(s) in progress.\n"+
			"Later asks again when the last call ends.", n)
	}
	text := widget.NewLabel(msg)
	text.Wrapping = fyne.TextWrapWord
	w.ConfigDialog = dialog.NewCustomConfirm("Configuration changed", "Apply", "Later", text, func(ok bool) {
		w.ConfigDialog = nil
		if !ok {
			w.pendingApply = apply
			w.configNote = "Configuration file changed: not applied yet."
			w.render()
			return
		}
		if err := apply(); err != nil {
			dialog.ShowError(err, w.Win)
		}
	}, w.Win)
	w.ConfigDialog.Resize(dialogSize(w.Win, fyne.NewSize(460, 180)))
	w.ConfigDialog.Show()
}

// offerPendingConfig asks again about a configuration put off with Later, once no call is left.
func (w *Window) offerPendingConfig() {
	if w.pendingApply != nil && len(w.model.Calls) == 0 {
		w.ConfigChanged(w.pendingApply)
	}
}

// ConfigSettled says the file agrees with the running configuration again (a fix, or the settings'
// own save): the note goes.
func (w *Window) ConfigSettled() {
	w.configNote = ""
	w.pendingApply = nil
	w.hideConfigDialogs()
	w.render()
}
