package app

import (
	"strings"
	"testing"
	"time"

	"stayline/failover"
)

func TestNoticesForTheFourChanges(t *testing.T) {
	n := newNotifier()
	t0 := time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)
	if note := n.stage(failover.StageTransition, "", "", t0); note != nil {
		t.Fatalf("startup announced: %+v", note)
	}
	if note := n.stage(failover.StageNormal, "home", "", t0); note != nil {
		t.Fatalf("registering at start announced: %+v", note)
	}
	want := []struct {
		st      failover.Stage
		server  string
		title   string
		content string
	}{
		{failover.StageTransition, "", "Stayline: failover", "Lost server home"},
		{failover.StageAlternate, "branch", "Stayline: limited service", "alternate server branch"},
		{failover.StageFailback, "branch", "Stayline: returning home", "home server is back"},
		{failover.StageNormal, "home", "Stayline: normal service", "restored on home"},
	}
	prev := "home"
	for i, w := range want {
		note := n.stage(w.st, w.server, prev, t0.Add(time.Duration(i+1)*time.Minute))
		if note == nil || note.Title != w.title || !strings.Contains(note.Content, w.content) {
			t.Fatalf("%s: %+v", w.st, note)
		}
		prev = w.server
	}
}

// A home server that flaps every few seconds gets a few notices, then silence, then a summary.
func TestFlappingIsRateLimited(t *testing.T) {
	n := newNotifier()
	t0 := time.Date(2026, 11, 24, 21, 0, 0, 0, time.UTC)
	n.stage(failover.StageNormal, "home", "", t0)
	sent := 0
	now := t0
	for i := 0; i < 40; i++ { // 40 flaps, 5 s apart
		now = now.Add(5 * time.Second)
		for _, st := range []failover.Stage{failover.StageTransition, failover.StageAlternate, failover.StageFailback, failover.StageNormal} {
			if n.stage(st, "x", "y", now) != nil {
				sent++
			}
		}
	}
	if sent > noticeBudget {
		t.Fatalf("%d notices in %s of flapping, want at most %d", sent, now.Sub(t0), noticeBudget)
	}
	later := now.Add(noticeWindow)
	note := n.stage(failover.StageTransition, "", "home", later)
	if note == nil || !strings.Contains(note.Content, "earlier change(s) not shown") {
		t.Fatalf("after the storm: %+v", note)
	}
}
