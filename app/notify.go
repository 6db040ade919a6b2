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

// noticeKind is what a notice announces: where the phone has landed. Transition and failback are
// passing states and are not announced (docs/ARCHITECTURE.md, "Notifications").
type noticeKind int

const (
	kindNone      noticeKind = iota
	kindFailover             // service lost on its server, now on an alternate
	kindAlternate            // service back, on an alternate (after no service, or at start)
	kindNoService            // no server answers
	kindNormal               // back on the home server
)

// noticeGap is the least time between two notices of one kind: a flapping server cannot spam the
// desktop. A notice held back by it is not lost: it goes out once the gap has passed, if the phone is
// still where it said, with the number of changes in between.
const noticeGap = time.Minute

// notifier turns stage changes into notices.
type notifier struct {
	last    map[noticeKind]time.Time // when each kind was last sent
	landed  failover.Stage           // the last stage the phone settled in (normal, alternate, noservice)
	server  string                   // ... and its server
	started bool                     // the phone has settled once (the first settling is not news, unless it is bad)
	userOff bool                     // the phone is in noservice because the user logged off
	pending *pendingNotice
	between int // changes not announced since the last notice
}

type pendingNotice struct {
	kind noticeKind
	note Notice
}

func newNotifier() *notifier { return &notifier{last: map[noticeKind]time.Time{}} }

// stage returns the notice for a change to st on server (nil: nothing to say now). loggedOff marks the
// user's own log off, which is not news.
func (n *notifier) stage(st failover.Stage, server string, loggedOff bool, now time.Time) *Notice {
	if st != failover.StageNormal && st != failover.StageAlternate && st != failover.StageNoService {
		return nil
	}
	if st == n.landed && server == n.server && n.started {
		return nil
	}
	kind, note := n.describe(st, server, loggedOff)
	n.landed, n.server, n.started, n.userOff = st, server, true, loggedOff
	if kind == kindNone {
		return nil
	}
	if t, ok := n.last[kind]; ok && now.Sub(t) < noticeGap {
		n.between++
		n.pending = &pendingNotice{kind, note}
		return nil
	}
	n.pending = nil
	return n.send(kind, note, now)
}

// due returns a held-back notice whose gap has passed (nil: none). The window asks every second.
func (n *notifier) due(now time.Time) *Notice {
	p := n.pending
	if p == nil || now.Sub(n.last[p.kind]) < noticeGap {
		return nil
	}
	n.pending = nil
	n.between-- // the held notice itself is one of the changes
	return n.send(p.kind, p.note, now)
}

func (n *notifier) send(kind noticeKind, note Notice, now time.Time) *Notice {
	if n.between > 0 {
		note.Content += fmt.Sprintf(" (%d earlier change(s) not shown.)", n.between)
	}
	n.between = 0
	n.last[kind] = now
	return &note
}

// describe words a landing in st on server, from where the phone was before.
func (n *notifier) describe(st failover.Stage, server string, loggedOff bool) (noticeKind, Notice) {
	switch st {
	case failover.StageAlternate:
		if n.landed == failover.StageNormal || (n.landed == failover.StageAlternate && n.started) {
			return kindFailover, Notice{"Stayline: failover", fmt.Sprintf("Server %s was lost. Phone service is on "+
				"the alternate server %s; some features may not be available.", orDash(n.server), server)}
		}
		return kindAlternate, Notice{"Stayline: limited service", fmt.Sprintf("Phone service is active on the "+
			"alternate server %s. Some features may not be available.", server)}
	case failover.StageNoService:
		if loggedOff {
			return kindNone, Notice{}
		}
		return kindNoService, Notice{"Stayline: no service", "No server answers. The phone keeps trying; " +
			"emergency calls are still tried."}
	case failover.StageNormal:
		if !n.started || n.userOff {
			return kindNone, Notice{} // the phone's start, or a log in
		}
		return kindNormal, Notice{"Stayline: normal service", fmt.Sprintf("Normal service is restored on %s.", server)}
	}
	return kindNone, Notice{}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
