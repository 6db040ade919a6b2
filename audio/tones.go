package audio

import "math"

// Tone is a call-progress sound the phone plays to its own user.
type Tone int

// The tones (North American frequencies and cadences, ITU-T E.180).
const (
	ToneNone     Tone = iota
	ToneDial          // 350 + 440 Hz, continuous
	ToneRingback      // 440 + 480 Hz, 2 s on, 4 s off: the far end is ringing
	ToneBusy          // 480 + 620 Hz, 0.5 s on, 0.5 s off
	ToneRingtone      // the phone's own ring for an incoming call: a two-note chime, twice, then 3 s pause
	ToneWaiting       // call waiting: one short 440 Hz beep every 10 s
)

func (t Tone) String() string {
	return [...]string{"none", "dial", "ringback", "busy", "ringtone", "waiting"}[t]
}

// segment is a stretch of a cadence: the frequencies sounding (none: silence) for ms milliseconds.
type segment struct {
	freqs []float64
	ms    int
}

var cadences = map[Tone][]segment{
	ToneDial:     {{[]float64{350, 440}, 1000}},
	ToneRingback: {{[]float64{440, 480}, 2000}, {nil, 4000}},
	ToneBusy:     {{[]float64{480, 620}, 500}, {nil, 500}},
	ToneRingtone: {{[]float64{880}, 150}, {[]float64{660}, 300}, {nil, 150}, {[]float64{880}, 150}, {[]float64{660}, 300}, {nil, 3000}},
	ToneWaiting:  {{[]float64{440}, 300}, {nil, 9700}},
}

// toneGen plays a tone's cadence in a loop, sample by sample.
type toneGen struct {
	kind   Tone
	rate   float64
	segs   []segment
	seg    int
	left   int // samples left in the segment
	phases []float64
	level  float64
}

func newToneGen(t Tone, rate int) *toneGen {
	g := &toneGen{kind: t, rate: float64(rate), segs: cadences[t], level: 0.15 * 32767}
	g.start(0)
	return g
}

func (g *toneGen) start(i int) {
	g.seg = i
	g.left = g.segs[i].ms * int(g.rate) / 1000
	g.phases = make([]float64, len(g.segs[i].freqs))
}

// next is the tone's next sample.
func (g *toneGen) next() float64 {
	if g.left <= 0 {
		g.start((g.seg + 1) % len(g.segs))
	}
	g.left--
	var s float64
	for i, f := range g.segs[g.seg].freqs {
		s += math.Sin(g.phases[i])
		g.phases[i] += 2 * math.Pi * f / g.rate
		if g.phases[i] > 2*math.Pi {
			g.phases[i] -= 2 * math.Pi
		}
	}
	return s * g.level
}
