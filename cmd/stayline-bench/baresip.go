package main

import (
	"fmt"
	"os"
	"time"

	"stayline/lab"
)

// recoverWindow bounds how long a run waits for calls to work again after home is killed; a phone that
// has not recovered by then is recorded at the window (a lower bound, said in the note).
const recoverWindow = 15 * time.Second

// baresipRuns: baresip's runs last the whole window when it does not recover, so there are fewer.
const baresipRuns = 3

// measureBaresipFailover measures, for baresip and for Stayline alike, kill -9 of home -> the first call
// to the echo that connects: the service a user gets back. baresip 1.0 runs with its best failover
// settings: RFC 5626 outbound with a flow through each proxy (outbound=home, outbound2=alternate,
// sipnat=outbound), over TCP so a dead proxy is noticed at once, re-registering every 10 s (Kamailio's
// minimum). Stayline's registration figure, failover.alternate.recover_ms, is measured separately.
func measureBaresipFailover(b *bench) {
	theirs := b.fig("baresip.failover.recover_ms", "-", nil)
	theirs.note = fmt.Sprintf("baresip 1.0: outbound=home, outbound2=alternate, sipnat=outbound, TCP, regint=10; "+
		"kill -9 of home -> a call to the echo connects (%d = not within %s)", recoverWindow.Milliseconds(), recoverWindow)
	reg := b.fig("baresip.failover.registered_ms", "-", nil)
	reg.note = "baresip: kill -9 of home -> registered on the alternate (0: it keeps a flow there all along)"
	ours := b.fig("failover.alternate.call_ms", "-", nil)
	ours.note = "Stayline, same measure: kill -9 of home -> a call to the echo connects (UDP, lab timers)"

	theirs.err = b.eachBaresipKill(func(p *lab.Pair, bs *lab.Baresip, killed time.Time) error {
		reg.add(b, 0)
		for time.Since(killed) < recoverWindow {
			bs.Command("dial", "sip:600@127.0.0.1")
			if _, err := bs.WaitEvent("CALL_ESTABLISHED", 300*time.Millisecond); err == nil {
				theirs.add(b, ms(time.Since(killed)))
				bs.Command("hangup", "")
				return nil
			}
			bs.Command("hangup", "")
			time.Sleep(100 * time.Millisecond)
		}
		theirs.add(b, float64(recoverWindow.Milliseconds()))
		return nil
	})
	ours.err = b.eachRun(true, func(p *lab.Pair) error {
		h, killed, err := b.phoneThenKill(p, nil, nil)
		if err != nil {
			return err
		}
		defer h.quit()
		for time.Since(killed) < recoverWindow {
			h.send("dial 600")
			ev, err := h.wait(200*time.Millisecond, "the call's fate", func(ev event) bool {
				return ev.str("event") == "refused" || callIs("active")(ev) || callIs("ended")(ev)
			})
			if err == nil && ev.str("event") == "call" && ev.str("state") == "active" {
				ours.add(b, ms(ev.at.Sub(killed)))
				h.send("hangup")
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		ours.add(b, float64(recoverWindow.Milliseconds()))
		return nil
	})
}

// baresipOnBoth starts baresip as 1002 with its best failover settings (see measureBaresipFailover) and
// waits until it is registered on the alternate too.
func (b *bench) baresipOnBoth(p *lab.Pair) (*lab.Baresip, error) {
	dir, err := os.MkdirTemp(b.dir, "baresip")
	if err != nil {
		return nil, err
	}
	bs, err := lab.StartBaresipWith(dir, "1002", p.Home.Addr(), lab.BaresipOptions{Outbound2: p.Alternate.Addr(),
		Regint: 10, Transport: "tcp", Codecs: "PCMU"})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(5 * time.Second)
	for !p.Alternate.Registered("1002") {
		if time.Now().After(deadline) {
			bs.Stop()
			return nil, fmt.Errorf("baresip did not register on the alternate")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return bs, nil
}

// eachBaresipKill runs a baresip scenario up to baresipRuns times (its runs last the whole window when it
// does not recover), each in its own lab with the echo: baresip on both proxies (baresipOnBoth), then home
// killed at a random keep-alive phase.
func (b *bench) eachBaresipKill(run func(p *lab.Pair, bs *lab.Baresip, killed time.Time) error) error {
	runs := b.runs
	b.runs = min(runs, baresipRuns)
	defer func() { b.runs = runs }()
	return b.eachRun(true, func(p *lab.Pair) error {
		bs, err := b.baresipOnBoth(p)
		if err != nil {
			return err
		}
		defer bs.Stop()
		killed, err := killHomeAtRandomPhase(p)
		if err != nil {
			return err
		}
		return run(p, bs, killed)
	})
}
