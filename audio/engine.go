package audio

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// EngineRate is the rate of the engine's mix and of its sound devices: wideband, 16 kHz. A device that
// runs at another rate (44.1 or 48 kHz) is converted by the sound server or by miniaudio.
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
	// Ringer is the device the ringtone plays on; "" = the Output device. Another device (the laptop's
	// speakers while calls go to a headset) opens only while the phone rings.
	Ringer string
	// RingVolume is the ringtone's volume, 0 (silent) to 1.
	RingVolume float64
	Logger     *slog.Logger
}

// Engine is the phone's sound: a capture device (the microphone, shared by every call), a playback device
// (the speaker, fed by the mix of every call and the current tone) and, when the ringtone has a device of
// its own, a ringer. Devices that go away are replaced by the system default as calls go on (device.go).
//
// Sound passes through two functions, one per direction, and nowhere else: fromMicrophone takes each
// 20 ms frame the microphone captured, toSpeaker mixes each stretch the speaker plays. An echo canceller
// belongs in fromMicrophone, with what toSpeaker played (e.played) as its reference.
type Engine struct {
	log *slog.Logger
	// Backend is the backend in use; Warning says why it is not the one asked for (no sound card).
	Backend string
	Warning string

	devices // the devices and their watcher (device.go)

	mu         sync.Mutex
	ports      map[*Port]struct{}
	tone       *toneGen // on the call device
	ring       *toneGen // the ringtone on the ringer device, when it has one of its own
	muted      bool
	volume     float64
	ringVolume float64
	captured   []int16 // microphone samples not yet a whole frame
	played     []int16 // played, not yet taken by the echo canceller (at most engineFrame*4), newest last

	echoState *echoState // the echo canceller, noise suppression and automatic gain (echo.go)

	callbacks atomic.Uint64
}

// OpenEngine opens the sound devices. If the asked backend cannot be opened it falls back to the null
// backend and says why in Warning; only a failure of the null backend itself is an error.
func OpenEngine(opts EngineOptions) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{log: opts.Logger.With("part", "audio"), ports: map[*Port]struct{}{}, volume: 1,
		ringVolume: max(0, min(1, opts.RingVolume))}
	err := e.open(opts.Backend, opts.Input, opts.Output, opts.Ringer)
	if err == nil {
		return e, nil
	}
	if opts.Backend == "null" {
		return nil, err
	}
	e.Warning = fmt.Sprintf("no sound device could be opened (%v): calls connect, but you will hear nothing and send silence", err)
	e.log.Warn(e.Warning)
	if err := e.open("null", "", "", ""); err != nil {
		return nil, fmt.Errorf("the null audio backend failed too: %w", err)
	}
	return e, nil
}

// fromMicrophone takes one 20 ms frame (engineFrame samples) the microphone captured, on the audio
// thread, and gives it to every call. e.mu is held.
func (e *Engine) fromMicrophone(frame []int16) {
	e.cancelEcho(frame)
	if e.muted {
		clear(frame)
	}
	for p := range e.ports {
		p.mic.push(frame)
		select {
		case p.clock <- struct{}{}:
		default: // the call has a tick pending already
		}
	}
}

// toSpeaker mixes what the speaker plays next into out: every call's audio, the tone, at the volume.
// e.mu is held.
func (e *Engine) toSpeaker(out []int16) {
	mix := make([]int32, len(out))
	chunk := make([]int16, len(out))
	for p := range e.ports {
		if p.speaker.pull(chunk) > 0 {
			for i, s := range chunk {
				mix[i] += int32(s)
			}
		}
	}
	for i := range out {
		s := float64(mix[i])
		if e.tone != nil {
			s += e.tone.next()
		}
		out[i] = clip(s * e.volume)
	}
	e.played = append(e.played, out...)
	if over := len(e.played) - 4*engineFrame; over > 0 {
		e.played = append(e.played[:0], e.played[over:]...)
	}
}

// toRinger fills what the ringer device plays next: the ringtone alone.
func (e *Engine) toRinger(out []int16) {
	for i := range out {
		s := 0.0
		if e.ring != nil {
			s = e.ring.next()
		}
		out[i] = clip(s)
	}
}

// captureCallback is the capture device's data callback: it gathers whole frames for fromMicrophone.
func (e *Engine) captureCallback(in []byte, frames int) {
	e.callbacks.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := 0; i < frames && 2*i+1 < len(in); i++ {
		e.captured = append(e.captured, int16(binary.LittleEndian.Uint16(in[2*i:])))
	}
	e.takeFrames()
}

// takeFrames hands every whole frame captured to fromMicrophone. e.mu is held.
func (e *Engine) takeFrames() {
	for len(e.captured) >= engineFrame {
		frame := make([]int16, engineFrame)
		copy(frame, e.captured)
		e.captured = append(e.captured[:0], e.captured[engineFrame:]...)
		e.fromMicrophone(frame)
	}
}

// captureSamples is captureCallback for what the pump read from the microphone's ring.
func (e *Engine) captureSamples(in []int16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.captured = append(e.captured, in...)
	e.takeFrames()
}

// playbackCallback is the playback devices' data callback.
func (e *Engine) playbackCallback(out []byte, frames int, ringer bool) {
	e.callbacks.Add(1)
	pcm := make([]int16, min(frames, len(out)/2))
	e.mu.Lock()
	if ringer {
		e.toRinger(pcm)
	} else {
		e.toSpeaker(pcm)
	}
	e.mu.Unlock()
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(s))
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

// Callbacks counts the devices' data callbacks (none on "null").
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

// SetRingVolume sets the ringtone's volume, 0 to 1.
func (e *Engine) SetRingVolume(v float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ringVolume = max(0, min(1, v))
	for _, g := range []*toneGen{e.tone, e.ring} {
		if g != nil && g.kind == ToneRingtone {
			g.level = ringLevel * e.ringVolume
		}
	}
}

// ringLevel is the ringtone's peak at full ring volume: -6 dBFS, louder than the call-progress tones
// (which a person hears with the handset at the ear) since it must be heard across a room.
const ringLevel = 0.5 * 32767

// PlayTone starts a call-progress tone, replacing any other; ToneNone stops it. Asking for the tone already
// playing changes nothing (its cadence goes on). The ringtone plays on the ringer device when there is
// one, at the ring volume; the others on the speaker.
func (e *Engine) PlayTone(t Tone) {
	e.mu.Lock()
	defer e.wake()
	defer e.mu.Unlock()
	if e.currentTone() == t {
		return
	}
	e.tone, e.ring = nil, nil
	switch {
	case t == ToneNone:
	case t == ToneRingtone:
		g := newToneGen(t, EngineRate)
		g.level = ringLevel * e.ringVolume
		if e.separateRinger() {
			e.ring = g
		} else {
			e.tone = g
		}
	default:
		e.tone = newToneGen(t, EngineRate)
	}
}

// currentTone is CurrentTone with e.mu held.
func (e *Engine) currentTone() Tone {
	switch {
	case e.ring != nil:
		return e.ring.kind
	case e.tone != nil:
		return e.tone.kind
	}
	return ToneNone
}

// CurrentTone is the tone playing now.
func (e *Engine) CurrentTone() Tone {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.currentTone()
}

// Close stops the devices.
func (e *Engine) Close() {
	if e != nil {
		e.closeDevices()
	}
}
