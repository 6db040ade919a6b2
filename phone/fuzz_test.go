package phone

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/emiago/sipgo/sip"

	"stayline/audio"
)

// FuzzParseSDP: an offer is refused, or gives a usable address and port, and an answer can be written
// for it.
func FuzzParseSDP(f *testing.F) {
	f.Add([]byte(offer("0 8 101", "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n")))
	f.Add([]byte(offer("9 111", "a=rtpmap:111 opus/48000/2\r\na=sendonly\r\n")))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"))
	f.Add([]byte("v=0\r\nm=audio 99999999999 RTP/AVP 0\r\n"))
	ours := []audio.Codec{}
	for _, n := range audio.Supported() {
		c, _ := audio.NewCodec(n)
		ours = append(ours, c)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseSDP(body)
		if err != nil {
			return
		}
		if r.Port < 0 || r.Port > 65535 || net.ParseIP(r.IP) == nil {
			t.Fatalf("accepted address %q port %d", r.IP, r.Port)
		}
		c, pt, err := chooseCodec(ours, r)
		if err != nil {
			return
		}
		if _, err := marshalSDP(localMedia{IP: "127.0.0.1", Port: 40000, Codecs: []audio.Codec{c}, PTs: []uint8{pt},
			DTMF: r.DTMF, Direction: r.Direction.Reverse()}); err != nil {
			t.Fatalf("no answer for an accepted offer: %v", err)
		}
	})
}

// FuzzSmallParsers: the message-summary body, Refer-To, sipfrag and telephone-event parsers take any
// input.
func FuzzSmallParsers(f *testing.F) {
	f.Add([]byte("Messages-Waiting: yes\r\nVoice-Message: 2/0 (0/0)\r\n"))
	f.Add([]byte("<sip:1002@example.com?Replaces=abc%40x%3Bto-tag%3D1%3Bfrom-tag%3D2>"))
	f.Add([]byte("SIP/2.0 200 OK\r\n"))
	f.Add([]byte{11, 0x8a, 0x03, 0x20})
	f.Add([]byte("\"Front Desk\" <sip:100@pbx>;party=calling, <tel:+1-555-0100>;answer-after=2"))
	f.Add([]byte("<http://x>;info=alert-autoanswer;delay=1"))
	f.Add([]byte("1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, ok := parseCrypto(string(data)); ok {
			if back, ok := parseCrypto(c.String()); !ok || back.Suite != c.Suite || string(back.Key) != string(c.Key) {
				t.Fatalf("crypto %q does not read back: %q", data, c.String())
			}
		}
		messagesWaiting(data)
		if target, replaces, err := parseReferTo(string(data)); err == nil {
			if !strings.HasPrefix(target, "sip") || strings.ContainsAny(target+replaces, "\r\n") {
				t.Fatalf("Refer-To accepted as %q / %q", target, replaces)
			}
		}
		if code := sipfragStatus(data); code < 0 {
			t.Fatalf("status %d", code)
		}
		var l lastDigit
		if d, ok := l.event(1, data); ok && !strings.ContainsRune("0123456789*#ABCD", rune(d)) {
			t.Fatalf("digit %q", d)
		}
		routeURIs(sip.NewHeader("Record-Route", string(data)))
		parseRAck(string(data))
		checkIdentityAndAutoAnswer(t, string(data))
	})
}

// checkIdentityAndAutoAnswer: whatever the P-Asserted-Identity, Remote-Party-ID, Call-Info and Alert-Info
// headers say, the party read from them fits on a line and a name has no control characters, and a delay
// to answer after is within bounds.
func checkIdentityAndAutoAnswer(t *testing.T, value string) {
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1"})
	for _, name := range []string{"P-Asserted-Identity", "Remote-Party-ID", "Call-Info", "Alert-Info"} {
		req.AppendHeader(sip.NewHeader(name, value))
	}
	if remote, name, ok := assertedParty(req); ok {
		if remote == "" || !printable(remote) || strings.ContainsFunc(name, unicode.IsControl) || len([]rune(name)) > maxNameRunes {
			t.Fatalf("party %q %q from %q", remote, name, value)
		}
	}
	if aa := autoAnswerAsked(req); aa.after < 0 || aa.after > maxAnswerAfter || (!aa.asked && aa.after != 0) {
		t.Fatalf("auto-answer %+v from %q", aa, value)
	}
}

// FuzzRTPReceive: whatever arrives on a call's RTP port, from its peer, is taken or dropped without harm,
// and the loss figure stays within what was expected.
func FuzzRTPReceive(f *testing.F) {
	f.Add([]byte{0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 1, 2, 3, 4, 0xff, 0xff})
	f.Add([]byte{0x80, 101, 0, 2, 0, 0, 1, 64, 1, 2, 3, 4, 5, 0x8a, 0, 160})
	f.Add([]byte{0x90, 0, 0, 1})
	m, err := openMedia("127.0.0.1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	defer m.close()
	codec, _ := audio.NewCodec("PCMU")
	peer := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5004}
	m.configure(peer, codec, 0, dtmfPayloadType, SendRecv)
	// The same for a call protected by SRTP: every input goes through authentication first.
	sm, err := openMedia("127.0.0.1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	defer sm.close()
	sm.configure(peer, codec, 0, dtmfPayloadType, SendRecv)
	local, _ := newCrypto(1, "AES_CM_128_HMAC_SHA1_32")
	remote, _ := newCrypto(1, "AES_CM_128_HMAC_SHA1_32")
	if err := sm.setSRTP(&srtpKeys{Local: local, Remote: remote}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range []*media{m, sm} {
			m.receive(data, peer, time.Now())
			m.playFrame()
			st := m.Stats()
			if exp := m.recv.expected(); st.Lost > exp {
				t.Fatalf("lost %d of %d expected", st.Lost, exp)
			}
		}
		if sm.Stats().RxPackets != 0 {
			t.Fatalf("an unauthenticated packet was taken into an SRTP call: %x", data)
		}
	})
}
