package soundtest

import (
	"math"
	"testing"
	"time"

	"stayline/lab"
	"stayline/phone"
)

// Issue 16, item 4: the phone rings on a ringer device of its own (the speakers) while calls go to the
// headset, at the ring volume; the ringtone, recorded from the ringer's monitor, is clean, and none of it
// reaches the call device. Answered, the ringer stops and the call plays on the headset.
func TestRingerRingsApartAtItsVolume(t *testing.T) {
	r := newRig(t, rigOptions{Output: "headset", Ringer: "ringer", RingVolume: 50, ExtraSinks: []string{"headset", "ringer"}})
	ringer, err := r.pulse.Record("ringer.monitor", 16000)
	if err != nil {
		t.Fatal(err)
	}
	defer ringer.Stop()
	headset, err := r.pulse.Record("headset.monitor", 16000)
	if err != nil {
		t.Fatal(err)
	}
	defer headset.Stop()
	if _, err := r.bs.Command("dial", "sip:1001@127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	var id string
	var rang time.Time
	waitFor(t, 5*time.Second, "the incoming call", func() bool {
		for _, ci := range r.ph.Agent.Calls() {
			if ci.State == phone.CallIncoming {
				id, rang = ci.ID, time.Now()
				return true
			}
		}
		return false
	})
	time.Sleep(4 * time.Second) // the chime twice, then its pause
	rings := ringer.Samples()
	from := ringer.IndexAt(rang)
	x := rings[from:]
	on := lab.ToneOnset(x, 16000, 880)
	if on < 0 {
		lab.WriteWAV(t.TempDir()+"/ringer.wav", x, 16000)
		t.Fatal("no ringtone on the ringer device")
	}
	heardAfter := ringer.TimeOf(from + on).Sub(rang)
	// The cadence: 880 Hz 150 ms, 660 Hz 300 ms, 150 ms of silence, again, then 3 s of silence.
	seg := func(startMs, lenMs int, freq float64) (snr, peak float64) {
		a := on + (startMs+int(lab.OnsetSettle.Milliseconds()))*16
		b := on + (startMs+lenMs-10)*16
		w := x[a:b]
		s := lab.ToneSNR(w, 16000, freq, time.Duration(len(w))*time.Second/16000)
		rms := 0.0
		for _, v := range w {
			rms += float64(v) * float64(v)
		}
		return s[0], math.Sqrt(rms/float64(len(w))) * math.Sqrt2
	}
	want := 0.5 * 0.5 * 32767 // ringLevel (-6 dBFS) at 50 %
	for _, sg := range []struct {
		start, length int
		freq          float64
	}{{0, 150, 880}, {150, 300, 660}, {600, 150, 880}, {750, 300, 660}} {
		snr, peak := seg(sg.start, sg.length, sg.freq)
		t.Logf("ringtone %4.0f Hz at %4d ms: SNR %.1f dB, peak %.0f (%.1f dB from the volume's %.0f)", sg.freq, sg.start, snr,
			peak, 20*math.Log10(peak/want), want)
		if snr < 30 {
			t.Errorf("the ringtone's %.0f Hz at %d ms is spoilt: %.1f dB", sg.freq, sg.start, snr)
		}
		if d := 20 * math.Log10(peak/want); math.Abs(d) > 1 {
			t.Errorf("the ringtone at %.1f dB from its volume", d)
		}
	}
	t.Logf("ringtone heard %.0f ms after the call arrived", heardAfter.Seconds()*1000)
	if heardAfter > 500*time.Millisecond {
		t.Errorf("the ringtone came %s after the call", heardAfter)
	}
	if on := lab.ToneOnset(headset.Samples(), 16000, 880); on >= 0 {
		t.Error("the ringtone played on the call device too")
	}
	if err := r.ph.Manager.Answer(id); err != nil {
		t.Fatal(err)
	}
	answered := time.Now()
	time.Sleep(1500 * time.Millisecond)
	after := ringer.Samples()[ringer.IndexAt(answered.Add(300*time.Millisecond)):]
	if on := lab.ToneOnset(after, 16000, 880); on >= 0 {
		t.Error("the ringer still rings after the answer")
	}
	if lab.ToneOnset(headset.Samples()[headset.IndexAt(answered):], 16000, farTone) < 0 {
		t.Error("the answered call does not play on the headset")
	}
	r.ph.Manager.Hangup(id)
}
