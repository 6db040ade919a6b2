package phone

import (
	"fmt"
	"strings"
	"testing"

	"stayline/audio"
	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// Wideband calls with baresip: the codec is negotiated, and our decoder turns baresip's audio back into
// its 440 Hz tone at 16 kHz.
func TestWidebandCallsWithBaresip(t *testing.T) {
	for _, codec := range []string{"G722", "opus"} {
		t.Run(codec, func(t *testing.T) { widebandCall(t, codec) })
	}
}

func widebandCall(t *testing.T, codec string) {
	if _, err := audio.NewCodec(codec); err != nil {
		t.Skip(err)
	}
	k := labtest.Server(t, "home", lab.ServerOptions{})
	bs := labtest.Baresip(t, "1003", k.Addr())
	a := registeredAgent(t, k, config.TransportUDP)
	a.opts.Codecs = []string{codec}
	id := callBaresip(t, a, bs, "1003")
	played := listenTo(t, a, id, &audio.Sine{Freq: 1000, Rate: 16000, Level: 0.3})
	if st := callStats(t, a, id); st.Codec != codec || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
	expectTone(t, played, 16000, 440, "baresip's "+codec)
	if !strings.Contains(strings.ToLower(bs.Log()), "set audio decoder: "+strings.ToLower(codec)) {
		t.Fatalf("baresip did not decode %s", codec)
	}
}

// sdpWith is a far end's description: an audio stream on proto with formats, and attributes (each line
// ending in CRLF).
func sdpWith(conn, proto, formats, attrs string) []byte {
	return []byte("v=0\r\no=- 1 1 IN IP4 " + conn + "\r\ns=-\r\nc=IN IP4 " + conn + "\r\nt=0 0\r\n" +
		"m=audio 6000 " + proto + " " + formats + "\r\n" + attrs)
}

func cryptoLine(t *testing.T, tag int, suite string) string {
	t.Helper()
	c, err := newCrypto(tag, suite)
	if err != nil {
		t.Fatal(err)
	}
	return "a=crypto:" + c.String() + "\r\n"
}

// The first offer of a call we place: every codec of ours in order, telephone-event, the SRTP policy.
func TestSessionFirstOffer(t *testing.T) {
	for _, tc := range []struct {
		mode   SRTPMode
		codecs []string
		want   []string // lines the offer has
		crypto int      // a=crypto lines
	}{
		{"", []string{"PCMA", "PCMU"}, []string{"m=audio 40000 RTP/AVP 8 0 101", "a=sendrecv", "a=rtpmap:101 telephone-event/8000"}, 2},
		{SRTPOff, []string{"PCMU"}, []string{"m=audio 40000 RTP/AVP 0 101"}, 0},
		{SRTPRequire, []string{"PCMU"}, []string{"m=audio 40000 RTP/SAVP 0 101", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:",
			"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"}, 2},
		{SRTPOff, nil, []string{"m=audio 40000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000"}, 0}, // none configured: PCMU
		{SRTPOff, []string{"no-such-codec", "PCMA"}, []string{"m=audio 40000 RTP/AVP 8 101"}, 0},
	} {
		s := newSDPSession(tc.mode, tc.codecs)
		if err := s.prepareOffer(); err != nil {
			t.Fatal(err)
		}
		body, err := s.offer("192.0.2.10", 40000)
		if err != nil {
			t.Fatal(err)
		}
		text := string(body)
		for _, want := range tc.want {
			if !strings.Contains(text, want) {
				t.Errorf("%s %v: offer lacks %q:\n%s", tc.mode, tc.codecs, want, text)
			}
		}
		if n := strings.Count(text, "a=crypto:"); n != tc.crypto || len(s.offered) != tc.crypto {
			t.Errorf("%s %v: %d crypto lines (%d kept), want %d", tc.mode, tc.codecs, n, len(s.offered), tc.crypto)
		}
	}
}

// Answering the far end's offer (an INVITE's or a re-INVITE's): what is chosen, what the media does, and
// the answer written; or the refusal (488) and its reason.
func TestSessionAnswersOffers(t *testing.T) {
	const tel = "a=rtpmap:101 telephone-event/8000\r\n"
	srtp80 := cryptoLine(t, 1, "AES_CM_128_HMAC_SHA1_80")
	for _, tc := range []struct {
		name   string
		mode   SRTPMode
		offer  []byte
		err    string    // a refusal, with these words
		codec  string    // the codec taken
		pt     uint8     // at the offerer's payload type
		dtmf   int       // telephone-event payload type, -1 none
		dir    Direction // our media
		answer []string  // lines of our answer
	}{
		{name: "the offerer's first codec", mode: SRTPOff, offer: sdpWith("127.0.0.1", "RTP/AVP", "8 0 101", tel),
			codec: "PCMA", pt: 8, dtmf: 101, dir: SendRecv,
			answer: []string{"m=audio 40000 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=sendrecv", "o=- "}},
		{name: "a dynamic payload type is kept", mode: SRTPOff, offer: sdpWith("127.0.0.1", "RTP/AVP", "96", "a=rtpmap:96 PCMU/8000\r\n"),
			codec: "PCMU", pt: 96, dtmf: -1, dir: SendRecv, answer: []string{"m=audio 40000 RTP/AVP 96\r\n", "a=rtpmap:96 PCMU/8000"}},
		{name: "held by the far end", mode: SRTPOff, offer: sdpWith("127.0.0.1", "RTP/AVP", "0", "a=sendonly\r\n"),
			codec: "PCMU", dtmf: -1, dir: RecvOnly, answer: []string{"a=recvonly"}},
		{name: "inactive", mode: SRTPOff, offer: sdpWith("127.0.0.1", "RTP/AVP", "0", "a=inactive\r\n"),
			codec: "PCMU", dtmf: -1, dir: Inactive, answer: []string{"a=inactive"}},
		{name: "RFC 2543 hold", mode: SRTPOff, offer: sdpWith("0.0.0.0", "RTP/AVP", "0", ""),
			codec: "PCMU", dtmf: -1, dir: Inactive, answer: []string{"a=inactive"}},
		{name: "SRTP offered, taken", mode: SRTPOffer, offer: sdpWith("127.0.0.1", "RTP/SAVP", "0", srtp80),
			codec: "PCMU", dtmf: -1, dir: SendRecv, answer: []string{"m=audio 40000 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"}},
		{name: "best-effort SRTP on RTP/AVP", mode: SRTPRequire, offer: sdpWith("127.0.0.1", "RTP/AVP", "0", srtp80),
			codec: "PCMU", dtmf: -1, dir: SendRecv, answer: []string{"m=audio 40000 RTP/AVP 0", "a=crypto:1 "}},
		{name: "no codec in common", mode: SRTPOff, offer: sdpWith("127.0.0.1", "RTP/AVP", "18", "a=rtpmap:18 G729/8000\r\n"),
			err: "no codec in common (offered: G729)"},
		{name: "SRTP required, plain offered", mode: SRTPRequire, offer: sdpWith("127.0.0.1", "RTP/AVP", "0", ""),
			err: "SRTP is required and the far end does not offer it"},
		{name: "SRTP off, RTP/SAVP offered", mode: SRTPOff, offer: sdpWith("127.0.0.1", "RTP/SAVP", "0", srtp80),
			err: "the far end requires SRTP and this phone has it off"},
		{name: "RTP/SAVP without a usable key", mode: SRTPOffer, offer: sdpWith("127.0.0.1", "RTP/SAVP", "0", ""),
			err: "no SRTP crypto suite in common"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseSDP(tc.offer)
			if err != nil {
				t.Fatal(err)
			}
			s := newSDPSession(tc.mode, []string{"PCMU", "PCMA"})
			p, err := s.take(r, true)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("took the offer (%v), want the refusal %q", err, tc.err)
				}
				if s.codec != nil || s.keys != nil || s.dtmfPT != -1 {
					t.Fatalf("a refused offer changed the session: %+v", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.codec.Name() != tc.codec || p.pt != tc.pt || p.dtmfPT != tc.dtmf || p.dir != tc.dir ||
				p.remote.String() != r.IP+":6000" || (p.keys != nil) != strings.Contains(string(tc.offer), "a=crypto:") {
				t.Fatalf("plan %+v", p)
			}
			if s.savp != r.Secure {
				t.Fatalf("our media line secure %v, the offer's %v", s.savp, r.Secure)
			}
			body, err := s.answer("192.0.2.10", 40000)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.answer {
				if !strings.Contains(string(body), want) {
					t.Errorf("answer lacks %q:\n%s", want, body)
				}
			}
			back, err := parseSDP(body)
			if err != nil || len(back.Formats) != 1 || back.Direction != tc.dir {
				t.Fatalf("our answer reads back as %+v, %v", back, err)
			}
		})
	}
}

// Taking the far end's answer to our offer: the keys it chose among ours, the codec, the direction.
func TestSessionTakesAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   SRTPMode
		answer func(offered []cryptoAttr) []byte
		err    string
		keys   bool
		dir    Direction
	}{
		{name: "plain RTP", mode: SRTPOffer, dir: SendRecv,
			answer: func([]cryptoAttr) []byte { return sdpWith("127.0.0.1", "RTP/AVP", "0", "") }},
		{name: "our second suite taken", mode: SRTPOffer, keys: true, dir: SendRecv,
			answer: func(o []cryptoAttr) []byte {
				theirs, _ := newCrypto(o[1].Tag, o[1].Suite)
				return sdpWith("127.0.0.1", "RTP/AVP", "0", "a=crypto:"+theirs.String()+"\r\n")
			}},
		{name: "the far end holds", mode: SRTPOff, dir: SendOnly,
			answer: func([]cryptoAttr) []byte { return sdpWith("127.0.0.1", "RTP/AVP", "0", "a=recvonly\r\n") }},
		{name: "RTP/SAVP with no key of ours", mode: SRTPOffer,
			answer: func([]cryptoAttr) []byte { return sdpWith("127.0.0.1", "RTP/SAVP", "0", "") },
			err:    "the far end answered RTP/SAVP without a crypto line we offered"},
		{name: "SRTP required, plain answered", mode: SRTPRequire,
			answer: func([]cryptoAttr) []byte { return sdpWith("127.0.0.1", "RTP/AVP", "0", "") },
			err:    "the far end did not accept SRTP, which this phone requires"},
		{name: "a codec we did not offer", mode: SRTPOff,
			answer: func([]cryptoAttr) []byte { return sdpWith("127.0.0.1", "RTP/AVP", "18", "a=rtpmap:18 G729/8000\r\n") },
			err:    "no codec in common (offered: G729)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSDPSession(tc.mode, []string{"PCMU"})
			if err := s.prepareOffer(); err != nil {
				t.Fatal(err)
			}
			savp := s.savp
			r, err := parseSDP(tc.answer(s.offered))
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.take(r, false)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("took the answer (%v), want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p.keys != nil) != tc.keys || p.dir != tc.dir || p.codec.Name() != "PCMU" || s.savp != savp {
				t.Fatalf("plan %+v (savp %v)", p, s.savp)
			}
			if tc.keys && (p.keys.Local.Tag != 2 || string(p.keys.Local.Key) != string(s.offered[1].Key)) {
				t.Fatalf("keys %+v, want our second offered line", p.keys)
			}
		})
	}
}

