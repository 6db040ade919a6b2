package failover

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// events collects every event for d and returns them described, one a line.
func (lp *livePhone) eventsFor(d time.Duration) []Event {
	var evs []Event
	deadline := time.After(d)
	for {
		select {
		case ev := <-lp.sub.C:
			evs = append(evs, ev)
		case <-deadline:
			return evs
		}
	}
}

func describeAll(evs []Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("\n  " + ev.Name() + " " + describeEvent(ev))
	}
	return b.String()
}

// A home server that answers keep-alives but REGISTER only after the keep-alive timeout is as good as
// down: the phone registers on the alternate and stays there, however well home answers OPTIONS.
func TestLiveSlowRegistrarCountsAsFailed(t *testing.T) {
	p := labtest.Pair(t, lab.ServerOptions{})
	delay := 3 * integrationTimers.KeepaliveTimeout
	slow := labtest.SIPp(t, "slow-registrar", "-d", strconv.Itoa(int(delay.Milliseconds())))
	lp := startLivePhone(t, p, "", func(c *config.Config) {
		c.Servers[0].Address = "127.0.0.1:" + strconv.Itoa(slow.Port)
	})
	down := lp.waitEvent(5*time.Second, "home down for its slow REGISTER answer", func(ev Event) bool {
		se, ok := ev.(*ServerEvent)
		return ok && se.Server == "home" && se.State == "down"
	}).(*ServerEvent)
	if !strings.Contains(down.Reason, "no answer within") {
		t.Errorf("home down because %q, want the REGISTER's missing answer", down.Reason)
	}
	lp.waitStage(StageAlternate, "alternate", 5*time.Second)
	// Home keeps answering OPTIONS, so failback is tried after each hold-down, and fails the same way.
	window := 3 * integrationTimers.FailbackHolddown
	evs := lp.eventsFor(window)
	failbacks := 0
	for _, ev := range evs {
		se, ok := ev.(*StageEvent)
		if ok && se.Stage == StageFailback {
			failbacks++
		} else if ok && se.Stage != StageAlternate {
			t.Fatalf("left the alternate for %s (%s) although home answers REGISTER after %s:%s",
				se.Stage, se.Reason, delay, describeAll(evs))
		}
		if r, ok := ev.(*RegisteredEvent); ok && r.Server == "home" {
			t.Fatalf("counted a REGISTER answered after %s as registered on home:%s", delay, describeAll(evs))
		}
	}
	if max := int(window/integrationTimers.FailbackHolddown) + 1; failbacks > max {
		t.Errorf("%d failback tries in %s, want at most one per hold-down (%d):%s", failbacks, window, max, describeAll(evs))
	}
	if n := slow.Received("REGISTER"); n < 2 {
		t.Errorf("the slow home saw %d REGISTERs, want the first and the failback tries", n)
	}
	if n := slow.Received("OPTIONS"); n == 0 {
		t.Error("the slow home saw no keep-alive: the test did not give it the chance to look alive")
	}
}
