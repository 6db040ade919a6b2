package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"stayline/lab"
)

// Figures of issue 15 (real PBXs): the first sound of early media, and a call dialled as home dies.

// measureEarlyMedia: a carrier's announcement before the answer (SIPp, lab/scenarios/uas-early-media.xml:
// a reliable 183 with SDP, then ~4 s of A-law) through Kamailio; the figure is the phone's own
// first_audio_ms, from the first early RTP packet's arrival (kernel timestamp) to its sound handed to the
// speaker. baresip reports nothing comparable.
func measureEarlyMedia(b *bench) {
	f := b.fig("call.early_media_first_audio_ms", "≤ 80", below(80))
	f.note = "183's first RTP packet arrives -> its sound handed to the speaker (SIPp announcement through Kamailio)"
	p, stop, err := b.labPair(false)
	if err != nil {
		f.err = err
		return
	}
	defer stop()
	h, err := b.phoneOn(p, nil)
	if err != nil {
		f.err = err
		return
	}
	defer h.quit()
	for i := 0; i < b.runs; i++ {
		v, err := b.earlyMediaRun(p, h)
		if err != nil {
			f.err = err
			b.log.Warn("run failed", "error", err)
			continue
		}
		f.add(b, v)
	}
}

// earlyMediaRun calls a fresh SIPp carrier once and reads first_audio_ms while the announcement plays.
func (b *bench) earlyMediaRun(p *lab.Pair, h *headless) (float64, error) {
	dir, err := os.MkdirTemp(b.dir, "sipp")
	if err != nil {
		return 0, err
	}
	port, err := lab.FreePort()
	if err != nil {
		return 0, err
	}
	mport, err := lab.FreePort()
	if err != nil {
		return 0, err
	}
	s, err := lab.StartSIPp(dir, "uas-early-media", port, "-m", "1", "-mp", strconv.Itoa(mport&^1))
	if err != nil {
		return 0, err
	}
	defer s.Stop()
	if err := lab.RegisterWith(dir, "1002", port, p.Home.Addr()); err != nil {
		return 0, err
	}
	h.send("dial 1002")
	defer func() {
		h.send("hangup")
		h.wait(8*time.Second, "call ended", callIs("ended"))
	}()
	if _, err := h.wait(5*time.Second, "early media", callIs("early")); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		h.send("status")
		ev, err := h.wait(time.Second, "status", func(ev event) bool { return ev.str("event") == "status" })
		if err != nil {
			return 0, err
		}
		if calls, _ := ev.fields["calls"].([]any); len(calls) > 0 {
			c, _ := calls[0].(map[string]any)
			if v, _ := c["first_audio_ms"].(float64); v > 0 {
				return v, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, fmt.Errorf("early media never played")
}

// measureDialDuringLoss: the user dials 100 ms after kill -9 of home, before the phone knows; the figure
// is that dial -> the call active (the phone retries the INVITE through the alternate once home does not
// answer). baresip (its best failover settings, as in baresip.failover) dials the same way; its figure is
// recoverWindow when that call did not connect.
func measureDialDuringLoss(b *bench) {
	ours := b.fig("failover.dial_during_loss.connect_ms", "≤ 2000", below(2000))
	ours.note = "dial 100 ms after kill -9 of home -> call to the echo active (UDP, lab timers)"
	theirs := b.fig("baresip.dial_during_loss.connect_ms", "-", nil)
	theirs.note = fmt.Sprintf("baresip 1.0, TCP outbound to both proxies: the same dial (%d = that call failed)", recoverWindow.Milliseconds())
	ours.err = b.eachRun(true, func(p *lab.Pair) error {
		h, killed, err := b.phoneThenKill(p, nil, nil)
		if err != nil {
			return err
		}
		defer h.quit()
		time.Sleep(time.Until(killed.Add(100 * time.Millisecond)))
		t0 := time.Now()
		h.send("dial 600")
		ev, err := h.wait(recoverWindow, "the call's fate", func(ev event) bool { return callIs("active")(ev) || callIs("ended")(ev) })
		if err != nil {
			return err
		}
		if ev.str("state") != "active" {
			return fmt.Errorf("the call dialled during the loss ended: %s", ev.str("reason"))
		}
		ours.add(b, ms(ev.at.Sub(t0)))
		h.send("hangup")
		return nil
	})
	theirs.err = b.eachBaresipKill(func(_ *lab.Pair, bs *lab.Baresip, killed time.Time) error {
		time.Sleep(time.Until(killed.Add(100 * time.Millisecond)))
		t0 := time.Now()
		bs.Command("dial", "sip:600@127.0.0.1")
		if _, err := bs.WaitEvent("CALL_ESTABLISHED", recoverWindow); err == nil {
			theirs.add(b, ms(time.Since(t0)))
		} else {
			theirs.add(b, float64(recoverWindow.Milliseconds()))
		}
		bs.Command("hangup", "")
		return nil
	})
}
