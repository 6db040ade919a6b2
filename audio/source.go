package audio

import "math"

// Source gives the audio to send: one frame of PCM per call, at the rate it was made for.
type Source interface {
	// Read fills pcm (one frame) and returns how many samples it wrote; fewer than len(pcm) means silence
	// for the rest.
	Read(pcm []int16) int
}

// Sink takes the audio received: one frame per call.
type Sink interface {
	Write(pcm []int16)
}

// Silence is a Source of silence (the null microphone).
type Silence struct{}

// Read writes zeros.
func (Silence) Read(pcm []int16) int {
	clear(pcm)
	return len(pcm)
}

// Discard is a Sink that drops what it gets (the null speaker).
type Discard struct{}

// Write drops pcm.
func (Discard) Write([]int16) {}

// Sine is a Source of a sine wave (a test tone).
type Sine struct {
	Freq, Rate float64
	Level      float64 // 0..1 of full scale
	phase      float64
}

// Read writes the next frame of the tone.
func (t *Sine) Read(pcm []int16) int {
	step := 2 * math.Pi * t.Freq / t.Rate
	for i := range pcm {
		pcm[i] = int16(t.Level * 32767 * math.Sin(t.phase))
		t.phase += step
		if t.phase > 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
	}
	return len(pcm)
}
