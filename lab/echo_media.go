package lab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
)

// echoMedia is a call's RTP port (and the RTCP port beside it, whose packets it drops). Every RTP packet
// it receives goes back to its source while the call's direction lets it send.
type echoMedia struct {
	rtp, rtcp *net.UDPConn
	sending   atomic.Bool
	rx, tx    atomic.Uint64
	onRTP     func(at time.Time) // EchoOptions.OnRTP
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// openEchoMedia binds an even RTP port and the RTCP port after it on ip.
func openEchoMedia(ip net.IP) (*echoMedia, error) {
	for range 50 {
		rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		if err != nil {
			return nil, err
		}
		if p := rtp.LocalAddr().(*net.UDPAddr).Port; p%2 == 0 && p < 65535 {
			if rtcp, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: p + 1}); err == nil {
				return &echoMedia{rtp: rtp, rtcp: rtcp}, nil
			}
		}
		rtp.Close()
	}
	return nil, errors.New("no free RTP/RTCP port pair")
}

func (m *echoMedia) port() int    { return m.rtp.LocalAddr().(*net.UDPAddr).Port }
func (m *echoMedia) addr() string { return m.rtp.LocalAddr().String() }

func (m *echoMedia) counts() (rx, tx uint64) { return m.rx.Load(), m.tx.Load() }

// run starts the echo; close stops it.
func (m *echoMedia) run() {
	m.wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := m.rtp.ReadFromUDPAddrPort(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // an ICMP error from an earlier send
			}
			if !isRTP(buf[:n]) {
				continue
			}
			if m.onRTP != nil {
				m.onRTP(time.Now())
			}
			m.rx.Add(1)
			if m.sending.Load() {
				if _, err := m.rtp.WriteToUDPAddrPort(buf[:n], from); err == nil {
					m.tx.Add(1)
				}
			}
		}
	})
	m.wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := m.rtcp.ReadFromUDPAddrPort(buf); errors.Is(err, net.ErrClosed) {
				return
			}
		}
	})
}

func (m *echoMedia) close() {
	m.closeOnce.Do(func() {
		m.rtp.Close()
		m.rtcp.Close()
	})
	m.wg.Wait()
}

// isRTP tells RTP from RTCP multiplexed on the same port (RFC 5761 §4) and from noise.
func isRTP(b []byte) bool {
	return len(b) >= 12 && b[0]>>6 == 2 && !(b[1] >= 192 && b[1] <= 223)
}

// echoCodecs are the codecs the echo answers with (it never decodes them), by their names at 8000 Hz
// clock rate, and the static payload types that need no rtpmap.
var (
	echoCodecs = []string{"PCMU", "PCMA", "G722"}
	staticPTs  = map[int]string{0: "PCMU", 8: "PCMA", 9: "G722"}
)

// echoAnswer answers an SDP offer (RFC 3264): in its first usable audio stream, the first codec of the
// offer the echo knows and the offer's telephone-event, on the echo's port, with the direction mirrored;
// every other stream refused (port 0). dir is the answer's direction.
func echoAnswer(offer []byte, ip string, port int, sessionID, version uint64) (answer []byte, dir string, err error) {
	var o sdp.SessionDescription
	if err := o.Unmarshal(offer); err != nil {
		return nil, "", fmt.Errorf("unreadable SDP: %w", err)
	}
	s := echoSession(ip, sessionID, version)
	chosen := false
	for _, md := range o.MediaDescriptions {
		if !chosen && md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 &&
			strings.Join(md.MediaName.Protos, "/") == "RTP/AVP" {
			if a, d, ok := answerAudio(md, sessionDirection(&o), port); ok {
				s.MediaDescriptions = append(s.MediaDescriptions, a)
				dir, chosen = d, true
				continue
			}
		}
		s.MediaDescriptions = append(s.MediaDescriptions, &sdp.MediaDescription{MediaName: sdp.MediaName{
			Media: md.MediaName.Media, Port: sdp.RangedPort{Value: 0}, Protos: md.MediaName.Protos,
			Formats: md.MediaName.Formats}})
	}
	if !chosen {
		return nil, "", errors.New("no RTP/AVP audio stream with PCMU, PCMA or G722")
	}
	b, err := s.Marshal()
	return b, dir, err
}

