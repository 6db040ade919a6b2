package dsp

import (
	"math"
	"math/cmplx"
)

// The speaker's sound reaches the microphone late: the device's playback and capture buffers (tens to
// hundreds of milliseconds, and they change when a device changes or a buffer runs dry) and then the
// room. An adaptive filter that covered all of it would be long and slow to converge, and would start
// again from nothing when the delay jumps. So the delay is measured (GCC-PHAT, a cross-correlation of the
// microphone and the reference whitened to its phase, at 4 kHz over the last 256 ms, every 62.5 ms while
// the far end talks; the peak is then located between samples on the band-limited correlation) and the
// reference is delayed by it: the canceller's filter then only has to model the room.
//
// A jump (more than 0.5 ms away: another buffer depth) is taken when two measurements in a row agree on
// it (four for one under 4 ms, more often a false peak next to the true one), and not while the filter
// still cancels the echo where it is (the microphone 6 dB over its residual: the measurement is the
// outlier); measured in TestEchoRoom, a jump of 80 ms is cancelled again within 0.6-0.7 s. Smaller moves
// move the delay a tenth of the way each, until the follower (drift.go) takes over.
//
// The measurements scatter by 1-2 samples: too coarse for a clock drift (a speaker 100 ppm fast moves the
// echo 1.6 samples a second, and cancellation at 1-4 kHz needs it placed to a tenth of a sample: followed
// by the measurements alone, ERLE fell to 13 dB). So, from half a second after the delay is first found,
// the follower measures how far the echo is from where the filter has it: every 200 ms of far-end speech
// it cross-correlates the microphone with the echo the filter predicts (the microphone less the filter's
// residual) at lags of up to 4 samples, and locates the peak between samples by a parabola (unbiased at
// the peak, where the loop holds it). A look whose normalized peak is under 0.9 (double talk, a filter
// not converged yet) does not count. The shift drives a proportional-integral loop: half of it comes off
// the delay at once, and it moves the drift's rate, which moves the delay every frame (silence included);
// the reference is read at that fractional delay by a 16-tap windowed-sinc interpolator. The rate is in
// within about 3 s, after which the delay is held to a hundredth of a sample (TestEchoDrift: 100 ppm either
// way, 36-48 dB; TestEchoLive, PulseAudio's module-loopback, about 100 ppm: 35-51 dB). A jump keeps the
// follower's offset from the measurements (the same room: the same error of the correlation), and its
// first look after it takes out all of the shift it finds and none into the rate. (Following the peak of
// the filter's impulse response, speexdsp's SPEEX_ECHO_GET_IMPULSE_RESPONSE, was tried first: the filter
// lags the drift and smears its peak rather than moving it, so the loop saw a fraction of the shift, late,
// and oscillated; 9-24 dB.)

const (
	decim       = 4                // the estimator's rate is Rate/decim (4 kHz)
	estWindow   = 1024             // its window, at 4 kHz (0.256 s)
	estFFT      = 4096             // FFT size: window + the longest delay, rounded up to a power of two
	estHop      = 250              // a measurement every 62.5 ms (at 4 kHz)
	jumpTol     = 8                // a measurement more than 8 samples (0.5 ms) away is a jump
	minPeakness = 12               // the correlation's peak over its mean magnitude, below which no measurement counts
	minRefPower = 32768 * 32768e-6 // -60 dBFS: a silent far end gives no measurement
	alignMargin = 160              // the reference is delayed 10 ms (at 16 kHz) less than measured, so the filter is causal
	driftStep   = 0.1              // how far a measurement within jumpTol moves the delay
	maxLagDecim = estFFT - estWindow - 1
	interpTaps  = 16 // the fractional-delay interpolator's length
	// a jump shorter than smallJump (4 ms) is taken when smallJumpAgree measurements in a row agree on it
	smallJump      = 64
	smallJumpAgree = 4
)

// MaxDelay is the longest speaker-to-microphone delay the aligner finds, in samples at 16 kHz (768 ms).
const MaxDelay = maxLagDecim * decim

type aligner struct {
	hist []int16 // the reference's last MaxDelay+frame+interpTaps samples, newest last
	// the estimator's rings at 4 kHz: the microphone's window, the reference's window plus the longest
	// delay
	mic4, ref4 []float64
	pos4       int     // the rings' next write position
	accM, accR float64 // the decimator's running sums
	phase      int     // samples into the current group of decim
	since      int     // 4 kHz samples since the last measurement
	est        float64 // the measured delay followed, samples at 16 kHz (-1: none yet)
	gcc        float64 // the correlation's measurements of it, smoothed (est less the follower's corrections)
	cand       float64 // a jump's first measurement (-1: none)
	agree      int     // the measurements that agreed with cand, cand's own included
	// FFT buffers; xs keeps the whitened cross-spectrum for locating the peak between samples
	fm, fr, xs []complex128
	tw         []complex128
	frame      int
	ref        []int16
	taps       [interpTaps]float64
	tapsFor    float64 // the fraction taps are for (-1: none)
	// estimates counts the jumps taken (the first finding included), for the tests and the log.
	estimates int
	fine      follower // the drift followed from the adaptive filter (drift.go)
	talked    bool     // the far end talked in the last frame pushed
	lin       []int16  // the adaptive filter's output, when the caller wants none
	echoOff   bool     // the canceller's filter does not run: nothing for the follower
}

