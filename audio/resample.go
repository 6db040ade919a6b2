package audio

import "math"

// The engine runs at 16 kHz; G.711 calls at 8 kHz. These convert by two with a halfband low-pass FIR
// (windowed sinc, 4 kHz cut-off): enough to keep speech clean and aliasing out, cheap enough for 50
// frames a second. Each keeps its filter history across frames, so frame edges do not click.

const halfbandTaps = 23

var halfband = func() [halfbandTaps]float64 {
	var h [halfbandTaps]float64
	mid := float64(halfbandTaps-1) / 2
	sum := 0.0
	for i := range h {
		x := float64(i) - mid
		sinc := 0.5
		if x != 0 {
			sinc = math.Sin(math.Pi*x/2) / (math.Pi * x)
		}
		// Blackman window.
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(halfbandTaps-1)) +
			0.08*math.Cos(4*math.Pi*float64(i)/float64(halfbandTaps-1))
		h[i] = sinc * w
		sum += h[i]
	}
	for i := range h {
		h[i] /= sum // unity gain at DC
	}
	return h
}()

// firState is a delay line for the halfband filter.
type firState struct {
	hist [halfbandTaps]float64
	pos  int
}

func (f *firState) push(x float64) float64 {
	f.hist[f.pos] = x
	f.pos = (f.pos + 1) % halfbandTaps
	var y float64
	for i := 0; i < halfbandTaps; i++ {
		y += halfband[i] * f.hist[(f.pos+i)%halfbandTaps]
	}
	return y
}

// upsampler doubles the rate: zero-stuffing, then the low-pass (with gain 2 to keep the level).
type upsampler struct{ fir firState }

func (u *upsampler) process(dst, src []int16) []int16 {
	for _, s := range src {
		dst = append(dst, clip(2*u.fir.push(float64(s))), clip(2*u.fir.push(0)))
	}
	return dst
}

// downsampler halves the rate: the low-pass, then every other sample.
type downsampler struct{ fir firState }

func (d *downsampler) process(dst, src []int16) {
	for i := range dst {
		d.fir.push(float64(src[2*i]))
		dst[i] = clip(d.fir.push(float64(src[2*i+1])))
	}
}
