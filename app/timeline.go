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
)

// TimelineView is the failover timeline dialog's content. Its fields are exported for tests.
type TimelineView struct {
	Header  *fyne.Container   // the column names
	Rows    []*fyne.Container // one a stage change, oldest first
	Empty   *widget.Label     // "No stage changes yet", shown instead of the rows
	Reach   *widget.Label     // where the phone is reachable (Model.ReachText), hidden when registered nowhere
	Copy    *widget.Button
	Content fyne.CanvasObject
	Dialog  dialog.Dialog
	scroll  *container.Scroll
}

// timelineRow is one stage change in words: the first line's cells (time, stage, server, duration), then
// the reason.
type timelineRow struct {
	cells  [4]string
	reason string
}

// stageWords are the timeline's words for a stage whose name is not plain English; the name follows in
// brackets, as support reads it.
var stageWords = map[failover.Stage]string{failover.StageTransition: "failover", failover.StageNoService: "no service"}

func stageLabel(s failover.Stage) string {
	if words, ok := stageWords[s]; ok {
		return words + " (" + string(s) + ")"
	}
	return string(s)
}

// timelineRows puts the model's timeline in words; each stage lasts until the next change, the last one
// until now.
func timelineRows(entries []TimelineEntry, now time.Time) []timelineRow {
	rows := make([]timelineRow, 0, len(entries))
	for i, e := range entries {
		end := now
		if i+1 < len(entries) {
			end = entries[i+1].At
		}
		server := e.Server
		if server == "" {
			server = "-"
		}
		rows = append(rows, timelineRow{
			cells:  [4]string{clockTime(e.At, now), stageLabel(e.Stage), server, stageDuration(end.Sub(e.At))},
			reason: e.Reason,
		})
	}
	return rows
}

// clockTime is when a change happened: the time of day, with the date when it was not today.
func clockTime(at, now time.Time) string {
	at, now = at.Local(), now.Local()
	if y, m, d := at.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return at.Format("15:04:05")
	}
	return at.Format("Jan 2 15:04:05")
}

// stageDuration is how long a stage lasted, to the tenth of a second while short.
func stageDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// timelineColumns lays out a timeline line's four cells at widths shared by the header and every row,
// so the columns line up. The server column gives way when the dialog is narrow (its cells truncate).
type timelineColumns struct{ widths [4]float32 }

const (
	serverColumn    = 2
	minServerColumn = 48
)

// newTimelineColumns measures the widest cell of each column, the header's included.
func newTimelineColumns(header [4]string, rows []timelineRow) *timelineColumns {
	c := &timelineColumns{}
	pad := 2*theme.InnerPadding() + 1 // and a unit, lest rounding truncate the widest cell
	measure := func(i int, s string, style fyne.TextStyle) {
		c.widths[i] = max(c.widths[i], fyne.MeasureText(s, theme.TextSize(), style).Width+pad)
	}
	for i, h := range header {
		measure(i, h, fyne.TextStyle{Bold: true})
	}
	for _, r := range rows {
		for i, s := range r.cells {
			measure(i, s, fyne.TextStyle{})
		}
	}
	return c
}

// columnWidths are the widths at a line width: the server column shrinks to fit, down to its minimum.
func (c *timelineColumns) columnWidths(width float32) [4]float32 {
	w := c.widths
	if over := c.total() - width; over > 0 {
		w[serverColumn] = max(w[serverColumn]-over, min(w[serverColumn], minServerColumn))
	}
	return w
}

func (c *timelineColumns) total() float32 {
	return c.widths[0] + c.widths[1] + c.widths[2] + c.widths[3]
}

// narrowest is the line's width with the server column shrunk to its minimum.
func (c *timelineColumns) narrowest() float32 {
	return c.total() - c.widths[serverColumn] + min(c.widths[serverColumn], minServerColumn)
}

// Layout is part of fyne.Layout.
func (c *timelineColumns) Layout(objects []fyne.CanvasObject, size fyne.Size) {
	widths := c.columnWidths(size.Width)
	x := float32(0)
	for i, o := range objects {
		o.Move(fyne.NewPos(x, 0))
		o.Resize(fyne.NewSize(widths[i], size.Height))
		x += widths[i]
	}
}

