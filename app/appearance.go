package app

import (
	"fmt"
	"stayline/failover"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// stateWords are the display's words for the call states.
var stateWords = map[failover.CallState]string{failover.CallDialing: "Calling", failover.CallRinging: "Ringing",
	failover.CallEarly: "Ringing", failover.CallIncoming: "Incoming call", failover.CallActive: "Talking",
	failover.CallHeld: "On hold"}

// progressWords replace the state's word while the far end says more than "ringing" (181, 182).
var progressWords = map[string]string{"forwarded": "Forwarded", "queued": "Queued"}

// appearanceText is one line of the display: line number, state, party, time, quality, and marks.
func appearanceText(line int, c *CallView, party func(string) string, now time.Time) string {
	if c == nil {
		return fmt.Sprintf("%d", line)
	}
	state := stateWords[c.State]
	if w, ok := progressWords[c.Progress]; ok && c.State.Alerting() {
		state = w
	}
	s := fmt.Sprintf("%d  %s  %s", line, state, namedParty(party(c.Remote), c.Remote, c.Name))
	if c.State.Talking() && !c.Answered.IsZero() {
		d := now.Sub(c.Answered).Truncate(time.Second)
		s += fmt.Sprintf("  %02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
	}
	if q := c.Quality(); q > 0 && c.State == failover.CallActive {
		s += "  " + strings.Repeat("▮", q) + strings.Repeat("▯", 4-q)
	}
	if c.Conference {
		s += "  conference"
	}
	if c.SRTP != "" && c.State.Talking() {
		s += "  encrypted"
	}
	if c.Preserved {
		s += "  kept through failover"
	}
	return s
}

// appearanceIcon marks a line's state at a glance: ringing, talking, held.
func appearanceIcon(c *CallView) fyne.Resource {
	if c == nil {
		return nil
	}
	switch c.State {
	case failover.CallIncoming, failover.CallRinging, failover.CallEarly, failover.CallDialing:
		return theme.VolumeUpIcon()
	case failover.CallHeld:
		return theme.MediaPauseIcon()
	}
	return theme.MediaRecordIcon()
}

// namedParty adds the far end's own display name to who (the party as the window names it) when no
// contact named it: "Reception (100)".
func namedParty(who, remote, name string) string {
	if number := shortRemote(remote); name == "" || who != number || name == number {
		return who
	}
	return name + " (" + who + ")"
}

// party is how the window names the far end: its contact name, else its number.
func (w *Window) party(remote string) string {
	number := shortRemote(remote)
	if w.opts.Contacts != nil {
		for _, key := range []string{remote, number} {
			if name := w.opts.Contacts.NameOf(key); name != "" {
				return name + " (" + number + ")"
			}
		}
	}
	return number
}
