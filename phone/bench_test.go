package phone

import (
	"io"
	"log/slog"
	"net"
	"sort"
	"testing"
	"time"

	"stayline/audio"
)

// BenchmarkRTPPacing measures how steadily a call sends: the arrival times of its RTP at a receiver on
// loopback, as deviations from the 20 ms ptime (README.md, "Performance": p99 ≤ 2 ms). Each iteration is one
// packet.
func BenchmarkRTPPacing(b *testing.B) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close()
	m, err := openMedia("127.0.0.1", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer m.close()
	codec, _ := audio.NewCodec("PCMU")
	m.configure(rx.LocalAddr().(*net.UDPAddr), codec, 0, dtmfPayloadType, SendRecv)
	m.start()
	buf := make([]byte, 1500)
	n := max(b.N, 250) // at least 5 s of packets for a p99
	arrivals := make([]time.Time, 0, n+1)
	b.ResetTimer()
	for len(arrivals) <= n {
		if _, _, err := rx.ReadFromUDP(buf); err != nil {
			b.Fatal(err)
		}
		arrivals = append(arrivals, time.Now())
	}
	b.StopTimer()
	dev := make([]float64, 0, n)
	for i := 1; i < len(arrivals); i++ {
		d := arrivals[i].Sub(arrivals[i-1]) - 20*time.Millisecond
		if d < 0 {
			d = -d
		}
		dev = append(dev, float64(d)/float64(time.Millisecond))
	}
	sort.Float64s(dev)
	b.ReportMetric(dev[len(dev)*99/100], "p99_dev_ms")
	b.ReportMetric(dev[len(dev)/2], "p50_dev_ms")
	b.ReportMetric(dev[len(dev)-1], "max_dev_ms")
}
