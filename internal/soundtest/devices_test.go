package soundtest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"stayline/audio"
	"stayline/lab"
)

// changes collects the engine's device changes.
type changes struct {
	mu   sync.Mutex
	list []audio.DeviceChange
}

func (c *changes) add(d audio.DeviceChange) {
	c.mu.Lock()
	c.list = append(c.list, d)
	c.mu.Unlock()
}

func (c *changes) find(kind audio.ChangeKind) (audio.DeviceChange, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.list {
		if d.Kind == kind {
			return d, true
		}
	}
	return audio.DeviceChange{}, false
}

// toneAt waits until the far end's tone plays on sink's monitor (recorded from now) and returns when.
func toneAt(t *testing.T, r *rig, sink string, within time.Duration) time.Time {
	t.Helper()
	rec, err := r.pulse.Record(sink+".monitor", 16000)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Stop()
	start := time.Now()
	for time.Since(start) < within {
		time.Sleep(50 * time.Millisecond)
		x := rec.Samples()
		if on := lab.ToneOnset(x, 16000, farTone); on >= 0 {
			return rec.TimeOf(on)
		}
	}
	t.Fatalf("the far end's tone did not play on %s within %s", sink, within)
	return time.Time{}
}

// Issue 16, item 3: the output device unplugged mid-call (its sink unloaded): the call goes on on the
// system default within 1 s, and the engine says so (the window shows its words).
func TestCallMovesToTheDefaultWhenItsDeviceGoes(t *testing.T) {
	r := newRig(t, rigOptions{Output: "headset", ExtraSinks: []string{"headset"}})
	var seen changes
	r.ph.Engine.OnDeviceChange(seen.add)
	done := make(chan call, 1)
	go func() { done <- r.placeCall(6 * time.Second) }()
	toneAt(t, r, "headset", 3*time.Second)
	unplugged := time.Now()
	if err := r.pulse.Unload(r.sinks["headset"]); err != nil {
		t.Fatal(err)
	}
	moved := toneAt(t, r, "speaker", 3*time.Second).Sub(unplugged)
	t.Logf("the call's sound on the system default %.0f ms after the headset was unplugged", moved.Seconds()*1000)
	if moved > time.Second {
		t.Errorf("the sound took %s to move to the default (want within 1 s)", moved)
	}
	waitFor(t, 2*time.Second, "a device-lost notice", func() bool { _, ok := seen.find(audio.DeviceLost); return ok })
	c, _ := seen.find(audio.DeviceLost)
	if !c.Output || c.Device != "headset" || c.Now != "speaker" || !strings.Contains(c.Text, "headset") {
		t.Errorf("notice %+v", c)
	}
	t.Logf("the window reads: %s", c.Text)
	<-done
}

// A device plugged in is listed without a restart (the settings list it), and one removed is gone.
func TestPluggedDeviceIsListed(t *testing.T) {
	r := newRig(t, rigOptions{})
	var seen changes
	r.ph.Engine.OnDeviceChange(seen.add)
	r.loadSink("usb-headset", 48000)
	waitFor(t, 3*time.Second, "a devices-listed notice", func() bool { _, ok := seen.find(audio.DevicesListed); return ok })
	l, err := r.ph.Engine.ListDevices()
	if err != nil {
		t.Fatal(err)
	}
	if !contains(l.Outputs, "usb-headset") {
		t.Fatalf("outputs %v lack the device plugged in", l.Outputs)
	}
	c, _ := seen.find(audio.DevicesListed)
	t.Logf("notice: %s", c.Text)
}

// "System default" follows the system's default when it changes: a call on the default moves with it.
func TestSystemDefaultIsFollowed(t *testing.T) {
	r := newRig(t, rigOptions{ExtraSinks: []string{"speakers2"}})
	var seen changes
	r.ph.Engine.OnDeviceChange(seen.add)
	done := make(chan call, 1)
	go func() { done <- r.placeCall(5 * time.Second) }()
	toneAt(t, r, "speaker", 3*time.Second)
	changed := time.Now()
	if err := r.pulse.SetDefaults("speakers2", ""); err != nil {
		t.Fatal(err)
	}
	after := toneAt(t, r, "speakers2", 3*time.Second).Sub(changed)
	t.Logf("the call's sound on the new default %.0f ms after it changed", after.Seconds()*1000)
	if after > time.Second {
		t.Errorf("the sound took %s to follow the default", after)
	}
	waitFor(t, 3*time.Second, "a default-changed notice", func() bool { _, ok := seen.find(audio.DefaultChanged); return ok })
	<-done
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
