//go:build !linux

package audio

import "runtime"

// raiseThread gives the calling goroutine an OS thread of its own; elsewhere than Linux the sound
// system's own threads carry the real-time work (WASAPI, CoreAudio), and the priority stays.
func raiseThread() string {
	runtime.LockOSThread()
	return "normal"
}
