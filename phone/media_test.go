package phone

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"stayline/audio"
)

// levelSink records the loudest sample it was given.
type levelSink struct {
	mu   sync.Mutex
	peak int16
	n    int
}

func (l *levelSink) Write(pcm []int16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	for _, s := range pcm {
		if s > l.peak {
			l.peak = s
		}
	}
}

func (l *levelSink) get() (int16, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak, l.n
}

func mediaPair(t *testing.T) (*media, *media) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := openMedia("127.0.0.1", log)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openMedia("127.0.0.1", log)
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := audio.NewCodec("PCMU")
	a.configure(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: b.Port()}, codec, 0, dtmfPayloadType, SendRecv)
	b.configure(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: a.Port()}, codec, 0, dtmfPayloadType, SendRecv)
	t.Cleanup(func() { a.close(); b.close() })
	return a, b
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMediaCarriesAudioBothWays(t *testing.T) {
	a, b := mediaPair(t)
	sink := &levelSink{}
	a.setAudio(&audio.Sine{Freq: 440, Rate: 8000, Level: 0.5}, nil)
	b.setAudio(nil, sink)
	a.start()
	b.start()
	eventually(t, 3*time.Second, "50 packets each way", func() bool {
		return a.Stats().RxPackets >= 50 && b.Stats().RxPackets >= 50
	})
	peak, _ := sink.get()
	if peak < 12000 { // a half-scale tone through G.711
		t.Fatalf("peak %d received, want the tone (≈16000)", peak)
	}
	for name, m := range map[string]*media{"a": a, "b": b} {
		st := m.Stats()
		if st.Lost != 0 || st.Codec != "PCMU" || st.TxPackets == 0 {
			t.Errorf("%s: %+v", name, st)
		}
		if st.JitterMs > 10 {
			t.Errorf("%s: jitter %.1f ms on loopback", name, st.JitterMs)
		}
	}
}

func TestMediaDTMFBothWays(t *testing.T) {
	a, b := mediaPair(t)
	got := make(chan byte, 16)
	b.mu.Lock()
	b.onDigit = func(d byte) { got <- d }
	b.mu.Unlock()
	a.start()
	b.start()
	if err := a.sendDigits("19*#"); err != nil {
		t.Fatal(err)
	}
	var digits []byte
	timeout := time.After(3 * time.Second)
	for len(digits) < 4 {
		select {
		case d := <-got:
			digits = append(digits, d)
		case <-timeout:
			t.Fatalf("received %q, want 19*#", digits)
		}
	}
	if string(digits) != "19*#" {
		t.Fatalf("received %q, want 19*#", digits)
	}
	if err := a.sendDigits("x"); err == nil {
		t.Fatal("an impossible digit was accepted")
	}
}

func TestMediaHoldStopsSending(t *testing.T) {
	a, b := mediaPair(t)
	a.start()
	b.start()
	eventually(t, 2*time.Second, "flowing", func() bool { return b.Stats().RxPackets > 10 })
	codec, _ := audio.NewCodec("PCMU")
	a.configure(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: b.Port()}, codec, 0, dtmfPayloadType, RecvOnly)
	time.Sleep(60 * time.Millisecond) // let a packet already on its way land
	held := a.Stats().TxPackets
	time.Sleep(200 * time.Millisecond)
	if sent := a.Stats().TxPackets - held; sent != 0 {
		t.Fatalf("sent %d packets while recvonly", sent)
	}
}

func TestMediaIgnoresStrangers(t *testing.T) {
	a, b := mediaPair(t)
	a.start()
	b.start()
	eventually(t, 2*time.Second, "the peer's RTP", func() bool { return a.Stats().RxPackets > 5 })
	counted := a.Stats().RxPackets
	stranger, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: a.Port()})
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	defer stranger.Close()
	for i := 0; i < 20; i++ {
		stranger.Write([]byte{0x80, 0, 0, byte(i), 0, 0, 0, 0, 1, 2, 3, 4, 0xff})
	}
	b.close() // the peer stops, so any growth below is the stranger's
	time.Sleep(100 * time.Millisecond)
	if n := a.Stats().RxPackets; n > counted+5 {
		t.Fatalf("counted %d packets from an address that is not the peer", n-counted)
	}
}

// A peer whose SDP names one of its addresses and sends from another is followed, once.
func TestMediaLearnsThePeersRealSource(t *testing.T) {
	a, b := mediaPair(t)
	codec, _ := audio.NewCodec("PCMU")
	// a believes b is at 127.0.0.3 (an address b does not send from): it must learn 127.0.0.1.
	a.configure(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 3), Port: b.Port()}, codec, 0, dtmfPayloadType, SendRecv)
	a.start()
	b.start()
	eventually(t, 2*time.Second, "RTP from the learned source, and back to it", func() bool {
		return a.Stats().RxPackets > 10 && b.Stats().RxPackets > 10
	})
}

func TestReceiveStatsLossAndWrap(t *testing.T) {
	r := receiveStats{clockRate: 8000}
	now := time.Now()
	for _, s := range []uint16{65533, 65534, 0, 1, 3} { // 65535 and 2 lost, across the wrap
		r.update(s, uint32(s)*160, now)
	}
	if r.lost() != 2 || r.expected() != 7 {
		t.Fatalf("lost %d of %d expected, want 2 of 7", r.lost(), r.expected())
	}
}

// Each side sends an RTCP report (sender report with a reception block, and its CNAME) within the first
// seconds, and the other side reads it.
func TestMediaExchangesRTCPReports(t *testing.T) {
	a, b := mediaPair(t)
	a.start()
	b.start()
	eventually(t, 3*time.Second, "an RTCP report each way", func() bool {
		return a.rtcpRx.Load() > 0 && b.rtcpRx.Load() > 0
	})
}
