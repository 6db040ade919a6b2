package app

import (
	"strings"
	"testing"
	"time"

	"stayline/failover"
)

// The far end's display name (the call event's display_name) shows beside its number, unless a contact
// names the party; a name that is only the number is not repeated.
func TestAppearanceShowsTheCallersName(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	m := NewModel()
	m.Apply(&failover.CallEvent{ID: "1", State: failover.CallIncoming, Remote: "100@pbx", DisplayName: "Reception"}, now)
	if got := appearanceText(1, m.Calls["1"], shortRemote, now); !strings.HasPrefix(got, "1  Incoming call  Reception (100)") {
		t.Errorf("line %q, want the caller's name and number", got)
	}
	contact := func(string) string { return "Front desk (100)" }
	if got := appearanceText(1, m.Calls["1"], contact, now); !strings.Contains(got, "  Front desk (100)") || strings.Contains(got, "Reception") {
		t.Errorf("line %q, want the contact's name only", got)
	}
	m.Apply(&failover.CallEvent{ID: "2", State: failover.CallIncoming, Remote: "+15551234", DisplayName: "+15551234"}, now)
	if got := appearanceText(2, m.Calls["2"], shortRemote, now); !strings.HasPrefix(got, "2  Incoming call  +15551234") || strings.Contains(got, "(") {
		t.Errorf("line %q, want the number once", got)
	}
}
