package phone

import (
	"fmt"
	"net"
	"time"

	"github.com/emiago/sipgo/sip"

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

	// pending: our offer is out and its answer not yet taken. One exchange at a time (RFC 3264 §4): a far
	// end's offer meanwhile is refused with 491 (RFC 3261 §14.2, RFC 3311 §5.2).
	pending bool
	// inAck, while set, is where the ACK of the 2xx that carried our offer goes (solicitedOffer): its
	// answer is in that ACK.
	inAck *ackWait
}

// ackWait is the ACK awaited for our 2xx to the INVITE of CSeq seq.
type ackWait struct {
	seq uint32
	ch  chan *sip.Request // buffered: the first matching ACK
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
// sendonly) or takes it off; undo it with withdraw(!hold) if the far end does not take it.
func (s *sdpSession) reoffer(ip string, port int, hold bool) ([]byte, error) {
	s.held = hold
	s.version++
	dir := SendRecv
	if hold {
		dir = SendOnly
	}
	body, err := s.describe(ip, port, dir)
	s.pending = err == nil
	return body, err
}

// withdraw settles our offer that got no usable answer: the far end's offers are welcome again, and held is
// what the phone's hold now is (unchanged when the offer was no hold's).
func (s *sdpSession) withdraw(held bool) {
	s.pending, s.held = false, held
}

// solicitedOffer is our offer when the far end asks for one by an INVITE without SDP (a delayed offer: RFC
// 3261 §13.2.1, RFC 3264 §4). Before anything was negotiated it is the call's first offer, as for a call we
// place; later (a re-INVITE without SDP) the session as it stands: the negotiated codec and key first, then
// our other codecs, so that a party the far end now joins us with can choose. The answer comes in the ACK.
func (s *sdpSession) solicitedOffer(ip string, port int) ([]byte, error) {
	if s.codec == nil {
		if err := s.prepareOffer(); err != nil {
			return nil, fmt.Errorf("offer: %w", err)
		}
		body, err := s.offer(ip, port)
		s.pending = err == nil
		return body, err
	}
	s.version++
	dtmf := s.dtmfPT
	if dtmf < 0 && s.pt != dtmfPayloadType {
		dtmf = dtmfPayloadType
	}
	codecs, pts := []audio.Codec{s.codec}, []uint8{s.pt}
	ours, ourPTs := s.ourCodecs()
	for i, c := range ours {
		if c.Name() != s.codec.Name() && ourPTs[i] != s.pt && int(ourPTs[i]) != dtmf {
			codecs, pts = append(codecs, c), append(pts, ourPTs[i])
		}
	}
	s.offered = nil
	if s.keys != nil {
		s.offered = []cryptoAttr{s.keys.Local}
	}
	dir := SendRecv
	if s.held {
		dir = SendOnly
	}
	body, err := marshalSDP(localMedia{IP: ip, Port: port, Codecs: codecs, PTs: pts, DTMF: dtmf, Direction: dir,
		SessionID: s.id, Version: s.version, Secure: s.savp, Crypto: s.offered})
	s.pending = err == nil
	return body, err
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
	if !isOffer {
		s.pending = false // the answer to our offer
	}
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

// answerOffer takes an offer the far end makes within the call (a re-INVITE's or an UPDATE's), sets the
// media to it and writes our answer. glare: our own offer awaits its answer, and nothing was taken (491).
// An error refuses the offer (488); an offer that cannot be taken changes nothing (see take).
func (c *call) answerOffer(r remoteMedia) (answer []byte, glare bool, err error) {
	c.mu.Lock()
	if c.sdp.pending {
		c.mu.Unlock()
		return nil, true, nil
	}
	p, err := c.sdp.take(r, true)
	if err == nil {
		c.sdp.version++
		answer, err = c.sdp.answer(c.mediaAddr())
	}
	c.mu.Unlock()
	if err != nil {
		return nil, false, err
	}
	if err := p.apply(c.media); err != nil {
		return nil, false, fmt.Errorf("media: %w", err)
	}
	return answer, false, nil
}

// awaitAnswerInAck readies the call for the ACK of our 2xx (with our offer) to the INVITE of CSeq seq.
// c.mu is held.
func (c *call) awaitAnswerInAck(seq uint32) <-chan *sip.Request {
	w := &ackWait{seq: seq, ch: make(chan *sip.Request, 1)}
	c.sdp.inAck = w
	return w.ch
}

// answerFromAck takes the answer to our solicited offer from its ACK (nil: no ACK came) and sets the media
// to it. Either way the exchange is over; an error says why no answer was taken (the media is unchanged).
func (c *call) answerFromAck(ack *sip.Request) error {
	c.mu.Lock()
	c.sdp.inAck = nil
	c.mu.Unlock()
	var err error
	switch {
	case ack == nil:
		err = errNoAck
	case len(ack.Body()) == 0:
		err = errAckWithoutSDP
	default:
		var r remoteMedia
		if r, err = parseSDP(ack.Body()); err == nil {
			err = c.negotiate(r, false)
		}
	}
	if err != nil {
		c.mu.Lock()
		c.sdp.withdraw(c.sdp.held)
		c.mu.Unlock()
		return fmt.Errorf("answer in the ACK: %w", err)
	}
	return nil
}
