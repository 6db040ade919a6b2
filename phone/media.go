package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"stayline/audio"
)

// MediaStats are a call's RTP figures, as the status event reports them.
type MediaStats struct {
	Codec     string
	RxPackets uint64
	TxPackets uint64
	Lost      uint64 // RFC 3550: expected minus received, never negative
	JitterMs  float64
	Late      uint64 // arrived too late to play
	Concealed uint64 // ticks played from concealment
	RxLevel   int    // peak level of the audio received lately (0..32767), for a level meter
	// FirstAudio is how long the first audio packet took from its arrival to its sound handed to the
	// speaker (the socket's wait for the 20 ms tick and the jitter buffer's depth); 0 until it played.
	FirstAudio time.Duration
	SRTP       string // the SRTP suite protecting the media, "" for plain RTP
	Refused    uint64 // packets dropped because they failed SRTP authentication (or replayed)
}

// media is one call's RTP session: RTP on an even port, RTCP on the next. Its tick sends one frame and
// plays one every 20 ms, on an absolute schedule so the pace does not drift.
type media struct {
	log      *slog.Logger
	rtpConn  *net.UDPConn
	rtcpConn *net.UDPConn
	ssrc     uint32
	cname    string

	mu        sync.Mutex
	remote    *net.UDPAddr // where the far end's SDP says it is
	learned   *net.UDPAddr // where its RTP actually comes from, when that differs (latched once)
	fromSDP   bool         // a packet has come from the SDP address
	codec     audio.Codec
	pt        uint8
	dtmfPT    int
	dir       Direction
	src       audio.Source
	sink      audio.Sink
	seq       uint16
	ts        uint32
	dtmfQueue []byte
	dtmf      *dtmfSender
	dtmfGap   int // audio frames still to send before the next digit
	onDigit   func(byte)
	onAudio   func()        // the first audio packet arrived (then cleared)
	firstRx   time.Time     // the first audio packet's arrival
	firstPlay time.Duration // from then to its sound played (MediaStats.FirstAudio)
	recv      receiveStats
	jb        *audio.JitterBuffer
	plc       audio.Concealer
	srtp      *srtpSession // nil: plain RTP
	public    *net.UDPAddr // the RTP socket's address as STUN saw it, nil: unknown (nat.go)

	txPackets atomic.Uint64
	txOctets  atomic.Uint64
	rxLevel   float64 // decaying peak of the decoded audio
	rtcpRx    atomic.Uint64
	refused   atomic.Uint64 // failed SRTP authentication
	rxDigits  lastDigit

	raised bool // run's thread has its priority raised (raisePriority)
	rxBuf  [1500]byte
	oob    [128]byte

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started sync.Once
}

// openMedia binds an RTP/RTCP port pair on ip.
func openMedia(ip string, log *slog.Logger) (*media, error) {
	var lastErr error
	for try := 0; try < 50; try++ {
		port := 16384 + 2*rand.IntN(8000)
		r, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip), Port: port})
		if err != nil {
			lastErr = err
			continue
		}
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip), Port: port + 1})
		if err != nil {
			r.Close()
			lastErr = err
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &media{log: log, rtpConn: r, rtcpConn: c, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()),
			ts: rand.Uint32(), dtmfPT: -1, dir: SendRecv, src: audio.Silence{}, sink: audio.Discard{},
			jb: audio.NewJitterBuffer(2, 10), ctx: ctx, cancel: cancel,
			cname: strconv.FormatUint(rand.Uint64(), 36) + "@stayline"}
		return m, nil
	}
	return nil, fmt.Errorf("no free RTP port pair on %s: %w", ip, lastErr)
}

// Port is the local RTP port.
func (m *media) Port() int { return m.rtpConn.LocalAddr().(*net.UDPAddr).Port }

// configure sets (or changes, on a re-INVITE) where and how to send.
func (m *media) configure(remote *net.UDPAddr, codec audio.Codec, pt uint8, dtmfPT int, dir Direction) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.codec != nil && codec.Name() == m.codec.Name() {
		codec = m.codec // the same codec: keep its state (G.722's predictors)
	} else if m.codec != nil {
		m.jb = audio.NewJitterBuffer(2, 10)
	}
	if m.remote == nil || !m.remote.IP.Equal(remote.IP) || m.remote.Port != remote.Port {
		m.learned, m.fromSDP = nil, false // a new address: learn again
	}
	m.remote, m.codec, m.pt, m.dtmfPT, m.dir = remote, codec, pt, dtmfPT, dir
	m.recv.clockRate = codec.ClockRate()
}

