package phone

import (
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"stayline/audio"
	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

func TestParseCrypto(t *testing.T) {
	key30 := base64.StdEncoding.EncodeToString(make([]byte, 30))
	key46 := base64.StdEncoding.EncodeToString(make([]byte, 46))
	key28 := base64.StdEncoding.EncodeToString(make([]byte, 28))
	good := map[string]string{
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + key30:           "AES_CM_128_HMAC_SHA1_80",
		"2 AES_CM_128_HMAC_SHA1_32 inline:" + key30 + "|2^31": "AES_CM_128_HMAC_SHA1_32",
		"3 AES_256_CM_HMAC_SHA1_80 inline:" + key46:           "AES_256_CM_HMAC_SHA1_80",
		"4 AEAD_AES_128_GCM inline:" + key28:                  "AEAD_AES_128_GCM",
	}
	for line, suite := range good {
		c, ok := parseCrypto(line)
		if !ok || c.Suite != suite {
			t.Errorf("%q: %+v %v, want %s", line, c, ok, suite)
		}
		if back, ok := parseCrypto(c.String()); !ok || back.Tag != c.Tag || string(back.Key) != string(c.Key) {
			t.Errorf("%q does not survive String and parse: %q", line, c.String())
		}
	}
	bad := []string{
		"1 F8_128_HMAC_SHA1_80 inline:" + key30,              // a suite not taken
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + key46,          // key of the wrong length
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|1:4", // an MKI
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^20|1:4",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + ";inline:" + key30, // several keys
		"1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " UNENCRYPTED_SRTP",
		"1 AES_CM_128_HMAC_SHA1_80 inline:not*base64",
		"x AES_CM_128_HMAC_SHA1_80 inline:" + key30,
		"1 AES_CM_128_HMAC_SHA1_80",
		"",
	}
	for _, line := range bad {
		if c, ok := parseCrypto(line); ok {
			t.Errorf("%q accepted as %+v", line, c)
		}
	}
}

// The answerer's and the offerer's decisions, for every mode and kind of description.
func TestSRTPNegotiation(t *testing.T) {
	theirs, _ := newCrypto(7, "AES_CM_128_HMAC_SHA1_32")
	plain := remoteMedia{}
	bestEffort := remoteMedia{Crypto: []cryptoAttr{theirs}}
	savp := remoteMedia{Secure: true, Crypto: []cryptoAttr{theirs}}
	savpUnusable := remoteMedia{Secure: true}
	type want struct {
		keys bool
		err  string
	}
	offers := []struct {
		mode  SRTPMode
		offer remoteMedia
		want  want
	}{
		{SRTPOff, plain, want{}},
		{SRTPOff, bestEffort, want{}},
		{SRTPOff, savp, want{err: "requires SRTP"}},
		{SRTPOffer, plain, want{}},
		{SRTPOffer, bestEffort, want{keys: true}},
		{SRTPOffer, savp, want{keys: true}},
		{SRTPOffer, savpUnusable, want{err: "no SRTP crypto suite in common"}},
		{SRTPRequire, plain, want{err: "SRTP is required"}},
		{SRTPRequire, bestEffort, want{keys: true}},
		{SRTPRequire, savp, want{keys: true}},
	}
	for _, c := range offers {
		keys, err := acceptCrypto(c.mode, c.offer, nil)
		if (keys != nil) != c.want.keys || (err == nil) != (c.want.err == "") || (err != nil && !strings.Contains(err.Error(), c.want.err)) {
			t.Errorf("answering %s to %+v: keys %v, err %v; want %+v", c.mode, c.offer, keys != nil, err, c.want)
		}
		if keys != nil && (keys.Local.Tag != 7 || keys.Local.Suite != theirs.Suite || string(keys.Remote.Key) != string(theirs.Key)) {
			t.Errorf("answer %+v does not follow the offered tag and suite", keys)
		}
	}
	// A re-offer with the same suite keeps our key: no re-keying on hold.
	first, _ := acceptCrypto(SRTPOffer, savp, nil)
	again, _ := acceptCrypto(SRTPOffer, savp, first)
	if !first.equal(again) {
		t.Error("a re-offer changed our key")
	}

	ours, _ := newCrypto(1, "AES_CM_128_HMAC_SHA1_80")
	taken := cryptoAttr{Tag: 1, Suite: ours.Suite, Key: theirs.Key[:30]}
	answers := []struct {
		mode   SRTPMode
		answer remoteMedia
		want   want
	}{
		{SRTPOffer, plain, want{}},
		{SRTPOffer, remoteMedia{Crypto: []cryptoAttr{taken}}, want{keys: true}},
		{SRTPOffer, remoteMedia{Crypto: []cryptoAttr{theirs}}, want{}}, // a tag we never offered
		{SRTPOffer, remoteMedia{Secure: true}, want{err: "without a crypto line we offered"}},
		{SRTPRequire, plain, want{err: "did not accept SRTP"}},
		{SRTPRequire, remoteMedia{Secure: true, Crypto: []cryptoAttr{taken}}, want{keys: true}},
	}
	for _, c := range answers {
		keys, err := answeredCrypto(c.mode, []cryptoAttr{ours}, c.answer)
		if (keys != nil) != c.want.keys || (err == nil) != (c.want.err == "") || (err != nil && !strings.Contains(err.Error(), c.want.err)) {
			t.Errorf("offer %s answered %+v: keys %v, err %v; want %+v", c.mode, c.answer, keys != nil, err, c.want)
		}
	}
}

// srtpAgent is a registered phone with an SRTP mode.
func srtpAgent(t *testing.T, k *lab.Server, mode SRTPMode) *Agent {
	t.Helper()
	a := startPhone(t, Options{Servers: []config.Server{srv("home", k, config.TransportUDP)}, SRTP: mode, Codecs: []string{"PCMU"}})
	mustRegister(t, a)
	// The subtests share the server and the user: leave no binding for the next one to ring.
	t.Cleanup(func() { a.Unregister(context.Background(), 0, time.Second) })
	return a
}

// SRTP against baresip's own implementation (libsrtp-free re module): encrypted both ways, each side
// decoding the other's audio, in both call directions; and the refusals when one side must encrypt and
// the other cannot.
func TestSRTPWithBaresip(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})

	t.Run("phone requires, calls baresip srtp-mand", func(t *testing.T) {
		bs := labtest.BaresipWith(t, "1003", k.Addr(), lab.BaresipOptions{MediaEnc: "srtp-mand"})
		a := srtpAgent(t, k, SRTPRequire)
		id := callBaresip(t, a, bs, "1003")
		encryptedTone(t, a, id)
	})
	t.Run("baresip srtp-mand calls, phone requires", func(t *testing.T) {
		bs := labtest.BaresipWith(t, "1005", k.Addr(), lab.BaresipOptions{MediaEnc: "srtp-mand"})
		a := srtpAgent(t, k, SRTPRequire)
		bs.Command("dial", "sip:1001@127.0.0.1")
		in := waitCall(t, a, "", CallIncoming, 3*time.Second)
		if err := a.Answer(in.ID); err != nil {
			t.Fatal(err)
		}
		waitCall(t, a, in.ID, CallActive, 3*time.Second)
		encryptedTone(t, a, in.ID)
	})
	t.Run("phone offers, baresip best effort", func(t *testing.T) {
		bs := labtest.BaresipWith(t, "1006", k.Addr(), lab.BaresipOptions{MediaEnc: "srtp"})
		a := srtpAgent(t, k, SRTPOffer)
		id := callBaresip(t, a, bs, "1006")
		encryptedTone(t, a, id)
	})
	t.Run("phone offers, baresip without SRTP: plain RTP", func(t *testing.T) {
		bs := labtest.Baresip(t, "1007", k.Addr())
		a := srtpAgent(t, k, SRTPOffer)
		id := callBaresip(t, a, bs, "1007")
		played := listenTo(t, a, id, audio.Silence{})
		if st := callStats(t, a, id); st.SRTP != "" {
			t.Errorf("SRTP %q with a far end that took none", st.SRTP)
		}
		expectTone(t, played, 8000, 440, "baresip's plain RTP")
	})
	t.Run("phone requires, baresip without SRTP: refused with the reason", func(t *testing.T) {
		bs := labtest.Baresip(t, "1008", k.Addr())
		a := srtpAgent(t, k, SRTPRequire)
		id, err := a.Dial(context.Background(), 0, "1008", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ended := waitCall(t, a, id, CallEnded, 5*time.Second)
		if !strings.Contains(ended.Reason, "SRTP") {
			t.Errorf("call ended %q, want the reason to name SRTP", ended.Reason)
		}
		_ = bs
	})
	t.Run("baresip without SRTP calls, phone requires: 488 with the reason", func(t *testing.T) {
		bs := labtest.Baresip(t, "1009", k.Addr())
		a := srtpAgent(t, k, SRTPRequire)
		bs.Command("dial", "sip:1001@127.0.0.1")
		ev, err := bs.WaitEvent("CALL_CLOSED", 5*time.Second)
		if err != nil {
			t.Fatalf("%v\nbaresip:\n%s", err, bs.Log())
		}
		if p := ev["param"]; !strings.Contains(strings.ToLower(fmtAny(p)), "488") {
			t.Errorf("baresip's call closed with %v, want 488", p)
		}
		for _, c := range a.Calls() {
			t.Errorf("a call %+v reached the phone", c)
		}
	})
}

