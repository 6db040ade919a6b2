package failover

import (
	"encoding/json"
	"strings"
	"testing"

	"stayline/phone"
)

// The far end's display name reaches the call event, and its JSON as display_name (absent when none).
func TestCallEventCarriesTheDisplayName(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	h.agent.events <- phone.Event{Kind: phone.EventCall, Call: phone.CallInfo{ID: "1", State: phone.CallIncoming,
		Remote: "100@pbx", Name: "Reception", Server: 0}}
	h.callState("2", phone.CallIncoming)
	var named, plain []byte
	for _, ev := range of[*CallEvent](h) {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		switch ev.ID {
		case "1":
			named = b
		case "2":
			plain = b
		}
	}
	if !strings.Contains(string(named), `"display_name":"Reception"`) {
		t.Errorf("call event %s lacks the display name", named)
	}
	if plain == nil || strings.Contains(string(plain), "display_name") {
		t.Errorf("call event %s of a call without a name", plain)
	}
}
