// Package dsp cleans the microphone before it is sent: acoustic echo cancellation (the far end's voice,
// played by the speaker and picked up again by the microphone, taken out), noise suppression and
// automatic gain. It works on the engine's 20 ms frames at 16 kHz: each microphone frame with the next
// frame of what the speaker played as its reference, the delay between the two measured and followed here
// (docs/ARCHITECTURE.md, "Sound: echo").
//
// The work is speexdsp's (cgo, Debian's libspeexdsp-dev), chosen by measurement over WebRTC's audio
// processing (README.md, "Calls and audio"). Built without it (-tags nospeexdsp, or without cgo: the Windows
// cross build) a Processor passes the microphone through untouched and Available reports false.
package dsp

import (
	"runtime"
	"strings"
	"sync/atomic"
)

// Config sizes a Processor. Zero fields take the defaults of Defaults.
type Config struct {
	Rate  int // samples a second: 16000 (the aligner's figures are counted at that rate)
	Frame int // samples a frame (320: 20 ms)
	// Tail is the echo the canceller's filter covers, in samples, once the aligner has taken the device's
	// delay out: the room's echo, 200 ms.
	Tail int
	// Suppression of what echo the adaptive filter leaves, in dB (negative): while only the far end
	// talks, and while both do.
	EchoSuppress, EchoSuppressActive int
	NoiseSuppress                    int     // dB (negative)
	AGCLevel                         float64 // the automatic gain's target, RMS in sample units
	AGCMaxGain                       int     // dB
}

// Defaults is the configuration the engine uses.
var Defaults = Config{
	Rate: 16000, Frame: 320, Tail: 16000 * 200 / 1000,
	EchoSuppress: -40, EchoSuppressActive: -15,
	NoiseSuppress: -15, AGCLevel: 8000, AGCMaxGain: 20,
}

func (c Config) withDefaults() Config {
	d := Defaults
	if c.Rate > 0 {
		d.Rate = c.Rate
	}
	if c.Frame > 0 {
		d.Frame = c.Frame
	}
	if c.Tail > 0 {
		d.Tail = c.Tail
	}
	if c.EchoSuppress != 0 {
		d.EchoSuppress = c.EchoSuppress
	}
	if c.EchoSuppressActive != 0 {
		d.EchoSuppressActive = c.EchoSuppressActive
	}
	if c.NoiseSuppress != 0 {
		d.NoiseSuppress = c.NoiseSuppress
	}
	if c.AGCLevel != 0 {
		d.AGCLevel = c.AGCLevel
	}
	if c.AGCMaxGain != 0 {
		d.AGCMaxGain = c.AGCMaxGain
	}
	return d
}

// canceller is one implementation (speexdsp; WebRTC's under the webrtcapm tag, for the comparison).
type canceller interface {
	setEcho(on bool)
	setVoice(on bool)
	// process handles one frame; linear, when not nil, gets the echo canceller's output before any
	// suppression.
	process(out, mic, ref, linear []int16)
	reset() // forget the echo path
	close()
}

// Available reports whether this build has the echo canceller (false: built with -tags nospeexdsp or
// without cgo, and a Processor passes the microphone through).
func Available() bool { return haveSpeex }

// Processor cleans one microphone. Process is called from one goroutine (the audio thread); the Set
// methods from any, and take effect at the next frame.
type Processor struct {
	cfg         Config
	c           canceller // speexdsp behind the aligner; nil: no library in this build
	echo, voice atomic.Bool
	restart     atomic.Bool // Reset asked
	out         []int16
}

// New makes a Processor with echo cancellation, noise suppression and automatic gain on.
func New(cfg Config) *Processor {
	cfg = cfg.withDefaults()
	p := &Processor{cfg: cfg, out: make([]int16, cfg.Frame)}
	if sp := newSpeex(cfg); sp != nil {
		p.c = aligned{sp, newAligner(cfg.Frame)}
		// The library's state is C memory: freed by Close, or when the Processor is garbage (an engine
		// dropped without closing it).
		runtime.AddCleanup(p, func(sp canceller) { sp.close() }, sp)
	}
	p.echo.Store(true)
	p.voice.Store(true)
	return p
}

// SetEnabled turns the echo canceller on or off (off for a headset, whose microphone does not hear its
// speaker). Turned on again it starts from nothing: the room may have changed.
func (p *Processor) SetEnabled(on bool) { p.echo.Store(on) }

// Enabled reports whether the echo canceller is on (in this build: false without the library).
func (p *Processor) Enabled() bool { return p.echo.Load() && p.c != nil }

// Reset makes the canceller start again, delay and room unknown (another output device: another room).
func (p *Processor) Reset() { p.restart.Store(true) }

// SetVoice turns noise suppression and automatic gain on or off.
func (p *Processor) SetVoice(on bool) { p.voice.Store(on) }

// Process cleans one frame of the microphone (Config.Frame samples) with speakerRef, the frame the
// speaker was given at the same time, as the echo's reference (the delay between them is measured here).
// The result is valid until the next call. A frame of another length is returned as it is.
func (p *Processor) Process(mic, speakerRef []int16) []int16 {
	if p.c == nil || len(mic) != p.cfg.Frame || len(speakerRef) != p.cfg.Frame {
		return mic
	}
	echo, voice := p.echo.Load(), p.voice.Load()
	if !echo && !voice {
		return mic
	}
	if p.restart.Swap(false) {
		p.c.reset()
	}
	p.c.setEcho(echo)
	p.c.setVoice(voice)
	p.c.process(p.out, mic, speakerRef, nil)
	return p.out
}

// Stats are what the canceller found, for the log and the tests.
type Stats struct {
	Delay        float64 // the speaker-to-microphone delay measured, samples (-1: not found yet)
	DelayChanges int     // how often it jumped (the first finding included)
	DriftPPM     float64 // how fast it moves, parts per million (> 0: growing; 0 until followed)
}

// Stats reads the canceller's figures. Call it from the goroutine that calls Process.
func (p *Processor) Stats() Stats {
	if al, ok := p.c.(aligned); ok {
		return Stats{Delay: al.a.est, DelayChanges: al.a.estimates, DriftPPM: al.a.fine.rate / float64(al.a.frame) * 1e6}
	}
	return Stats{}
}

// Close frees the library's state. The Processor passes audio through afterwards.
func (p *Processor) Close() {
	if p.c != nil {
		p.c.close()
		p.c = nil
	}
}

// headsetWords mark an output device whose microphone cannot hear its speaker.
var headsetWords = []string{"headset", "headphone", "earphone", "earbud", "earpiece", "handset", "hands-free", "handsfree"}

// IsHeadset reports whether a sound device's name says it is worn (a headset, headphones, a handset):
// what the operating system tells of a device, through miniaudio, is its name (PulseAudio: the sink's
// description, e.g. "Jabra EVOLVE 20 Mono" has none; "Logitech USB Headset Analog Stereo" has one).
func IsHeadset(name string) bool {
	n := strings.ToLower(name)
	for _, w := range headsetWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// EchoOn is what the [audio] echo_cancel setting means for an output device: "on", "off", or "auto" (and
// anything else): on, except on a device IsHeadset names.
func EchoOn(mode, outputDevice string) bool {
	switch mode {
	case "on":
		return true
	case "off":
		return false
	}
	return !IsHeadset(outputDevice)
}
