package audio

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gen2brain/malgo"
)

// What the devices are, and their changes as the engine tells them (device.go watches).

// DeviceList is what a backend offers, with the system defaults.
type DeviceList struct {
	Inputs, Outputs             []string
	DefaultInput, DefaultOutput string
}

// ChangeKind says what changed in the devices.
type ChangeKind int

const (
	// DevicesListed: the devices offered changed (one was plugged in or removed); the settings list again.
	DevicesListed ChangeKind = iota
	// DeviceLost: a device in use went away; the sound moved to the system default (Now).
	DeviceLost
	// DeviceBack: the configured device came back and the sound moved back to it.
	DeviceBack
	// DefaultChanged: the system's default device changed; sound on "system default" follows it.
	DefaultChanged
)

// DeviceChange is one change of the devices, with what it means in words for the window.
type DeviceChange struct {
	Kind   ChangeKind
	Output bool   // the speaker (else the microphone)
	Device string // the device concerned
	Now    string // the device the sound uses now
	Text   string
	List   DeviceList
}

// OnDeviceChange calls f (on the engine's watcher goroutine) at each change of the devices.
func (e *Engine) OnDeviceChange(f func(DeviceChange)) {
	e.listenMu.Lock()
	e.listeners = append(e.listeners, f)
	e.listenMu.Unlock()
}

// tell queues a change for the listeners (devMu is held); flush calls them once it is released.
func (e *Engine) tell(c DeviceChange) {
	e.log.Info("sound devices", "change", c.Text)
	e.pending = append(e.pending, c)
}

func (e *Engine) flush() {
	e.devMu.Lock()
	pending := e.pending
	e.pending = nil
	e.devMu.Unlock()
	e.listenMu.Lock()
	fs := slices.Clone(e.listeners)
	e.listenMu.Unlock()
	for _, c := range pending {
		for _, f := range fs {
			f(c)
		}
	}
}

// relist reads the devices: a device plugged in or removed, the configured device back, a new default.
func (e *Engine) relist(now time.Time) {
	list, err := e.listLocked()
	if err != nil {
		return
	}
	e.listedAt = now
	old := e.listed
	e.listed = list
	if !slices.Equal(old.Inputs, list.Inputs) || !slices.Equal(old.Outputs, list.Outputs) {
		e.tell(DeviceChange{Kind: DevicesListed, List: list, Text: "The sound devices changed: " + changes(old, list) + "."})
	}
	for _, s := range []struct {
		slot       **device
		kind       malgo.DeviceType
		configured string
		what       string
	}{{&e.playback, malgo.Playback, e.output, "speaker"}, {&e.capture, malgo.Capture, e.input, "microphone"}} {
		d := *s.slot
		switch {
		case d != nil && s.configured != "" && d.name == "" && slices.Contains(names(list, s.kind), s.configured):
			// The device chosen came back: go back to it.
			nd, err := e.openDevice(s.kind, s.configured, false)
			if err != nil {
				continue
			}
			e.close(d)
			*s.slot = nd
			e.tell(DeviceChange{Kind: DeviceBack, Output: s.kind == malgo.Playback, Device: s.configured, Now: s.configured,
				List: list, Text: fmt.Sprintf("The %s %q is back: sound uses it again.", s.what, s.configured)})
		case d != nil && d.name == "" && defaultName(old, s.kind) != defaultName(list, s.kind) && defaultName(old, s.kind) != "":
			e.tell(DeviceChange{Kind: DefaultChanged, Output: s.kind == malgo.Playback, Device: defaultName(list, s.kind),
				Now: defaultName(list, s.kind), List: list,
				Text: fmt.Sprintf("The system's default %s is now %q.", s.what, defaultName(list, s.kind))})
		}
	}
}

func changes(old, cur DeviceList) string {
	var parts []string
	for _, n := range append(slices.Clone(cur.Outputs), cur.Inputs...) {
		if !slices.Contains(old.Outputs, n) && !slices.Contains(old.Inputs, n) && !slices.Contains(parts, "plugged in "+n) {
			parts = append(parts, "plugged in "+n)
		}
	}
	for _, n := range append(slices.Clone(old.Outputs), old.Inputs...) {
		if !slices.Contains(cur.Outputs, n) && !slices.Contains(cur.Inputs, n) && !slices.Contains(parts, "removed "+n) {
			parts = append(parts, "removed "+n)
		}
	}
	if len(parts) == 0 {
		return "the list changed"
	}
	return strings.Join(parts, ", ")
}

func names(l DeviceList, kind malgo.DeviceType) []string {
	if kind == malgo.Capture {
		return l.Inputs
	}
	return l.Outputs
}

func defaultName(l DeviceList, kind malgo.DeviceType) string {
	if kind == malgo.Capture {
		return l.DefaultInput
	}
	return l.DefaultOutput
}

// listLocked lists the devices through the engine's context.
func (e *Engine) listLocked() (DeviceList, error) {
	if e.ctx == nil {
		return DeviceList{}, errors.New("no sound backend")
	}
	return listDevices(e.ctx)
}

func listDevices(ctx *malgo.AllocatedContext) (DeviceList, error) {
	var l DeviceList
	ins, err := ctx.Devices(malgo.Capture)
	if err != nil {
		return l, err
	}
	outs, err := ctx.Devices(malgo.Playback)
	if err != nil {
		return l, err
	}
	for _, d := range ins {
		l.Inputs = append(l.Inputs, d.Name())
		if d.IsDefault != 0 {
			l.DefaultInput = d.Name()
		}
	}
	for _, d := range outs {
		l.Outputs = append(l.Outputs, d.Name())
		if d.IsDefault != 0 {
			l.DefaultOutput = d.Name()
		}
	}
	return l, nil
}

// Devices lists the input and output devices of a backend, for the settings.
func Devices(backend string) (inputs, outputs []string, err error) {
	backends, err := Backends(backend)
	if err != nil {
		return nil, nil, err
	}
	ctx, err := malgo.InitContext(backends, malgo.ContextConfig{}, nil)
	if err != nil {
		return nil, nil, err
	}
	defer func() { ctx.Uninit(); ctx.Free() }()
	l, err := listDevices(ctx)
	return l.Inputs, l.Outputs, err
}

// ListDevices lists the devices of the engine's backend now, with the system defaults (empty on null).
func (e *Engine) ListDevices() (DeviceList, error) {
	e.devMu.Lock()
	defer e.devMu.Unlock()
	if e.Backend == "null" {
		return DeviceList{}, nil
	}
	return e.listLocked()
}
