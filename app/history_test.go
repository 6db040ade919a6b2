package app

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"stayline/history"
)

func historyWindow(t *testing.T, entries ...history.Entry) (*Window, *fakeController, *history.Store) {
	t.Helper()
	store, err := history.Open(filepath.Join(t.TempDir(), "history.json"), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		store.Add(e)
	}
	a := test.NewTempApp(t)
	ctl := &fakeController{asked: make(chan string, 16)}
	w := New(a, ctl, ctl, Options{Extension: "1001", Lines: 3, Now: func() time.Time { return t0 }, History: store})
	t.Cleanup(w.Win.Close)
	return w, ctl, store
}

func TestHistoryListsCallsAndCallsBack(t *testing.T) {
	w, ctl, _ := historyWindow(t,
		history.Entry{Direction: "out", Party: "1002@lab", Start: t0.Add(-time.Hour), Talk: 97 * time.Second, Result: history.Answered, Server: "home"},
		history.Entry{Direction: "in", Party: "1003@lab", Start: t0.Add(-10 * time.Minute), Result: history.Missed, Server: "branch"},
	)
	if w.HistoryBtn == nil {
		t.Fatal("no History button")
	}
	// Redial after a restart: the newest outgoing call of the history.
	show(w, "normal", "home")
	if got := w.VisibleKeys(); len(got) == 0 || got[0] != "Redial" {
		t.Errorf("keys %v, want Redial from the history", got)
	}
	v := w.ShowHistory()
	if n := v.List.Length(); n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
	first := historyLine(v.entries[0], shortRemote, t0)
	if !strings.Contains(first, "← 1003") || !strings.Contains(first, "missed") || !strings.Contains(first, "via branch") {
		t.Errorf("newest row %q", first)
	}
	if second := historyLine(v.entries[1], shortRemote, t0); !strings.Contains(second, "→ 1002") || !strings.Contains(second, "1:37") {
		t.Errorf("older row %q", second)
	}
	if !v.CallBack.Disabled() {
		t.Error("Call back enabled with nothing selected")
	}
	v.List.Select(0)
	test.Tap(v.CallBack)
	if got := <-ctl.asked; got != "dial 1003@lab" {
		t.Fatalf("call back asked %q", got)
	}
}

func TestHistoryClearAsksFirst(t *testing.T) {
	w, _, store := historyWindow(t, history.Entry{Direction: "out", Party: "1002@lab", Start: t0, Result: history.Busy})
	v := w.ShowHistory()
	test.Tap(v.Clear)
	if len(store.Entries()) != 1 {
		t.Fatal("cleared without asking")
	}
	confirm := w.Win.Canvas().Overlays().Top()
	if !strings.Contains(test.RenderObjectToMarkup(confirm), "Clear the call history?") {
		t.Fatal("no confirmation shown")
	}
}
