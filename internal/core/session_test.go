package core

import (
	"sync/atomic"
	"testing"
	"time"

	"stayline/config"
	"stayline/failover"
	"stayline/lab"
	"stayline/lab/labtest"
)

// A session's phone is followed from its first event; applying a new configuration stops it (the
// follower sees its events end), makes the new phone, tells whoever asked, and starts it.
func TestSessionAppliesANewConfiguration(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{})
	cfg, err := config.Parse("lab.toml", []byte(pair.PhoneConfig("1001", lab.LabTimers, "")))
	if err != nil {
		t.Fatal(err)
	}
	stages := make(chan failover.Stage, 64)
	var follows atomic.Int32
	s, err := StartSession(cfg, SessionOptions{Logger: quiet, Follow: func(sub *failover.Subscription) {
		follows.Add(1)
		for ev := range sub.C {
			if st, ok := ev.(*failover.StageEvent); ok {
				stages <- st.Stage
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	first := s.Phone()
	first.Manager.Start()
	waitStage(t, stages, failover.StageNormal)

	next := *cfg
	next.Account.DisplayName = "Renamed"
	var told *Phone
	left := false
	s.SetFrontEnd(func() { left = s.Phone() == first }, func(p *Phone) { told = p })
	if err := s.Apply(&next); err != nil {
		t.Fatal(err)
	}
	if !left || told == nil || told != s.Phone() || told == first || told.Config.Account.DisplayName != "Renamed" {
		t.Fatalf("the front end was not told to leave the old phone (%v) or not handed the new one", left)
	}
	waitStage(t, stages, failover.StageNormal) // the new phone, started by Apply, is in service
	if n := follows.Load(); n != 2 {
		t.Fatalf("followed %d phones, want 2", n)
	}
}

func waitStage(t *testing.T, stages <-chan failover.Stage, want failover.Stage) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case st := <-stages:
			if st == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %s within 5 s", want)
		}
	}
}
