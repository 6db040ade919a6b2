package audio

import "github.com/zaf/g711"

// G.711 through github.com/zaf/g711: a small, well-tested pure-Go implementation of the ITU tables.

type ulaw struct{}

func (ulaw) Name() string          { return "PCMU" }
func (ulaw) PayloadType() uint8    { return 0 }
func (ulaw) ClockRate() uint32     { return 8000 }
func (ulaw) SampleRate() int       { return 8000 }
func (ulaw) TimestampStep() uint32 { return 160 }

func (ulaw) Encode(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = append(dst, g711.EncodeUlawFrame(s))
	}
	return dst
}

func (ulaw) Decode(dst []int16, payload []byte) []int16 {
	for _, b := range payload {
		dst = append(dst, g711.DecodeUlawFrame(b))
	}
	return dst
}

type alaw struct{}

func (alaw) Name() string          { return "PCMA" }
func (alaw) PayloadType() uint8    { return 8 }
func (alaw) ClockRate() uint32     { return 8000 }
func (alaw) SampleRate() int       { return 8000 }
func (alaw) TimestampStep() uint32 { return 160 }

func (alaw) Encode(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = append(dst, g711.EncodeAlawFrame(s))
	}
	return dst
}

func (alaw) Decode(dst []int16, payload []byte) []int16 {
	for _, b := range payload {
		dst = append(dst, g711.DecodeAlawFrame(b))
	}
	return dst
}
