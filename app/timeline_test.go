package app

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"stayline/failover"
)

// stageAt is a stage change that happened at.
func stageAt(at time.Time, st failover.Stage, server, reason string) *failover.StageEvent {
	ev := stageEvent(st, server, reason)
	ev.Header.Time = failover.Timestamp(at)
	return ev
}

// timelineWindow is a window that went home -> failover -> branch, 10 s and 83 s before t0.
func timelineWindow(t *testing.T) *Window {
	w, _ := newTestWindow(t)
	w.Apply(stageAt(t0.Add(-95*time.Second), failover.StageNormal, "home", "registered on home"))
	w.Apply(stageAt(t0.Add(-83*time.Second), failover.StageTransition, "",
		"home: no answer to 3 keep-alives over 30 seconds; looking for another server to register on"))
	w.Apply(stageAt(t0.Add(-10*time.Second), failover.StageAlternate, "branch", "registered on branch"))
	return w
}

// labelTexts are the texts of a container's labels, in order, looking into nested containers.
func labelTexts(o fyne.CanvasObject) []string {
	switch o := o.(type) {
	case *widget.Label:
		return []string{o.Text}
	case *fyne.Container:
		var out []string
		for _, c := range o.Objects {
			out = append(out, labelTexts(c)...)
		}
		return out
	}
	return nil
}

func TestTimelineHasColumnHeaders(t *testing.T) {
	v := timelineWindow(t).ShowTimeline()
	got := strings.Join(labelTexts(v.Header), "|")
	if got != "Time|Stage|Server|Duration|Reason" {
		t.Fatalf("headers %q", got)
	}
}

// One row a change; each stage lasts until the next, the last until now; no server is "-".
func TestTimelineRowsLastUntilTheNextChange(t *testing.T) {
	v := timelineWindow(t).ShowTimeline()
	want := [][]string{
		{clockTime(t0.Add(-95*time.Second), t0), "normal", "home", "12s", "registered on home"},
		{clockTime(t0.Add(-83*time.Second), t0), "failover (transition)", "-", "1m 13s",
			"home: no answer to 3 keep-alives over 30 seconds; looking for another server to register on"},
		{clockTime(t0.Add(-10*time.Second), t0), "alternate", "branch", "10s", "registered on branch"},
	}
	if len(v.Rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(v.Rows), len(want))
	}
	for i, row := range v.Rows {
		if got := labelTexts(row); strings.Join(got, "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d: %q, want %q", i, got, want[i])
		}
	}
	if !v.Empty.Hidden {
		t.Error("empty note shown with changes")
	}
}

func TestTimelineEmptySaysSo(t *testing.T) {
	w, _ := newTestWindow(t)
	v := w.ShowTimeline()
	if v.Empty.Hidden || v.Empty.Text != "No stage changes yet" || len(v.Rows) != 0 {
		t.Fatalf("empty timeline: note hidden %v %q, %d rows", v.Empty.Hidden, v.Empty.Text, len(v.Rows))
	}
	if !v.Copy.Disabled() {
		t.Error("Copy enabled with nothing to copy")
	}
}

func TestTimelineCopyPutsTheTextOnTheClipboard(t *testing.T) {
	w := timelineWindow(t)
	v := w.ShowTimeline()
	test.Tap(v.Copy)
	got := w.app.Clipboard().Content()
	if got != w.model.TimelineText(t0) {
		t.Fatalf("clipboard %q", got)
	}
	if !strings.Contains(got, "transition") || !strings.Contains(got, "looking for another server") {
		t.Fatalf("clipboard lacks the changes: %q", got)
	}
}

func TestStageDurationWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		340 * time.Millisecond: "0.3s", 12 * time.Second: "12s", 83 * time.Second: "1m 23s",
		3*time.Hour + 5*time.Minute: "3h 05m", 50 * time.Hour: "2d 02h",
	} {
		if got := stageDuration(d); got != want {
			t.Errorf("%v shown %q, want %q", d, got, want)
		}
	}
}

// The dialog fits in the window, with nothing wider than the dialog, a long reason wrapped, many changes
// scrolling: at the main window's size, and at what is left of it on a 1366x768 screen at FYNE_SCALE=1.5
// (1366x768 pixels are 910x512 units; the window gets about 480 of them in height).
func TestTimelineDialogFitsTheWindow(t *testing.T) {
	for _, size := range []fyne.Size{WindowSize} {
		w := timelineWindow(t)
		for i := 40; i > 0; i-- {
			st := []failover.Stage{failover.StageNoService, failover.StageAlternate}[i%2]
			w.Apply(stageAt(t0.Add(-time.Duration(i)*100*time.Millisecond), st, "a-server-with-a-rather-long-name", "moved"))
		}
		w.Win.Resize(size)
		v := w.ShowTimeline()
		assertFitsCanvas(t, w, v.Content)
		reason := v.Rows[1].Objects[1].(*widget.Label)
		oneLine := widget.NewLabel("x").MinSize().Height
		if reason.Size().Width > v.Content.Size().Width || reason.Size().Height < 1.5*oneLine {
			t.Errorf("%v: the long reason does not wrap in the dialog: %v in %v", size, reason.Size(), v.Content.Size())
		}
	}
}

// assertFitsCanvas fails when content (a dialog's) is not wholly inside the window's canvas, or needs
// more room than it was given (it would be cut).
func assertFitsCanvas(t *testing.T, w *Window, content fyne.CanvasObject) {
	t.Helper()
	canvas := w.Win.Canvas()
	pos := fyne.CurrentApp().Driver().AbsolutePositionForObject(content)
	size, min, c := content.Size(), content.MinSize(), canvas.Size()
	if pos.X < 0 || pos.Y < 0 || pos.X+size.Width > c.Width || pos.Y+size.Height > c.Height {
		t.Errorf("content at %v size %v is outside the window %v", pos, size, c)
	}
	if min.Width > size.Width || min.Height > size.Height {
		t.Errorf("content needs %v, has %v: it is cut", min, size)
	}
}