// setSRTP protects the media with keys (nil: plain RTP). The same keys again keep the running contexts,
// so a re-INVITE that does not re-key does not reset the rollover counters.
func (m *media) setSRTP(k *srtpKeys) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k == nil {
		m.srtp = nil
		return nil
	}
	if m.srtp != nil && m.srtp.keys.equal(k) {
		return nil
	}
	s, err := newSRTPSession(*k)
	if err != nil {
		return err
	}
	m.srtp = s
	return nil
}

func (m *media) secure() *srtpSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.srtp
}

func (m *media) remoteAddr() *net.UDPAddr {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remote
}

// setOnDigit sets what to do with each DTMF digit received.
func (m *media) setOnDigit(f func(byte)) {
	m.mu.Lock()
	m.onDigit = f
	m.mu.Unlock()
}

// setAudio connects the microphone and speaker (nil keeps the current ones).
func (m *media) setAudio(src audio.Source, sink audio.Sink) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if src != nil {
		m.src = src
	}
	if sink != nil {
		m.sink = sink
	}
}

// setOnFirstAudio sets what to do when the first audio packet arrives (early media replacing the ringback).
func (m *media) setOnFirstAudio(f func()) {
	m.mu.Lock()
	m.onAudio = f
	m.mu.Unlock()
}

// start runs the session until close; once (early media starts it before the answer).
func (m *media) start() {
	m.started.Do(func() {
		enableRxTimestamps(m.rtpConn)
		enableRxTimestamps(m.rtcpConn)
		m.wg.Add(1)
		go m.run()
	})
}

func (m *media) close() {
	m.cancel()
	m.rtpConn.Close()
	m.rtcpConn.Close()
	m.wg.Wait()
}

// Stats reports the session's figures.
func (m *media) Stats() MediaStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := MediaStats{TxPackets: m.txPackets.Load(), RxPackets: m.recv.received, Lost: m.recv.lost(),
		JitterMs: m.recv.jitterMs(), Refused: m.refused.Load()}
	if m.srtp != nil {
		st.SRTP = m.srtp.keys.Local.Suite
	}
	if m.codec != nil {
		st.Codec = m.codec.Name()
	}
	js := m.jb.Stats()
	st.Late, st.Concealed = js.Late, js.Concealed
	st.RxLevel = int(m.rxLevel)
	st.FirstAudio = m.firstPlay
	return st
}

func (m *media) sendFrame() {
	m.mu.Lock()
	if m.codec == nil || m.remote == nil || !m.dir.Sends() {
		m.mu.Unlock()
		return
	}
	var payload []byte
	pt, marker := m.pt, false
	step := m.codec.TimestampStep()
	if m.dtmfGap > 0 {
		m.dtmfGap--
	} else if m.dtmf == nil && len(m.dtmfQueue) > 0 && m.dtmfPT >= 0 {
		m.dtmf = &dtmfSender{digit: m.dtmfQueue[0], ts: m.ts}
		m.dtmfQueue = m.dtmfQueue[1:]
	}
	ts := m.ts
	if d := m.dtmf; d != nil {
		payload, marker = d.next(step)
		pt, ts = uint8(m.dtmfPT), d.ts
		if d.done() {
			m.dtmf, m.dtmfGap = nil, 2 // 40 ms between digits
		}
	} else {
		pcm := make([]int16, audio.FrameSamples(m.codec))
		m.src.Read(pcm)
		payload = m.codec.Encode(make([]byte, 0, len(pcm)), pcm)
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, PayloadType: pt, SequenceNumber: m.seq,
		Timestamp: ts, SSRC: m.ssrc}, Payload: payload}
	m.seq++
	m.ts += step
	remote := m.remote
	if m.learned != nil {
		remote = m.learned // symmetric RTP: answer where the far end sends from
	}
	sec := m.srtp
	m.mu.Unlock()
	buf, err := pkt.Marshal()
	if err != nil {
		return
	}
	if sec != nil {
		if buf, err = sec.tx.EncryptRTP(nil, buf, nil); err != nil {
			m.log.Debug("SRTP encrypt", "error", err)
			return
		}
	}
	if _, err := m.rtpConn.WriteToUDP(buf, remote); err == nil {
		m.txPackets.Add(1)
		m.txOctets.Add(uint64(len(payload)))
	}
}

