package core

import (
	"stayline/audio"
	"stayline/phone"
)

// Sound is the phone's sound for a front end: mute, volume, the dial tone and the devices, over the agent
// (which moves the calls' audio along when the devices change). It goes around the failover manager:
// sound is no rule of a stage.
type Sound struct {
	agent  *phone.Agent
	engine *audio.Engine
}

// Sound is this phone's sound.
func (p *Phone) Sound() Sound { return Sound{p.Agent, p.Engine} }

// OnDeviceChange calls f with each change of the sound devices, in words (app.SoundDevices): a device
// gone (the sound moved to the system default), back, a new default, or the devices offered changed.
func (s Sound) OnDeviceChange(f func(text string, listChanged bool)) {
	if s.engine != nil {
		s.engine.OnDeviceChange(func(c audio.DeviceChange) { f(c.Text, c.Kind == audio.DevicesListed) })
	}
}

// SetMuted mutes or unmutes the microphone.
func (s Sound) SetMuted(muted bool) { s.agent.SetMuted(muted) }

// SetVolume sets the speaker's volume, 0 to 2.
func (s Sound) SetVolume(v float64) { s.agent.SetVolume(v) }

// DialTone plays (or stops) the dial tone while the user enters a number.
func (s Sound) DialTone(on bool) {
	if on {
		s.agent.PlayTone(audio.ToneDial)
	} else {
		s.agent.PlayTone(audio.ToneNone)
	}
}

// AudioDevices lists the sound devices.
func (s Sound) AudioDevices() (inputs, outputs []string, err error) { return s.agent.AudioDevices() }

// SwitchAudio moves the sound to other devices now ("" = system default), calls included.
func (s Sound) SwitchAudio(input, output string) error { return s.agent.SwitchAudio(input, output) }
