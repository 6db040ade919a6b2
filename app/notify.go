package app

import (
	"fmt"
	"time"

	"stayline/failover"
)

// Notice is a desktop notification about the phone's service.
type Notice struct {
	Title, Content string
}

// noticeGap is the least time between two notifications of the same kind, and noticeBudget how many
// notifications of any kind may go out within noticeWindow: a flapping server cannot spam the desktop.
const (
	noticeGap    = time.Minute
	noticeBudget = 4
	noticeWindow = 10 * time.Minute
)

// notifier turns stage changes into notices: failover starting, service on an alternate, failback
// starting, normal service back. Changes it must hold back are counted and mentioned in the next one.
type notifier struct {
	last     map[failover.Stage]time.Time
	sent     []time.Time
	held     int
	prev     failover.Stage
	everNorm bool // the phone has been in service on home (so "normal" is a return, not the start)
}

func newNotifier() *notifier { return &notifier{last: map[failover.Stage]time.Time{}} }

// stage returns the notice for a change to st on server (nil: nothing to say, or held back).
func (n *notifier) stage(st failover.Stage, server, prevServer string, now time.Time) *Notice {
	prev := n.prev
	n.prev = st
	var note *Notice
	switch st {
	case failover.StageTransition:
		if prev == failover.StageNormal || prev == failover.StageAlternate || prev == failover.StageFailback {
			note = &Notice{"Stayline: failover", fmt.Sprintf("Lost server %s. Looking for another server; "+
				"new calls are not possible meanwhile. A call in progress stays up.", orDash(prevServer))}
		}
	case failover.StageAlternate:
		if prev == failover.StageTransition || prev == failover.StageNoService {
			note = &Notice{"Stayline: limited service", fmt.Sprintf("Phone service is active on the alternate "+
				"server %s. Some features may not be available.", server)}
		}
	case failover.StageFailback:
		note = &Notice{"Stayline: returning home", "The home server is back; the phone is moving to it."}
	case failover.StageNormal:
		if n.everNorm && prev != failover.StageNormal {
			note = &Notice{"Stayline: normal service", fmt.Sprintf("Normal service is restored on %s.", server)}
		}
		n.everNorm = true
	case failover.StageNoService:
		if prev != failover.StageNoService && n.everNorm {
			note = &Notice{"Stayline: no service", "No server answers. The phone keeps trying."}
		}
	}
	if note == nil {
		return nil
	}
	if !n.allowed(st, now) {
		n.held++
		return nil
	}
	if n.held > 0 {
		note.Content += fmt.Sprintf(" (%d earlier change(s) not shown.)", n.held)
		n.held = 0
	}
	return note
}

func (n *notifier) allowed(st failover.Stage, now time.Time) bool {
	if t, ok := n.last[st]; ok && now.Sub(t) < noticeGap {
		return false
	}
	recent := n.sent[:0]
	for _, t := range n.sent {
		if now.Sub(t) < noticeWindow {
			recent = append(recent, t)
		}
	}
	n.sent = recent
	if len(n.sent) >= noticeBudget {
		return false
	}
	n.last[st] = now
	n.sent = append(n.sent, now)
	return true
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
