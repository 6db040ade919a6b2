package phone

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// rawSender sends hand-made SIP over UDP from 127.0.0.1 (a configured server's address, so nothing is
// refused for coming from a stranger) and collects what comes back.
type rawSender struct {
	conn *net.UDPConn
	to   *net.UDPAddr
	mu   sync.Mutex
	got  []string
	done chan struct{}
}

func newRawSender(t *testing.T, to string) *rawSender {
	t.Helper()
	addr, _ := net.ResolveUDPAddr("udp", to)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadBuffer(4 << 20)
	r := &rawSender{conn: c, to: addr, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.got = append(r.got, string(buf[:n]))
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-r.done })
	return r
}

func (r *rawSender) send(b []byte) { r.conn.WriteToUDP(b, r.to) }

func (r *rawSender) responses(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.got {
		if strings.HasPrefix(m, prefix) {
			out = append(out, m)
		}
	}
	return out
}

func (r *rawSender) request(method, callID, extra, body string) []byte {
	local := r.conn.LocalAddr().String()
	branch := fmt.Sprintf("z9hG4bK-%d", rand.Int64())
	return []byte(fmt.Sprintf("%s sip:1001@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s\r\n"+
		"From: <sip:flood@127.0.0.1>;tag=f%s\r\nTo: <sip:1001@%s>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\n"+
		"Contact: <sip:flood@%s>\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s",
		method, r.to, local, branch, callID, r.to, callID, method, local, extra, len(body), body))
}

// ack acknowledges a final non-2xx answer to an INVITE (same branch, the answer's To tag).
func (r *rawSender) ack(res string) {
	header := func(name string) string {
		for _, l := range strings.Split(res, "\r\n") {
			if strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
				return strings.TrimSpace(l[len(name)+1:])
			}
		}
		return ""
	}
	r.send([]byte(fmt.Sprintf("ACK sip:1001@%s SIP/2.0\r\nVia: %s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"+
		"CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		r.to, header("Via"), header("From"), header("To"), header("Call-ID"))))
}

const goodOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"

// goroutinesDownTo waits until at most limit goroutines run (or within passes) and returns the count.
func goroutinesDownTo(limit int, within time.Duration) int {
	deadline := time.Now().Add(within)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestHostileInputLeavesThePhoneUpAndRegistered(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	a := registeredAgent(t, k, config.TransportUDP)
	a.SetAdmission(func(int) (int, string) { // three lines, like the manager's default
		if len(a.Calls()) >= 3 {
			return 486, "Busy Here"
		}
		return 0, ""
	})
	time.Sleep(300 * time.Millisecond) // the registration's transactions end
	baseline := runtime.NumGoroutine()
	r := newRawSender(t, a.Listen())

	// Malformed, truncated, oversized, wrong-length and binary messages.
	junk := [][]byte{
		[]byte("INVITE\r\n\r\n"),
		[]byte("SIP/2.0 200 OK\r\n\r\n"),
		r.request("OPTIONS", "trunc", "", "")[:40],
		bytes.Repeat([]byte("X"), 60*1024),
		append(r.request("OPTIONS", "big", "", ""), bytes.Repeat([]byte("a"), 60*1024)...),
		r.request("INVITE", "short", "Content-Type: application/sdp\r\n", goodOffer)[:300],
		[]byte(strings.Replace(string(r.request("OPTIONS", "len", "", "")), "Content-Length: 0", "Content-Length: 99999", 1)),
		{0x00, 0xff, 0x80, 0x01, 0x02},
		r.request("OPTIONS", "noheaders", "Via: \r\nFrom:\r\n", ""),
	}
	for i := 0; i < 200; i++ {
		b := make([]byte, rand.IntN(2000))
		for j := range b {
			b[j] = byte(rand.IntN(256))
		}
		junk = append(junk, b)
	}
	for _, j := range junk {
		r.send(j)
	}
	time.Sleep(200 * time.Millisecond) // UDP: let the phone read the junk before what must be answered
	// SDP a phone must refuse: impossible port, an address that is no IP, unknown codecs only.
	for i, sdp := range []string{
		strings.Replace(goodOffer, "40000", "99999", 1),
		strings.Replace(goodOffer, "c=IN IP4 127.0.0.1", "c=IN IP4 not.an.address", 1),
		strings.Replace(goodOffer, "RTP/AVP 0", "RTP/AVP 18\r\na=rtpmap:18 G729/8000", 1),
	} {
		r.send(r.request("INVITE", fmt.Sprintf("bad-sdp-%d", i), "Content-Type: application/sdp\r\n", sdp))
	}
	// The flood: 1,000 OPTIONS and 1,000 INVITEs.
	for i := 0; i < 1000; i++ {
		r.send(r.request("OPTIONS", fmt.Sprintf("o%d", i), "", ""))
		r.send(r.request("INVITE", fmt.Sprintf("i%d", i), "Content-Type: application/sdp\r\n", goodOffer))
		if i%100 == 0 {
			time.Sleep(10 * time.Millisecond) // bursts of 200 messages
		}
	}
	eventually(t, 10*time.Second, "answers to the flood", func() bool {
		return len(r.responses("SIP/2.0 486")) >= 997 && len(r.responses("SIP/2.0 200")) >= 900
	})
	for i := 0; i < 3; i++ {
		refused := false
		for _, res := range r.responses("SIP/2.0 488") {
			refused = refused || strings.Contains(res, fmt.Sprintf("Call-ID: bad-sdp-%d\r\n", i))
		}
		if !refused {
			t.Errorf("unusable offer %d was not refused with 488", i)
		}
	}
	for _, res := range append(r.responses("SIP/2.0 486"), r.responses("SIP/2.0 488")...) {
		r.ack(res)
	}
	if calls := a.Calls(); len(calls) != 3 {
		t.Errorf("%d calls ringing, want the three lines", len(calls))
	}
	// Still responsive and registered.
	if err := a.Probe(ctxFor(t, time.Second), 0); err != nil {
		t.Fatalf("the server no longer answers the phone: %v", err)
	}
	if err := lab.Ping(a.Listen(), time.Second); err != nil {
		t.Fatalf("the phone no longer answers OPTIONS: %v", err)
	}
	if _, err := a.Register(ctxFor(t, 2*time.Second), 0, 60*time.Second, reqTimeout); err != nil {
		t.Fatalf("refresh after the flood: %v", err)
	}
	for _, c := range a.Calls() {
		a.Hangup(c.ID, "test over")
	}
	// No goroutine left behind once the transactions have run out: a non-INVITE server transaction
	// lingers Timer J (64 T1 = 32 s) on UDP to absorb retransmissions.
	after := goroutinesDownTo(baseline+10, 40*time.Second)
	if after > baseline+10 {
		t.Fatalf("goroutines: %d before the flood, %d after it settled", baseline, after)
	}
	t.Logf("flood: %d junk messages, 3 bad offers, 1000 OPTIONS, 1000 INVITEs; goroutines %d -> %d",
		len(junk), baseline, after)
}
