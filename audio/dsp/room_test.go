package dsp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The simulated room: far-end speech (what the speaker plays) goes through an echo path (a delay and an
// exponentially decaying room impulse response, -6 dB in all) into the microphone, where near-end speech
// and a little noise join it. Speech is made by espeak-ng when the tests run (scripts/deps.sh installs
// it): nothing is downloaded and no recording is shipped.

const (
	rate  = 16000
	frame = 320
	block = rate / 10 // 100 ms: the unit the measurements are made in
)

// farText and nearText are long enough for the scenarios (about 32 s and 4 s of speech).
const (
	farText = "Good morning, this is the service desk calling back about your ticket. We looked at the " +
		"server logs from last night and found that the backup job stopped at a quarter past two. " +
		"The disk on the second node was full, so we moved the old archives to the other volume and " +
		"started the job again by hand. It finished at six, and this morning's check found nothing " +
		"missing. Could you confirm that the reports for the finance team are there, and let us know " +
		"if anything else looks wrong? We will keep the ticket open until Friday."
	nearText = "Yes, hello, sorry to interrupt you, I can see the reports, thank you very much for that."
)

var speechCache sync.Map // text -> []int16

// speech is text spoken by espeak-ng at 16 kHz. Without espeak-ng the test is skipped, except where
// STAYLINE_REQUIRE_LAB or CI says every tool must be there (make test, CI).
func speech(t testing.TB, voice, text string) []int16 {
	t.Helper()
	if v, ok := speechCache.Load(voice + "\x00" + text); ok {
		return v.([]int16)
	}
	bin, err := exec.LookPath("espeak-ng")
	if err != nil {
		if os.Getenv("STAYLINE_REQUIRE_LAB") != "" || os.Getenv("CI") != "" {
			t.Fatalf("espeak-ng is needed for the speech of the echo tests (scripts/deps.sh test installs it): %v", err)
		}
		t.Skipf("no espeak-ng (scripts/deps.sh test installs it): %v", err)
	}
	wav := filepath.Join(t.TempDir(), "speech.wav")
	if out, err := exec.Command(bin, "-v", voice, "-s", "160", "-w", wav, text).CombinedOutput(); err != nil {
		t.Fatalf("espeak-ng: %v: %s", err, out)
	}
	data, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	pcm, srcRate, err := parseWAV(data)
	if err != nil {
		t.Fatalf("espeak-ng's WAV: %v", err)
	}
	s := resample(pcm, srcRate, rate)
	speechCache.Store(voice+"\x00"+text, s)
	return s
}

// parseWAV reads 16-bit mono PCM from a RIFF WAVE file. espeak-ng writes its data size as 0x7fffffff
// when it streams: the data chunk runs to the end of the file.
func parseWAV(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errors.New("not a RIFF WAVE file")
	}
	srcRate := 0
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8:]
		switch id {
		case "fmt ":
			if len(body) < 16 || binary.LittleEndian.Uint16(body) != 1 || binary.LittleEndian.Uint16(body[2:]) != 1 ||
				binary.LittleEndian.Uint16(body[14:]) != 16 {
				return nil, 0, errors.New("not 16-bit mono PCM")
			}
			srcRate = int(binary.LittleEndian.Uint32(body[4:]))
		case "data":
			if srcRate == 0 {
				return nil, 0, errors.New("data before fmt")
			}
			size = min(size, len(body)) &^ 1
			pcm := make([]int16, size/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return pcm, srcRate, nil
		}
		p += 8 + size + size&1
	}
	return nil, 0, errors.New("no data chunk")
}

// resample converts by windowed-sinc interpolation (a 32-tap Hann window, cut-off just under the lower
// Nyquist frequency): slow, exact enough for test signals.
func resample(in []int16, from, to int) []int16 {
	if from == to {
		return in
	}
	ratio := float64(from) / float64(to)
	cut := math.Min(1, 1/ratio) * 0.95
	const half = 16
	out := make([]int16, int(float64(len(in))/ratio))
	for i := range out {
		x := float64(i) * ratio
		c := int(x)
		var s float64
		for k := c - half + 1; k <= c+half; k++ {
			if k < 0 || k >= len(in) {
				continue
			}
			d := x - float64(k)
			w := 0.5 + 0.5*math.Cos(math.Pi*d/half)
			arg := math.Pi * d * cut
			sinc := cut
			if arg != 0 {
				sinc = cut * math.Sin(arg) / arg
			}
			s += float64(in[k]) * sinc * w
		}
		out[i] = clip(s)
	}
	return out
}

