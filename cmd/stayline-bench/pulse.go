package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"stayline/lab"
)

// The phones on a sound server: a private PulseAudio daemon (lab.StartPulse) whose null sinks stand for two
// sound cards, the seat's ("speaker", and "mic", whose monitor is the seat's microphone) and the far end's
// ("farspk", "farmic"). The seat is Stayline (headless, backend "default": miniaudio on PulseAudio) or, for
// comparison, baresip; the far end is baresip (1002) on the lab pair's home. Every call is G.711 (PCMU).

// pulseRate is the null sinks' rate: a sound card's usual one. Each phone opens its streams at its own rate
// (Stayline 16 kHz, baresip the codec's 8 kHz) and the daemon resamples.
const pulseRate = 48000

// The clicks: a 20 ms 1 kHz burst (2 ms raised-cosine edges, -6 dBFS) every second, clickCount of them
// after clickLead of silence. A burst goes through G.711 and resamplers unharmed, and its onset is sharp.
const (
	clickCount  = 8
	clickLead   = 500 * time.Millisecond
	clickEvery  = time.Second
	clickLength = 20 * time.Millisecond
	clickFreq   = 1000
	clickLevel  = 16000
	// clickLatest bounds the delay a click is looked for at the far end (less than clickEvery).
	clickLatest = 900 * time.Millisecond
)

// pulseRig is the daemon with the two sound cards.
type pulseRig struct {
	pulse *lab.Pulse
	dir   string
	log   *slog.Logger
}

func (b *bench) startPulseRig() (*pulseRig, error) {
	dir, err := os.MkdirTemp(b.dir, "pulse")
	if err != nil {
		return nil, err
	}
	p, err := lab.StartPulse(dir)
	if err != nil {
		return nil, err
	}
	for _, sink := range []string{"speaker", "mic", "farspk", "farmic"} {
		if _, err := p.NullSink(sink, pulseRate); err != nil {
			p.Stop()
			return nil, err
		}
	}
	if err := p.SetDefaults("speaker", "mic.monitor"); err != nil {
		p.Stop()
		return nil, err
	}
	return &pulseRig{pulse: p, dir: dir, log: b.log}, nil
}

// pulseAudio makes the lab's phone configuration use the sound server's default devices (the seat's),
// G.711 only, without the echo canceller and the noise suppressor: baresip runs with neither, and a
// suppressor would take the clicks for noise.
func pulseAudio(text string) string {
	return strings.Replace(text, "[audio]\nbackend = \"null\"\n",
		"[audio]\nbackend = \"default\"\ncodecs = [\"PCMU\"]\necho_cancel = \"off\"\nnoise_suppression = false\n", 1)
}

// farEnd starts baresip as 1002 on home, on the far end's sound card.
func (r *pulseRig) farEnd(b *bench, p *lab.Pair) (*lab.Baresip, error) {
	dir, err := os.MkdirTemp(b.dir, "baresip-far")
	if err != nil {
		return nil, err
	}
	return lab.StartBaresipWith(dir, "1002", p.Home.Addr(), lab.BaresipOptions{Codecs: "PCMU",
		Pulse: &lab.BaresipPulse{Server: r.pulse.Server(), Player: "farspk", Source: "farmic.monitor"}})
}

// pulseCall is a call from the seat to the far end, up.
type pulseCall struct {
	pid int
	end func() // hangs up and stops the seat's phone
}

// answer has the far end answer the call that is coming.
func answer(far *lab.Baresip) error {
	if _, err := far.WaitEvent("CALL_INCOMING", 5*time.Second); err != nil {
		return err
	}
	_, err := far.Command("accept", "")
	return err
}

// callFromStayline starts Stayline in the seat and has it call the far end.
func (r *pulseRig) callFromStayline(b *bench, p *lab.Pair, far *lab.Baresip) (*pulseCall, error) {
	cfg, err := b.phoneConfig(p, pulseAudio)
	if err != nil {
		return nil, err
	}
	if text, _ := os.ReadFile(cfg); !strings.Contains(string(text), `backend = "default"`) {
		return nil, errors.New("the lab's phone configuration changed: its [audio] section was not found")
	}
	h, err := startHeadless(b.binary, cfg, append(append([]string(nil), b.env...), "PULSE_SERVER="+r.pulse.Server())...)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*pulseCall, error) { h.quit(); return nil, err }
	if _, err := h.wait(5*time.Second, "service on home", stageIs("normal", "home")); err != nil {
		return fail(err)
	}
	h.send("dial 1002")
	if err := answer(far); err != nil {
		return fail(err)
	}
	if _, err := h.wait(5*time.Second, "call active", callIs("active")); err != nil {
		return fail(err)
	}
	return &pulseCall{pid: h.pid(), end: func() {
		h.send("hangup")
		far.WaitEvent("CALL_CLOSED", 5*time.Second)
		h.quit()
	}}, nil
}

