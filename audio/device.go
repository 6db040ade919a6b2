package audio

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// The device sizes, measured on PulseAudio under load (docs/ARCHITECTURE.md, "Sound"): miniaudio asks
// PulseAudio for a playback buffer of one period, so the period is the buffer. With malgo's Go callback
// 40 ms keeps a callback late by a busy machine from running the server dry, where 20 ms (15.5 ms
// granted) did several times a call; with the C callback and its ring (cring_linux.go), which Go never
// delays, 20 ms plays clean (playbackPeriodMs is set beside each). The capture period is what the
// microphone hands over at once.
const capturePeriodMs = 10

// Watch intervals: while a call or a tone needs sound, a device that stopped is noticed within about
// stallAfter+busyWatch; idle, the watcher wakes once a second (the device list's own pace).
const (
	busyWatch   = 200 * time.Millisecond
	idleWatch   = time.Second
	stallAfter  = 400 * time.Millisecond // no callback for this long: the device may be gone
	stuckAfter  = 2 * time.Second        // still listed but no callback for this long: restart it
	restAfter   = 2 * time.Second        // idle this long: the devices close (rest)
	closeWithin = time.Second            // the longest a close is waited for (Engine.close)
	listEvery   = time.Second
)

// device is one open malgo device.
type device struct {
	dev       *malgo.Device
	name      string // as asked: "" is the system default
	closing   atomic.Bool
	stopped   atomic.Bool // the backend stopped it (unplugged, the server went away)
	callbacks atomic.Uint64
	seen      uint64    // callbacks at the last check
	progress  time.Time // when they last moved
	ring      *cring    // the C callback's ring (cring_linux.go; nil: malgo's Go callback)
}

// devices is the engine's device state: guarded by devMu, never by the engine's mu (the audio callbacks
// take that one, and closing a device waits for its callback to return).
type devices struct {
	devMu    sync.Mutex
	ctx      *malgo.AllocatedContext
	capture  *device
	playback *device
	ringer   *device
	// As configured ("" = system default); the devices in use may differ when one went away.
	input, output, ringerName string
	captureOn                 atomic.Bool
	abandoned                 atomic.Int32 // closes of lost devices still running (abandon)
	ringerApart               atomic.Bool
	listed                    DeviceList
	listedAt                  time.Time
	pending                   []DeviceChange // told once devMu is released
	resting                   bool           // idle: the microphone and speaker are closed (rest)
	idleSince                 time.Time

	listenMu  sync.Mutex
	listeners []func(DeviceChange)

	efd           *os.File    // the rings' eventfd, read by the pump (cring_linux.go)
	speakerRinged atomic.Bool // the speaker has a ring: the ports' speaker flows start shallower
	wakeCh        chan struct{}
	stopWatch     chan struct{}
	watchDone     chan struct{}
}

func (e *Engine) open(backend, input, output, ringer string) error {
	if backend == "null" {
		// No device at all: ports give silence and drop what they are given. (miniaudio's null device
		// would do the same from a C thread that costs several percent of a core while it waits.)
		e.Backend = "null"
		return nil
	}
	backends, err := Backends(backend)
	if err != nil {
		return err
	}
	e.devMu.Lock()
	defer e.devMu.Unlock()
	e.input, e.output, e.ringerName = input, output, ringer
	e.ringerApart.Store(ringer != "" && ringer != output)
	// The devices' threads ask for real-time scheduling, which a busy machine cannot starve; where the
	// system refuses it (no CAP_SYS_NICE, no RLIMIT_RTPRIO: most desktops without rtkit's help), miniaudio
	// cannot start the thread, and the devices run at the highest normal priority instead.
	for _, prio := range []malgo.ThreadPriority{malgo.ThreadPriorityRealtime, malgo.ThreadPriorityHighest} {
		if err = e.openContext(backends, prio); err == nil {
			if e.capture, err = e.openDevice(malgo.Capture, input, false); err == nil {
				e.playback, err = e.openDevice(malgo.Playback, output, false)
			}
		}
		if err == nil {
			e.log.Debug("sound devices open", "realtime", prio == malgo.ThreadPriorityRealtime)
			break
		}
		e.closeLocked()
	}
	if err != nil {
		return err
	}
	e.captureOn.Store(true)
	e.Backend = backend
	if e.Backend == "" {
		e.Backend = "default"
	}
	e.listed, _ = e.listLocked()
	e.listedAt = time.Now()
	e.wakeCh, e.stopWatch, e.watchDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go e.watch(e.stopWatch, e.watchDone)
	return nil
}

