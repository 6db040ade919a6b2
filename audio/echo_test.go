package audio

import (
	"math"
	"math/rand"
	"testing"

	"stayline/audio/dsp"
)

// echoRoom drives the engine as its two devices would, without a device: the speaker's callback takes
// 40 ms at a time, the microphone hands over 20 ms frames at another phase, and what the speaker played
// comes back into the microphone 40 ms (its buffer) plus 2 ms (the room) later, -6 dB, with a decaying
// tail. It returns the echo and what the engine sent, from 3 s on.
func echoRoom(t *testing.T, mode string) (echo, sent []float64) {
	t.Helper()
	e, err := OpenEngine(EngineOptions{Backend: "null"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.SetEchoCancel(mode)
	port := e.NewPort(EngineRate)
	defer port.Close()

	rng := rand.New(rand.NewSource(1))
	ir := make([]float64, 32+800) // 2 ms, then 50 ms of reflections
	var energy float64
	for i := 32; i < len(ir); i++ {
		ir[i] = rng.NormFloat64() * math.Exp(-float64(i-32)/200)
		energy += ir[i] * ir[i]
	}
	ir[32] = math.Sqrt(energy)
	g := math.Sqrt(0.25 / (2 * energy))
	for i := range ir {
		ir[i] *= g
	}

	const seconds = 8
	var played []int16
	var lp float64
	far := make([]int16, engineFrame)
	for tick := 0; tick < seconds*100; tick++ { // 10 ms ticks
		now := tick * EngineRate / 100
		if tick%2 == 0 { // the call delivers 20 ms of the far end: noise in bursts, like syllables
			for i := range far {
				lp = 0.7*lp + 0.3*rng.NormFloat64()
				on := math.Sin(2*math.Pi*3*float64(now+i)/EngineRate) > -0.3
				far[i] = 0
				if on {
					far[i] = clip(lp * 6000)
				}
			}
			port.Write(far)
		}
		if tick%4 == 1 { // the speaker asks for 40 ms
			out := make([]int16, 2*engineFrame)
			e.mu.Lock()
			e.toSpeaker(out)
			e.mu.Unlock()
			played = append(played, out...)
		}
		if tick%2 == 1 && now >= engineFrame { // the microphone's frame ending now
			mic := make([]int16, engineFrame)
			ech := make([]float64, engineFrame)
			for i := range mic {
				s := now - engineFrame + i - 2*engineFrame // heard 40 ms after it was handed over
				var v float64
				for j, h := range ir {
					if k := s - j; k >= 0 && k < len(played) && h != 0 {
						v += h * float64(played[k])
					}
				}
				ech[i], mic[i] = v, clip(v)
			}
			e.mu.Lock()
			e.fromMicrophone(mic)
			e.mu.Unlock()
			if now >= 3*EngineRate {
				echo = append(echo, ech...)
				for _, v := range mic {
					sent = append(sent, float64(v))
				}
			}
		}
	}
	return echo, sent
}

func powerOf(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return s/float64(len(x)) + 1e-9
}

// The engine's echo canceller, through its real call site: the reference stream is rebuilt from the
// speaker's 40 ms callbacks and paired with the microphone's 20 ms frames, and the echo is gone from
// what the calls are sent (>= 25 dB, measured from 3 s). With echo_cancel "off" it is not.
func TestEngineCancelsEcho(t *testing.T) {
	if !dsp.Available() {
		t.Skip("built without speexdsp")
	}
	echo, sent := echoRoom(t, "on")
	erle := 10 * math.Log10(powerOf(echo)/powerOf(sent))
	t.Logf("echo %.1f dBFS, sent %.1f dBFS: ERLE %.1f dB", 10*math.Log10(powerOf(echo)/(32768*32768)),
		10*math.Log10(powerOf(sent)/(32768*32768)), erle)
	if powerOf(echo) < 32768*32768*1e-4 {
		t.Fatal("the room made no echo: the test is wrong")
	}
	if erle < 25 {
		t.Errorf("ERLE %.1f dB through the engine, want >= 25", erle)
	}
	echo, sent = echoRoom(t, "off")
	if erle := 10 * math.Log10(powerOf(echo)/powerOf(sent)); erle > 6 {
		t.Errorf("echo_cancel off: ERLE %.1f dB, want the echo sent (about 0)", erle)
	}
}

// "auto" turns the canceller off on a worn device and on on a loudspeaker, and follows the output device.
func TestEchoFollowsOutput(t *testing.T) {
	e, err := OpenEngine(EngineOptions{Backend: "null"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.SetEchoCancel("auto")
	e.echoFor("Logitech USB Headset Analog Stereo")
	if e.EchoCancelling() {
		t.Error("auto on a headset: the echo canceller is on")
	}
	e.echoFor("Built-in Audio Analog Stereo")
	if e.EchoCancelling() != dsp.Available() {
		t.Errorf("auto on the laptop's speakers: EchoCancelling() = %v", e.EchoCancelling())
	}
	// The window's own "Speaker or headset" switch decides it again too.
	e.SwitchDevices("", "Jabra Evolve Headset")
	if e.EchoCancelling() {
		t.Error("auto, switched to a headset: the echo canceller is on")
	}
	e.SwitchDevices("", "Built-in Audio Analog Stereo")
	if e.EchoCancelling() != dsp.Available() {
		t.Errorf("auto, switched back to the speakers: EchoCancelling() = %v", e.EchoCancelling())
	}
	e.SetEchoCancel("off")
	if e.EchoCancelling() {
		t.Error("off: the echo canceller is on")
	}
}

// With echo_cancel "off" and noise suppression off, the microphone reaches the calls exactly as captured
// (what the tests that measure with tones need).
func TestEngineAllOffPassesThrough(t *testing.T) {
	e, err := OpenEngine(EngineOptions{Backend: "null"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.SetEchoCancel("off")
	e.SetNoiseSuppression(false)
	for f := 0; f < 100; f++ {
		mic := make([]int16, engineFrame)
		for i := range mic {
			mic[i] = int16(8000 * math.Sin(2*math.Pi*1004*float64(f*engineFrame+i)/EngineRate))
		}
		want := append([]int16(nil), mic...)
		e.mu.Lock()
		e.toSpeaker(make([]int16, engineFrame))
		e.fromMicrophone(mic)
		e.mu.Unlock()
		for i := range mic {
			if mic[i] != want[i] {
				t.Fatalf("frame %d sample %d: %d became %d", f, i, want[i], mic[i])
			}
		}
	}
}
