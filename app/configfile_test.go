package app

import (
	"errors"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"stayline/failover"
)

// overlayText is the markup of the topmost overlay (a dialog), "" when none is shown.
func overlayText(w *Window) string {
	top := w.Win.Canvas().Overlays().Top()
	if top == nil {
		return ""
	}
	return test.RenderObjectToMarkup(top)
}

func TestBrokenConfigurationIsShownAndTheRunningOneKept(t *testing.T) {
	w, _ := newTestWindow(t)
	show(w, failover.StageNormal, "home")
	w.ConfigProblem(errors.New("/home/u/.config/stayline/phone.toml:6: server[0].transport: \"carrier-pigeon\" is not udp, tcp or tls"))
	if !strings.Contains(w.Message.Text, "phone.toml:6: server[0].transport") {
		t.Errorf("message line %q does not name the line", w.Message.Text)
	}
	dlg := overlayText(w)
	if !strings.Contains(dlg, "phone.toml:6") || !strings.Contains(dlg, "last good configuration") {
		t.Errorf("dialog does not name the line and say the phone runs on:\n%s", dlg)
	}
	if w.Server.Text == "" || w.model.Stage != failover.StageNormal {
		t.Error("the phone's display was disturbed by a bad configuration file")
	}
	w.ConfigSettled()
	if strings.Contains(w.Message.Text, "phone.toml") {
		t.Errorf("the note stayed after the file was fixed: %q", w.Message.Text)
	}
	if d := overlayText(w); d != "" {
		t.Errorf("the dialog about the broken file stayed after it was fixed:\n%s", d)
	}
}

func TestChangedConfigurationIsAppliedWhenTheUserSays(t *testing.T) {
	w, _ := newTestWindow(t)
	show(w, failover.StageNormal, "home")
	applied := 0
	apply := func() error { applied++; return nil }

	w.ConfigProblem(errors.New("phone.toml:3: bogus: unknown key"))
	w.ConfigChanged(apply)
	if n := len(w.Win.Canvas().Overlays().List()); n != 1 {
		t.Errorf("%d dialogs shown, want only the offer (the broken file's dialog is out of date)", n)
	}
	if w.ConfigDialog == nil || !strings.Contains(overlayText(w), "Apply it now?") {
		t.Fatalf("no offer to apply the changed file:\n%s", overlayText(w))
	}
	w.ConfigDialog.Confirm()
	if applied != 1 {
		t.Fatalf("applied %d times after Apply, want 1", applied)
	}
}

func TestChangedConfigurationWaitsForTheCallsWhenPutOff(t *testing.T) {
	w, _ := newTestWindow(t)
	show(w, failover.StageNormal, "home", CallView{ID: "c1", State: "active", Remote: "sip:1002@lab"})
	applied := 0
	w.ConfigChanged(func() error { applied++; return nil })
	if d := overlayText(w); !strings.Contains(d, "ends 1") || !strings.Contains(d, "call(s) in progress") {
		t.Fatalf("the offer does not warn of the call in progress:\n%s", overlayText(w))
	}
	w.ConfigDialog.Dismiss() // Later
	if applied != 0 || !strings.Contains(w.Message.Text, "not applied yet") {
		t.Fatalf("after Later: applied %d, message %q", applied, w.Message.Text)
	}
	w.Apply(&failover.CallEvent{ID: "c1", State: "ended", Remote: "sip:1002@lab", Reason: "hung up"})
	if w.ConfigDialog == nil {
		t.Fatal("not asked again when the last call ended")
	}
	w.ConfigDialog.Confirm()
	if applied != 1 {
		t.Fatalf("applied %d times, want 1", applied)
	}
	if strings.Contains(w.Message.Text, "not applied yet") {
		t.Errorf("note left after applying: %q", w.Message.Text)
	}
}
