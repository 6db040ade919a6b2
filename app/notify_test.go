package app

import (
	"strings"
	"testing"
	"time"

	"stayline/failover"
)

var n0 = time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)

// The notices say where the phone landed: kill home, kill the alternate, bring both back -> failover,
// no service, the alternate, normal service; the passing stages say nothing.
func TestNoticesSayWhereThePhoneLanded(t *testing.T) {
	n := newNotifier()
	steps := []struct {
		st     failover.Stage
		server string
		title  string // "" for no notice
		words  string
	}{
		{failover.StageTransition, "", "", ""},
		{failover.StageNormal, "home", "", ""}, // the start is not news
		{failover.StageTransition, "", "", ""},
		{failover.StageAlternate, "branch", "Stayline: failover", "Server home was lost. Phone service is on the alternate server branch"},
		{failover.StageTransition, "", "", ""},
		{failover.StageNoService, "", "Stayline: no service", "No server answers"},
		{failover.StageAlternate, "branch", "Stayline: limited service", "active on the alternate server branch"},
		{failover.StageFailback, "branch", "", ""},
		{failover.StageNormal, "home", "Stayline: normal service", "restored on home"},
	}
	for i, s := range steps {
		note := n.stage(s.st, s.server, false, n0.Add(time.Duration(i)*time.Second))
		switch {
		case s.title == "" && note != nil:
			t.Fatalf("step %d (%s): announced %+v", i, s.st, note)
		case s.title != "" && (note == nil || note.Title != s.title || !strings.Contains(note.Content, s.words)):
			t.Fatalf("step %d (%s): %+v, want %q with %q", i, s.st, note, s.title, s.words)
		}
	}
}

// A failover that happens within a minute of the last one is still announced once the minute is over,
// and a log off and log in are not news.
func TestRepeatsWaitForTheirGapAndAreNotLost(t *testing.T) {
	n := newNotifier()
	n.stage(failover.StageNormal, "home", false, n0)
	if n.stage(failover.StageAlternate, "branch", false, n0.Add(time.Second)) == nil {
		t.Fatal("first failover not announced")
	}
	if n.stage(failover.StageNormal, "home", false, n0.Add(20*time.Second)) == nil {
		t.Fatal("first return not announced")
	}
	if note := n.stage(failover.StageAlternate, "branch", false, n0.Add(30*time.Second)); note != nil {
		t.Fatalf("second failover within the gap sent at once: %+v", note)
	}
	if note := n.due(n0.Add(50 * time.Second)); note != nil {
		t.Fatalf("sent before its gap: %+v", note)
	}
	note := n.due(n0.Add(61 * time.Second))
	if note == nil || note.Title != "Stayline: failover" {
		t.Fatalf("held failover never sent: %+v", note)
	}
	if n.due(n0.Add(200*time.Second)) != nil {
		t.Fatal("sent twice")
	}
	n.stage(failover.StageNormal, "home", false, n0.Add(300*time.Second))
	if note := n.stage(failover.StageNoService, "", true, n0.Add(400*time.Second)); note != nil {
		t.Fatalf("log off announced: %+v", note)
	}
	if note := n.stage(failover.StageNormal, "home", false, n0.Add(410*time.Second)); note != nil {
		t.Fatalf("log in announced: %+v", note)
	}
}

// A home server that flaps every few seconds gets about one notice of each kind a minute, and the last
// one told matches where the phone ended.
func TestFlappingIsRateLimitedAndEndsTrue(t *testing.T) {
	n := newNotifier()
	n.stage(failover.StageNormal, "home", false, n0)
	var sent []*Notice
	now := n0
	for i := 0; i < 40; i++ { // 40 flaps, 5 s apart: 200 s
		now = now.Add(5 * time.Second)
		for _, st := range []failover.Stage{failover.StageTransition, failover.StageAlternate, failover.StageFailback, failover.StageNormal} {
			server := map[failover.Stage]string{failover.StageAlternate: "branch", failover.StageFailback: "branch", failover.StageNormal: "home"}[st]
			if note := n.stage(st, server, false, now); note != nil {
				sent = append(sent, note)
			}
		}
		if note := n.due(now); note != nil {
			sent = append(sent, note)
		}
	}
	if len(sent) > 2*4+2 {
		t.Fatalf("%d notices in %s of flapping", len(sent), now.Sub(n0))
	}
	for now = now.Add(time.Second); now.Before(n0.Add(10 * time.Minute)); now = now.Add(time.Second) {
		if note := n.due(now); note != nil {
			sent = append(sent, note)
		}
	}
	if last := sent[len(sent)-1]; last.Title != "Stayline: normal service" || !strings.Contains(last.Content, "not shown") {
		t.Fatalf("last notice %+v: the phone ended on home", last)
	}
}
