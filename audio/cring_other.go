//go:build !linux || !cgo

package audio

import "github.com/gen2brain/malgo"

// cring: the C callback and its rings are Linux's so far (cring_linux.go); elsewhere the devices keep
// malgo's Go callback.
type cring struct{}

// playbackPeriodMs is the speaker's period with malgo's Go callback (device.go).
const playbackPeriodMs = 40

func (e *Engine) attachRing(*malgo.Device, bool) *cring { return nil }
func (c *cring) detach()                                {}
func (e *Engine) closePump()                            {}
