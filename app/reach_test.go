package app

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"stayline/failover"
)

// natStatus is a status in which home has registered the phone at its public address behind a NAT, and
// branch is not registered.
func natStatus() failover.StatusEvent {
	return failover.StatusEvent{Registrations: []failover.RegistrationStatus{
		{Server: "home", Registered: true, Active: true, Contact: "sip:1001@203.0.113.5:40000", MediaAddress: "203.0.113.5"},
		{Server: "branch", Registered: false, Contact: ""},
	}}
}

// The timeline shows where the phone is reachable (each registration's contact, the public media
// address), and Copy takes it along for support.
func TestTimelineShowsWhereThePhoneIsReachable(t *testing.T) {
	w := timelineWindow(t)
	w.tick(natStatus()) // the once-a-second status
	v := w.ShowTimeline()
	if v.Reach.Hidden {
		t.Fatal("reachable address hidden while registered")
	}
	want := "Reachable at\nhome: sip:1001@203.0.113.5:40000, media 203.0.113.5"
	if v.Reach.Text != want {
		t.Fatalf("reach %q, want %q", v.Reach.Text, want)
	}
	assertFitsCanvas(t, w, v.Content)
	test.Tap(v.Copy)
	if got := w.app.Clipboard().Content(); !strings.HasSuffix(got, want+"\n") || !strings.Contains(got, "registered on branch") {
		t.Fatalf("clipboard %q lacks the timeline or where the phone is reachable", got)
	}
}

// Registered nowhere: nothing to show, and no empty heading.
func TestTimelineHidesReachWhenNotRegistered(t *testing.T) {
	w := timelineWindow(t)
	st := natStatus()
	st.Registrations[0].Registered = false
	w.tick(st)
	if v := w.ShowTimeline(); !v.Reach.Hidden || v.Reach.Text != "" {
		t.Fatalf("reach shown while registered nowhere: %q", v.Reach.Text)
	}
	if lines := reachLines(natStatus().Registrations); len(lines) != 1 {
		t.Fatalf("reach lines %q, want home's only", lines)
	}
	st = natStatus()
	st.Registrations[0].MediaAddress = ""
	if lines := reachLines(st.Registrations); len(lines) != 1 || lines[0] != "home: sip:1001@203.0.113.5:40000" {
		t.Fatalf("without a public media address: %q", lines)
	}
}