// callFromBaresip starts baresip (1003) in the seat and has it call the far end.
func (r *pulseRig) callFromBaresip(b *bench, p *lab.Pair, far *lab.Baresip) (*pulseCall, error) {
	dir, err := os.MkdirTemp(b.dir, "baresip-seat")
	if err != nil {
		return nil, err
	}
	bs, err := lab.StartBaresipWith(dir, "1003", p.Home.Addr(), lab.BaresipOptions{Codecs: "PCMU",
		Pulse: &lab.BaresipPulse{Server: r.pulse.Server(), Player: "speaker", Source: "mic.monitor"}})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*pulseCall, error) { bs.Stop(); return nil, err }
	if _, err := bs.Command("dial", "sip:1002@127.0.0.1"); err != nil {
		return fail(err)
	}
	if err := answer(far); err != nil {
		return fail(err)
	}
	if _, err := bs.WaitEvent("CALL_ESTABLISHED", 5*time.Second); err != nil {
		return fail(err)
	}
	return &pulseCall{pid: bs.Pid(), end: func() {
		bs.Command("hangup", "")
		far.WaitEvent("CALL_CLOSED", 5*time.Second)
		bs.Stop()
	}}, nil
}

// onSoundCards checks that the seat and the far end both have their streams on the daemon (a phone that
// fell back to no sound would measure nothing).
func (r *pulseRig) onSoundCards() error {
	in, err := r.pulse.SinkInputs()
	if err != nil {
		return err
	}
	out, err := r.pulse.SourceOutputs()
	if err != nil {
		return err
	}
	has := func(list []lab.Stream, device string) bool {
		for _, s := range list {
			if s.Device == device {
				return true
			}
		}
		return false
	}
	for _, need := range []struct {
		list   []lab.Stream
		device string
	}{{in, "speaker"}, {out, "mic.monitor"}, {in, "farspk"}, {out, "farmic.monitor"}} {
		if !has(need.list, need.device) {
			return fmt.Errorf("no stream on %s during the call: playing %+v, recording %+v", need.device, in, out)
		}
	}
	r.log.Debug("streams", "playing", in, "recording", out)
	return nil
}

// seat is a phone measured in the seat: Stayline (0) or baresip (1).
type seat struct {
	who  string
	k    int
	call func(*bench, *lab.Pair, *lab.Baresip) (*pulseCall, error)
}

// seats are the two phones in the order of a run: which goes first alternates.
func (r *pulseRig) seats(run int) []seat {
	s := []seat{{"stayline", 0, r.callFromStayline}, {"baresip", 1, r.callFromBaresip}}
	if run%2 == 1 {
		s[0], s[1] = s[1], s[0]
	}
	return s
}

// eachPulseRun runs b.runs times, each in a lab of its own with the far end registered: measure takes the
// call from each seat in turn, and record gets Stayline's figure and baresip's.
func (b *bench) eachPulseRun(r *pulseRig, measure func(c *pulseCall) (float64, error), record func(ours, theirs float64)) error {
	run := 0
	return b.eachRun(false, func(p *lab.Pair) error {
		defer func() { run++ }()
		far, err := r.farEnd(b, p)
		if err != nil {
			return err
		}
		defer far.Stop()
		var got [2]float64
		for _, s := range r.seats(run) {
			c, err := s.call(b, p, far)
			if err != nil {
				return fmt.Errorf("%s: %w", s.who, err)
			}
			time.Sleep(300 * time.Millisecond) // the streams start
			if err = r.onSoundCards(); err == nil {
				got[s.k], err = measure(c)
			}
			c.end()
			if err != nil {
				return fmt.Errorf("%s: %w", s.who, err)
			}
		}
		record(got[0], got[1])
		return nil
	})
}

// measureMouthToEar plays clicks into the seat's microphone during a call and times each from the seat's
// microphone (mic.monitor) to the far end's speaker (farspk.monitor), both recorded by parecord with the
// same latency, so that its own cancels.
func measureMouthToEar(b *bench) {
	var theirs *figure
	f := b.fig("audio.mouth_to_ear_ms", "≤ baresip's", func(v float64) bool { return v <= theirs.median() })
	f.note = fmt.Sprintf("a 1 kHz click into the seat's mic sink -> heard on baresip's speaker sink, via Kamailio, G.711, "+
		"PulseAudio null sinks at %d Hz; median of %d clicks a call", pulseRate, clickCount)
	theirs = b.fig("audio.mouth_to_ear_baresip_ms", "-", nil)
	theirs.note = "the same with baresip 1.0 in the seat (alsa module through ALSA's pulse plugin)"
	ratio := b.fig("audio.mouth_to_ear_vs_baresip", "≤ 1", below(1))
	ratio.note = "Stayline's / baresip's, per run"
	r, err := b.startPulseRig()
	if err != nil {
		f.err = err
		return
	}
	defer r.pulse.Stop()
	clicks := filepath.Join(r.dir, "clicks.wav")
	if err := lab.WriteWAV(clicks, clickTrack(), pulseRate); err != nil {
		f.err = err
		return
	}
	f.err = b.eachPulseRun(r, func(*pulseCall) (float64, error) { return r.clickDelay(clicks) }, func(ours, bs float64) {
		f.add(b, ours)
		theirs.add(b, bs)
		ratio.add(b, ours/bs)
	})
}

