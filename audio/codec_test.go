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