// MinSize is part of fyne.Layout.
func (c *timelineColumns) MinSize(objects []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for _, o := range objects {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(c.narrowest(), h)
}

var timelineHeader = [4]string{"Time", "Stage", "Server", "Duration"}

// timelineLine is a row's first line (or the header's): four cells in the shared columns.
func timelineLine(cols *timelineColumns, cells [4]string, style fyne.TextStyle) *fyne.Container {
	line := container.New(cols)
	for i, text := range cells {
		l := widget.NewLabelWithStyle(text, fyne.TextAlignLeading, style)
		if i == serverColumn {
			l.Truncation = fyne.TextTruncateEllipsis
		}
		line.Add(l)
	}
	return line
}

// timelineRowView is one stage change: its line of cells, its reason under it (wrapped, as wide as the
// dialog), and a separator.
func timelineRowView(cols *timelineColumns, r timelineRow) *fyne.Container {
	reason := widget.NewLabelWithStyle(r.reason, fyne.TextAlignLeading, reasonStyle)
	reason.Wrapping = fyne.TextWrapWord
	if r.reason == "" {
		reason.Hide()
	}
	return tightVBox(timelineLine(cols, r.cells, fyne.TextStyle{}), reason, widget.NewSeparator())
}

// reasonStyle sets the reasons apart from the cells above them.
var reasonStyle = fyne.TextStyle{Italic: true}

// tightVBox stacks a row's lines without the padding between them (the labels have their own).
func tightVBox(objects ...fyne.CanvasObject) *fyne.Container {
	return container.New(layout.NewCustomPaddedVBoxLayout(0), objects...)
}

// showTimeline is the Timeline button.
func (w *Window) showTimeline() { w.ShowTimeline() }

// ShowTimeline opens the failover timeline: every stage change as a table of when, the stage, the server,
// how long it lasted and why. Copy puts the same in plain text (Model.TimelineText) on the clipboard, for
// support.
func (w *Window) ShowTimeline() *TimelineView {
	now := w.opts.Now()
	text := w.model.TimelineText(now)
	v := newTimelineView(timelineRows(w.model.Timeline, now))
	if reach := w.model.ReachText(); reach != "" {
		v.Reach.SetText(reach)
		v.Reach.Show()
		text += "\n" + reach + "\n"
	}
	v.Copy.OnTapped = func() { w.app.Clipboard().SetContent(text) }
	v.Dialog = dialog.NewCustom("Failover timeline", "Close", v.Content, w.Win)
	v.Dialog.Resize(dialogSize(w.Win, fyne.NewSize(560, 600)))
	v.Dialog.Show()
	v.scroll.ScrollToBottom() // the latest change first in view
	return v
}

// newTimelineView lays the rows out under their header, scrolling; with no rows it says so.
func newTimelineView(rows []timelineRow) *TimelineView {
	cols := newTimelineColumns(timelineHeader, rows)
	bold := fyne.TextStyle{Bold: true}
	reasonHeader := widget.NewLabelWithStyle("Reason", fyne.TextAlignLeading, fyne.TextStyle{Bold: true, Italic: true})
	v := &TimelineView{Empty: widget.NewLabel("No stage changes yet"),
		Header: tightVBox(timelineLine(cols, timelineHeader, bold), reasonHeader, widget.NewSeparator()),
		Copy:   widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), nil), Reach: widget.NewLabel("")}
	v.Reach.Wrapping = fyne.TextWrapWord
	v.Reach.Hide()
	list := container.NewVBox()
	for _, r := range rows {
		row := timelineRowView(cols, r)
		v.Rows = append(v.Rows, row)
		list.Add(row)
	}
	v.scroll = container.NewVScroll(list)
	var body fyne.CanvasObject = container.NewBorder(v.Header, nil, nil, nil, v.scroll)
	if len(rows) == 0 {
		v.Copy.Disable()
		body = v.Empty
	} else {
		v.Empty.Hide()
	}
	v.Content = container.NewBorder(nil, container.NewVBox(v.Reach, container.NewHBox(v.Copy, layout.NewSpacer())), nil, nil, body)
	return v
}