func newAligner(frame int) *aligner {
	a := &aligner{
		hist: make([]int16, MaxDelay+frame+interpTaps), mic4: make([]float64, estWindow),
		ref4: make([]float64, estWindow+maxLagDecim), est: -1, cand: -1, frame: frame, tapsFor: -1,
		fm: make([]complex128, estFFT), fr: make([]complex128, estFFT), xs: make([]complex128, estFFT),
		ref: make([]int16, frame), lin: make([]int16, frame),
	}
	a.tw = make([]complex128, estFFT/2)
	for i := range a.tw {
		a.tw[i] = cmplx.Exp(complex(0, -2*math.Pi*float64(i)/estFFT))
	}
	return a
}

// delay is the delay the reference is given, samples at 16 kHz: the measured one less the margin, at
// least half the interpolator (0 before any measurement).
func (a *aligner) delay() float64 {
	if a.est < 0 {
		return interpTaps / 2
	}
	return max(interpTaps/2, a.est-alignMargin)
}

// push takes one frame of microphone and reference and returns the reference delayed by the measured
// delay (valid until the next call).
func (a *aligner) push(mic, ref []int16) []int16 {
	a.hist = append(a.hist[:0], a.hist[len(ref):]...)
	a.hist = append(a.hist, ref...)
	for i := range mic {
		a.accM += float64(mic[i])
		a.accR += float64(ref[i])
		if a.phase++; a.phase == decim {
			a.mic4[a.pos4%estWindow] = a.accM / decim
			a.ref4[a.pos4%len(a.ref4)] = a.accR / decim
			a.pos4++
			a.accM, a.accR, a.phase = 0, 0, 0
			if a.since++; a.since >= estHop {
				a.since = 0
				a.measure()
			}
		}
	}
	var pr float64
	for _, v := range ref {
		pr += float64(v) * float64(v)
	}
	a.talked = pr/float64(len(ref)) >= minRefPower
	if a.fine.on && a.est >= 0 {
		a.est += a.fine.rate
		a.gcc += a.fine.rate
	}
	// out[i] = x(n - d) for the frame's positions n: an integer part and a fraction, the fraction by the
	// windowed sinc over the 16 samples around it.
	d := a.delay()
	di := int(d)
	mu := d - float64(di)
	if mu != a.tapsFor {
		a.tapsFor = mu
		var sum float64
		for k := range a.taps {
			x := float64(k-interpTaps/2+1) - mu // k's offset from the point wanted
			v := 1.0
			if x != 0 {
				v = math.Sin(math.Pi*x) / (math.Pi * x)
			}
			v *= 0.5 + 0.5*math.Cos(math.Pi*x/(interpTaps/2+0.5))
			a.taps[k] = v
			sum += v
		}
		for k := range a.taps {
			a.taps[k] /= sum
		}
	}
	first := len(a.hist) - len(ref) - di // x(n - di) for the frame's first n
	for i := range a.ref {
		var s float64
		base := first + i + interpTaps/2 - 1
		for k, h := range a.taps {
			s += h * float64(a.hist[base-k])
		}
		a.ref[i] = int16(max(-32768, min(32767, math.Round(s))))
	}
	return a.ref
}

