package app

import (
	"strings"
	"testing"
	"time"

	"stayline/failover"
)

// The phone's own network changed: the display says so in words, and the stage stays what it was.
func TestModelSaysTheNetworkChanged(t *testing.T) {
	m := NewModel()
	m.Apply(&failover.StageEvent{Stage: failover.StageNormal, Server: "home"}, time.Now())
	m.Apply(&failover.NetworkEvent{Detail: failover.NetworkChangedDetail, Reason: "address 192.168.1.20 removed from wlan0",
		Servers: []string{"home"}}, time.Now())
	if !strings.Contains(m.Message, "Network changed: re-registering") || !strings.Contains(m.Message, "192.168.1.20 removed") {
		t.Errorf("message %q", m.Message)
	}
	if m.Stage != failover.StageNormal || m.Server != "home" {
		t.Errorf("stage %s on %s after a network change, want normal on home", m.Stage, m.Server)
	}
}
