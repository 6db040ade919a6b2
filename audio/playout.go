package audio

// A flow carries one direction of a call's audio between two clocks: the sound device's callbacks and
// the call's 20 ms media tick. They never run in step (the device asks for 5, 10 or 20 ms at a time, at its
// own phase, and either may be late under load), so the flow holds a small backlog (its target) and plays
// only once that much has come (primed). Running dry is an underrun: the rest of that callback is silence
// and the flow primes again, at a target 10 ms deeper (up to maxTarget), so a loaded machine settles at
// the depth it needs. The two clocks may also run at slightly different rates (a USB headset's crystal
// against the system clock): the flow watches the least it held over each 2 s, and when that stays above
// what the target needs it plays the excess out by reading 0.5 % faster (linear interpolation, inaudible on
// speech, about -48 dB on a 440 Hz tone) until it is gone; when the least stays near empty it reads slower
// the same way. So a long call's delay neither grows nor runs dry (docs/ARCHITECTURE.md, "Sound").

const (
	flowStartTarget = EngineRate * 30 / 1000  // 30 ms
	flowStep        = EngineRate * 10 / 1000  // 10 ms deeper after an underrun
	flowMaxTarget   = EngineRate * 120 / 1000 // 120 ms
	flowWindow      = 5 * EngineRate          // the drift watch's window (5 s of audio read)
	driftLimit      = EngineRate * 15 / 1000  // 15 ms away from the baseline: a drift
	flowRate        = 0.005                   // how much faster or slower a correction reads
)

// flow is one direction's backlog. Not safe for concurrent use: the engine's lock guards it.
type flow struct {
	buf    []int16
	target int // samples held before playing starts again
	chunk  int // the most the reader takes at once (the slack the target must cover on top)
	primed bool

	pos      float64 // fractional read position in buf while a correction runs
	excess   int     // samples still to play out (>0) or to stretch in (<0)
	baseline int     // the average backlog of the first window after priming (-1: not yet)
	sum      int64   // the backlog times the samples read, over this window
	read     int     // samples read in this window

	underruns, overflows, corrections uint64
}

func newFlow(chunk int) *flow {
	return &flow{target: flowStartTarget + chunk, chunk: chunk, baseline: -1}
}

// push adds audio; beyond maxBuffered the oldest is dropped (an overflow: the reader stopped).
func (f *flow) push(s []int16) {
	f.buf = append(f.buf, s...)
	if over := len(f.buf) - maxBuffered; over > 0 {
		f.buf = append(f.buf[:0], f.buf[over:]...)
		f.pos = 0
		f.overflows++
	}
}

// level is the backlog in samples.
func (f *flow) level() int { return len(f.buf) }

// pull fills dst: audio once primed, silence before and after running dry. It returns how many samples
// were audio.
func (f *flow) pull(dst []int16) int {
	if !f.primed {
		if len(f.buf) < f.target {
			clear(dst)
			return 0
		}
		f.primed = true
	}
	n := f.take(dst)
	if n < len(dst) {
		clear(dst[n:])
		f.underruns++
		f.primed = false
		f.target = min(f.target+flowStep, flowMaxTarget+f.chunk)
		f.baseline, f.sum, f.read, f.excess = -1, 0, 0, 0
		return n
	}
	f.watch(len(dst))
	return n
}

// take copies what it can into dst, reading faster or slower while a correction runs.
func (f *flow) take(dst []int16) int {
	if f.excess == 0 {
		n := copy(dst, f.buf)
		f.buf = append(f.buf[:0], f.buf[n:]...)
		return n
	}
	step := 1 + flowRate
	if f.excess < 0 {
		step = 1 - flowRate
	}
	n := 0
	for ; n < len(dst); n++ {
		i := int(f.pos)
		if i+1 >= len(f.buf) {
			break
		}
		frac := f.pos - float64(i)
		dst[n] = int16(float64(f.buf[i])*(1-frac) + float64(f.buf[i+1])*frac)
		f.pos += step
	}
	used := int(f.pos)
	before := len(f.buf)
	f.buf = append(f.buf[:0], f.buf[used:]...)
	f.pos -= float64(used)
	// Samples consumed beyond those played (or short of them) count against the excess.
	if f.excess > 0 {
		f.excess = max(0, f.excess-(before-len(f.buf)-n))
	} else {
		f.excess = min(0, f.excess+(n-(before-len(f.buf))))
	}
	if f.excess == 0 {
		f.corrections++
	}
	return n
}

// watch follows the backlog's average over each window. The first window after priming sets the
// baseline; a later window whose average is more than driftLimit above it (or a third of that below it:
// the margin against running dry is small) means the clocks differ (jitter moves single reads, not a 5 s
// average), and the difference is played out or stretched in.
func (f *flow) watch(n int) {
	f.sum += int64(len(f.buf)) * int64(n)
	f.read += n
	if f.read < flowWindow {
		return
	}
	avg := int(f.sum / int64(f.read))
	f.sum, f.read = 0, 0
	switch {
	case f.baseline < 0:
		f.baseline = avg
	case f.excess != 0:
	case avg > f.baseline+driftLimit:
		f.excess = avg - f.baseline
	case avg < f.baseline-driftLimit/3:
		f.excess = avg - f.baseline
	}
}

// FlowStats are a flow's figures.
type FlowStats struct {
	LevelMs     float64 // backlog now
	TargetMs    float64 // the depth it primes at
	Underruns   uint64  // times it ran dry
	Overflows   uint64  // times its reader stopped and it dropped audio
	Corrections uint64  // drift corrections completed
}

func (f *flow) stats() FlowStats {
	return FlowStats{LevelMs: float64(len(f.buf)) * 1000 / EngineRate, TargetMs: float64(f.target) * 1000 / EngineRate,
		Underruns: f.underruns, Overflows: f.overflows, Corrections: f.corrections}
}
