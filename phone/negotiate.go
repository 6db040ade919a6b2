package phone

import (
	"net"
	"time"

	"stayline/audio"
)

// sdpSession is one call's side of the SDP offer/answer exchange (RFC 3264, with the SDES keys of RFC 4568):
// the one place where our descriptions are written and the far end's are taken in, for a call placed or
// received, re-INVITEs either way, and hold. The call's mu guards it.
type sdpSession struct {
	mode        SRTPMode
	codecs      []string // what we offer, in preference order (Options.Codecs)
	id, version uint64   // the o= line's session id and version

	codec     audio.Codec  // the negotiated codec
	pt        uint8        // its payload type (the offerer's number)
	dtmfPT    int          // the negotiated telephone-event payload type, -1: none
	held      bool         // held by us
	remoteDir Direction    // what the far end last asked for
	offered   []cryptoAttr // the SDES lines of our last offer
	keys      *srtpKeys    // the negotiated SRTP keys; nil: plain RTP
	savp      bool         // our media line says RTP/SAVP
}

// newSDPSession starts a call's SDP session: nothing negotiated yet (mode "": SRTPOffer).
func newSDPSession(mode SRTPMode, codecs []string) sdpSession {
	if mode == "" {
		mode = SRTPOffer
	}
	return sdpSession{mode: mode, codecs: codecs, id: uint64(time.Now().UnixNano()), version: 1, dtmfPT: -1}
}

// newSDPSession is the SDP session of a new call of this agent's (Options.SRTP, Options.Codecs).
func (a *Agent) newSDPSession() sdpSession { return newSDPSession(a.opts.SRTP, a.opts.Codecs) }

// ourCodecs are what we offer and accept: the configured codecs the phone has, PCMU if none.
func (s *sdpSession) ourCodecs() ([]audio.Codec, []uint8) {
	var cs []audio.Codec
	var pts []uint8
	for _, n := range s.codecs {
		if c, err := audio.NewCodec(n); err == nil {
			cs = append(cs, c)
			pts = append(pts, c.PayloadType())
		}
	}
	if len(cs) == 0 {
		c, _ := audio.NewCodec("PCMU")
		cs, pts = []audio.Codec{c}, []uint8{0}
	}
	return cs, pts
}

// prepareOffer readies the first offer of a call we place: a fresh SRTP key for each suite we offer (none
// with SRTP off), on RTP/SAVP when SRTP is required. Every attempt of the call offers the same keys.
func (s *sdpSession) prepareOffer() error {
	s.offered, s.savp = nil, s.mode == SRTPRequire
	if s.mode == SRTPOff {
		return nil
	}
	for i, suite := range offeredSuites {
		c, err := newCrypto(i+1, suite)
		if err != nil {
			return err
		}
		s.offered = append(s.offered, c)
	}
	return nil
}

// offer is the first offer of a call we place: every codec of ours, telephone-event, the prepared keys.
func (s *sdpSession) offer(ip string, port int) ([]byte, error) {
	codecs, pts := s.ourCodecs()
	return marshalSDP(localMedia{IP: ip, Port: port, Codecs: codecs, PTs: pts, DTMF: dtmfPayloadType,
		Direction: SendRecv, SessionID: s.id, Version: s.version, Secure: s.savp, Crypto: s.offered})
}

// describe is our side with what was negotiated, in direction dir: the answer to an offer, or a re-offer.
// It offers the negotiated key again (RFC 4568 §7.1.4), so a hold does not re-key.
func (s *sdpSession) describe(ip string, port int, dir Direction) ([]byte, error) {
	var crypto []cryptoAttr
	if s.keys != nil {
		crypto = []cryptoAttr{s.keys.Local}
	}
	s.offered = crypto
	return marshalSDP(localMedia{IP: ip, Port: port, Codecs: []audio.Codec{s.codec}, PTs: []uint8{s.pt},
		DTMF: s.dtmfPT, Direction: dir, SessionID: s.id, Version: s.version, Secure: s.savp, Crypto: crypto})
}

// answer is our answer to the offer just taken.
func (s *sdpSession) answer(ip string, port int) ([]byte, error) {
	return s.describe(ip, port, s.direction())
}

// reoffer is the re-INVITE's offer that puts the call on hold (our media inactive, the far end's offered
// sendonly) or takes it off; undo it with s.held = !hold if the far end does not take it.
func (s *sdpSession) reoffer(ip string, port int, hold bool) ([]byte, error) {
	s.held = hold
	s.version++
	dir := SendRecv
	if hold {
		dir = SendOnly
	}
	return s.describe(ip, port, dir)
}

// take takes the far end's description, an offer (isOffer) or the answer to ours: the codec, the SRTP
// keys and its direction. Nothing changes when it cannot be taken (the error says why: a 488 for an
// offer). The plan is what the media does now.
func (s *sdpSession) take(r remoteMedia, isOffer bool) (mediaPlan, error) {
	ours, _ := s.ourCodecs()
	codec, pt, err := chooseCodec(ours, r)
	if err != nil {
		return mediaPlan{}, err
	}
	var keys *srtpKeys
	if isOffer {
		keys, err = acceptCrypto(s.mode, r, s.keys)
	} else {
		keys, err = answeredCrypto(s.mode, s.offered, r)
	}
	if err != nil {
		return mediaPlan{}, err
	}
	s.keys = keys
	if isOffer { // the answer's media line follows the offer's
		s.savp = r.Secure
	}
	s.codec, s.pt, s.dtmfPT, s.remoteDir = codec, pt, r.DTMF, r.Direction
	return s.plan(&net.UDPAddr{IP: net.ParseIP(r.IP), Port: r.Port}), nil
}

// direction is what our media does: nothing while held by us, else the reverse of the far end's.
func (s *sdpSession) direction() Direction {
	if s.held {
		return Inactive
	}
	return s.remoteDir.Reverse()
}

// plan is the media as negotiated, sending to remote.
func (s *sdpSession) plan(remote *net.UDPAddr) mediaPlan {
	return mediaPlan{remote: remote, codec: s.codec, pt: s.pt, dtmfPT: s.dtmfPT, dir: s.direction(), keys: s.keys}
}

// mediaPlan is what a call's media does after a negotiation: where to send, what, which way, with which keys.
type mediaPlan struct {
	remote *net.UDPAddr
	codec  audio.Codec
	pt     uint8
	dtmfPT int
	dir    Direction
	keys   *srtpKeys
}

// apply sets m to the plan: the SRTP keys, then the rest.
func (p mediaPlan) apply(m *media) error {
	if err := m.setSRTP(p.keys); err != nil {
		return err
	}
	p.steer(m)
	return nil
}

// steer sets m to the plan but for the keys (they have not changed).
func (p mediaPlan) steer(m *media) { m.configure(p.remote, p.codec, p.pt, p.dtmfPT, p.dir) }

// negotiate takes the far end's description (see session.take) and sets the call's media to it.
func (c *call) negotiate(r remoteMedia, isOffer bool) error {
	c.mu.Lock()
	p, err := c.sdp.take(r, isOffer)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return p.apply(c.media)
}