// clickTrack is the clicks at pulseRate.
func clickTrack() []int16 {
	n := int((clickLead + clickCount*clickEvery).Seconds() * pulseRate)
	x := make([]int16, n)
	burst, edge := int(clickLength.Seconds()*pulseRate), int(0.002*pulseRate)
	for k := 0; k < clickCount; k++ {
		at := int((clickLead + time.Duration(k)*clickEvery).Seconds() * pulseRate)
		for i := 0; i < burst; i++ {
			g := 1.0
			if i < edge {
				g = 0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(edge))
			} else if i >= burst-edge {
				g = 0.5 - 0.5*math.Cos(math.Pi*float64(burst-i)/float64(edge))
			}
			x[at+i] = int16(g * clickLevel * math.Sin(2*math.Pi*clickFreq*float64(i)/pulseRate))
		}
	}
	return x
}

// clickDelay plays the clicks into the seat's microphone and returns the median delay, in ms, from each
// click's onset in the microphone's recording to its onset in the far end speaker's.
func (r *pulseRig) clickDelay(clicks string) (float64, error) {
	near, err := r.pulse.Record("mic.monitor", pulseRate)
	if err != nil {
		return 0, err
	}
	far, err := r.pulse.Record("farspk.monitor", pulseRate)
	if err != nil {
		near.Stop()
		return 0, err
	}
	time.Sleep(200 * time.Millisecond)
	pl, err := r.pulse.Play("mic", clicks)
	if err == nil {
		time.Sleep(clickLead + clickCount*clickEvery + 700*time.Millisecond)
		pl.Stop()
	}
	nearX, farX := near.Stop(), far.Stop()
	if err != nil {
		return 0, err
	}
	var delays []float64
	for _, i := range onsets(nearX, clickLevel/4, int(clickEvery.Seconds()*pulseRate/2)) {
		t := near.TimeOf(i)
		from := far.IndexAt(t)
		to := min(len(farX), from+int(clickLatest.Seconds()*pulseRate))
		if from >= to {
			continue
		}
		peak := 0
		for _, v := range farX[from:to] {
			peak = max(peak, abs16(v))
		}
		if peak < clickLevel/8 {
			continue // lost
		}
		if j := onsets(farX[from:to], peak/4, to-from); len(j) > 0 {
			delays = append(delays, ms(far.TimeOf(from+j[0]).Sub(t)))
		}
	}
	if len(delays) < clickCount/2 {
		return 0, fmt.Errorf("only %d of %d clicks heard at the far end (%d in the microphone's recording)", len(delays),
			clickCount, len(onsets(nearX, clickLevel/4, int(clickEvery.Seconds()*pulseRate/2))))
	}
	r.log.Info("clicks", "delays_ms", delays)
	sort.Float64s(delays)
	return delays[len(delays)/2], nil
}

// onsets are the first samples of x at least level loud, each at least gap after the one before.
func onsets(x []int16, level, gap int) []int {
	var out []int
	last := -gap
	for i, v := range x {
		if abs16(v) >= level && i-last >= gap {
			out = append(out, i)
			last = i
		}
	}
	return out
}

func abs16(v int16) int {
	if v < 0 {
		return -int(v)
	}
	return int(v)
}

// measureCPUPulse: the same 10 s G.711 call to the far end from each seat, a tone into each microphone,
// and the seat process's CPU seconds over it.
func measureCPUPulse(b *bench) {
	f := b.fig("cpu.call_vs_baresip_pulse", "≤ 1", below(1))
	f.note = "stayline / baresip, per run, both on PulseAudio"
	sl := b.fig("cpu.stayline_call_pulse_s", "-", nil)
	sl.note = fmt.Sprintf("CPU seconds of one %s G.711 call to baresip, headless, on PulseAudio (null sinks at %d Hz), "+
		"tones both ways, no echo canceller or noise suppressor", callLength, pulseRate)
	bs := b.fig("cpu.baresip_call_pulse_s", "-", nil)
	bs.note = "the same for baresip 1.0 in the seat (alsa module through ALSA's pulse plugin)"
	r, err := b.startPulseRig()
	if err != nil {
		f.err = err
		return
	}
	defer r.pulse.Stop()
	for _, tone := range []struct {
		sink string
		freq int
	}{{"mic", 1004}, {"farmic", 440}} {
		path := filepath.Join(r.dir, tone.sink+".wav")
		if err := lab.WriteToneWAV(path, 16000, tone.freq, time.Duration(b.runs+1)*2*time.Minute); err != nil {
			f.err = err
			return
		}
		pl, err := r.pulse.Play(tone.sink, path)
		if err != nil {
			f.err = err
			return
		}
		defer pl.Stop()
	}
	f.err = b.eachPulseRun(r, func(c *pulseCall) (float64, error) { return cpuOver(c.pid, callLength) }, func(ours, theirs float64) {
		sl.add(b, ours)
		bs.add(b, theirs)
		if theirs > 0 {
			f.add(b, ours/theirs)
		}
	})
}