func (e *Engine) openContext(backends []malgo.Backend, prio malgo.ThreadPriority) error {
	ctx, err := malgo.InitContext(backends, malgo.ContextConfig{ThreadPriority: prio}, func(msg string) {
		e.log.Debug("miniaudio", "message", strings.TrimSpace(msg))
	})
	if err != nil {
		return fmt.Errorf("audio backend: %w", err)
	}
	e.ctx = ctx
	return nil
}

// openDevice opens and starts one device: the microphone, the speaker, or the ringer.
func (e *Engine) openDevice(kind malgo.DeviceType, name string, ringer bool) (*device, error) {
	id, err := e.deviceID(kind, name)
	if err != nil {
		return nil, err
	}
	cfg := malgo.DefaultDeviceConfig(kind)
	cfg.SampleRate = EngineRate
	d := &device{name: name, progress: time.Now()}
	var cb malgo.DeviceCallbacks
	if kind == malgo.Capture {
		cfg.PeriodSizeInMilliseconds = capturePeriodMs
		cfg.Capture.Format, cfg.Capture.Channels, cfg.Capture.DeviceID = malgo.FormatS16, 1, id
		cb.Data = func(_, in []byte, frames uint32) {
			d.callbacks.Add(1)
			e.captureCallback(in, int(frames))
		}
	} else {
		cfg.PeriodSizeInMilliseconds = playbackPeriodMs
		cfg.Playback.Format, cfg.Playback.Channels, cfg.Playback.DeviceID = malgo.FormatS16, 1, id
		cb.Data = func(out, _ []byte, frames uint32) {
			d.callbacks.Add(1)
			e.playbackCallback(out, int(frames), ringer)
		}
	}
	cfg.NoFixedSizedCallback = 1 // what the server asks for, when it asks: no intermediate buffer
	cb.Stop = func() {
		if !d.closing.Load() {
			d.stopped.Store(true)
			e.wake()
		}
	}
	dev, err := malgo.InitDevice(e.ctx.Context, cfg, cb)
	if err != nil {
		return nil, fmt.Errorf("open sound device %s: %w", describe(name), err)
	}
	if !ringer {
		d.ring = e.attachRing(dev, kind == malgo.Capture)
	}
	if err := dev.Start(); err != nil {
		dev.Uninit()
		return nil, fmt.Errorf("start sound device %s: %w", describe(name), err)
	}
	d.dev = dev
	return d, nil
}

func describe(name string) string {
	if name == "" {
		return "(system default)"
	}
	return fmt.Sprintf("%q", name)
}

// close closes the device, waiting at most closeWithin: miniaudio's PulseAudio backend can wait for ever
// in ma_device_uninit (a stream the server moved or killed), and the phone must not hang on it; such a
// close goes on alone, as abandon's do.
func (e *Engine) close(d *device) {
	if d == nil || d.dev == nil {
		return
	}
	done := e.abandon(d)
	select {
	case <-done:
	case <-time.After(closeWithin):
		e.log.Warn("a sound device did not close in time; it is left to close by itself", "device", describe(d.name))
	}
}

// abandon closes a device whose stream the server killed (its sink unloaded): miniaudio's PulseAudio
// backend can wait for ever in ma_device_uninit then, so the close runs on a goroutine of its own and the
// engine goes on; the context stays open while any such close is pending (e.abandoned).
func (e *Engine) abandon(d *device) <-chan struct{} {
	done := make(chan struct{})
	if d == nil || d.dev == nil {
		close(done)
		return done
	}
	d.closing.Store(true)
	e.abandoned.Add(1)
	go func() {
		d.dev.Uninit()
		d.ring.detach()
		e.abandoned.Add(-1)
		close(done)
	}()
	return done
}

// deviceID finds the device called name among the backend's devices of kind (nil for "": the default).
func (e *Engine) deviceID(kind malgo.DeviceType, name string) (unsafe.Pointer, error) {
	if name == "" {
		return nil, nil
	}
	list, err := e.ctx.Devices(kind)
	if err != nil {
		return nil, fmt.Errorf("list sound devices: %w", err)
	}
	var names []string
	for _, d := range list {
		if d.Name() == name {
			return d.ID.Pointer(), nil
		}
		names = append(names, d.Name())
	}
	return nil, fmt.Errorf("no sound device %q (have: %s)", name, strings.Join(names, ", "))
}