func (m *media) playFrame() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.codec == nil || !m.dir.Receives() {
		return
	}
	n := audio.FrameSamples(m.codec)
	pcm := make([]int16, 0, n)
	if payload, ok := m.jb.Pop(); ok {
		if m.firstPlay == 0 && !m.firstRx.IsZero() {
			m.firstPlay = max(time.Since(m.firstRx), time.Microsecond)
		}
		pcm = m.codec.Decode(pcm, payload)
		m.plc.Good(pcm)
		peak := 0.0
		for _, v := range pcm {
			peak = max(peak, math.Abs(float64(v)))
		}
		m.rxLevel = max(peak, m.rxLevel*0.9) // falls by about 20 dB a second
	} else {
		pcm = m.plc.Conceal(pcm, n)
	}
	m.sink.Write(pcm)
}

// drainRTP takes every RTP packet queued since the last tick, with its arrival time.
func (m *media) drainRTP() {
	buf, oob := m.rxBuf[:], m.oob[:]
	for {
		n, from, arrival, ok := readNow(m.rtpConn, buf, oob)
		if !ok {
			return
		}
		m.receive(buf[:n], from, arrival)
	}
}

func (m *media) receive(data []byte, from *net.UDPAddr, arrival time.Time) {
	if sec := m.secure(); sec != nil {
		plain, err := sec.rx.DecryptRTP(nil, data, nil)
		if err != nil {
			m.srtpDropped("SRTP", err) // never played
			return
		}
		data = plain
	}
	var pkt rtp.Packet
	if pkt.Unmarshal(data) != nil || pkt.Version != 2 {
		return // not RTP: dropped
	}
	m.mu.Lock()
	if m.remote == nil || m.codec == nil || !m.acceptFrom(from) {
		m.mu.Unlock()
		return // only the negotiated peer may feed the call
	}
	m.recv.remoteSSRC = pkt.SSRC
	switch {
	case int(pkt.PayloadType) == m.dtmfPT && m.dtmfPT >= 0:
		m.recv.update(pkt.SequenceNumber, pkt.Timestamp, arrival)
		if d, ok := m.rxDigits.event(pkt.Timestamp, pkt.Payload); ok && m.onDigit != nil {
			f := m.onDigit
			m.mu.Unlock()
			f(d)
			return
		}
	case pkt.PayloadType == m.pt:
		m.recv.update(pkt.SequenceNumber, pkt.Timestamp, arrival)
		m.jb.Push(pkt.SequenceNumber, append([]byte(nil), pkt.Payload...))
		m.jb.SetJitter(m.recv.jitterMs())
		if m.firstRx.IsZero() {
			m.firstRx = arrival
		}
		if f := m.onAudio; f != nil {
			m.onAudio = nil
			m.mu.Unlock()
			f()
			return
		}
	}
	m.mu.Unlock()
}

// srtpDropped counts a packet that failed authentication or was replayed (Refused); anything else that
// cannot be SRTP at all (a NAT keep-alive, junk) is dropped without counting.
func (m *media) srtpDropped(kind string, err error) {
	if errors.Is(err, srtp.ErrFailedToVerifyAuthTag) || strings.Contains(err.Error(), "duplicated") {
		m.refused.Add(1)
	}
	m.log.Debug(kind+" packet dropped", "error", err)
}

// acceptFrom decides whether a packet from src belongs to the call: from the SDP address, always; else, as
// long as nothing came from the SDP address, from one other source, latched on its first packet (a peer
// whose SDP names another of its interfaces, or a NAT). Everything else is dropped. m.mu is held.
func (m *media) acceptFrom(src *net.UDPAddr) bool {
	switch {
	case src.IP.Equal(m.remote.IP):
		m.fromSDP = true
		return true
	case m.learned != nil:
		return src.IP.Equal(m.learned.IP) && src.Port == m.learned.Port
	case !m.fromSDP:
		m.learned = &net.UDPAddr{IP: append(net.IP(nil), src.IP...), Port: src.Port}
		m.log.Info("RTP comes from another address than the SDP's; following it", "sdp", m.remote, "source", src)
		return true
	}
	return false
}

// drainRTCP takes the RTCP reports queued since the last tick (they are checked, not used yet).
func (m *media) drainRTCP() {
	buf, oob := m.rxBuf[:], m.oob[:]
	for {
		n, _, _, ok := readNow(m.rtcpConn, buf, oob)
		if !ok {
			return
		}
		data := buf[:n]
		if sec := m.secure(); sec != nil {
			plain, err := sec.rx.DecryptRTCP(nil, data, nil)
			if err != nil {
				m.srtpDropped("SRTCP", err)
				continue
			}
			data = plain
		}
		if _, err := rtcp.Unmarshal(data); err != nil {
			m.log.Debug("bad RTCP dropped", "error", err)
			continue
		}
		m.rtcpRx.Add(1)
	}
}

