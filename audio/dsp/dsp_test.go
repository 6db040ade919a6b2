package dsp

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// candidate is an echo canceller under measurement: "speexdsp" is the phone's (speexdsp behind the
// aligner, as New makes it), "speex-raw" speexdsp as it is usually used (one filter covering the whole
// 400 ms path), "none" the microphone as it is (to show the room is there); -tags webrtcapm adds WebRTC's
// audio processing (webrtc_apm_test.go).
type candidate struct {
	name string
	make func() canceller
}

var candidates = []candidate{
	{"none", func() canceller { return nil }},
}

// proc is a Processor as a candidate: its canceller, with the Processor kept alive (its C state is
// freed when it is garbage).
type proc struct{ *Processor }

func (p proc) setEcho(on bool)                    { p.c.setEcho(on) }
func (p proc) setVoice(on bool)                   { p.c.setVoice(on) }
func (p proc) process(out, mic, ref, lin []int16) { p.c.process(out, mic, ref, lin) }
func (p proc) reset()                             { p.c.reset() }
func (p proc) close()                             { p.Close() }

func init() {
	if haveSpeex {
		candidates = append(candidates,
			candidate{"speexdsp", func() canceller { return proc{New(Config{})} }},
			candidate{"speex-raw", func() canceller { return newSpeex(Config{Tail: 6400}.withDefaults()) }})
	}
}

// The call of the issue: the far end talks from the start; from 2 s its echo is measured (single talk);
// the near end talks over it from 5.5 s (double talk); at 12 s the echo path's delay jumps by 80 ms.
var call = scenario{jump: 80 * time.Millisecond, jumpAt: 12 * time.Second, jumpSeed: 1, nearAt: 5500 * time.Millisecond,
	noiseDBFS: -70, length: 18 * time.Second}

// figures are a candidate's measurements in one room.
type figures struct {
	erle, erleLinear float64       // dB, single talk from 2 s to the double talk
	erleAfterDT      float64       // dB, single talk between the double talk and the path change
	dtLevel          float64       // dB, the near end's level in double talk against the same speech alone
	reconverge       time.Duration // after the path change, until the ERLE is >= 25 dB for good; -1: never
	cpu              string
	cpuPerFrame      time.Duration
}

func measure(t *testing.T, c candidate, delay time.Duration) figures {
	return measureN(t, c, delay, frame)
}

func measureN(t *testing.T, c candidate, delay time.Duration, frame int) figures {
	sc := call
	sc.delay = delay
	tk := runN(t, sc, c.make(), frame)
	alone := sc
	alone.farOff = true
	ref := runN(t, alone, c.make(), frame)
	return figures{
		erle:        tk.erle(tk.out, 2*time.Second, sc.nearAt),
		erleLinear:  tk.erle(tk.linear, 2*time.Second, sc.nearAt),
		erleAfterDT: tk.erle(tk.out, 11*time.Second, sc.jumpAt),
		dtLevel:     tk.level(tk.out, sc.nearAt, sc.jumpAt) - ref.level(ref.out, sc.nearAt, sc.jumpAt),
		reconverge:  tk.converged(tk.out, sc.jumpAt, sc.length, 25),
		cpu:         tk.String(),
		cpuPerFrame: tk.cpu / time.Duration(max(1, tk.frames)),
	}
}

