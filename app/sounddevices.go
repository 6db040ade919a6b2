package app

// SoundDevices is what a Sound may also tell: the sound devices' changes as they happen (internal/core's
// Sound does; the window is told nothing by a Sound without it).
type SoundDevices interface {
	// OnDeviceChange calls f, on any goroutine, with each change in words, and whether the devices on
	// offer changed (one plugged in or removed) rather than the one in use (gone, back, a new default).
	OnDeviceChange(f func(text string, listChanged bool))
}

// followDevices shows each change of the sound devices on the display ("The speaker "USB Headset" went
// away: sound now uses the system default"), and lists the devices again in the output choice and in the
// settings when they are open: a device plugged in is there to choose without a restart.
func (w *Window) followDevices() {
	sd, ok := w.sound.(SoundDevices)
	if !ok {
		return
	}
	sound := w.sound
	sd.OnDeviceChange(func(text string, listChanged bool) {
		w.Do(func() {
			if w.sound != sound || w.stopped.Load() { // a phone the window has left
				return
			}
			if listChanged {
				w.listOutputs()
				if w.settings != nil {
					w.settings.RefreshDevices()
				}
			}
			w.model.Message = text
			w.render()
		})
	})
}

// listOutputs fills the output choice with the devices now offered.
func (w *Window) listOutputs() {
	if _, outs, err := w.sound.AudioDevices(); err == nil {
		w.Output.SetOptions(append([]string{systemDefault}, outs...))
	}
}
