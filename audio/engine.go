package audio

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/gen2brain/malgo"
)

// EngineRate is the rate of the engine's mix and of its sound device: wideband, 16 kHz.
const EngineRate = 16000

// engineFrame is one 20 ms frame at EngineRate.
const engineFrame = EngineRate * FrameDurationMs / 1000

// maxBuffered bounds each port's queues (200 ms): audio older than that is dropped, never piled up.
const maxBuffered = 10 * engineFrame

// EngineOptions choose the sound devices.
type EngineOptions struct {
	Backend string // "default" or "null" (see Backends)
	Input   string // capture device name; "" = system default
	Output  string // playback device name; "" = system default
	Logger  *slog.Logger
}

// Engine is the phone's sound: one duplex device (or miniaudio's null device), the microphone shared by
// every call, and the speaker fed by the mix of every call and the current tone.
type Engine struct {
	log *slog.Logger
	ctx *malgo.AllocatedContext
	dev *malgo.Device
	// Backend is the backend in use; Warning says why it is not the one asked for (no sound card).
	Backend string
	Warning string

	mu     sync.Mutex
	ports  map[*Port]struct{}
	tone   *toneGen
	muted  bool
	volume float64

	callbacks atomic.Uint64
}

// OpenEngine opens the sound device. If the asked backend cannot be opened it falls back to the null
// backend and says why in Warning; only a failure of the null backend itself is an error.
func OpenEngine(opts EngineOptions) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{log: opts.Logger.With("part", "audio"), ports: map[*Port]struct{}{}, volume: 1}
	err := e.open(opts.Backend, opts.Input, opts.Output)
	if err == nil {
		return e, nil
	}
	if opts.Backend == "null" {
		return nil, err
	}
	e.Warning = fmt.Sprintf("no sound device could be opened (%v): calls connect, but you will hear nothing and send silence", err)
	e.log.Warn(e.Warning)
	if err := e.open("null", "", ""); err != nil {
		return nil, fmt.Errorf("the null audio backend failed too: %w", err)
	}
	return e, nil
}

func (e *Engine) open(backend, input, output string) error {
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
	ctx, err := malgo.InitContext(backends, malgo.ContextConfig{}, func(msg string) {
		e.log.Debug("miniaudio", "message", strings.TrimSpace(msg))
	})
	if err != nil {
		return fmt.Errorf("audio backend %s: %w", backend, err)
	}
	opened := false
	defer func() {
		if !opened {
			ctx.Uninit()
			ctx.Free()
		}
	}()
	cfg := malgo.DefaultDeviceConfig(malgo.Duplex)
	cfg.SampleRate = EngineRate
	cfg.PeriodSizeInMilliseconds = FrameDurationMs
	cfg.Capture.Format, cfg.Capture.Channels = malgo.FormatS16, 1
	cfg.Playback.Format, cfg.Playback.Channels = malgo.FormatS16, 1
	if cfg.Capture.DeviceID, err = deviceID(ctx, malgo.Capture, input); err != nil {
		return err
	}
	if cfg.Playback.DeviceID, err = deviceID(ctx, malgo.Playback, output); err != nil {
		return err
	}
	dev, err := malgo.InitDevice(ctx.Context, cfg, malgo.DeviceCallbacks{Data: e.process})
	if err != nil {
		return fmt.Errorf("open sound device: %w", err)
	}
	if err := dev.Start(); err != nil {
		dev.Uninit()
		return fmt.Errorf("start sound device: %w", err)
	}
	opened = true
	e.ctx, e.dev, e.Backend = ctx, dev, backend
	if e.Backend == "" {
		e.Backend = "default"
	}
	return nil
}

// deviceID finds the device called name among the backend's devices of kind (nil for "": the default).
func deviceID(ctx *malgo.AllocatedContext, kind malgo.DeviceType, name string) (unsafe.Pointer, error) {
	if name == "" {
		return nil, nil
	}
	list, err := ctx.Devices(kind)
	if err != nil {
		return nil, fmt.Errorf("list sound devices: %w", err)
	}
	for _, d := range list {
		if d.Name() == name {
			return d.ID.Pointer(), nil
		}
	}
	return nil, fmt.Errorf("no sound device %q (have: %s)", name, deviceNames(list))
}

func deviceNames(list []malgo.DeviceInfo) string {
	var names []string
	for _, d := range list {
		names = append(names, d.Name())
	}
	return strings.Join(names, ", ")
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
	ins, err := ctx.Devices(malgo.Capture)
	if err != nil {
		return nil, nil, err
	}
	outs, err := ctx.Devices(malgo.Playback)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range ins {
		inputs = append(inputs, d.Name())
	}
	for _, d := range outs {
		outputs = append(outputs, d.Name())
	}
	return inputs, outputs, nil
}

// process is miniaudio's data callback, on the audio thread: it copies and mixes, never blocks on I/O.
func (e *Engine) process(out, in []byte, frames uint32) {
	e.callbacks.Add(1)
	n := int(frames)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(in) >= 2*n {
		mic := make([]int16, n)
		if !e.muted {
			for i := 0; i < n; i++ {
				mic[i] = int16(binary.LittleEndian.Uint16(in[2*i:]))
			}
		}
		for p := range e.ports {
			p.mic = appendBounded(p.mic, mic)
		}
	}
	if len(out) < 2*n {
		return
	}
	for i := 0; i < n; i++ {
		var s float64
		for p := range e.ports {
			if len(p.speaker) > 0 {
				s += float64(p.speaker[0])
				p.speaker = p.speaker[1:]
			}
		}
		if e.tone != nil {
			s += e.tone.next()
		}
		binary.LittleEndian.PutUint16(out[2*i:], uint16(clip(s*e.volume)))
	}
}