// Hold and resume by re-INVITE: the version grows, the direction follows, and the SRTP key stays.
func TestSessionHoldAndResume(t *testing.T) {
	s := newSDPSession(SRTPOffer, []string{"PCMU"})
	r, _ := parseSDP(sdpWith("127.0.0.1", "RTP/SAVP", "0 101", cryptoLine(t, 1, "AES_CM_128_HMAC_SHA1_80")+
		"a=rtpmap:101 telephone-event/8000\r\n"))
	if _, err := s.take(r, true); err != nil {
		t.Fatal(err)
	}
	key := s.keys.Local.String()
	steps := []struct {
		hold    bool
		answer  string    // the far end's direction
		offered string    // in our re-offer
		dir     Direction // our media after the answer
	}{
		{true, "a=recvonly", "a=sendonly", Inactive},
		{false, "a=sendrecv", "a=sendrecv", SendRecv},
		{true, "a=inactive", "a=sendonly", Inactive},
	}
	for i, st := range steps {
		body, err := s.reoffer("192.0.2.10", 40000, st.hold)
		if err != nil {
			t.Fatal(err)
		}
		text := string(body)
		if !strings.Contains(text, st.offered+"\r\n") || !strings.Contains(text, fmt.Sprintf("o=- %d %d ", s.id, i+2)) ||
			!strings.Contains(text, "a=crypto:"+key) || !strings.Contains(text, "RTP/SAVP 0 101") {
			t.Fatalf("re-offer %d (hold %v):\n%s", i, st.hold, text)
		}
		answer, _ := parseSDP(sdpWith("127.0.0.1", "RTP/SAVP", "0 101", "a=crypto:"+key+"\r\n"+
			"a=rtpmap:101 telephone-event/8000\r\n"+st.answer+"\r\n"))
		p, err := s.take(answer, false)
		if err != nil {
			t.Fatal(err)
		}
		if p.dir != st.dir || s.keys.Local.String() != key {
			t.Fatalf("step %d: media %s, key %s; want %s, the first key", i, p.dir, s.keys.Local, st.dir)
		}
	}
	// The far end's re-INVITE keeps our key too (RFC 4568 §7.1.4).
	if _, err := s.take(r, true); err != nil || s.keys.Local.String() != key || s.direction() != Inactive {
		t.Fatalf("re-INVITE while held: %v, key %s, media %s", err, s.keys.Local, s.direction())
	}
}
