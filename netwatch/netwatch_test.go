package netwatch

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"stayline/internal/clock"
)

type reports struct {
	mu  sync.Mutex
	got []Change
}

func (r *reports) add(c Change) { r.mu.Lock(); r.got = append(r.got, c); r.mu.Unlock() }
func (r *reports) all() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Change(nil), r.got...)
}

// An interface flapping every 200 ms for 10 s: the first change is reported at once, then at most one a
// second, and together the reports stand for every raw change.
func TestLimiterFlappingInterfaceAtMostOneReportASecond(t *testing.T) {
	start := time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	var r reports
	l := NewLimiter(clk, Gap, r.add)
	defer l.Close()
	raw := 0
	for at := time.Duration(0); at < 10*time.Second; at += 200 * time.Millisecond {
		if at > 0 {
			clk.Advance(200 * time.Millisecond)
		}
		verb := "removed from"
		if raw%2 == 1 {
			verb = "added on"
		}
		l.Note(fmt.Sprintf("address 10.0.0.5 %s veth0", verb))
		raw++
		if at == 0 && len(r.all()) != 1 {
			t.Fatalf("the first change was not reported at once: %v", r.all())
		}
	}
	clk.Advance(2 * Gap) // the last gap's changes come out at its end
	got := r.all()
	if len(got) > 11 || len(got) < 10 {
		t.Errorf("%d reports for %d changes in 10 s, want 10 or 11 (one a second)", len(got), raw)
	}
	total := 0
	for i, c := range got {
		total += c.Count
		if i > 0 && c.At.Sub(got[i-1].At) < Gap {
			t.Errorf("reports %d and %d only %s apart, want at least %s", i-1, i, c.At.Sub(got[i-1].At), Gap)
		}
	}
	if total != raw {
		t.Errorf("the reports stand for %d changes, want %d", total, raw)
	}
	if !strings.Contains(got[1].Why, "more change") {
		t.Errorf("a coalesced report should say how many changes it stands for: %q", got[1].Why)
	}
	t.Logf("FIGURE netwatch.flap.reports %d for %d raw changes in 10 s", len(got), raw)
}

// A single change after a quiet spell is reported at once, not at the end of a gap.
func TestLimiterQuietThenOneChangeIsImmediate(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC))
	var r reports
	l := NewLimiter(clk, Gap, r.add)
	l.Note("a")
	clk.Advance(5 * time.Second)
	l.Note("b")
	if got := r.all(); len(got) != 2 || got[1].Why != "b" || !got[1].At.Equal(clk.Now()) {
		t.Fatalf("reports %v, want b at once", got)
	}
	l.Note("c")
	l.Close()
	clk.Advance(5 * time.Second)
	if got := r.all(); len(got) != 2 {
		t.Errorf("a closed limiter reported %v", got[2:])
	}
}

// The polling fallback reports an address that appears and one that goes, rate-limited like netlink.
func TestPollerReportsAddressesThatComeAndGo(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC))
	var mu sync.Mutex
	addrs := []string{"192.168.1.5 on en0"}
	look := func() ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), addrs...), nil
	}
	p := newPoller(clk, 3*time.Second, nil, look)
	defer p.Close()
	clk.Advance(3 * time.Second)
	select {
	case c := <-p.Changes():
		t.Fatalf("nothing changed, yet %v", c)
	case <-time.After(50 * time.Millisecond):
	}
	mu.Lock()
	addrs = []string{"10.8.0.2 on utun3"}
	mu.Unlock()
	clk.Advance(3 * time.Second)
	var seen []string
	for len(seen) < 2 {
		select {
		case c := <-p.Changes():
			seen = append(seen, c.Why)
		case <-time.After(2 * time.Second):
			t.Fatalf("reports %q, want two", seen)
		}
		clk.Advance(Gap) // the second, within the first's gap, comes at its end
	}
	all := strings.Join(seen, "; ")
	if !strings.Contains(all, "10.8.0.2 on utun3 added") || !strings.Contains(all, "192.168.1.5 on en0 removed") {
		t.Errorf("changes %q, want both addresses named", all)
	}
}

// The machine's own interfaces can be listed (what the fallback compares).
func TestSnapshotListsNoLoopback(t *testing.T) {
	got, err := snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range got {
		if strings.HasPrefix(a, "127.") || strings.HasPrefix(a, "::1 ") {
			t.Errorf("loopback listed: %q", a)
		}
	}
}
