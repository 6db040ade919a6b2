package audio

import (
	"stayline/audio/dsp"
)

// The microphone's echo canceller, noise suppression and automatic gain (audio/dsp, docs/ARCHITECTURE.md,
// "Sound: echo"). Each 20 ms frame the microphone captured is cleaned in fromMicrophone, before any call
// takes it, with what the speaker played as the echo's reference.
//
// The speaker and the microphone are separate devices with callbacks of their own periods (40 ms and
// 10 ms), so the reference is kept as a stream: what toSpeaker played (e.played) is queued here, and each
// microphone frame takes the next engineFrame samples of it. The stream runs on without gaps whatever the
// callbacks' order; only its offset to the microphone depends on them, and the aligner in audio/dsp
// measures that offset (with the devices' buffers and the room) and follows it when it changes. (This is
// what speexdsp's speex_echo_playback/speex_echo_capture do; they assume one frame between the two and
// leave the delay to the filter, which converges slower and starts again when the delay moves.)

// maxRefBacklog bounds the reference not yet paired with the microphone (a stalled capture device): past
// it the oldest is dropped, a jump of the delay the aligner follows.
const maxRefBacklog = 8 * engineFrame

// echoState is the engine's echo canceller. Guarded by the engine's mu.
type echoState struct {
	p      *dsp.Processor
	ref    []int16 // played, not yet paired with a microphone frame; oldest first
	mode   string  // audio.echo_cancel: "auto", "on", "off"
	output string  // the output device it was decided for ("": unknown, the system default)
	follow bool    // listening to the device changes
	// short and dropped count the reference's gaps: samples of silence put in for a speaker behind, and
	// samples dropped for a microphone behind.
	short, dropped int
}

// echo makes the state on first use (e.mu held).
func (e *Engine) echo() *echoState {
	if e.echoState == nil {
		e.echoState = &echoState{p: dsp.New(dsp.Config{}), mode: "auto"}
	}
	return e.echoState
}

// cancelEcho cleans one microphone frame in place: echo cancelled, noise suppressed, gain set. It takes
// what the speaker played since the last frame (e.played) into the reference stream. e.mu is held.
func (e *Engine) cancelEcho(frame []int16) {
	x := e.echo()
	x.ref = append(x.ref, e.played...)
	e.played = e.played[:0]
	if short := engineFrame - len(x.ref); short > 0 { // the speaker is behind: silence for what it has not played
		x.ref = append(make([]int16, short, engineFrame), x.ref...)
		x.short += short
	}
	out := x.p.Process(frame, x.ref[:engineFrame])
	copy(frame, out)
	n := copy(x.ref, x.ref[engineFrame:])
	x.ref = x.ref[:n]
	if over := len(x.ref) - maxRefBacklog; over > 0 {
		x.ref = append(x.ref[:0], x.ref[over:]...)
		x.dropped += over
	}
}

// SetEchoCancel sets the microphone's echo canceller (the configuration's audio.echo_cancel): "on",
// "off", or "auto": on, except while the output device is one a person wears (its name says headset,
// headphones, handset: dsp.IsHeadset), and decided again when the output device changes. Noise
// suppression and automatic gain have their own switch (SetNoiseSuppression).
func (e *Engine) SetEchoCancel(mode string) {
	e.devMu.Lock()
	output := e.output
	e.devMu.Unlock()
	if output == "" {
		if l, err := e.ListDevices(); err == nil {
			output = l.DefaultOutput
		}
	}
	e.mu.Lock()
	x := e.echo()
	x.mode = mode
	follow := !x.follow
	x.follow = true
	e.mu.Unlock()
	e.echoFor(output)
	if follow {
		e.OnDeviceChange(func(c DeviceChange) {
			if c.Output && c.Kind != DevicesListed {
				e.echoFor(c.Now)
			}
		})
	}
}

// SetNoiseSuppression turns the microphone's noise suppression and automatic gain on or off (the
// configuration's audio.noise_suppression; off for measuring with steady tones, which it takes for noise).
func (e *Engine) SetNoiseSuppression(on bool) {
	e.mu.Lock()
	e.echo().p.SetVoice(on)
	e.mu.Unlock()
}

// outputSwitched decides the echo canceller again after SwitchDevices moved the sound to output ("" = the
// system default), when it follows the output device (SetEchoCancel was called).
func (e *Engine) outputSwitched(output string) {
	e.mu.Lock()
	follow := e.echoState != nil && e.echoState.follow
	e.mu.Unlock()
	if !follow {
		return
	}
	if output == "" {
		if l, err := e.ListDevices(); err == nil {
			output = l.DefaultOutput
		}
	}
	e.echoFor(output)
}

// echoFor decides the echo canceller for the output device now in use.
func (e *Engine) echoFor(output string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.echo()
	on := dsp.EchoOn(x.mode, output)
	changed := on != x.p.Enabled() || output != x.output
	if output != x.output {
		x.p.Reset() // another device, another room and another delay
	}
	x.output = output
	x.p.SetEnabled(on)
	if !changed {
		return
	}
	switch {
	case !dsp.Available():
		e.log.Info("echo canceller", "on", false, "why", "this build has none (built without speexdsp)")
	default:
		e.log.Info("echo canceller", "on", on, "mode", x.mode, "output", output)
	}
}

// EchoCancelling reports whether the echo canceller works on the microphone now (for the window).
func (e *Engine) EchoCancelling() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.echo().p.Enabled()
}
