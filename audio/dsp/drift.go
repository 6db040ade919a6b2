package dsp

import "math"

// Following a drift from the canceller's own output (see the top of align.go): over each look
// (lookEvery frames) the microphone is cross-correlated with the echo the adaptive filter predicts, at
// lags of up to maxShift samples either way; the peak, located between samples by a parabola, is how far
// the echo now is from where the filter has it. It drives the reference's delay through a
// proportional-integral loop whose integral is the drift's rate, which moves the delay every frame.

const (
	lookEvery  = 10   // frames in a look (200 ms)
	startAfter = 25   // frames after the delay is first found before the follower starts (0.5 s)
	holdAfter  = 3    // frames after a jump before the follower looks again (60 ms)
	maxShift   = 4    // the lags correlated, samples either way
	minCorr    = 0.9  // the correlation's normalized peak below which a look does not count (double talk)
	kProp      = 0.5  // how much of a shift a look takes out of the delay at once
	kRate      = 2e-2 // how much a shift moves the rate (samples a frame, per sample)
	rateShift  = 0.5  // shifts are bounded to this before they move the rate (one odd look moves it little)
	maxRate    = 0.32 // the rate's bound, samples a frame (1000 ppm)
	cancelling = 4    // the microphone's power over the filter's residual (6 dB) above which no jump is taken
)

type follower struct {
	on     bool    // a look has counted: the rate moves the delay
	fresh  bool    // the next look is the first after a jump: it takes all of its shift, and the rate none
	rate   float64 // the drift: samples of delay a frame
	frames int     // frames in the look so far
	active int     // of which the far end talked in
	wait   int     // frames before the follower looks (after a finding or a jump)
	seen   int     // the aligner's estimates when last looked
	// the look's sums: c[maxShift+l] = sum of mic(n) yh(n-l), yh the filter's prediction; their powers
	c        [2*maxShift + 1]float64
	pm, py   float64
	micP     float64 // the microphone's power, smoothed over the frames the far end talks in
	errP     float64 // the filter's residual's, likewise
	looks    int     // looks that moved the delay, for the tests and the log
	last     float64 // the last look's shift
	lastCorr float64 // and its normalized correlation
}

func (f *follower) reset() { *f = follower{} }

// frameDone is called after each frame the canceller processed: mic the microphone, lin the filter's
// residual.
func (a *aligner) frameDone(mic, lin []int16) {
	f := &a.fine
	if a.est < 0 || a.echoOff {
		return
	}
	if a.estimates != f.seen { // the delay was found, or jumped
		if f.seen == 0 {
			f.on, f.rate, f.wait = false, 0, startAfter
		} else {
			f.wait, f.fresh = holdAfter, true
		}
		f.seen = a.estimates
		f.frames, f.active, f.c, f.pm, f.py = 0, 0, [2*maxShift + 1]float64{}, 0, 0
	}
	var pm, pe float64
	for i := range mic {
		pm += float64(mic[i]) * float64(mic[i])
		pe += float64(lin[i]) * float64(lin[i])
	}
	if !a.talked {
		if f.wait == 0 {
			f.frames++
		}
		return
	}
	f.micP += 0.3 * (pm - f.micP)
	f.errP += 0.3 * (pe - f.errP)
	if f.wait > 0 {
		f.wait--
		return
	}
	f.frames++
	f.active++
	n := len(mic)
	for i := maxShift; i < n; i++ {
		m := float64(mic[i])
		f.pm += m * m
		yh := m - float64(lin[i])
		f.py += yh * yh
	}
	for l := -maxShift; l <= maxShift; l++ {
		var s float64
		for i := maxShift; i < n-maxShift; i++ {
			s += float64(mic[i]) * (float64(mic[i-l]) - float64(lin[i-l]))
		}
		f.c[l+maxShift] += s
	}
	if f.frames < lookEvery {
		return
	}
	ok := 2*f.active >= f.frames
	c, pmic, py := f.c, f.pm, f.py
	f.frames, f.active, f.c, f.pm, f.py = 0, 0, [2*maxShift + 1]float64{}, 0, 0
	if !ok {
		return
	}
	shift, ok := peakShift(c, pmic, py, &f.lastCorr)
	if !ok {
		return
	}
	f.on = true
	f.last = shift
	f.looks++
	if f.fresh { // what is left of a jump: the new measurement's error, no drift
		f.fresh = false
		a.est += shift
		return
	}
	a.est += kProp * shift
	f.rate = max(-maxRate, min(maxRate, f.rate+kRate*max(-rateShift, min(rateShift, shift))))
}

// peakShift locates the correlation's peak between lags: the shift in samples (> 0: the echo is later
// than the filter has it), and whether the peak is clear enough to count.
func peakShift(c [2*maxShift + 1]float64, pm, py float64, corr *float64) (float64, bool) {
	best := 0
	for i := range c {
		if c[i] > c[best] {
			best = i
		}
	}
	*corr = c[best] / math.Sqrt(pm*py+1e-30)
	if *corr < minCorr {
		return 0, false
	}
	if best == 0 || best == 2*maxShift {
		return float64(best - maxShift), true
	}
	y0, y1, y2 := c[best-1], c[best], c[best+1]
	d := 0.0
	if den := y0 - 2*y1 + y2; den < 0 {
		d = 0.5 * (y0 - y2) / den
	}
	return float64(best-maxShift) + d, true
}
