package app

import (
	"strings"

	"stayline/failover"
)

// Where the phone is reachable (docs/ARCHITECTURE.md, "NAT"): each registration's Contact and the public
// media address, as the status gives them. The failover timeline shows them under its rows, and its Copy
// puts them in the text for support: "registered but calls never arrive" starts there.

// reachLines words where each server the phone is registered on reaches it:
// "home: sip:1001@203.0.113.5:40000, media 203.0.113.5".
func reachLines(regs []failover.RegistrationStatus) []string {
	var out []string
	for _, r := range regs {
		if !r.Registered || r.Contact == "" {
			continue
		}
		line := r.Server + ": " + r.Contact
		if r.MediaAddress != "" {
			line += ", media " + r.MediaAddress
		}
		out = append(out, line)
	}
	return out
}

// ReachText is where the phone is reachable, a line a registration ("" when registered nowhere).
func (m *Model) ReachText() string {
	if len(m.Reach) == 0 {
		return ""
	}
	return "Reachable at\n" + strings.Join(m.Reach, "\n")
}