// measure finds the delay at the correlation's peak and follows it (see the top of the file).
func (a *aligner) measure() {
	var pr float64
	for _, v := range a.ref4 {
		pr += v * v
	}
	if pr/float64(len(a.ref4)) < minRefPower {
		return
	}
	clear(a.fm)
	clear(a.fr)
	for i := range a.mic4 { // oldest first
		a.fm[i] = complex(a.mic4[(a.pos4+i)%estWindow], 0)
	}
	for i := range a.ref4 {
		a.fr[i] = complex(a.ref4[(a.pos4+i)%len(a.ref4)], 0)
	}
	fft(a.fm, a.tw, false)
	fft(a.fr, a.tw, false)
	for i := range a.fm {
		x := cmplx.Conj(a.fm[i]) * a.fr[i]
		if m := cmplx.Abs(x); m > 1e-9 {
			x /= complex(m, 0)
		}
		a.fm[i] = x
	}
	copy(a.xs, a.fm)
	fft(a.fm, a.tw, true)
	// fm[k] = sum_i mic[i] ref[i+k]: the echo of ref's sample j shows in mic at j-k+maxLag, so the
	// delay is maxLag-k.
	best, bestK, sum := 0.0, 0, 0.0
	for k := 0; k <= maxLagDecim; k++ {
		v := math.Abs(real(a.fm[k]))
		sum += v
		if v > best {
			best, bestK = v, k
		}
	}
	if best < minPeakness*sum/float64(maxLagDecim+1) {
		return
	}
	lag := float64(decim) * (maxLagDecim - a.peak(bestK, real(a.fm[bestK]) < 0))
	switch {
	case a.est >= 0 && math.Abs(lag-a.gcc) <= jumpTol:
		a.gcc += driftStep * (lag - a.gcc)
		if !a.fine.on { // once the follower is on, it follows the small moves far more precisely
			a.est = a.gcc
		}
		a.cand = -1
	case a.est >= 0 && a.fine.micP > cancelling*a.fine.errP:
		// the filter cancels the echo where it is: the measurement is an outlier (the correlation of a
		// voice with itself a pitch period away), not a jump
		a.cand = -1
	case a.cand >= 0 && math.Abs(lag-a.cand) <= jumpTol:
		// a jump of less than smallJump needs more measurements to agree: it is more often a false
		// peak of the correlation next to the true one
		if a.agree++; a.est < 0 || math.Abs(lag-a.gcc) > smallJump || a.agree >= smallJumpAgree {
			// the jump keeps what the follower found the filter off from these measurements by (the
			// same room: the same error of the correlation)
			off := 0.0
			if a.fine.on {
				off = a.est - a.gcc
			}
			a.gcc = (lag + a.cand) / 2
			a.est, a.cand = a.gcc+off, -1
			a.estimates++
		}
	default:
		a.cand, a.agree = lag, 1
	}
}

// peak locates the correlation's extreme near sample k between samples: the band-limited correlation
// c(t) = Re sum_f X(f) e^(2πi f t/N), searched on [k-1, k+1] (golden section). neg: the peak is a
// trough (the echo's polarity inverted).
func (a *aligner) peak(k int, neg bool) float64 {
	c := func(t float64) float64 {
		w := cmplx.Exp(complex(0, 2*math.Pi*t/estFFT))
		z := complex(1, 0)
		var s float64
		for _, x := range a.xs {
			s += real(x * z)
			z *= w
		}
		if neg {
			return -s
		}
		return s
	}
	const g = 0.6180339887498949
	lo, hi := float64(k)-1, float64(k)+1
	x1, x2 := hi-g*(hi-lo), lo+g*(hi-lo)
	f1, f2 := c(x1), c(x2)
	for i := 0; i < 14; i++ { // 2 * 0.618^14: within 0.002 of a sample at 4 kHz
		if f1 > f2 {
			hi, x2, f2 = x2, x1, f1
			x1 = hi - g*(hi-lo)
			f1 = c(x1)
		} else {
			lo, x1, f1 = x1, x2, f2
			x2 = lo + g*(hi-lo)
			f2 = c(x2)
		}
	}
	return (lo + hi) / 2
}

// fft transforms x in place (len a power of two; tw its twiddles exp(-2πik/n), k < n/2); inverse
// without the 1/n.
func fft(x, tw []complex128, inverse bool) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		step := n / size
		for start := 0; start < n; start += size {
			for k := 0; k < size/2; k++ {
				w := tw[k*step]
				if inverse {
					w = cmplx.Conj(w)
				}
				u, v := x[start+k], x[start+k+size/2]*w
				x[start+k], x[start+k+size/2] = u+v, u-v
			}
		}
	}
}

// aligned is a canceller behind an aligner. When the aligner first finds the delay the canceller starts
// again (what its filter learnt of the unaligned reference is wrong from then on); later changes of delay
// keep the filter, which still models the same room.
type aligned struct {
	canceller
	a *aligner
}

// reset forgets the delay and the filter: the next delay found is a first one again.
func (al aligned) reset() {
	a := al.a
	clear(a.hist)
	clear(a.mic4)
	clear(a.ref4)
	a.accM, a.accR, a.phase, a.since, a.est, a.cand, a.estimates, a.tapsFor = 0, 0, 0, 0, -1, -1, 0, -1
	a.fine.reset()
	al.canceller.reset()
}

// setEcho passes the switch on, and the follower stops while the filter does not run (turned on again,
// the filter starts from nothing and the follower with it).
func (al aligned) setEcho(on bool) {
	if !on {
		al.a.fine.reset()
	}
	al.a.echoOff = !on
	al.canceller.setEcho(on)
}

func (al aligned) process(out, mic, ref, linear []int16) {
	before := al.a.estimates
	r := al.a.push(mic, ref)
	if before == 0 && al.a.estimates > 0 {
		al.canceller.reset()
	}
	lin := linear
	if lin == nil {
		lin = al.a.lin
	}
	al.canceller.process(out, mic, r, lin)
	al.a.frameDone(mic, lin)
}
