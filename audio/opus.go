//go:build !noopus

package audio

import (
	"fmt"

	"gopkg.in/hraban/opus.v2"
)

// Opus through gopkg.in/hraban/opus.v2, cgo over the reference libopus (the only served binding that
// encodes; github.com/pion/opus only decodes, partly). Coded at 16 kHz mono, the engine's rate, in VoIP
// mode; RFC 7587 says the RTP clock is 48 kHz and the rtpmap names two channels whatever is sent.
// Build with -tags noopus to leave it out (and libopus with it).

const opusPayloadType = 111

type opusCodec struct {
	enc *opus.Encoder
	dec *opus.Decoder
}

func newOpus() (Codec, error) {
	enc, err := opus.NewEncoder(16000, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	if err := enc.SetInBandFEC(true); err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	dec, err := opus.NewDecoder(16000, 1)
	if err != nil {
		return nil, fmt.Errorf("opus decoder: %w", err)
	}
	return &opusCodec{enc: enc, dec: dec}, nil
}

func (*opusCodec) Name() string          { return "opus" }
func (*opusCodec) PayloadType() uint8    { return opusPayloadType }
func (*opusCodec) ClockRate() uint32     { return 48000 }
func (*opusCodec) SampleRate() int       { return 16000 }
func (*opusCodec) TimestampStep() uint32 { return 960 }

// RTPMapParams is the rtpmap's encoding parameters: RFC 7587 always says two channels.
func (*opusCodec) RTPMapParams() string { return "2" }

// Fmtp is what we ask of the far end's encoder.
func (*opusCodec) Fmtp() string { return "useinbandfec=1;minptime=20" }

func (c *opusCodec) Encode(dst []byte, pcm []int16) []byte {
	buf := make([]byte, 1275) // the largest Opus packet
	n, err := c.enc.Encode(pcm, buf)
	if err != nil {
		return dst
	}
	return append(dst, buf[:n]...)
}

func (c *opusCodec) Decode(dst []int16, payload []byte) []int16 {
	pcm := make([]int16, 16000*120/1000) // up to 120 ms in one packet
	n, err := c.dec.Decode(payload, pcm)
	if err != nil {
		return dst
	}
	return append(dst, pcm[:n]...)
}
