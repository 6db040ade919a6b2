package phone

import (
	"strings"
	"testing"

	"stayline/audio"
)

func codecs(t *testing.T, names ...string) []audio.Codec {
	var out []audio.Codec
	for _, n := range names {
		c, err := audio.NewCodec(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func TestOfferRoundTrips(t *testing.T) {
	ours := codecs(t, "PCMU", "PCMA")
	body, err := marshalSDP(localMedia{IP: "192.0.2.10", Port: 40000, Codecs: ours, PTs: []uint8{0, 8},
		DTMF: dtmfPayloadType, Direction: SendRecv, SessionID: 7, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, want := range []string{"m=audio 40000 RTP/AVP 0 8 101", "c=IN IP4 192.0.2.10", "a=rtpmap:0 PCMU/8000",
		"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv"} {
		if !strings.Contains(text, want) {
			t.Errorf("offer lacks %q:\n%s", want, text)
		}
	}
	r, err := parseSDP(body)
	if err != nil {
		t.Fatal(err)
	}
	if r.IP != "192.0.2.10" || r.Port != 40000 || r.DTMF != 101 || len(r.Formats) != 2 || r.Direction != SendRecv {
		t.Fatalf("parsed %+v", r)
	}
}

func offer(formats, attrs string) []byte {
	return []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 6000 RTP/AVP " + formats + "\r\n" + attrs)
}

func TestChooseCodecFollowsTheOfferersOrder(t *testing.T) {
	ours := codecs(t, "PCMU", "PCMA")
	r, err := parseSDP(offer("8 0 101", "a=rtpmap:101 telephone-event/8000\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, pt, err := chooseCodec(ours, r)
	if err != nil || c.Name() != "PCMA" || pt != 8 {
		t.Fatalf("chose %v pt %d, %v; want PCMA 8", c, pt, err)
	}
	if r.DTMF != 101 {
		t.Fatalf("telephone-event pt %d", r.DTMF)
	}
}

// Offers a phone must refuse (488), each with a reason.
func TestOffersWeRefuse(t *testing.T) {
	ours := codecs(t, "PCMU", "PCMA")
	cases := map[string][]byte{
		"only unknown codecs": offer("18 96", "a=rtpmap:18 G729/8000\r\na=rtpmap:96 AMR/8000\r\n"),
		"video only":          []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 6000 RTP/AVP 96\r\n"),
		"DTLS-SRTP profile":   []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 UDP/TLS/RTP/SAVP 0\r\n"),
		"impossible port":     []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0\r\n"),
		"not an address":      []byte("v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\nc=IN IP4 phone.example\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"),
		"multicast":           []byte("v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\nc=IN IP4 224.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"),
		"garbage":             []byte("this is not SDP"),
		"no connection":       []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"),
	}
	for name, body := range cases {
		r, err := parseSDP(body)
		if err == nil {
			_, _, err = chooseCodec(ours, r)
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLegacyHoldAddressIsInactive(t *testing.T) {
	r, err := parseSDP([]byte("v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"))
	if err != nil || r.Direction != Inactive {
		t.Fatalf("c=0.0.0.0: %+v, %v; want inactive", r, err)
	}
	r, _ = parseSDP(offer("0", "a=sendonly\r\n"))
	if r.Direction != SendOnly || r.Direction.Reverse() != RecvOnly {
		t.Fatalf("sendonly parsed as %s", r.Direction)
	}
}
