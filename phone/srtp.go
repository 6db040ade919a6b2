package phone

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
)

// SRTP with SDES keys (RFC 4568): each side puts its own master key in its SDP's a=crypto line and
// encrypts what it sends with it. pion/srtp does the cryptography; this file reads and writes the
// attributes and decides what a call gets.

// SRTPMode is what the configuration asks for media security ([audio] srtp).
type SRTPMode string

const (
	// SRTPOff sends plain RTP and refuses offers that demand SRTP.
	SRTPOff SRTPMode = "off"
	// SRTPOffer offers SRTP on RTP/AVP ("best effort"): used when the far end takes it, plain RTP if not.
	SRTPOffer SRTPMode = "offer"
	// SRTPRequire offers RTP/SAVP only and refuses calls that cannot be encrypted.
	SRTPRequire SRTPMode = "require"
)

// cryptoSuites are the SDES suites the phone takes, with pion's profile for each.
var cryptoSuites = map[string]srtp.ProtectionProfile{
	"AES_CM_128_HMAC_SHA1_80": srtp.ProtectionProfileAes128CmHmacSha1_80,
	"AES_CM_128_HMAC_SHA1_32": srtp.ProtectionProfileAes128CmHmacSha1_32,
	"AES_256_CM_HMAC_SHA1_80": srtp.ProtectionProfileAes256CmHmacSha1_80,
	"AES_256_CM_HMAC_SHA1_32": srtp.ProtectionProfileAes256CmHmacSha1_32,
	"AEAD_AES_128_GCM":        srtp.ProtectionProfileAeadAes128Gcm,
	"AEAD_AES_256_GCM":        srtp.ProtectionProfileAeadAes256Gcm,
}

// offeredSuites are what the phone offers, strongest-and-most-common first.
var offeredSuites = []string{"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"}

// cryptoAttr is one a=crypto line: tag, suite, and the master key followed by the master salt.
type cryptoAttr struct {
	Tag   int
	Suite string
	Key   []byte
}

func (c cryptoAttr) String() string {
	return fmt.Sprintf("%d %s inline:%s", c.Tag, c.Suite, base64.StdEncoding.EncodeToString(c.Key))
}

func (c cryptoAttr) profile() srtp.ProtectionProfile { return cryptoSuites[c.Suite] }

// keyLengths are a suite's master key and salt lengths.
func keyLengths(p srtp.ProtectionProfile) (int, int) {
	k, _ := p.KeyLen()
	s, _ := p.SaltLen()
	return k, s
}

// newCrypto makes our attribute for a suite, with a fresh random key.
func newCrypto(tag int, suite string) (cryptoAttr, error) {
	k, s := keyLengths(cryptoSuites[suite])
	key := make([]byte, k+s)
	if _, err := rand.Read(key); err != nil {
		return cryptoAttr{}, fmt.Errorf("SRTP key: %w", err)
	}
	return cryptoAttr{Tag: tag, Suite: suite, Key: key}, nil
}

// parseCrypto reads an a=crypto value. ok is false for a line the phone cannot use: an unknown suite, a
// key of the wrong length, several keys or an MKI (RFC 4568 §6.1), unknown session parameters.
func parseCrypto(value string) (cryptoAttr, bool) {
	fields := strings.Fields(value)
	if len(fields) < 3 {
		return cryptoAttr{}, false
	}
	tag, err := strconv.Atoi(fields[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return cryptoAttr{}, false
	}
	profile, known := cryptoSuites[fields[1]]
	if !known || len(fields) > 3 { // session parameters (UNENCRYPTED_SRTP, ...): not taken
		return cryptoAttr{}, false
	}
	params, found := strings.CutPrefix(fields[2], "inline:")
	if !found || strings.Contains(params, ";") { // several keys
		return cryptoAttr{}, false
	}
	keyText, lifetimeAndMKI, _ := strings.Cut(params, "|")
	if strings.Count(lifetimeAndMKI, "|") > 0 || strings.Contains(lifetimeAndMKI, ":") { // an MKI
		return cryptoAttr{}, false
	}
	key, err := base64.StdEncoding.DecodeString(keyText)
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(keyText); err != nil {
			return cryptoAttr{}, false
		}
	}
	if k, s := keyLengths(profile); len(key) != k+s {
		return cryptoAttr{}, false
	}
	return cryptoAttr{Tag: tag, Suite: fields[1], Key: key}, true
}

