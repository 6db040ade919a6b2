package audio

import "github.com/zaf/g711"

// G.711 through github.com/zaf/g711: a small, well-tested pure-Go implementation of the ITU tables. The
// two laws differ only in their name, payload type and tables.

// g711Codec is one G.711 law.
type g711Codec struct {
	name   string
	pt     uint8
	encode func(int16) uint8
	decode func(uint8) int16
}

var (
	ulaw = g711Codec{"PCMU", 0, g711.EncodeUlawFrame, g711.DecodeUlawFrame}
	alaw = g711Codec{"PCMA", 8, g711.EncodeAlawFrame, g711.DecodeAlawFrame}
)

func (c g711Codec) Name() string        { return c.name }
func (c g711Codec) PayloadType() uint8  { return c.pt }
func (g711Codec) ClockRate() uint32     { return 8000 }
func (g711Codec) SampleRate() int       { return 8000 }
func (g711Codec) TimestampStep() uint32 { return 160 }

func (c g711Codec) Encode(dst []byte, pcm []int16) []byte {
	for _, s := range pcm {
		dst = append(dst, c.encode(s))
	}
	return dst
}

func (c g711Codec) Decode(dst []int16, payload []byte) []int16 {
	for _, b := range payload {
		dst = append(dst, c.decode(b))
	}
	return dst
}
