package phone

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"stayline/audio"
)

// Direction is an SDP media direction attribute.
type Direction string

// The four directions (RFC 3264 §5.1).
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Reverse is the direction the other side answers with.
func (d Direction) Reverse() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	}
	return d
}

// Sends and Receives say what a side may do under d.
func (d Direction) Sends() bool    { return d == SendRecv || d == SendOnly }
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// dtmfPayloadType is the dynamic payload type we offer for RFC 4733 telephone-event.
const dtmfPayloadType = 101

// localMedia is our side of a session description.
type localMedia struct {
	IP        string
	Port      int
	Codecs    []audio.Codec // in preference order; an answer has exactly one
	PTs       []uint8       // the payload type of each codec (the offerer's numbers in an answer)
	DTMF      int           // telephone-event payload type, -1 for none
	Direction Direction
	SessionID uint64
	Version   uint64
	Secure    bool         // RTP/SAVP: SRTP or nothing
	Crypto    []cryptoAttr // SDES keys offered (an offer) or taken (an answer)
}

// remoteMedia is what we read from the other side's description.
type remoteMedia struct {
	IP        string
	Port      int
	Formats   []sdp.Codec // in their order
	DTMF      int         // their telephone-event payload type, -1 if none
	Direction Direction
	Secure    bool         // RTP/SAVP
	Crypto    []cryptoAttr // the SDES lines the phone can use, in their order
}

// marshalSDP writes our description.
func marshalSDP(m localMedia) ([]byte, error) {
	ipv := "IP4"
	if ip := net.ParseIP(m.IP); ip != nil && ip.To4() == nil {
		ipv = "IP6"
	}
	proto := []string{"RTP", "AVP"}
	if m.Secure {
		proto = []string{"RTP", "SAVP"}
	}
	md := &sdp.MediaDescription{
		MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: m.Port}, Protos: proto},
	}
	for i, c := range m.Codecs {
		pt := m.PTs[i]
		md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(int(pt)))
		rtpmap := fmt.Sprintf("%d %s/%d", pt, c.Name(), c.ClockRate())
		if p, ok := c.(audio.RTPMapParams); ok {
			rtpmap += "/" + p.RTPMapParams()
		}
		md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", rtpmap))
		if f, ok := c.(audio.Fmtper); ok {
			md.Attributes = append(md.Attributes, sdp.NewAttribute("fmtp", fmt.Sprintf("%d %s", pt, f.Fmtp())))
		}
	}
	if m.DTMF >= 0 {
		md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(m.DTMF))
		md.Attributes = append(md.Attributes,
			sdp.NewAttribute("rtpmap", fmt.Sprintf("%d telephone-event/8000", m.DTMF)),
			sdp.NewAttribute("fmtp", fmt.Sprintf("%d 0-16", m.DTMF)))
	}
	for _, c := range m.Crypto {
		md.Attributes = append(md.Attributes, sdp.NewAttribute("crypto", c.String()))
	}
	md.Attributes = append(md.Attributes, sdp.NewAttribute("ptime", strconv.Itoa(audio.FrameDurationMs)),
		sdp.NewPropertyAttribute(string(m.Direction)))
	conn := &sdp.ConnectionInformation{NetworkType: "IN", AddressType: ipv, Address: &sdp.Address{Address: m.IP}}
	s := sdp.SessionDescription{
		Origin: sdp.Origin{Username: "-", SessionID: m.SessionID, SessionVersion: m.Version,
			NetworkType: "IN", AddressType: ipv, UnicastAddress: m.IP},
		SessionName:           "Stayline",
		ConnectionInformation: conn,
		TimeDescriptions:      []sdp.TimeDescription{{}},
		MediaDescriptions:     []*sdp.MediaDescription{md},
	}
	return s.Marshal()
}

// parseSDP reads the first audio stream of a description and refuses what cannot be a phone call.
func parseSDP(body []byte) (remoteMedia, error) {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return remoteMedia{}, fmt.Errorf("unreadable SDP: %w", err)
	}
	var audioMD *sdp.MediaDescription
	for _, md := range s.MediaDescriptions {
		if md.MediaName.Media == "audio" {
			audioMD = md
			break
		}
	}
	if audioMD == nil {
		return remoteMedia{}, errNoAudio
	}
	r := remoteMedia{Port: audioMD.MediaName.Port.Value, DTMF: -1, Direction: SendRecv}
	switch proto := strings.Join(audioMD.MediaName.Protos, "/"); proto {
	case "RTP/AVP":
	case "RTP/SAVP":
		r.Secure = true
	default:
		return remoteMedia{}, fmt.Errorf("audio over %s is not supported (RTP/AVP and RTP/SAVP with SDES only)", proto)
	}
	for _, a := range audioMD.Attributes {
		if a.Key == "crypto" {
			if c, ok := parseCrypto(a.Value); ok {
				r.Crypto = append(r.Crypto, c)
			}
		}
	}
	if r.Port < 0 || r.Port > 65535 {
		return remoteMedia{}, fmt.Errorf("impossible audio port %d", r.Port)
	}
	conn := audioMD.ConnectionInformation
	if conn == nil {
		conn = s.ConnectionInformation
	}
	if conn == nil || conn.Address == nil {
		return remoteMedia{}, errors.New("no connection address for audio")
	}
	ip := net.ParseIP(conn.Address.Address)
	if ip == nil {
		return remoteMedia{}, fmt.Errorf("audio address %q is not an IP address", conn.Address.Address)
	}
	if ip.IsMulticast() || ip.IsLinkLocalMulticast() || (ip.IsUnspecified() && r.Port != 0 && !legacyHold(ip)) {
		return remoteMedia{}, fmt.Errorf("audio address %s cannot be a phone", ip)
	}
	r.IP = ip.String()
	for _, a := range append(append([]sdp.Attribute{}, s.Attributes...), audioMD.Attributes...) {
		switch Direction(a.Key) {
		case SendRecv, SendOnly, RecvOnly, Inactive:
			r.Direction = Direction(a.Key)
		}
	}
	if legacyHold(ip) {
		r.Direction = Inactive // RFC 2543 hold: c=0.0.0.0
	}
	// Codec names of this stream only.
	codecs := (&sdp.SessionDescription{MediaDescriptions: []*sdp.MediaDescription{audioMD}}).GetCodecMap()
	for _, f := range audioMD.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			return remoteMedia{}, fmt.Errorf("bad payload type %q", f)
		}
		c, ok := codecs[uint8(pt)]
		if !ok {
			continue // a dynamic type without rtpmap: unusable
		}
		if strings.EqualFold(c.Name, "telephone-event") {
			if r.DTMF < 0 && c.ClockRate == 8000 {
				r.DTMF = pt
			}
			continue
		}
		r.Formats = append(r.Formats, c)
	}
	return r, nil
}

func legacyHold(ip net.IP) bool { return ip.Equal(net.IPv4zero) }

// chooseCodec picks, in the offer's order, the first format we support: RFC 3264 lets the answerer
// choose, and following the offerer's preference is what phones do.
func chooseCodec(ours []audio.Codec, offer remoteMedia) (audio.Codec, uint8, error) {
	for _, f := range offer.Formats {
		for _, c := range ours {
			if strings.EqualFold(f.Name, c.Name()) && f.ClockRate == c.ClockRate() {
				return c, f.PayloadType, nil
			}
		}
	}
	var names []string
	for _, f := range offer.Formats {
		names = append(names, f.Name)
	}
	return nil, 0, fmt.Errorf("no codec in common (offered: %s)", strings.Join(names, ", "))
}
