package audio

import (
	"fmt"
	"strings"
)

// FrameDurationMs is the length of every audio frame and RTP packet: 20 ms (ptime 20).
const FrameDurationMs = 20

// Codec turns one 20 ms frame of 16-bit mono PCM into an RTP payload and back. A Codec may keep state
// (G.722's predictors): make one per call with NewCodec.
type Codec interface {
	// Name is the encoding name of SDP's rtpmap ("PCMU").
	Name() string
	// PayloadType is the static payload type, or the dynamic one we offer.
	PayloadType() uint8
	// ClockRate is the RTP clock rate written in SDP (8000 for G.722, by RFC 3551's famous exception).
	ClockRate() uint32
	// SampleRate is the PCM rate Encode takes and Decode gives.
	SampleRate() int
	// TimestampStep is the RTP timestamp increment of one frame.
	TimestampStep() uint32
	// Encode appends the payload of one frame (FrameSamples(c) samples) to dst.
	Encode(dst []byte, pcm []int16) []byte
	// Decode appends the PCM of one payload to dst.
	Decode(dst []int16, payload []byte) []int16
}

// FrameSamples is how many PCM samples one 20 ms frame of c holds.
func FrameSamples(c Codec) int { return c.SampleRate() * FrameDurationMs / 1000 }

// Supported lists the codecs this build can use, by name.
func Supported() []string {
	names := []string{"PCMU", "PCMA", "G722"}
	if _, err := newOpus(); err == nil {
		names = append(names, "opus")
	}
	return names
}

// RTPMapParams is implemented by codecs whose rtpmap carries encoding parameters (Opus: "2").
type RTPMapParams interface{ RTPMapParams() string }

// Fmtper is implemented by codecs with format parameters to put in SDP.
type Fmtper interface{ Fmtp() string }

// NewCodec makes the codec called name (case-insensitive).
func NewCodec(name string) (Codec, error) {
	switch strings.ToUpper(name) {
	case "PCMU":
		return ulaw, nil
	case "PCMA":
		return alaw, nil
	case "G722":
		return newG722(), nil
	case "OPUS":
		return newOpus()
	}
	return nil, fmt.Errorf("codec %q is not supported (supported: %s)", name, strings.Join(Supported(), ", "))
}