// TestEchoRoom is the proof, for every candidate in three rooms (echo 40, 100 and 200 ms late,
// then 80 ms later): echo return loss enhancement >= 25 dB after 2 s of single talk, the near end's
// level kept within 3 dB in double talk, re-converged within 1 s of the path change. The table it logs
// is the one in README.md ("Calls and audio").
func TestEchoRoom(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the room takes a few seconds")
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-11s %6s | %9s %9s %9s | %8s | %11s | %s\n", "canceller", "delay", "ERLE 2s+",
		"(linear)", "after DT", "DT level", "re-converge", "CPU")
	for _, delay := range []time.Duration{40 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		for _, c := range candidates {
			f := measure(t, c, delay)
			conv := f.reconverge.String()
			if f.reconverge < 0 {
				conv = "never"
			}
			fmt.Fprintf(&table, "%-11s %6s | %6.1f dB %6.1f dB %6.1f dB | %+5.1f dB | %11s | %s\n", c.name, delay,
				f.erle, f.erleLinear, f.erleAfterDT, f.dtLevel, conv, f.cpu)
			switch c.name {
			case "none":
				if math.Abs(f.erle) > 1 {
					t.Errorf("%s: without a canceller the echo is still there: ERLE %.1f dB, want about 0 (the room is wrong)", delay, f.erle)
				}
			case "speexdsp":
				if f.erle < 25 {
					t.Errorf("speexdsp, %s: ERLE after 2 s of single talk %.1f dB, want >= 25", delay, f.erle)
				}
				if f.erleAfterDT < 25 {
					t.Errorf("speexdsp, %s: ERLE after the double talk %.1f dB, want >= 25 (the filter diverged)", delay, f.erleAfterDT)
				}
				if math.Abs(f.dtLevel) > 3 {
					t.Errorf("speexdsp, %s: the near end's level in double talk changed %+.1f dB, want within 3", delay, f.dtLevel)
				}
				if f.reconverge < 0 || f.reconverge > time.Second {
					t.Errorf("speexdsp, %s: re-converged %s after the path changed, want within 1 s", delay, conv)
				}
				if f.cpuPerFrame > time.Millisecond {
					t.Errorf("speexdsp, %s: %v of CPU a 20 ms frame, want under 1 ms (5%% of a core)", delay, f.cpuPerFrame)
				}
			}
		}
	}
	t.Log(table.String())
}

// through runs a Processor over a microphone and a reference, with at(frame) called before each frame.
func through(p *Processor, mic, ref []float64, at func(i int)) []float64 {
	out := make([]float64, len(mic))
	m, r := make([]int16, frame), make([]int16, frame)
	for i := 0; i+frame <= len(mic); i += frame {
		if at != nil {
			at(i / frame)
		}
		for j := range m {
			m[j], r[j] = clip(mic[i+j]), clip(ref[i+j])
		}
		for j, v := range p.Process(m, r) {
			out[i+j] = float64(v)
		}
	}
	return out
}

// TestSwitch: all off, the microphone goes through untouched; the echo canceller on again, the echo is
// cancelled within 2 s; after Reset (another device) too.
func TestSwitch(t *testing.T) {
	if !Available() {
		t.Skip("built without speexdsp")
	}
	sc := call
	sc.delay, sc.nearAt, sc.jump = 100*time.Millisecond, -1, 0
	tk := run(t, sc, nil)
	p := New(Config{})
	defer p.Close()
	p.SetEnabled(false)
	p.SetVoice(false)
	if p.Enabled() {
		t.Error("Enabled() = true after SetEnabled(false)")
	}
	out := through(p, tk.mic, tk.far, func(i int) {
		switch i {
		case 300: // 6 s
			p.SetEnabled(true)
		case 600: // 12 s: another device
			p.Reset()
		}
	})
	for i := 0; i < 300*frame; i++ {
		if out[i] != float64(clip(tk.mic[i])) {
			t.Fatalf("all off: sample %d changed (%v -> %v)", i, tk.mic[i], out[i])
		}
	}
	if e := tk.erle(out, 8*time.Second, 12*time.Second); e < 25 {
		t.Errorf("echo cancellation on again: ERLE %.1f dB 2 s later, want >= 25", e)
	}
	if e := tk.erle(out, 14*time.Second, 18*time.Second); e < 25 {
		t.Errorf("after Reset: ERLE %.1f dB 2 s later, want >= 25", e)
	}
	if !p.Enabled() {
		t.Error("Enabled() = false after SetEnabled(true)")
	}
}

