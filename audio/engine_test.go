package audio

import (
	"io"
	"log/slog"
	"math"
	"testing"
	"time"
)

// dominantFreq estimates a tone's frequency from its zero crossings.
func dominantFreq(pcm []int16, rate int) float64 {
	crossings := 0
	for i := 1; i < len(pcm); i++ {
		if (pcm[i-1] < 0) != (pcm[i] < 0) {
			crossings++
		}
	}
	return float64(crossings) / 2 / (float64(len(pcm)) / float64(rate))
}

func rms(pcm []int16) float64 {
	var s float64
	for _, v := range pcm {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(pcm)))
}

func TestResamplersKeepSpeechBandAndDropAliases(t *testing.T) {
	// 1 kHz at 8 kHz, up to 16 kHz and back: still 1 kHz, same level.
	src := make([]int16, 1600)
	(&Sine{Freq: 1000, Rate: 8000, Level: 0.5}).Read(src)
	var up upsampler
	var down downsampler
	var wide []int16
	for i := 0; i < len(src); i += 160 {
		wide = up.process(wide, src[i:i+160])
	}
	if f := dominantFreq(wide[400:], 16000); math.Abs(f-1000) > 20 {
		t.Fatalf("upsampled tone at %.0f Hz", f)
	}
	back := make([]int16, 160)
	var out []int16
	for i := 0; i < len(wide); i += 320 {
		down.process(back, wide[i:i+320])
		out = append(out, back...)
	}
	if r, want := rms(out[200:]), rms(src[200:]); math.Abs(r-want)/want > 0.05 {
		t.Fatalf("level after the round trip %.0f, want %.0f", r, want)
	}
	// 6 kHz at 16 kHz cannot exist at 8 kHz: the low-pass must remove it, not fold it to 2 kHz.
	hi := make([]int16, 3200)
	(&Sine{Freq: 6000, Rate: 16000, Level: 0.5}).Read(hi)
	var d2 downsampler
	low := make([]int16, 160)
	var folded []int16
	for i := 0; i < len(hi); i += 320 {
		d2.process(low, hi[i:i+320])
		folded = append(folded, low...)
	}
	if r := rms(folded[100:]); r > 0.03*rms(hi) {
		t.Fatalf("6 kHz leaked through the decimator at %.0f rms", r)
	}
}

func TestToneCadencesAndFrequencies(t *testing.T) {
	g := newToneGen(ToneBusy, 8000)
	on := make([]int16, 4000) // the first 0.5 s: 480 + 620 Hz
	for i := range on {
		on[i] = int16(g.next())
	}
	off := make([]int16, 4000) // the next 0.5 s: silence
	for i := range off {
		off[i] = int16(g.next())
	}
	if rms(on) < 1000 || rms(off) != 0 {
		t.Fatalf("busy cadence: on %.0f rms, off %.0f rms", rms(on), rms(off))
	}
	d := newToneGen(ToneWaiting, 16000)
	beep := make([]int16, 16000*3/10)
	for i := range beep {
		beep[i] = int16(d.next())
	}
	if f := dominantFreq(beep, 16000); math.Abs(f-440) > 10 {
		t.Fatalf("call-waiting beep at %.0f Hz, want 440", f)
	}
}

// The null engine has no device: silence in, nothing out, no thread.
func TestEngineWithoutADevice(t *testing.T) {
	e, err := OpenEngine(EngineOptions{Backend: "null", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p := e.NewPort(8000)
	defer p.Close()
	e.PlayTone(ToneRingback)
	if e.CurrentTone() != ToneRingback {
		t.Fatal("tone not set")
	}
	time.Sleep(100 * time.Millisecond)
	if n := e.Callbacks(); n != 0 {
		t.Fatalf("%d device callbacks on the null engine", n)
	}
	frame := make([]int16, 160)
	if n := p.Read(frame); n != 160 || rms(frame) != 0 {
		t.Fatalf("null microphone gave %d samples at %.0f rms", n, rms(frame))
	}
	p.Write(frame) // accepted and played into the void
}

// Asking for a device that cannot open falls back to the null device with a warning, never a crash.
func TestEngineFallsBackToNullWithAWarning(t *testing.T) {
	e, err := OpenEngine(EngineOptions{Backend: "default", Input: "no such microphone",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Backend != "null" || e.Warning == "" {
		t.Fatalf("backend %q, warning %q: want the null fallback, explained", e.Backend, e.Warning)
	}
}

// In a conference each member sends what the others say; outside it, only the microphone.
func TestConferenceMixesTheOtherMembers(t *testing.T) {
	e, err := OpenEngine(EngineOptions{Backend: "null", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	a, b := e.NewPort(8000), e.NewPort(8000)
	defer a.Close()
	defer b.Close()
	tone := make([]int16, 160)
	(&Sine{Freq: 500, Rate: 8000, Level: 0.4}).Read(tone)
	out := make([]int16, 160)

	b.Write(tone) // b's far end speaks
	a.Read(out)
	if rms(out) > 100 {
		t.Fatalf("a sends b's audio without a conference (%.0f rms)", rms(out))
	}
	e.Conference(a, b)
	for i := 0; i < 3; i++ { // let the resamplers' history fill
		b.Write(tone)
		a.Read(out)
	}
	if r := rms(out); r < 0.6*rms(tone) {
		t.Fatalf("in conference a sends %.0f rms of b's %.0f", r, rms(tone))
	}
	b.Read(out)
	if rms(out) > 100 {
		t.Fatal("b hears itself back")
	}
	a.Alone()
	b.Write(tone)
	a.Read(out) // the filter's tail of the last conference frame
	b.Write(tone)
	a.Read(out)
	if rms(out) > 100 {
		t.Fatal("a still mixes b after leaving the conference")
	}
}
