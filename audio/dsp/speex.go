//go:build cgo && !nospeexdsp

package dsp

/*
#cgo pkg-config: speexdsp
#include <stdlib.h>
#include <speex/speex_echo.h>
#include <speex/speex_preprocess.h>

static int ctl_int(SpeexPreprocessState *st, int req, int v) { return speex_preprocess_ctl(st, req, &v); }
static int ctl_float(SpeexPreprocessState *st, int req, float v) { return speex_preprocess_ctl(st, req, &v); }
static int echo_rate(SpeexEchoState *st, int rate) { return speex_echo_ctl(st, SPEEX_ECHO_SET_SAMPLING_RATE, &rate); }
*/
import "C"

import "unsafe"

// speexdsp: the echo canceller (MDF, a frequency-domain adaptive filter with its own double-talk
// handling) and the preprocessor (noise suppression, automatic gain, and the suppression of what echo the
// filter leaves, driven by the canceller's state). Debian's libspeexdsp is the floating-point build, the
// one whose preprocessor has an AGC.

const haveSpeex = true

type speex struct {
	echo *C.SpeexEchoState
	pre  *C.SpeexPreprocessState
	// Buffers in C memory, so cgo checks nothing and nothing is allocated per frame.
	mic, ref, out *C.spx_int16_t
	n             int
	aecOn         bool // whether pre was last told of the echo state
	voiceOn       bool
	noiseSuppress int
}

func newSpeex(cfg Config) canceller {
	n := cfg.Frame
	s := &speex{
		echo: C.speex_echo_state_init(C.int(n), C.int(cfg.Tail)),
		pre:  C.speex_preprocess_state_init(C.int(n), C.int(cfg.Rate)),
		n:    n, noiseSuppress: cfg.NoiseSuppress,
	}
	C.echo_rate(s.echo, C.int(cfg.Rate))
	size := C.size_t(n) * C.size_t(unsafe.Sizeof(C.spx_int16_t(0)))
	s.mic = (*C.spx_int16_t)(C.calloc(1, size))
	s.ref = (*C.spx_int16_t)(C.calloc(1, size))
	s.out = (*C.spx_int16_t)(C.calloc(1, size))
	// Residual echo suppression: -40 dB while only the far end talks, -15 dB in double talk (speexdsp's
	// own defaults; -30 dB in double talk measured the same in TestEchoRoom's room).
	C.ctl_int(s.pre, C.SPEEX_PREPROCESS_SET_ECHO_SUPPRESS, C.int(cfg.EchoSuppress))
	C.ctl_int(s.pre, C.SPEEX_PREPROCESS_SET_ECHO_SUPPRESS_ACTIVE, C.int(cfg.EchoSuppressActive))
	C.ctl_float(s.pre, C.SPEEX_PREPROCESS_SET_AGC_LEVEL, C.float(cfg.AGCLevel))
	C.ctl_int(s.pre, C.SPEEX_PREPROCESS_SET_AGC_MAX_GAIN, C.int(cfg.AGCMaxGain))
	s.voiceOn = true
	s.setEcho(true)
	return s
}

func (s *speex) setEcho(on bool) {
	if on == s.aecOn {
		return
	}
	s.aecOn = on
	if on {
		C.speex_echo_state_reset(s.echo) // a filter left from another device's room would be wrong
		C.speex_preprocess_ctl(s.pre, C.SPEEX_PREPROCESS_SET_ECHO_STATE, unsafe.Pointer(s.echo))
	} else {
		C.speex_preprocess_ctl(s.pre, C.SPEEX_PREPROCESS_SET_ECHO_STATE, nil)
	}
	s.apply()
}

func (s *speex) reset() { C.speex_echo_state_reset(s.echo) }

func (s *speex) setVoice(on bool) {
	if on == s.voiceOn {
		return
	}
	s.voiceOn = on
	s.apply()
}

// apply sets the preprocessor for aecOn and voiceOn. Its spectral gain does both the noise suppression
// and the suppression of residual echo, so it runs when either is wanted; without voice processing its
// noise suppression is 0 dB deep.
func (s *speex) apply() {
	C.ctl_int(s.pre, C.SPEEX_PREPROCESS_SET_DENOISE, b2i(s.aecOn || s.voiceOn))
	depth := C.int(0)
	if s.voiceOn {
		depth = C.int(s.noiseSuppress)
	}
	C.ctl_int(s.pre, C.SPEEX_PREPROCESS_SET_NOISE_SUPPRESS, depth)
	C.ctl_int(s.pre, C.SPEEX_PREPROCESS_SET_AGC, b2i(s.voiceOn))
}

func b2i(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// process runs one frame: mic and ref of s.n samples, the result into out; linear (when not nil) gets
// the adaptive filter's output alone, before the preprocessor (for the measurements).
func (s *speex) process(out, mic, ref, linear []int16) {
	copy(unsafe.Slice((*int16)(unsafe.Pointer(s.mic)), s.n), mic)
	buf := s.mic
	if s.aecOn {
		copy(unsafe.Slice((*int16)(unsafe.Pointer(s.ref)), s.n), ref)
		C.speex_echo_cancellation(s.echo, s.mic, s.ref, s.out)
		buf = s.out
		if linear != nil {
			copy(linear, unsafe.Slice((*int16)(unsafe.Pointer(s.out)), s.n))
		}
	}
	if s.aecOn || s.voiceOn {
		C.speex_preprocess_run(s.pre, buf)
	}
	copy(out, unsafe.Slice((*int16)(unsafe.Pointer(buf)), s.n))
}

func (s *speex) close() {
	if s.echo == nil {
		return
	}
	C.speex_echo_state_destroy(s.echo)
	C.speex_preprocess_state_destroy(s.pre)
	C.free(unsafe.Pointer(s.mic))
	C.free(unsafe.Pointer(s.ref))
	C.free(unsafe.Pointer(s.out))
	s.echo, s.pre = nil, nil
}