// TestNoiseSuppression: a talker with steady noise (a fan) at -45 dBFS: what is sent has a signal to
// noise ratio at least 10 dB better than the microphone's, once the noise is learnt (after 2 s). The
// noise is measured in the talker's pauses, the speech where the talker talks.
func TestNoiseSuppression(t *testing.T) {
	if !Available() {
		t.Skip("built without speexdsp")
	}
	sc := scenario{nearAt: 0, farOff: true, noiseDBFS: -45, length: 8 * time.Second}
	tk := run(t, sc, nil)
	p := New(Config{})
	defer p.Close()
	out := through(p, tk.mic, tk.far, nil)
	snr := func(sig []float64) float64 {
		var sp, np float64
		var ns, nn int
		for b := 2 * rate / block; (b+1)*block <= len(sig); b++ {
			lo, hi := b*block, (b+1)*block
			switch near := power(tk.near, lo, hi); {
			case near == 0:
				np += power(sig, lo, hi)
				nn++
			case near > 10*power(tk.noise, lo, hi):
				sp += power(sig, lo, hi)
				ns++
			}
		}
		if nn == 0 || ns == 0 {
			t.Fatalf("no pause (%d) or no speech (%d) to measure in", nn, ns)
		}
		return dB(sp/float64(ns)) - dB(np/float64(nn))
	}
	in, got := snr(tk.mic), snr(out)
	t.Logf("signal to noise: %.1f dB in the microphone, %.1f dB sent", in, got)
	if got-in < 10 {
		t.Errorf("noise suppression improved the signal to noise ratio %.1f dB, want >= 10", got-in)
	}
}

// TestAutomaticGain: a quiet talker (speech 26 dB under the usual level) is raised by at least 10 dB
// after 3 s; with the voice processing off, not at all.
func TestAutomaticGain(t *testing.T) {
	if !Available() {
		t.Skip("built without speexdsp")
	}
	s := speech(t, "en-gb+f3", nearText+" "+nearText+" "+nearText)
	quiet := make([]float64, len(s))
	for i, v := range s {
		quiet[i] = float64(v) * 0.05
	}
	silent := make([]float64, len(s))
	p := New(Config{})
	defer p.Close()
	out := through(p, quiet, silent, nil)
	from := 3 * rate
	gain := dB(power(out, from, len(out))) - dB(power(quiet, from, len(quiet)))
	t.Logf("a quiet talker raised %.1f dB", gain)
	if gain < 10 {
		t.Errorf("automatic gain raised a quiet talker %.1f dB, want >= 10", gain)
	}
	p.SetVoice(false)
	p.SetEnabled(false)
	if out := through(p, quiet, silent, nil); dB(power(out, from, len(out)))-dB(power(quiet, from, len(quiet))) > 0.1 {
		t.Error("with everything off the level still changed")
	}
}

func TestIsHeadset(t *testing.T) {
	for name, want := range map[string]bool{
		"Logitech USB Headset Analog Stereo": true, "Built-in Audio Headphones": true, "WH-1000XM4 Handsfree": true,
		"Jabra Handset 450": true, "Built-in Audio Analog Stereo": false, "Speakers (Realtek(R) Audio)": false, "": false,
	} {
		if got := IsHeadset(name); got != want {
			t.Errorf("IsHeadset(%q) = %v, want %v", name, got, want)
		}
	}
	for _, c := range []struct {
		mode, device string
		want         bool
	}{{"auto", "Built-in Audio Analog Stereo", true}, {"auto", "USB Headset", false}, {"on", "USB Headset", true},
		{"off", "Built-in Audio Analog Stereo", false}, {"", "", true}} {
		if got := EchoOn(c.mode, c.device); got != c.want {
			t.Errorf("EchoOn(%q, %q) = %v, want %v", c.mode, c.device, got, c.want)
		}
	}
}

// TestProcessAllocates nothing on the audio thread, and passes frames of another length through.
func TestProcessAllocates(t *testing.T) {
	p := New(Config{})
	defer p.Close()
	mic, ref := make([]int16, frame), make([]int16, frame)
	for i := range ref {
		ref[i] = int16(1000 * math.Sin(float64(i)))
	}
	if n := testing.AllocsPerRun(200, func() { p.Process(mic, ref) }); n != 0 {
		t.Errorf("Process allocates %v times a frame, want 0", n)
	}
	odd := make([]int16, 100)
	if got := p.Process(odd, odd); &got[0] != &odd[0] {
		t.Error("a frame of another length was not passed through")
	}
}

// BenchmarkProcess is the CPU a 20 ms frame costs while the far end talks (README.md, "Calls and audio").
func BenchmarkProcess(b *testing.B) {
	s := speech(b, "en-us", farText)
	p := New(Config{})
	defer p.Close()
	mic := make([]int16, frame)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at := (i * frame) % (len(s) - 2*frame)
		ref := s[at : at+frame]
		for j := range mic {
			mic[j] = s[at+frame+j] / 2
		}
		p.Process(mic, ref)
	}
}