func clip(s float64) int16 {
	return int16(math.Max(-32768, math.Min(32767, math.Round(s))))
}

// roomIR is an echo path: delay, then the direct sound and 100 ms of exponentially decaying noise (the
// room's reflections, 250 ms reverberation time) with as much energy as the direct sound (a laptop's
// speaker a hand's width from its microphone), scaled so that the path's energy gain is gainDB.
func roomIR(seed int64, delay time.Duration, gainDB float64) []float64 {
	rng := rand.New(rand.NewSource(seed))
	d := int(delay.Seconds() * rate)
	tail := rate / 10
	ir := make([]float64, d+tail)
	rt60 := 0.25 * rate // samples for a 60 dB fall
	var energy float64
	for i := 1; i < tail; i++ {
		v := rng.NormFloat64() * math.Pow(10, -3*float64(i)/rt60)
		ir[d+i] = v
		energy += v * v
	}
	ir[d] = math.Sqrt(energy) // the direct sound
	energy *= 2
	g := math.Sqrt(math.Pow(10, gainDB/10) / energy)
	for i := d; i < len(ir); i++ {
		ir[i] *= g
	}
	return ir
}

// convolve is x through ir (the echo), as long as x.
func convolve(x []int16, ir []float64) []float64 {
	first := 0
	for first < len(ir) && ir[first] == 0 {
		first++
	}
	y := make([]float64, len(x))
	for n := range x {
		var s float64
		for k := first; k < len(ir) && k <= n; k++ {
			s += ir[k] * float64(x[n-k])
		}
		y[n] = s
	}
	return y
}

var echoCache sync.Map // scenario -> []float64

// echoOf is what the room makes of far in sc (the same for every candidate: computed once).
func echoOf(far []int16, sc scenario) []float64 {
	if v, ok := echoCache.Load(sc); ok {
		return v.([]float64)
	}
	played := far
	if sc.driftPPM != 0 {
		played = warp(far, 1+sc.driftPPM*1e-6)
	}
	echo := convolve(played, roomIR(1, sc.delay, -6))
	if sc.jump != 0 {
		moved := convolve(played, roomIR(sc.jumpSeed, sc.delay+sc.jump, -6))
		copy(echo[sc.samples(sc.jumpAt):], moved[sc.samples(sc.jumpAt):])
	}
	echoCache.Store(sc, echo)
	return echo
}

// scenario is one simulated call.
type scenario struct {
	delay, jump time.Duration // the echo path's delay, and how far it jumps at jumpAt (0: no change)
	jumpAt      time.Duration
	jumpSeed    int64         // the room after the jump: 1 the same room (only the delay changes), else another
	nearAt      time.Duration // near-end speech starts (double talk); < 0: none
	farOff      bool          // the speaker plays nothing (the near-end-only reference run)
	noiseDBFS   float64       // the microphone's own white noise
	length      time.Duration
	// driftPPM is how fast the speaker's clock runs against the microphone's, in parts per million
	// (> 0: fast, the echo's delay shrinking)
	driftPPM float64
}

// takes are the signals of a run, as long as the scenario.
type takes struct {
	far, echo, near, noise, mic []float64
	out, linear                 []float64
	cpu                         time.Duration // total time spent in Process
	frames                      int
}

func (sc scenario) samples(d time.Duration) int { return int(d.Seconds()*rate) / frame * frame }

// run plays the scenario through c (nil: nothing, the microphone as it is).
func run(t testing.TB, sc scenario, c canceller) takes {
	t.Helper()
	return runN(t, sc, c, frame)
}

