package fleet

import (
	"context"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// Fifty real phones fail over together and come back, against the real lab with the alternate capped at
// 10 new REGISTERs a second (so 503s with Retry-After must happen and be honoured). None may give up, none
// may register before a Retry-After has passed, none may need more than 4 attempts.
func TestFleetFailsOverAndBack(t *testing.T) {
	labtest.Need(t, "kamailio")
	for _, policy := range []config.RegistrationPolicy{config.RegisterAlternate, config.RegisterSimultaneous} {
		t.Run(string(policy), func(t *testing.T) {
			opts := Defaults(50, policy, t.TempDir())
			opts.RegisterRate = 10 // fifty phones notice within ~6 s, up to ~13 a second: some are turned away
			opts.Failover.FailbackHolddown = config.Duration(5 * time.Second)
			opts.Timeout = 40 * time.Second
			r, err := RunOnce(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			tr := r.Servers
			if early := tr.EarlyRetries(); len(early) > 0 {
				t.Errorf("%d REGISTERs before a Retry-After ended, e.g. %s", len(early), early[0])
			}
			worst, who := 0, ""
			for user, n := range tr.Attempts(r.Kill) {
				if n > worst {
					worst, who = n, user
				}
			}
			if worst > 4 {
				t.Errorf("user %s made %d REGISTER attempts after the kill, want at most 4", who, worst)
			}
			if policy == config.RegisterAlternate && tr.Overloads("alternate", r.Kill) == 0 {
				t.Error("the alternate sent no 503: the cap was never reached, so Retry-After went untested")
			}
			t.Logf("FIGURE fleet50.%s: all on alternate %.1f s, all home %.1f s after restart; 503s %d; max attempts %d; peak %d/s at the alternate",
				policy, r.AllOnAlternate.Sub(r.Kill).Seconds(), r.AllHome.Sub(r.Restart).Seconds(),
				tr.Overloads("alternate", r.Kill), worst, tr.PeakPerSecond("alternate", r.Kill, r.AllOnAlternate))
		})
	}
}

// The server-side accounting, on a log the test writes: attempts, early retries, peaks.
func TestTrafficAccounting(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(1000, 0).Add(time.Duration(ms) * time.Millisecond) }
	tr := Traffic{RetryAfter: 2 * time.Second, Messages: []Message{
		{Server: "alternate", Register: lab.Register{User: "1001", CallID: "a", CSeq: 1, Overload: true, At: at(0)}},
		{Server: "alternate", Register: lab.Register{User: "1002", CallID: "b", CSeq: 1, At: at(10)}},             // challenged
		{Server: "alternate", Register: lab.Register{User: "1002", CallID: "b", CSeq: 2, Auth: true, At: at(11)}}, // its answer: same attempt
		{Server: "alternate", Register: lab.Register{User: "1001", CallID: "a", CSeq: 2, At: at(1500)}},           // 0.5 s too early
		{Server: "alternate", Register: lab.Register{User: "1001", CallID: "a", CSeq: 3, Auth: true, At: at(1501)}},
		{Server: "home", Register: lab.Register{User: "1002", CallID: "c", CSeq: 5, Auth: true, At: at(3000)}}, // reused credentials
		{Server: "alternate", Register: lab.Register{User: "1002", CallID: "b", CSeq: 3, Unregister: true, Auth: true, At: at(3100)}},
	}}
	if got := tr.Attempts(at(0)); got["1001"] != 2 || got["1002"] != 2 {
		t.Errorf("attempts = %v, want 1001: 2 (503, then challenge+answer), 1002: 2 (challenge+answer, reused credentials)", got)
	}
	if early := tr.EarlyRetries(); len(early) != 1 || early[0] != "user 1001 to alternate 500ms before its Retry-After ended" {
		t.Errorf("early retries = %q", early)
	}
	if p := tr.PeakPerSecond("alternate", at(0), at(4000)); p != 3 {
		t.Errorf("peak = %d a second, want 3 (the first 100 ms hold 3; 1.5 s holds 2)", p)
	}
	if n := tr.Overloads("alternate", at(0)); n != 1 {
		t.Errorf("503s = %d, want 1", n)
	}
}