func fmtAny(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// encryptedTone checks that the call is protected by SRTP and that baresip's 440 Hz comes through it.
func encryptedTone(t *testing.T, a *Agent, id string) {
	t.Helper()
	played := listenTo(t, a, id, &audio.Sine{Freq: 1000, Rate: 8000, Level: 0.3})
	st := callStats(t, a, id)
	if st.SRTP == "" || st.Refused != 0 || st.RxPackets < 50 || st.Lost != 0 {
		t.Fatalf("stats %+v, want SRTP with every packet authenticated", st)
	}
	expectTone(t, played, 8000, 440, "baresip's SRTP")
	t.Logf("FIGURE srtp.suite %s (rx %d packets, refused %d)", st.SRTP, st.RxPackets, st.Refused)
}

// Two Stayline phones with SRTP required: the call is encrypted, survives hold and resume without
// re-keying, and a forged packet (plain RTP sent to the media port) is refused, never played.
func TestSRTPBetweenPhonesHoldAndForgery(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := srtpAgent(t, k, SRTPRequire)
	b := startPhone(t, Options{Account: config.Account{User: "1004"}, Servers: []config.Server{srv("home", k, config.TransportUDP)},
		SRTP: SRTPRequire, Codecs: []string{"PCMU"}})
	mustRegister(t, b)
	id, in := callPhone(t, a, b, "1004")
	eventually(t, 3*time.Second, "encrypted media both ways", func() bool {
		return callStats(t, a, id).RxPackets >= 20 && callStats(t, b, in).RxPackets >= 20
	})
	ca, _ := a.lookup(id)
	keysBefore := ca.media.secure().keys

	if err := a.Hold(id); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallHeld, 3*time.Second)
	if err := a.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 3*time.Second)
	if !ca.media.secure().keys.equal(&keysBefore) {
		t.Error("hold and resume re-keyed the call")
	}
	before := callStats(t, b, in).RxPackets
	eventually(t, 3*time.Second, "media after resume", func() bool { return callStats(t, b, in).RxPackets > before+20 })

	// A forgery: a well-formed plain RTP packet to b's media port, from another socket.
	cb, _ := b.lookup(in)
	forger, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: cb.media.Port()})
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1, SSRC: 42}, Payload: make([]byte, 160)}
	raw, _ := pkt.Marshal()
	for range 5 {
		forger.Write(raw)
	}
	eventually(t, 2*time.Second, "forged packets refused", func() bool { return callStats(t, b, in).Refused >= 5 })
	st := callStats(t, b, in)
	if st.SRTP != "AES_CM_128_HMAC_SHA1_80" || st.Lost > 2 {
		t.Errorf("b's stats %+v", st)
	}
	t.Logf("FIGURE srtp.forged_refused %d of 5 (plain RTP to an SRTP call's port)", st.Refused)
}
