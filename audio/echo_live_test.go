package audio

import (
	"math"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"stayline/audio/dsp"
	"stayline/lab"
)

// TestEchoLive is the room for real: a private PulseAudio daemon with a speaker and a microphone (null
// sinks) and module-loopback from the speaker's monitor into the microphone, 80 ms late and -6 dB, the
// room of issue 16. The engine runs on it with backend "default" (malgo, PulseAudio, the device buffers of
// device.go), plays the far end (noise in syllable-like bursts) and sends what its microphone hears: with
// echo_cancel "off" the far end would hear itself at about -6 dB; "on", from 2 s on, the target is at least
// 25 dB less. It takes about 20 s and a PulseAudio of its own, so it runs only with STAYLINE_LIVE_ECHO=1;
// the loopback's clock drifts about 100 ppm against the microphone's, which the aligner follows
// (audio/dsp/drift.go): 35-51 dB over nine runs (13-17 dB before the drift was followed).
func TestEchoLive(t *testing.T) {
	if os.Getenv("STAYLINE_LIVE_ECHO") == "" {
		t.Skip("the live room needs a PulseAudio daemon of its own: STAYLINE_LIVE_ECHO=1 runs it")
	}
	if !dsp.Available() {
		t.Skip("built without speexdsp")
	}
	pa, err := lab.StartPulse(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pa.Stop()
	for _, s := range []string{"speaker", "mic"} {
		if _, err := pa.NullSink(s, 48000); err != nil {
			t.Fatal(err)
		}
	}
	if err := pa.SetDefaults("speaker", "mic.monitor"); err != nil {
		t.Fatal(err)
	}
	if _, err := pa.Pactl("load-module", "module-loopback", "source=speaker.monitor", "sink=mic", "latency_msec=80",
		"source_dont_move=true", "sink_dont_move=true"); err != nil {
		t.Fatal(err)
	}
	ins, err := pa.SinkInputs()
	if err != nil || len(ins) != 1 {
		t.Fatalf("the loopback's stream: %v %+v", err, ins)
	}
	if _, err := pa.Pactl("set-sink-input-volume", strconv.Itoa(ins[0].Index), "79%"); err != nil { // cubic: 0.79^3 = -6.1 dB
		t.Fatal(err)
	}
	t.Setenv("PULSE_SERVER", pa.Server())

	level := func(mode string) (far, sent float64) {
		e, err := OpenEngine(EngineOptions{Backend: "default"})
		if err != nil || e.Backend != "default" {
			t.Fatalf("engine on PulseAudio: %v (%s: %s)", err, e.Backend, e.Warning)
		}
		defer e.Close()
		e.SetEchoCancel(mode)
		port := e.NewPort(EngineRate)
		defer port.Close()
		rng := rand.New(rand.NewSource(1))
		var lp float64
		in, out := make([]int16, engineFrame), make([]int16, engineFrame)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var pf, ps float64
		secs := make([]float64, 10)
		defer func() {
			var b []byte
			for _, v := range secs {
				b = strconv.AppendFloat(append(b, ' '), 10*math.Log10(v/EngineRate/(32768*32768)+1e-12), 'f', 1, 64)
			}
			t.Logf("%s: sent a second (dBFS):%s", mode, b)
		}()
		var n int
		for i := 0; i < 10*50; i++ { // 10 s
			<-tick.C
			for j := range in {
				lp = 0.7*lp + 0.3*rng.NormFloat64()
				in[j] = 0
				if math.Sin(2*math.Pi*3*float64(i*engineFrame+j)/EngineRate) > -0.3 {
					in[j] = clip(lp * 6000)
				}
			}
			port.Write(in)
			port.Read(out)
			var sec float64
			for j := range out {
				sec += float64(out[j]) * float64(out[j])
			}
			secs[i/50] += sec
			if i >= 3*50 { // from 3 s: the canceller's 2 s and the devices' start
				for j := range in {
					pf += float64(in[j]) * float64(in[j])
					ps += float64(out[j]) * float64(out[j])
				}
				n += len(in)
			}
		}
		e.mu.Lock()
		x := e.echo()
		t.Logf("%s: delay %+v, reference short %d dropped %d samples", mode, x.p.Stats(), x.short, x.dropped)
		e.mu.Unlock()
		return 10 * math.Log10(pf/float64(n)/(32768*32768)), 10 * math.Log10(ps/float64(n)/(32768*32768)+1e-12)
	}
	far, off := level("off")
	_, on := level("on")
	t.Logf("far end %.1f dBFS; sent with the echo canceller off %.1f dBFS, on %.1f dBFS: %.1f dB less echo",
		far, off, on, off-on)
	if off < far-12 {
		t.Fatalf("with the canceller off the far end's echo came back at %.1f dBFS (played %.1f dBFS): the room is not there", off, far)
	}
	if off-on < 25 {
		t.Errorf("the echo canceller took %.1f dB of echo away in the live room, want >= 25", off-on)
	}
}
