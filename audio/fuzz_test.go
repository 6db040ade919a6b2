package audio

import "testing"

// FuzzDecoders: any payload decodes without harm; G.711 and G.722 give exactly their samples.
func FuzzDecoders(f *testing.F) {
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80})
	f.Add(make([]byte, 160))
	g722 := newG722()
	opus, _ := NewCodec("opus")
	f.Fuzz(func(t *testing.T, payload []byte) {
		if n := len(ulaw.Decode(nil, payload)); n != len(payload) {
			t.Fatalf("G.711: %d samples for %d octets", n, len(payload))
		}
		if n := len(g722.Decode(nil, payload)); n != 2*len(payload) {
			t.Fatalf("G.722: %d samples for %d octets", n, len(payload))
		}
		if opus != nil {
			opus.Decode(nil, payload)
		}
	})
}
