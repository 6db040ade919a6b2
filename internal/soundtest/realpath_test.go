package soundtest

import (
	"testing"
	"time"
)

// Issue 16, item 1: the phone on PulseAudio with backend "default", three 10 s calls to baresip: its
// 440 Hz is clean in what the phone's speaker plays, the 1004 Hz fed to the phone's microphone is clean in
// what baresip receives (no half-second under 30 dB either way), PulseAudio reports no underrun, and the
// first audio is heard within 100 ms of the answer.
func TestRealPathIsCleanBothWays(t *testing.T) {
	r := newRig(t, rigOptions{})
	time.Sleep(500 * time.Millisecond) // the streams have started: underruns from here on count
	mark := r.pulse.LogMark()
	var speaker, far []measure
	var firstStatus []time.Duration
	for i := 0; i < 3; i++ {
		c := r.placeCall(10 * time.Second)
		speaker = append(speaker, r.speakerSide(c))
		far = append(far, r.farSide(c))
		firstStatus = append(firstStatus, c.firstAudioStatus)
		t.Logf("call %d: flows %+v; jitter %.1f ms, late %d, concealed %d", i+1, c.ports, c.media.JitterMs, c.media.Late,
			c.media.Concealed)
	}
	report(t, "speaker (baresip's 440 Hz)", speaker, 100*time.Millisecond, 18)
	report(t, "far end (the microphone's 1004 Hz)", far, 100*time.Millisecond, 18)
	t.Logf("first audio packet to the speaker (status first_audio_ms): %v", firstStatus)
	if n := r.pulse.Underruns(mark); n > 0 {
		t.Errorf("PulseAudio logged %d underruns during the calls", n)
	}
	t.Logf("recordings in %s", r.dir)
}
