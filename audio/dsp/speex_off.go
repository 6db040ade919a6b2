//go:build !cgo || nospeexdsp

package dsp

// This build has no speexdsp (-tags nospeexdsp, or no cgo: the Windows cross build): a Processor passes
// the microphone through, and Available says so.

const haveSpeex = false

func newSpeex(Config) canceller { return nil }
