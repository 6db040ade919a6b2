package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"stayline/lab"
	"stayline/lab/labtest"
)

// A laptop's lid closed past the registration's expiry, modelled by stopping the phone (SIGSTOP) longer
// than its binding lasts, then continuing it: it registers again within 2 s and a call to it rings.
// SIGSTOP does not stop Go's monotonic clock, so the refresh is overdue at SIGCONT and goes at once; a real
// suspend stops that clock too, and the manager's wall-clock check covers it (failover's
// TestNetworkWakeFromSleepReregistersAtOnce; docs/ARCHITECTURE.md, "When the phone's own network changes").
func TestStoppedPastItsExpiryThePhoneRegistersAgainOnContinue(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{})
	labtest.Need(t, "sipp")
	timers := lab.LabTimers
	timers.RegisterExpires = 10 * time.Second // Kamailio's min_expires
	cfgPath := filepath.Join(t.TempDir(), "phone.toml")
	if err := os.WriteFile(cfgPath, []byte(pair.PhoneConfig("1001", timers, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPhone(t, cfgPath)
	p.wait(5*time.Second, "normal", stageIs("normal", "home"))
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT) // never leave it stopped
	time.Sleep(timers.RegisterExpires + 2*time.Second)

	// Asleep past its expiry, the phone is no longer registered: home answers a call to it 404 at once.
	asleep := labtest.Caller(t, "1001", pair.Home.Addr(), time.Second)
	asleep.Wait(5 * time.Second)
	if asleep.Received("SIP/2.0 404") == 0 {
		t.Fatal("a call to the stopped phone past its expiry was not refused 404: the binding had not expired, the test proves nothing")
	}

	before := len(pair.Home.RegisterLines())
	woke := time.Now()
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	reg := p.wait(2*time.Second, "registered after continuing", func(ev map[string]any) bool {
		at, _ := ev["_received"].(time.Time)
		return ev["event"] == "registered" && ev["server"] == "home" && at.After(woke)
	})
	took := reg["_received"].(time.Time).Sub(woke)
	var seen bool
	for _, line := range pair.Home.RegisterLines()[before:] {
		exp, err := strconv.Atoi(field(line, "expires"))
		if field(line, "user") == "1001" && field(line, "auth") != "" && err == nil && exp > 0 {
			if secs, err := strconv.ParseFloat(field(line, "t"), 64); err == nil {
				at := time.Unix(0, int64(secs*1e9))
				seen = seen || at.Sub(woke) <= 2*time.Second
			}
		}
	}
	if !seen {
		t.Errorf("home logged no REGISTER of 1001 within 2 s of SIGCONT: %q", pair.Home.RegisterLines()[before:])
	}

	labtest.Caller(t, "1001", pair.Home.Addr(), time.Second)
	p.wait(3*time.Second, "a call ringing", func(ev map[string]any) bool {
		return ev["event"] == "call" && ev["state"] == "incoming"
	})
	t.Logf("FIGURE sleep.sigstop.reregister_ms %d (stopped %s, past the %s expiry; SIGCONT -> registered event)",
		took.Milliseconds(), (timers.RegisterExpires + 2*time.Second), timers.RegisterExpires)
	p.send("quit")
	if err := p.cmd.Wait(); err != nil {
		t.Error(err)
	}
}

// field is a key=value of a Kamailio log line.
func field(line, name string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}