func clip(s float64) int16 {
	switch {
	case s > 32767:
		return 32767
	case s < -32768:
		return -32768
	}
	return int16(s)
}

func appendBounded(q, s []int16) []int16 {
	q = append(q, s...)
	if over := len(q) - maxBuffered; over > 0 {
		q = append(q[:0], q[over:]...)
	}
	return q
}

// Callbacks counts the device's data callbacks (50 a second when a device runs; none on "null").
func (e *Engine) Callbacks() uint64 { return e.callbacks.Load() }

// SetMuted stops (or restarts) sending the microphone to every call.
func (e *Engine) SetMuted(m bool) {
	e.mu.Lock()
	e.muted = m
	e.mu.Unlock()
}

// Muted reports whether the microphone is muted.
func (e *Engine) Muted() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.muted
}

// SetVolume sets the speaker's gain, 0 to 2 (1: unchanged).
func (e *Engine) SetVolume(v float64) {
	e.mu.Lock()
	e.volume = max(0, min(2, v))
	e.mu.Unlock()
}

// PlayTone starts a call-progress tone on the speaker, replacing any other; ToneNone stops it. Asking for
// the tone already playing changes nothing (its cadence goes on).
func (e *Engine) PlayTone(t Tone) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tone != nil && e.tone.kind == t {
		return
	}
	if t == ToneNone {
		e.tone = nil
		return
	}
	e.tone = newToneGen(t, EngineRate)
}

// CurrentTone is the tone playing now.
func (e *Engine) CurrentTone() Tone {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tone == nil {
		return ToneNone
	}
	return e.tone.kind
}

// SwitchDevices moves the engine to other devices ("" = system default) while calls go on: the device
// is closed and another opened; the calls' ports stay.
func (e *Engine) SwitchDevices(input, output string) error {
	if e.Backend == "null" {
		return nil
	}
	e.closeDevice()
	if err := e.open(e.Backend, input, output); err != nil {
		if e.open(e.Backend, "", "") == nil {
			return fmt.Errorf("%w (back on the default devices)", err)
		}
		return err
	}
	return nil
}

func (e *Engine) closeDevice() {
	if e.dev != nil {
		e.dev.Uninit()
		e.ctx.Uninit()
		e.ctx.Free()
		e.dev, e.ctx = nil, nil
	}
}

// Close stops the device.
func (e *Engine) Close() {
	if e != nil {
		e.closeDevice()
	}
}

// Port connects one call to the engine at the call's codec rate: as a Source it gives the microphone, as
// a Sink it takes what the call receives. Without a device, what it is given waits (at most maxBuffered)
// until something drains it, and its microphone is silent.
type Port struct {
	e       *Engine
	rate    int
	mic     []int16 // at EngineRate, filled by the device
	speaker []int16 // at EngineRate, drained by the device
	up      upsampler
	down    downsampler
	// In a conference, each member also hears the others: what a member receives is kept in heard
	// until the other members' next Read mixes it into what they send.
	conference bool
	heard      map[*Port][]int16 // per listener, at EngineRate
}

// NewPort connects a call whose audio runs at rate (8000 or 16000).
func (e *Engine) NewPort(rate int) *Port {
	p := &Port{e: e, rate: rate}
	e.mu.Lock()
	e.ports[p] = struct{}{}
	e.mu.Unlock()
	return p
}

// Close disconnects the port (and takes it out of any conference).
func (p *Port) Close() {
	p.e.mu.Lock()
	delete(p.e.ports, p)
	for q := range p.e.ports {
		delete(q.heard, p)
	}
	p.e.mu.Unlock()
}

// Conference joins ports: each then sends the microphone mixed with what the others receive, and the
// speaker plays them all (it always does). Leave with Alone.
func (e *Engine) Conference(ports ...*Port) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range ports {
		p.conference = true
		if p.heard == nil {
			p.heard = map[*Port][]int16{}
		}
	}
}

// Alone takes a port out of its conference.
func (p *Port) Alone() {
	p.e.mu.Lock()
	defer p.e.mu.Unlock()
	p.conference = false
	for q := range p.e.ports {
		delete(q.heard, p)
	}
}

// Read gives one frame of microphone audio at the port's rate (silence where the device was late).
func (p *Port) Read(pcm []int16) int {
	need := len(pcm)
	if p.rate == 8000 {
		need *= 2
	}
	p.e.mu.Lock()
	frame := make([]int16, need)
	n := copy(frame, p.mic)
	p.mic = append(p.mic[:0], p.mic[n:]...)
	if p.conference {
		for q, buf := range p.heard { // what the other members received since our last frame
			k := min(len(buf), need)
			for i := 0; i < k; i++ {
				frame[i] = clip(float64(frame[i]) + float64(buf[i]))
			}
			p.heard[q] = append(buf[:0], buf[k:]...)
		}
	}
	p.e.mu.Unlock()
	if p.rate == 8000 {
		p.down.process(pcm, frame)
	} else {
		copy(pcm, frame)
	}
	return len(pcm)
}

// Write queues one frame the call received, at the port's rate, for the speaker.
func (p *Port) Write(pcm []int16) {
	frame := pcm
	if p.rate == 8000 {
		frame = p.up.process(make([]int16, 0, 2*len(pcm)), pcm)
	}
	p.e.mu.Lock()
	p.speaker = appendBounded(p.speaker, frame)
	if p.conference {
		for q := range p.e.ports {
			if q != p && q.conference {
				q.heard[p] = appendBounded(q.heard[p], frame)
			}
		}
	}
	p.e.mu.Unlock()
}