// sendReport sends an RTCP sender report (or receiver report) with a reception block and our CNAME.
func (m *media) sendReport() {
	m.mu.Lock()
	remote := m.remote
	var blocks []rtcp.ReceptionReport
	if m.recv.received > 0 {
		blocks = append(blocks, m.recv.report())
	}
	rtpTS := m.ts
	m.mu.Unlock()
	if remote == nil {
		return
	}
	var first rtcp.Packet
	if sent := m.txPackets.Load(); sent > 0 {
		first = &rtcp.SenderReport{SSRC: m.ssrc, NTPTime: ntpTime(time.Now()), RTPTime: rtpTS,
			PacketCount: uint32(sent), OctetCount: uint32(m.txOctets.Load()), Reports: blocks}
	} else {
		first = &rtcp.ReceiverReport{SSRC: m.ssrc, Reports: blocks}
	}
	sdes := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: m.ssrc,
		Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: m.cname}}}}}
	buf, err := rtcp.Marshal([]rtcp.Packet{first, sdes})
	if err != nil {
		return
	}
	if sec := m.secure(); sec != nil {
		if buf, err = sec.tx.EncryptRTCP(nil, buf, nil); err != nil {
			return
		}
	}
	m.rtcpConn.WriteToUDP(buf, &net.UDPAddr{IP: remote.IP, Port: remote.Port + 1})
}

func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) * (1 << 32) / 1e9
	return secs<<32 | frac
}

// sendDigits queues RFC 4733 events; they replace the audio while they play.
func (m *media) sendDigits(digits string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dtmfPT < 0 {
		return errNoTelephoneEvent
	}
	for i := 0; i < len(digits); i++ {
		code, ok := dtmfCode(digits[i])
		if !ok {
			return fmt.Errorf("%q is not a DTMF digit", digits[i])
		}
		m.dtmfQueue = append(m.dtmfQueue, code)
	}
	return nil
}

// receiveStats is RFC 3550 appendix A.1 and A.8: sequence tracking, loss and interarrival jitter.
type receiveStats struct {
	clockRate     uint32
	started       bool
	baseSeq       uint16
	maxSeq        uint16
	cycles        uint32
	received      uint64
	expectedPrior uint64
	receivedPrior uint64
	transit       int64
	jitter        float64 // in timestamp units
	remoteSSRC    uint32
}

func (r *receiveStats) update(seq uint16, ts uint32, arrival time.Time) {
	if !r.started {
		r.started, r.baseSeq, r.maxSeq = true, seq, seq
	} else if seqLess16(r.maxSeq, seq) {
		if seq < r.maxSeq {
			r.cycles += 1 << 16
		}
		r.maxSeq = seq
	}
	r.received++
	if r.clockRate == 0 {
		return
	}
	arrivalTS := int64(arrival.UnixNano() / 1000 * int64(r.clockRate) / 1e6)
	transit := arrivalTS - int64(ts)
	if r.received > 1 {
		d := transit - r.transit
		if d < 0 {
			d = -d
		}
		r.jitter += (float64(d) - r.jitter) / 16
	}
	r.transit = transit
}

func seqLess16(a, b uint16) bool { return a != b && b-a < 0x8000 }

func (r *receiveStats) expected() uint64 {
	if !r.started {
		return 0
	}
	return uint64(r.cycles) + uint64(r.maxSeq) - uint64(r.baseSeq) + 1
}

func (r *receiveStats) lost() uint64 {
	if e := r.expected(); e > r.received {
		return e - r.received
	}
	return 0
}

func (r *receiveStats) jitterMs() float64 {
	if r.clockRate == 0 {
		return 0
	}
	return r.jitter * 1000 / float64(r.clockRate)
}

func (r *receiveStats) report() rtcp.ReceptionReport {
	expected := r.expected()
	intervalExpected := expected - r.expectedPrior
	intervalReceived := r.received - r.receivedPrior
	r.expectedPrior, r.receivedPrior = expected, r.received
	var fraction uint8
	if intervalExpected > intervalReceived && intervalExpected > 0 {
		fraction = uint8((intervalExpected - intervalReceived) << 8 / intervalExpected)
	}
	return rtcp.ReceptionReport{SSRC: r.remoteSSRC, FractionLost: fraction, TotalLost: uint32(min(r.lost(), 0x7fffff)),
		LastSequenceNumber: r.cycles + uint32(r.maxSeq), Jitter: uint32(r.jitter)}
}
