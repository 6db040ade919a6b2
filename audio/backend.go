// Package audio is Stayline's voice: sound devices through malgo (miniaudio), codecs, the jitter buffer,
// tones and mixing. Calls arrive in their own issue; this file holds what the rest already relies on.
package audio

import (
	"fmt"

	"github.com/gen2brain/malgo"
)

// BackendNull is miniaudio's null backend: silence in, output discarded, no sound card needed. malgo's
// constant named BackendNull (13) selects miniaudio's custom backend instead and fails with "No backend";
// the null backend is the next value (measured on malgo v0.11.24, see BUILD-NOTES).
const BackendNull = malgo.Backend(malgo.BackendNull + 1)

// Backends maps the configuration's audio.backend to the miniaudio backends to try, in order. nil means
// miniaudio's own default order for the platform.
func Backends(name string) ([]malgo.Backend, error) {
	switch name {
	case "", "default":
		return nil, nil
	case "null":
		return []malgo.Backend{BackendNull}, nil
	}
	return nil, fmt.Errorf("audio backend %q is not one of default, null", name)
}
