package audio

import (
	"math"
	"testing"
)

// snr is the signal-to-noise ratio of got against want, in dB.
func snr(want, got []int16) float64 {
	var sig, noise float64
	for i := range want {
		d := float64(want[i]) - float64(got[i])
		sig += float64(want[i]) * float64(want[i])
		noise += d * d
	}
	if noise == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(sig/noise)
}

func TestG711RoundTrip(t *testing.T) {
	for _, name := range []string{"PCMU", "PCMA", "pcmu"} {
		c, err := NewCodec(name)
		if err != nil {
			t.Fatal(err)
		}
		n := FrameSamples(c)
		if n != 160 || c.TimestampStep() != 160 || c.ClockRate() != 8000 {
			t.Fatalf("%s: %d samples, step %d, rate %d", name, n, c.TimestampStep(), c.ClockRate())
		}
		tone := &Sine{Freq: 1000, Rate: 8000, Level: 0.5}
		pcm := make([]int16, n)
		tone.Read(pcm)
		payload := c.Encode(nil, pcm)
		if len(payload) != n {
			t.Fatalf("%s: payload %d bytes, want %d", name, len(payload), n)
		}
		back := c.Decode(nil, payload)
		// G.711's companding keeps a tone at about 35-38 dB SNR.
		if s := snr(pcm, back); s < 30 {
			t.Errorf("%s round trip SNR %.1f dB, want ≥ 30", name, s)
		}
	}
	if _, err := NewCodec("G729"); err == nil {
		t.Error("G729 accepted")
	}
}

// G.722 round trip: a 1 kHz and a 5 kHz tone (the high band) come back at their frequency and level;
// the codec keeps its state from frame to frame, as a call feeds it.
func TestG722RoundTrip(t *testing.T) {
	for _, freq := range []float64{1000, 5000} {
		c, err := NewCodec("G722")
		if err != nil {
			t.Fatal(err)
		}
		if FrameSamples(c) != 320 || c.TimestampStep() != 160 || c.ClockRate() != 8000 || c.PayloadType() != 9 {
			t.Fatalf("G722 framing: %d samples, step %d, clock %d", FrameSamples(c), c.TimestampStep(), c.ClockRate())
		}
		src := &Sine{Freq: freq, Rate: 16000, Level: 0.3}
		var in, out []int16
		for f := 0; f < 50; f++ { // one second
			pcm := make([]int16, 320)
			src.Read(pcm)
			payload := c.Encode(nil, pcm)
			if len(payload) != 160 {
				t.Fatalf("payload %d octets, want 160", len(payload))
			}
			in = append(in, pcm...)
			out = c.Decode(out, payload)
		}
		// Skip the adaptation at the start; compare levels and frequency.
		if got := dominantFreq(out[4000:], 16000); math.Abs(got-freq) > freq*0.02 {
			t.Errorf("%.0f Hz came back at %.0f Hz", freq, got)
		}
		if r, want := rms(out[4000:]), rms(in[4000:]); math.Abs(r-want)/want > 0.15 {
			t.Errorf("%.0f Hz: level %.0f rms, want %.0f", freq, r, want)
		}
	}
}

// The two bands are coded apart: silence stays silence, and a decoder fed an encoder's output of
// silence stays quiet.
func TestG722Silence(t *testing.T) {
	c, _ := NewCodec("G722")
	var out []int16
	for f := 0; f < 10; f++ {
		out = c.Decode(out, c.Encode(nil, make([]int16, 320)))
	}
	if r := rms(out); r > 20 {
		t.Fatalf("silence came back at %.0f rms", r)
	}
}

func TestOpusRoundTrip(t *testing.T) {
	c, err := NewCodec("opus")
	if err != nil {
		t.Skipf("no Opus in this build: %v", err)
	}
	if c.ClockRate() != 48000 || c.TimestampStep() != 960 || FrameSamples(c) != 320 {
		t.Fatalf("opus framing: clock %d step %d samples %d", c.ClockRate(), c.TimestampStep(), FrameSamples(c))
	}
	src := &Sine{Freq: 800, Rate: 16000, Level: 0.3}
	var out []int16
	for f := 0; f < 50; f++ {
		pcm := make([]int16, 320)
		src.Read(pcm)
		payload := c.Encode(nil, pcm)
		if len(payload) == 0 || len(payload) > 400 {
			t.Fatalf("opus payload of %d octets", len(payload))
		}
		out = c.Decode(out, payload)
	}
	if len(out) != 50*320 {
		t.Fatalf("decoded %d samples, want %d", len(out), 50*320)
	}
	if f := dominantFreq(out[8000:], 16000); math.Abs(f-800) > 20 {
		t.Fatalf("800 Hz came back at %.0f Hz", f)
	}
}
