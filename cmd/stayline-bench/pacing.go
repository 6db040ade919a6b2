package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"time"

	"stayline/lab"
)

// pacingPackets is how many RTP packets of each call the side-by-side pacing measure takes.
const pacingPackets = 250

// arrivals records the arrival times of the RTP packets the in-process echo receives.
type arrivals struct {
	mu sync.Mutex
	at []time.Time
}

func (a *arrivals) add(t time.Time) {
	a.mu.Lock()
	a.at = append(a.at, t)
	a.mu.Unlock()
}

// take waits until n packets arrived after a reset (or within), and returns them.
func (a *arrivals) take(n int, within time.Duration) ([]time.Time, error) {
	a.mu.Lock()
	a.at = a.at[:0]
	a.mu.Unlock()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		if len(a.at) >= n {
			out := append([]time.Time(nil), a.at[:n]...)
			a.mu.Unlock()
			return out, nil
		}
		a.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("fewer than %d RTP packets within %s", n, within)
}

// p99Deviation is the 99th percentile of |interval - 20 ms| over consecutive arrivals, in ms.
func p99Deviation(at []time.Time) float64 {
	var dev []float64
	for i := 1; i < len(at); i++ {
		dev = append(dev, math.Abs(float64(at[i].Sub(at[i-1]))/float64(time.Millisecond)-20))
	}
	if len(dev) == 0 {
		return 0
	}
	sort.Float64s(dev)
	return dev[int(math.Ceil(0.99*float64(len(dev))))-1]
}

// measurePacingVsBaresip: Stayline and baresip each call the same in-process echo, one after the other in
// each run, and the echo timestamps every RTP packet it receives from them; the figure is the ratio of
// their p99 |interval - 20 ms|. On a shared machine the absolute figure moves with the load; the ratio of
// two phones measured in the same minute does not.
func measurePacingVsBaresip(b *bench) {
	ratio := b.fig("call.pacing_vs_baresip", "≤ 1", below(1))
	ratio.note = fmt.Sprintf("Stayline's p99 |arrival interval - 20 ms| / baresip's, %d packets each, same echo, same run", pacingPackets)
	ours := b.fig("call.pacing_live_p99_ms", "-", nil)
	ours.note = "Stayline's, at the echo (headless, null audio, G.711)"
	theirs := b.fig("call.pacing_baresip_p99_ms", "-", nil)
	theirs.note = "baresip 1.0's, at the same echo (ausine source)"
	rec := &arrivals{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port, err := lab.FreePort()
	if err != nil {
		ratio.err = err
		return
	}
	echo, err := lab.ListenEcho(fmt.Sprintf("127.0.0.1:%d", port), lab.EchoOptions{OnRTP: rec.add, MaxCall: time.Minute})
	if err != nil {
		ratio.err = err
		return
	}
	go echo.Serve(ctx)
	for i := 0; i < b.runs; i++ {
		dir, err := os.MkdirTemp(b.dir, "lab")
		if err != nil {
			ratio.err = err
			return
		}
		p, err := lab.NewPair(dir, 0, 0, lab.ServerOptions{DieWithMe: true, EchoAddr: echo.Addr()})
		if err == nil {
			err = p.Start()
		}
		if err != nil {
			ratio.err = err
			return
		}
		s, errS := b.staylinePacing(p, rec)
		t, errB := b.baresipPacing(p, rec)
		p.Stop()
		if errS != nil || errB != nil {
			ratio.err = fmt.Errorf("stayline: %v; baresip: %v", errS, errB)
			continue
		}
		ours.add(b, s)
		theirs.add(b, t)
		ratio.add(b, s/max(t, 0.001))
	}
}

func (b *bench) staylinePacing(p *lab.Pair, rec *arrivals) (float64, error) {
	h, err := b.phoneOn(p, nil)
	if err != nil {
		return 0, err
	}
	defer h.quit()
	h.send("dial 600")
	if _, err := h.wait(5*time.Second, "call active", callIs("active")); err != nil {
		return 0, err
	}
	time.Sleep(500 * time.Millisecond) // past the call's first packets
	at, err := rec.take(pacingPackets, 10*time.Second)
	h.send("hangup")
	if err != nil {
		return 0, err
	}
	return p99Deviation(at), nil
}

func (b *bench) baresipPacing(p *lab.Pair, rec *arrivals) (float64, error) {
	bs, err := b.baresipOnEcho(p)
	if err != nil {
		return 0, err
	}
	defer bs.Stop()
	time.Sleep(500 * time.Millisecond)
	at, err := rec.take(pacingPackets, 10*time.Second)
	bs.Command("hangup", "")
	if err != nil {
		return 0, err
	}
	return p99Deviation(at), nil
}