func answerAudio(md *sdp.MediaDescription, sessionDir string, port int) (*sdp.MediaDescription, string, bool) {
	rtpmap := map[int]string{} // payload type -> NAME/rate
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		pt, enc, ok := strings.Cut(a.Value, " ")
		if n, err := strconv.Atoi(pt); err == nil && ok {
			rtpmap[n] = enc
		}
	}
	codec, events := -1, -1
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		name, rate := staticPTs[pt], "8000"
		if enc, ok := rtpmap[pt]; ok {
			parts := strings.Split(enc, "/")
			name, rate = parts[0], ""
			if len(parts) > 1 {
				rate = parts[1]
			}
		}
		if rate != "8000" {
			continue
		}
		switch {
		case strings.EqualFold(name, "telephone-event"):
			if events < 0 {
				events = pt
			}
		case codec < 0:
			for _, c := range echoCodecs {
				if strings.EqualFold(name, c) {
					codec = pt
				}
			}
		}
	}
	if codec < 0 {
		return nil, "", false
	}
	a := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: port},
		Protos: []string{"RTP", "AVP"}}}
	name := staticPTs[codec]
	if enc, ok := rtpmap[codec]; ok {
		name, _, _ = strings.Cut(enc, "/")
	}
	a.WithCodec(uint8(codec), name, 8000, 0, "")
	if events >= 0 {
		a.WithCodec(uint8(events), "telephone-event", 8000, 0, "0-16")
	}
	dir := mirror(mediaDirection(md, sessionDir))
	a.WithValueAttribute("ptime", "20").WithPropertyAttribute(dir)
	return a, dir, true
}

// echoOffer is the echo's own offer, for an INVITE that came without one.
func echoOffer(ip string, port int, sessionID, version uint64) ([]byte, error) {
	s := echoSession(ip, sessionID, version)
	a := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: port},
		Protos: []string{"RTP", "AVP"}}}
	a.WithCodec(0, "PCMU", 8000, 0, "").WithCodec(8, "PCMA", 8000, 0, "").WithCodec(9, "G722", 8000, 0, "").
		WithCodec(101, "telephone-event", 8000, 0, "0-16").WithValueAttribute("ptime", "20").
		WithPropertyAttribute("sendrecv")
	s.MediaDescriptions = append(s.MediaDescriptions, a)
	return s.Marshal()
}

func echoSession(ip string, sessionID, version uint64) *sdp.SessionDescription {
	ipv := "IP4"
	if a := net.ParseIP(ip); a != nil && a.To4() == nil {
		ipv = "IP6"
	}
	return &sdp.SessionDescription{
		Origin: sdp.Origin{Username: "echo", SessionID: sessionID, SessionVersion: version, NetworkType: "IN",
			AddressType: ipv, UnicastAddress: ip},
		SessionName:           "stayline lab echo",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: ipv, Address: &sdp.Address{Address: ip}},
		TimeDescriptions:      []sdp.TimeDescription{{}},
	}
}

var directions = []string{"sendrecv", "sendonly", "recvonly", "inactive"}

func sessionDirection(s *sdp.SessionDescription) string {
	for _, d := range directions {
		if _, ok := s.Attribute(d); ok {
			return d
		}
	}
	return "sendrecv"
}

func mediaDirection(md *sdp.MediaDescription, sessionDir string) string {
	for _, d := range directions {
		if _, ok := md.Attribute(d); ok {
			return d
		}
	}
	return sessionDir
}

// sdpDirection is the direction of a description's first audio stream.
func sdpDirection(body []byte) (string, error) {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return "", err
	}
	for _, md := range s.MediaDescriptions {
		if md.MediaName.Media == "audio" {
			return mediaDirection(md, sessionDirection(&s)), nil
		}
	}
	return "", errors.New("no audio stream")
}

// mirror is the direction that answers d (RFC 3264 §6.1).
func mirror(d string) string {
	switch d {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	}
	return "sendrecv"
}

func (c *echoCall) direction() string {
	if c.media.sending.Load() {
		return "sends"
	}
	return "silent"
}

// answer makes the SDP for a 200: the answer to offer, or an offer of our own when there is none (the
// answer then comes in the ACK). It sets what the media sends. code is 200, or the failure to answer.
func (c *echoCall) answer(offer []byte) (body []byte, code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	build := func(version uint64) ([]byte, string, error) {
		if len(offer) == 0 {
			b, err := echoOffer(c.e.ip.String(), c.media.port(), c.sessionID, version)
			return b, "sendrecv", err
		}
		return echoAnswer(offer, c.e.ip.String(), c.media.port(), c.sessionID, version)
	}
	b, dir, err := build(c.version)
	if err != nil {
		c.e.log.Info("offer refused", "error", err)
		return nil, 488, "Not Acceptable Here"
	}
	// RFC 3264 §8: the same version for the same description, the next one for a change.
	if c.lastSDP != nil && !bytes.Equal(b, c.lastSDP) {
		c.version++
		b, dir, _ = build(c.version)
	}
	c.lastSDP = b
	c.media.sending.Store(dir == "sendrecv" || dir == "sendonly")
	return b, 200, ""
}