func runN(t testing.TB, sc scenario, c canceller, frame int) takes {
	t.Helper()
	n := sc.samples(sc.length)
	far := make([]int16, n)
	if !sc.farOff {
		copy(far, speech(t, "en-us", farText))
	}
	near := make([]float64, n)
	if sc.nearAt >= 0 {
		s := speech(t, "en-gb+f3", nearText)
		at := sc.samples(sc.nearAt)
		for i, v := range s {
			if at+i < n {
				near[at+i] = float64(v) * 0.7 // a talker a little quieter than the far end's echo-free level
			}
		}
	}
	echo := make([]float64, n)
	if !sc.farOff {
		echo = echoOf(far, sc)
	}
	rng := rand.New(rand.NewSource(3))
	noiseAmp := 32768 * math.Pow(10, sc.noiseDBFS/20)
	tk := takes{far: make([]float64, n), echo: echo, near: near, noise: make([]float64, n), mic: make([]float64, n),
		out: make([]float64, n), linear: make([]float64, n)}
	mic16 := make([]int16, n)
	for i := range mic16 {
		tk.far[i] = float64(far[i])
		tk.noise[i] = rng.NormFloat64() * noiseAmp
		tk.mic[i] = echo[i] + near[i] + tk.noise[i]
		mic16[i] = clip(tk.mic[i])
	}
	out := make([]int16, frame)
	lin := make([]int16, frame)
	for i := 0; i+frame <= n; i += frame {
		if c == nil {
			copy(out, mic16[i:i+frame])
			copy(lin, out)
		} else {
			start := time.Now()
			c.process(out, mic16[i:i+frame], far[i:i+frame], lin)
			tk.cpu += time.Since(start)
		}
		tk.frames++
		for j := 0; j < frame; j++ {
			tk.out[i+j], tk.linear[i+j] = float64(out[j]), float64(lin[j])
		}
	}
	return tk
}

func power(x []float64, from, to int) float64 {
	var s float64
	for _, v := range x[from:to] {
		s += v * v
	}
	return s / float64(max(1, to-from))
}

func dB(p float64) float64 { return 10 * math.Log10(p+1e-9) }

// erle is the echo return loss enhancement over [from, to): the microphone's power over what is sent,
// counted only in the blocks where the echo is within 30 dB of its loudest (the far end talks), and while
// the near end is silent.
func (tk takes) erle(sig []float64, from, to time.Duration) float64 {
	a, b := int(from.Seconds()*rate)/block, int(to.Seconds()*rate)/block
	var loud float64
	for i := a; i < b; i++ {
		loud = math.Max(loud, power(tk.echo, i*block, (i+1)*block))
	}
	var in, out float64
	for i := a; i < b; i++ {
		lo, hi := i*block, (i+1)*block
		if power(tk.echo, lo, hi) < loud/1000 || power(tk.near, lo, hi) > 1 {
			continue
		}
		in += power(tk.mic, lo, hi)
		out += power(sig, lo, hi)
	}
	if in == 0 {
		return math.NaN()
	}
	return dB(in) - dB(out)
}

// converged is how long after at the echo return loss enhancement over a sliding 200 ms window reaches
// target and stays there until end: the end of the first window from which on every window (with far-end
// speech and no near-end speech) makes target; -1 if the last one does not.
func (tk takes) converged(sig []float64, at, end time.Duration, target float64) time.Duration {
	const win = 200 * time.Millisecond
	conv := time.Duration(-1)
	for t := at; t+win <= end; t += 100 * time.Millisecond {
		e := tk.erle(sig, t, t+win)
		switch {
		case math.IsNaN(e):
		case e < target:
			conv = -1
		case conv < 0:
			conv = t + win - at
		}
	}
	return conv
}

// level is the power, in dB, of sig over the blocks of [from, to) where the near end talks (its own
// power within 30 dB of its loudest block).
func (tk takes) level(sig []float64, from, to time.Duration) float64 {
	a, b := int(from.Seconds()*rate)/block, int(to.Seconds()*rate)/block
	var loud float64
	for i := a; i < b; i++ {
		loud = math.Max(loud, power(tk.near, i*block, (i+1)*block))
	}
	var p float64
	var k int
	for i := a; i < b; i++ {
		if power(tk.near, i*block, (i+1)*block) >= loud/1000 {
			p += power(sig, i*block, (i+1)*block)
			k++
		}
	}
	return dB(p / float64(max(1, k)))
}

func (tk takes) String() string {
	return fmt.Sprintf("%.0f µs a frame", float64(tk.cpu.Microseconds())/float64(max(1, tk.frames)))
}
