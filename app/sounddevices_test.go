package app

import (
	"slices"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"stayline/config"
)

// devicesSound is a Sound that tells device changes, with devices that can be plugged in.
type devicesSound struct {
	*fakeController
	mu      sync.Mutex
	outs    []string
	changed func(string, bool)
}

func (d *devicesSound) OnDeviceChange(f func(string, bool)) {
	d.mu.Lock()
	d.changed = f
	d.mu.Unlock()
}
func (d *devicesSound) AudioDevices() ([]string, []string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return []string{"Built-in Microphone"}, slices.Clone(d.outs), nil
}

// plug adds a device and tells the window, as the engine's watcher does (from its own goroutine).
func (d *devicesSound) plug(name string) {
	d.mu.Lock()
	d.outs = append(d.outs, name)
	f := d.changed
	d.mu.Unlock()
	go f("The sound devices changed: plugged in "+name+".", true)
}

func (d *devicesSound) lose(name string) {
	d.mu.Lock()
	f := d.changed
	d.mu.Unlock()
	go f(`The speaker "`+name+`" went away: sound now uses the system default (Built-in Speaker).`, false)
}

// A device plugged in appears in the output choice and in the open settings without a restart; a device
// that goes away mid-call is said on the display.
func TestWindowFollowsTheSoundDevices(t *testing.T) {
	a := test.NewTempApp(t)
	ctl := &fakeController{}
	sound := &devicesSound{fakeController: ctl, outs: []string{"Built-in Speaker"}}
	w := New(a, ctl, sound, Options{Extension: "1001", Lines: 3, Now: func() time.Time { return time.Unix(0, 0) }})
	st := &devicesStore{memStore: newStore(t), sound: sound}
	s := w.ShowSettings(st)
	if slices.Contains(s.Ringer.Options, "USB Headset") {
		t.Fatal("the headset is listed before it is plugged in")
	}
	sound.plug("USB Headset")
	waitUntil(t, "the headset in the settings", func() bool {
		return slices.Contains(s.Output.Options, "USB Headset") && slices.Contains(s.Ringer.Options, "USB Headset")
	})
	waitUntil(t, "the headset in the output choice", func() bool { return slices.Contains(w.Output.Options, "USB Headset") })
	sound.lose("USB Headset")
	waitUntil(t, "the display saying so", func() bool {
		return w.Message.Text == `The speaker "USB Headset" went away: sound now uses the system default (Built-in Speaker).`
	})
}

// The ringer and its volume are saved from the Audio tab.
func TestSettingsSaveTheRinger(t *testing.T) {
	test.NewTempApp(t)
	st := newStore(t)
	s := NewSettings(st)
	if s.Ringer.Selected != sameAsSpeaker || s.RingVolume.Value != 100 {
		t.Fatalf("ringer %q at %.0f", s.Ringer.Selected, s.RingVolume.Value)
	}
	s.Ringer.SetSelected("Built-in Speaker")
	s.RingVolume.SetValue(40)
	s.Output.SetSelected("USB Headset")
	if _, err := s.Apply(); err != nil {
		t.Fatal(err)
	}
	if a := st.saved.Audio; a.Ringer != "Built-in Speaker" || a.RingVolume != 40 || a.Output != "USB Headset" {
		t.Fatalf("saved %+v", a)
	}
}

type devicesStore struct {
	*memStore
	sound *devicesSound
}

func (d *devicesStore) AudioDevices() ([]string, []string, error) { return d.sound.AudioDevices() }
func (d *devicesStore) Config() *config.Config                    { return d.memStore.Config() }

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
