package netwatch

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"stayline/internal/clock"
)

// The kernel's notifications, in a network namespace the test makes: an address removed, then the default
// route through another interface, are each reported within a fraction of a second.
func TestNetlinkWatcherSeesAddressAndRouteChanges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip is not installed")
	}
	name := fmt.Sprintf("stayline-%d-nw", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		argv := append([]string{"netns", "exec", name, "ip"}, args...)
		if out, err := exec.Command("ip", argv...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	for _, l := range []string{"nwa", "nwb"} {
		ip("link", "add", l, "type", "veth", "peer", "name", l+"p")
		ip("link", "set", l, "up")
		ip("link", "set", l+"p", "up")
	}
	ip("addr", "add", "10.77.1.2/24", "dev", "nwa")
	ip("addr", "add", "10.77.2.2/24", "dev", "nwb")
	ip("route", "add", "default", "via", "10.77.1.1", "dev", "nwa")

	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	w, err := newWith(clock.Real{}, nil, &h)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	expect := func(what string, want ...string) {
		t.Helper()
		start := time.Now()
		deadline := time.After(3 * time.Second)
		var seen []string
		for {
			select {
			case c := <-w.Changes():
				seen = append(seen, c.Why)
				ok := true
				for _, s := range want {
					ok = ok && strings.Contains(strings.Join(seen, "; "), s)
				}
				if ok {
					t.Logf("%s: reported after %s: %q", what, time.Since(start).Round(time.Millisecond), strings.Join(seen, "; "))
					return
				}
			case <-deadline:
				t.Fatalf("%s: want %q in the reports, got %q", what, want, seen)
			}
		}
	}
	time.Sleep(100 * time.Millisecond) // the subscriptions are open once newWith returns; settle the setup's echo
	drain(w)
	ip("addr", "del", "10.77.1.2/24", "dev", "nwa")
	expect("address removed", "address 10.77.1.2 removed from")
	time.Sleep(Gap)
	drain(w)
	ip("route", "add", "default", "via", "10.77.2.1", "dev", "nwb")
	expect("default route added", "route default added (via 10.77.2.1)")
}

func drain(w Watcher) {
	for {
		select {
		case <-w.Changes():
		case <-time.After(Gap + 200*time.Millisecond):
			return
		}
	}
}

// Setting the wall clock is reported at once (a resume from sleep cancels the same timer in the kernel).
// The test sets the clock to what it is (clock_settime with the current time): a set, no change.
func TestClockStepsReportsAClockSet(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting the clock needs root")
	}
	steps, stop, err := ClockSteps()
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	select {
	case <-steps:
		t.Fatal("a report before any clock set")
	case <-time.After(100 * time.Millisecond):
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &ts); err != nil {
		t.Fatal(err)
	}
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		t.Skipf("cannot set the clock here: %v", err)
	}
	select {
	case <-steps:
	case <-time.After(2 * time.Second):
		t.Fatal("no report of the clock set")
	}
}
