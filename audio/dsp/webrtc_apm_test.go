//go:build webrtcapm && cgo

package dsp

func init() {
	candidates = append(candidates,
		// as PulseAudio's module-echo-cancel uses it: delay-agnostic, high suppression
		candidate{"webrtc", func() canceller { return newWebRTC(Defaults, true, 0, 2) }},
		// behind the phone's aligner, high and moderate suppression
		candidate{"webrtc+al", func() canceller { return aligned{newWebRTC(Defaults, false, 0, 2), newAligner(frame)} }},
		candidate{"webrtc+al-m", func() canceller { return aligned{newWebRTC(Defaults, false, 0, 1), newAligner(frame)} }},
	)
}
