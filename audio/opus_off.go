//go:build noopus

package audio

import "errors"

func newOpus() (Codec, error) {
	return nil, errors.New("this build has no Opus (built with -tags noopus)")
}