// hasCapture reports whether a microphone feeds the ports (not on the null backend).
func (e *Engine) hasCapture() bool { return e.captureOn.Load() }

// separateRinger reports whether the ringtone has a device of its own.
func (e *Engine) separateRinger() bool { return e.ringerApart.Load() }

// wake makes the watcher look at the devices now.
func (e *Engine) wake() {
	if e.wakeCh != nil {
		select {
		case e.wakeCh <- struct{}{}:
		default:
		}
	}
}

// busy reports whether sound is wanted now: a call, or a tone.
func (e *Engine) busy() (calls, ringing bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.ports) > 0 || e.tone != nil, e.ring != nil
}

// watch is the device watcher: a device that stopped (unplugged) is replaced, the ringer is opened while
// the phone rings and closed after, and the device list is read once a second for plugged and removed
// devices and a new system default.
func (e *Engine) watch(stop, done chan struct{}) {
	defer close(done)
	timer := time.NewTimer(idleWatch)
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-e.wakeCh:
		case <-timer.C:
		}
		calls, ringing := e.busy()
		e.check(calls, ringing)
		e.flush()
		next := idleWatch
		if calls || ringing {
			next = busyWatch
		}
		timer.Reset(next)
	}
}

// check is one look at the devices.
func (e *Engine) check(calls, ringing bool) {
	e.devMu.Lock()
	defer e.devMu.Unlock()
	if e.ctx == nil {
		return
	}
	now := time.Now()
	if e.rest(calls || ringing, now) {
		e.replaceIfLost(&e.capture, malgo.Capture, e.input, now)
		e.replaceIfLost(&e.playback, malgo.Playback, e.output, now)
	}
	switch {
	case ringing && e.ringer == nil:
		d, err := e.openDevice(malgo.Playback, e.ringerName, true)
		if err != nil {
			e.log.Warn("ringer device", "error", err)
			d, _ = e.openDevice(malgo.Playback, "", true) // ring on the system default rather than not at all
		}
		e.ringer = d
	case !ringing && e.ringer != nil:
		e.close(e.ringer)
		e.ringer = nil
	}
	if now.Sub(e.listedAt) >= listEvery {
		e.relist(now)
	}
}

// rest closes the microphone and the speaker after restAfter with no call, tone or ring (an idle phone
// then costs no wake-ups: a running device calls back 125 times a second), and opens them again as soon as
// sound is wanted (NewPort and PlayTone wake the watcher: about 10-30 ms). It reports whether they are open.
func (e *Engine) rest(busy bool, now time.Time) bool {
	switch {
	case busy && e.resting:
		e.resting, e.idleSince = false, time.Time{}
		var err error
		if e.capture, err = e.openDevice(malgo.Capture, e.input, false); err != nil {
			e.capture, _ = e.openDevice(malgo.Capture, "", false)
		}
		if e.playback, err = e.openDevice(malgo.Playback, e.output, false); err != nil {
			e.playback, _ = e.openDevice(malgo.Playback, "", false)
		}
	case busy:
		e.idleSince = time.Time{}
	case e.resting:
	case e.idleSince.IsZero():
		e.idleSince = now
	case now.Sub(e.idleSince) >= restAfter:
		e.close(e.capture)
		e.close(e.playback)
		e.capture, e.playback, e.resting = nil, nil, true
		return false
	}
	return !e.resting
}

