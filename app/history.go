package app

import (
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"stayline/failover"
	"stayline/history"
)

// HistoryStore is the call history the window shows; *history.Store implements it.
type HistoryStore interface {
	Entries() []history.Entry
	LastDialled() string
	Clear() error
}

// HistoryView is the call history dialog's content. Its fields are exported for tests.
type HistoryView struct {
	List     *widget.List
	CallBack *widget.Button
	Clear    *widget.Button
	entries  []history.Entry
	selected int
}

// historyLine is one entry as the list shows it: direction, party, when, talk time or result, server.
func historyLine(e history.Entry, party func(string) string, now time.Time) string {
	arrow := "→" // out
	if e.Direction == "in" {
		arrow = "←"
	}
	when := e.Start.Local().Format("Jan 2 15:04")
	if y, m, d := e.Start.Local().Date(); y == now.Local().Year() && m == now.Local().Month() && d == now.Local().Day() {
		when = e.Start.Local().Format("15:04")
	}
	what := e.Result
	if e.Result == history.Answered {
		what = fmt.Sprintf("%d:%02d", int(e.Talk.Minutes()), int(e.Talk.Seconds())%60)
	}
	line := fmt.Sprintf("%s %s   %s   %s", arrow, party(e.Party), when, what)
	if e.Server != "" {
		line += "   via " + e.Server
	}
	return line
}

// ShowHistory opens the call history: newest first, Call back dials the selected entry's party.
func (w *Window) ShowHistory() *HistoryView {
	h := w.opts.History
	v := &HistoryView{entries: h.Entries(), selected: -1}
	now := w.opts.Now()
	v.List = widget.NewList(func() int { return len(v.entries) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(i widget.ListItemID, o fyne.CanvasObject) {
			o.(*widget.Label).SetText(historyLine(v.entries[i], w.party, now))
		})
	var d dialog.Dialog
	v.CallBack = widget.NewButtonWithIcon("Call back", theme.MailReplyIcon(), func() {
		if v.selected < 0 || v.selected >= len(v.entries) {
			return
		}
		d.Hide()
		w.dial(v.entries[v.selected].Party)
	})
	v.CallBack.Disable()
	v.List.OnSelected = func(i widget.ListItemID) { v.selected = i; v.CallBack.Enable() }
	v.Clear = widget.NewButtonWithIcon("Clear", theme.DeleteIcon(), func() {
		dialog.ShowConfirm("Clear the call history?", "Every call is removed from this phone's history.", func(ok bool) {
			if !ok {
				return
			}
			if err := h.Clear(); err != nil {
				dialog.ShowError(err, w.Win)
				return
			}
			v.entries, v.selected = nil, -1
			v.CallBack.Disable()
			v.List.Refresh()
		}, w.Win)
	})
	empty := widget.NewLabel("")
	if len(v.entries) == 0 {
		empty.SetText("No calls yet.")
	}
	content := container.NewBorder(empty, container.NewHBox(v.Clear, layout.NewSpacer(), v.CallBack), nil, nil, v.List)
	d = dialog.NewCustom("Call history", "Close", content, w.Win)
	d.Resize(dialogSize(w.Win, fyne.NewSize(560, 420)))
	d.Show()
	return v
}

// Dial calls number now, as if typed and Dial pressed (a link clicked elsewhere comes here).
func (w *Window) Dial(number string) { w.dial(number) }

// dial calls number now, as if typed and Dial pressed.
func (w *Window) dial(number string) {
	w.Number.SetText(number)
	w.run(failover.ActDial)
}