// srtpKeys are a call's negotiated keys: ours for what we send, theirs for what we receive.
type srtpKeys struct {
	Local, Remote cryptoAttr
}

func (k *srtpKeys) equal(o *srtpKeys) bool {
	return k != nil && o != nil && k.Local.Suite == o.Local.Suite && bytes.Equal(k.Local.Key, o.Local.Key) &&
		bytes.Equal(k.Remote.Key, o.Remote.Key)
}

// srtpSession encrypts what a call sends and decrypts what it receives, RTP and RTCP.
type srtpSession struct {
	keys   srtpKeys
	tx, rx *srtp.Context
}

func newSRTPSession(k srtpKeys) (*srtpSession, error) {
	p := k.Local.profile()
	ks, _ := keyLengths(p)
	tx, err := srtp.CreateContext(k.Local.Key[:ks], k.Local.Key[ks:], p)
	if err != nil {
		return nil, fmt.Errorf("SRTP send context: %w", err)
	}
	rx, err := srtp.CreateContext(k.Remote.Key[:ks], k.Remote.Key[ks:], p,
		srtp.SRTPReplayProtection(128), srtp.SRTCPReplayProtection(128))
	if err != nil {
		return nil, fmt.Errorf("SRTP receive context: %w", err)
	}
	return &srtpSession{keys: k, tx: tx, rx: rx}, nil
}

// acceptCrypto is the answerer's choice for an offer: the first offered line the phone can use, answered
// with the same tag and suite and a key of ours (the one we already use for that suite, if any, so a
// re-INVITE does not re-key). nil keys: plain RTP. An error refuses the offer (488).
func acceptCrypto(mode SRTPMode, offer remoteMedia, current *srtpKeys) (*srtpKeys, error) {
	if mode == SRTPOff {
		if offer.Secure {
			return nil, errors.New("the far end requires SRTP and this phone has it off")
		}
		return nil, nil
	}
	for _, c := range offer.Crypto {
		local := cryptoAttr{Tag: c.Tag, Suite: c.Suite}
		if current != nil && current.Local.Suite == c.Suite {
			local.Key = current.Local.Key
		} else {
			fresh, err := newCrypto(c.Tag, c.Suite)
			if err != nil {
				return nil, err
			}
			local.Key = fresh.Key
		}
		return &srtpKeys{Local: local, Remote: c}, nil
	}
	switch {
	case offer.Secure:
		return nil, errors.New("no SRTP crypto suite in common")
	case mode == SRTPRequire:
		return nil, errSRTPRequired
	}
	return nil, nil
}

// answeredCrypto is the offerer's reading of the answer: the line the far end took among those we offered.
// nil keys: plain RTP. An error ends the call.
func answeredCrypto(mode SRTPMode, offered []cryptoAttr, answer remoteMedia) (*srtpKeys, error) {
	for _, theirs := range answer.Crypto {
		for _, ours := range offered {
			if ours.Tag == theirs.Tag && ours.Suite == theirs.Suite {
				return &srtpKeys{Local: ours, Remote: theirs}, nil
			}
		}
	}
	switch {
	case answer.Secure:
		return nil, errors.New("the far end answered RTP/SAVP without a crypto line we offered")
	case mode == SRTPRequire:
		return nil, errors.New("the far end did not accept SRTP, which this phone requires")
	}
	return nil, nil
}