// replaceIfLost reopens a device that stopped: the configured one if it is still there, else the system
// default, and tells the listeners. A device stalls (no callback for stallAfter) when its server killed
// the stream; the backend's stop notice says so sooner where it comes.
func (e *Engine) replaceIfLost(slot **device, kind malgo.DeviceType, configured string, now time.Time) {
	d := *slot
	if d == nil { // lost earlier, and nothing could replace it then: try again
		if nd, err := e.openDevice(kind, "", false); err == nil {
			*slot = nd
		}
		return
	}
	if n := d.callbacks.Load(); n != d.seen {
		d.seen, d.progress = n, now
	}
	stopped, stalled := d.stopped.Load(), now.Sub(d.progress)
	if !stopped && stalled < stallAfter {
		return
	}
	list, _ := e.listLocked()
	// A device that is still there and only slow (a starved machine) gets longer before it is restarted:
	// a restart would only add a gap.
	if !stopped && (d.name == "" || slices.Contains(names(list, kind), d.name)) && stalled < stuckAfter {
		return
	}
	e.log.Debug("sound device lost", "device", describe(d.name), "stopped", stopped, "stalled", stalled)
	e.abandon(d)
	*slot = nil
	name := configured
	if name != "" && !slices.Contains(names(list, kind), name) {
		name = ""
	}
	nd, err := e.openDevice(kind, name, false)
	if err != nil && name != "" {
		name = ""
		nd, err = e.openDevice(kind, "", false)
	}
	if err != nil {
		e.log.Warn("sound device lost and none to replace it", "error", err)
		return // tried again at the next check
	}
	*slot = nd
	if name == d.name {
		e.log.Info("sound device restarted", "device", describe(name))
		return
	}
	nowOn := defaultName(list, kind)
	what := "microphone"
	if kind == malgo.Playback {
		what = "speaker"
	}
	e.tell(DeviceChange{Kind: DeviceLost, Output: kind == malgo.Playback, Device: d.name, Now: nowOn, List: list,
		Text: fmt.Sprintf("The %s %q went away: sound now uses the system default (%s).", what, d.name, nowOn)})
}

// SwitchDevices moves the engine to other devices ("" = system default) while calls go on: the devices
// are closed and others opened; the calls' ports stay.
func (e *Engine) SwitchDevices(input, output string) error {
	err := e.switchDevices(input, output)
	e.outputSwitched(output) // the window's own switch is no device change the system reports
	return err
}

func (e *Engine) switchDevices(input, output string) error {
	e.devMu.Lock()
	defer e.devMu.Unlock()
	if e.Backend == "null" || e.ctx == nil {
		return nil
	}
	e.close(e.capture)
	e.close(e.playback)
	e.capture, e.playback, e.resting, e.idleSince = nil, nil, false, time.Time{}
	var err error
	e.input, e.output = input, output
	e.ringerApart.Store(e.ringerName != "" && e.ringerName != output)
	if e.capture, err = e.openDevice(malgo.Capture, input, false); err == nil {
		e.playback, err = e.openDevice(malgo.Playback, output, false)
	}
	if err == nil {
		return nil
	}
	e.close(e.capture)
	e.close(e.playback)
	e.capture, e.playback = nil, nil
	var err2 error
	if e.capture, err2 = e.openDevice(malgo.Capture, "", false); err2 == nil {
		e.playback, err2 = e.openDevice(malgo.Playback, "", false)
	}
	if err2 == nil {
		return fmt.Errorf("%w (back on the default devices)", err)
	}
	return err
}

// SetRinger sets the device the ringtone plays on ("" = the speaker's) and its volume (0 to 1).
func (e *Engine) SetRinger(name string, volume float64) {
	e.devMu.Lock()
	e.ringerName = name
	apart := name != "" && name != e.output
	e.ringerApart.Store(apart)
	e.devMu.Unlock()
	e.SetRingVolume(volume)
	e.mu.Lock()
	// A ringtone playing moves to where it now belongs.
	if g := e.ring; g != nil && !apart {
		e.tone, e.ring = g, nil
	} else if g := e.tone; g != nil && g.kind == ToneRingtone && apart {
		e.tone, e.ring = nil, g
	}
	e.mu.Unlock()
	e.wake()
}

func (e *Engine) closeLocked() {
	e.captureOn.Store(false)
	for _, d := range []**device{&e.capture, &e.playback, &e.ringer} {
		e.close(*d)
		*d = nil
	}
	e.closePump()
	if e.ctx != nil && e.abandoned.Load() == 0 { // else left to the process's end (abandon)
		e.ctx.Uninit()
		e.ctx.Free()
	}
	e.ctx = nil
}

func (e *Engine) closeDevices() {
	if e.stopWatch != nil {
		select {
		case <-e.stopWatch:
		default:
			close(e.stopWatch)
			<-e.watchDone
		}
	}
	e.devMu.Lock()
	defer e.devMu.Unlock()
	e.closeLocked()
}
