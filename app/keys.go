package app

import (
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"stayline/failover"
)

// typedKey handles the keys typed outside the number field: Enter answers or dials, Escape clears,
// Backspace.
func (w *Window) typedKey(ev *fyne.KeyEvent) {
	if w.QuitDialog != nil { // a question is open: Escape answers no, nothing else acts behind it
		if ev.Name == fyne.KeyEscape {
			w.QuitDialog.Dismiss()
		}
		return
	}
	if top := w.Win.Canvas().Overlays().Top(); top != nil { // a dialog or the Phone list is open
		switch {
		case ev.Name != fyne.KeyEscape:
		case w.ConfigDialog != nil:
			w.ConfigDialog.Dismiss() // Later
		default:
			top.Hide() // Escape closes it, as Close or Cancel would
			w.Win.Canvas().Overlays().Remove(top)
		}
		return
	}
	switch ev.Name {
	case fyne.KeyReturn, fyne.KeyEnter:
		w.enter()
	case fyne.KeyEscape:
		w.clearNumber()
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

// Shortcuts: Ctrl+P the Phone list, Ctrl+Shift+A answer, Ctrl+Shift+D drop (hang up), Ctrl+Shift+H hold
// or resume.
var (
	ShortcutPhone  = &desktop.CustomShortcut{KeyName: fyne.KeyP, Modifier: fyne.KeyModifierShortcutDefault}
	ShortcutAnswer = &desktop.CustomShortcut{KeyName: fyne.KeyA, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift}
	ShortcutDrop   = &desktop.CustomShortcut{KeyName: fyne.KeyD, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift}
	ShortcutHold   = &desktop.CustomShortcut{KeyName: fyne.KeyH, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift}
)

func (w *Window) addShortcuts() {
	c := w.Win.Canvas()
	c.AddShortcut(ShortcutPhone, func(fyne.Shortcut) { w.showPhoneList() })
	c.AddShortcut(ShortcutAnswer, func(fyne.Shortcut) { w.run(failover.ActAnswer) })
	c.AddShortcut(ShortcutDrop, func(fyne.Shortcut) { w.run(failover.ActHangup) })
	c.AddShortcut(ShortcutHold, func(fyne.Shortcut) {
		if f := w.model.Focus(); f != nil && f.State == failover.CallHeld {
			w.run(failover.ActResume)
		} else {
			w.run(failover.ActHold)
		}
	})
}
