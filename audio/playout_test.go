package audio

import (
	"math"
	"testing"
)

// run drives a flow for seconds of audio: the writer pushes 20 ms frames at its rate (1 + skew of the
// reader's), the reader takes read samples at a time; it returns the backlog after each second.
func runFlow(f *flow, seconds int, skew float64, read int) (levels []int, gaps int) {
	const step = 0.001 // simulated time, 1 ms
	var wrote, readAt float64
	frame := make([]int16, engineFrame)
	out := make([]int16, read)
	phase := 0.0
	for t := 0.0; t < float64(seconds); t += step {
		for wrote <= t*(1+skew) {
			for i := range frame {
				frame[i] = int16(8000 * math.Sin(phase))
				phase += 2 * math.Pi * 440 / EngineRate
			}
			f.push(frame)
			wrote += float64(engineFrame) / EngineRate
		}
		for readAt <= t {
			if f.pull(out) < len(out) && f.primed {
				gaps++
			}
			readAt += float64(read) / EngineRate
		}
		if int(t*1000)%1000 == 0 {
			levels = append(levels, f.level())
		}
	}
	return levels, gaps
}

// Two clocks in step: the flow primes once, never runs dry, never corrects.
func TestFlowInStepHoldsItsDepth(t *testing.T) {
	f := newFlow(engineFrame)
	levels, _ := runFlow(f, 60, 0, 160)
	if f.underruns != 0 || f.corrections != 0 || f.overflows != 0 {
		t.Fatalf("underruns %d, corrections %d, overflows %d", f.underruns, f.corrections, f.overflows)
	}
	if d := levels[len(levels)-1] - levels[5]; d > engineFrame || d < -engineFrame {
		t.Fatalf("backlog moved by %d samples in a minute: %v", d, levels)
	}
}

// A writer 0.1 % fast (a headset's clock) for two minutes: the backlog is played out, not piled up.
func TestFlowShedsAFastClock(t *testing.T) {
	f := newFlow(engineFrame)
	levels, _ := runFlow(f, 120, 0.001, 160)
	if f.corrections == 0 {
		t.Fatal("no correction")
	}
	if last := levels[len(levels)-1]; last > f.target+driftLimit+engineFrame {
		t.Fatalf("backlog grew to %d samples (target %d): %v", last, f.target, levels)
	}
	if f.underruns != 0 || f.overflows != 0 {
		t.Fatalf("underruns %d, overflows %d", f.underruns, f.overflows)
	}
}

// A writer 0.1 % slow: the backlog is stretched in before it runs dry.
func TestFlowStretchesASlowClock(t *testing.T) {
	f := newFlow(engineFrame)
	runFlow(f, 120, -0.001, 160)
	if f.corrections == 0 || f.underruns > 0 {
		t.Fatalf("corrections %d, underruns %d", f.corrections, f.underruns)
	}
}

// A reader that stalls runs the flow dry once; it primes again, 10 ms deeper.
func TestFlowUnderrunPrimesDeeper(t *testing.T) {
	f := newFlow(engineFrame)
	before := f.target
	f.push(make([]int16, f.target))
	out := make([]int16, f.target+10)
	if n := f.pull(out); n != before || f.underruns != 1 || f.primed || f.target != before+flowStep {
		t.Fatalf("n %d underruns %d primed %v target %d", n, f.underruns, f.primed, f.target)
	}
	if n := f.pull(out[:10]); n != 0 {
		t.Fatal("played before priming again")
	}
}
