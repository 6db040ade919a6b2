//go:build webrtcapm && cgo

package dsp

/*
#cgo pkg-config: webrtc-audio-processing
#cgo CXXFLAGS: -std=c++11 -w
#cgo LDFLAGS: -lstdc++
#include <stdlib.h>
#include "webrtc_apm.h"
*/
import "C"

import "unsafe"

// WebRTC's audio processing (AEC with the extended filter, noise suppression, digital AGC), the other
// candidate: built only with -tags webrtcapm, for the measurements of TestEchoRoom.

type webrtcAPM struct {
	h     unsafe.Pointer
	buf   *C.int16_t
	ref   *C.int16_t
	n     int
	delay int // ms told to the module; with delayAgnostic it finds its own
}

func newWebRTC(cfg Config, delayAgnostic bool, delayMs, level int) canceller {
	cfg = cfg.withDefaults()
	da := C.int(0)
	if delayAgnostic {
		da = 1
	}
	size := C.size_t(cfg.Frame) * 2
	return &webrtcAPM{h: C.apm_new(C.int(cfg.Rate), da, C.int(level)), buf: (*C.int16_t)(C.malloc(size)),
		ref: (*C.int16_t)(C.malloc(size)), n: cfg.Frame, delay: delayMs}
}

func (w *webrtcAPM) setEcho(on bool)  { C.apm_set(w.h, bint(on), 1) }
func (w *webrtcAPM) setVoice(on bool) {}
func (w *webrtcAPM) reset()           {}

func bint(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func (w *webrtcAPM) process(out, mic, ref, linear []int16) {
	copy(unsafe.Slice((*int16)(unsafe.Pointer(w.buf)), w.n), mic)
	copy(unsafe.Slice((*int16)(unsafe.Pointer(w.ref)), w.n), ref)
	C.apm_process(w.h, w.buf, w.ref, C.int(w.n), C.int(w.delay))
	copy(out, unsafe.Slice((*int16)(unsafe.Pointer(w.buf)), w.n))
	if linear != nil {
		copy(linear, out) // the module gives no linear output of its own
	}
}

func (w *webrtcAPM) close() {
	C.apm_free(w.h)
	C.free(unsafe.Pointer(w.buf))
	C.free(unsafe.Pointer(w.ref))
}
