package audio

import (
	"fmt"
	"strings"
)

// FrameDurationMs is the length of every audio frame and RTP packet: 20 ms (ptime 20).
const FrameDurationMs = 20

// Codec turns one 20 ms frame of 16-bit mono PCM into an RTP payload and back.
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
func Supported() []string { return []string{"PCMU", "PCMA"} }

// NewCodec makes the codec called name (case-insensitive).
func NewCodec(name string) (Codec, error) {
	switch strings.ToUpper(name) {
	case "PCMU":
		return ulaw{}, nil
	case "PCMA":
		return alaw{}, nil
	}
	return nil, fmt.Errorf("codec %q is not supported (supported: %s)", name, strings.Join(Supported(), ", "))
}
