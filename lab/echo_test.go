package lab_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"

	"stayline/lab"
	"stayline/lab/labtest"
)

// startEcho runs an echo test on a free port until the test ends.
func startEcho(t *testing.T, opts lab.EchoOptions) *lab.Echo {
	t.Helper()
	e, err := lab.ListenEcho("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return e
}

// sipClient is a SIP user agent of the test's own: its own UDP socket, so two of them look like two
// proxies to the echo.
func sipClient(t *testing.T) *sipgo.Client {
	t.Helper()
	c := sipClientToClose(t)
	t.Cleanup(func() { c.UserAgent.Close() })
	return c
}

// sipClientToClose is sipClient for a test that closes it (c.UserAgent.Close) itself.
func sipClientToClose(t *testing.T) *sipgo.Client {
	t.Helper()
	ua, err := testUA()
	if err != nil {
		t.Fatal(err)
	}
	c, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testUA is a user agent whose log (sipgo's notes on late 100 Trying and the like) is discarded.
func testUA() (*sipgo.UserAgent, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})))
}

// callerDialog is the calling side of a dialog with the echo.
type callerDialog struct {
	t         *testing.T
	from      sip.FromHeader
	to        sip.ToHeader
	callID    sip.CallIDHeader
	cseq      uint32
	target    sip.Uri // the echo's Contact
	transport string
}

// invite sends a new call's INVITE with offer through c; contact is where the caller takes requests.
func invite(t *testing.T, c *sipgo.Client, echoAddr, contact string, offer []byte) (*callerDialog, *sip.Response) {
	t.Helper()
	return inviteOver(t, c, "UDP", echoAddr, contact, offer)
}

func inviteOver(t *testing.T, c *sipgo.Client, transport, echoAddr, contact string, offer []byte) (*callerDialog, *sip.Response) {
	t.Helper()
	host, port, _ := net.SplitHostPort(echoAddr)
	p, _ := strconv.Atoi(port)
	d := &callerDialog{t: t, callID: sip.CallIDHeader(fmt.Sprintf("echo-test-%d@127.0.0.1", time.Now().UnixNano())),
		cseq: 1, target: sip.Uri{Scheme: "sip", User: "600", Host: host, Port: p}, transport: transport}
	d.from = sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "1001", Host: "127.0.0.1"}, Params: sip.NewParams()}
	d.from.Params.Add("tag", "caller"+strconv.FormatInt(time.Now().UnixNano(), 36))
	d.to = sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "600", Host: host}, Params: sip.NewParams()}
	req := d.build(sip.INVITE, offer)
	req.AppendHeader(sip.NewHeader("Contact", "<sip:1001@"+contact+">"))
	res := d.do(c, req)
	if res.StatusCode == 200 {
		tag, _ := res.To().Params.Get("tag")
		d.to.Params.Add("tag", tag)
		if ct := res.Contact(); ct != nil {
			d.target = ct.Address
		}
	}
	return d, res
}

func (d *callerDialog) build(method sip.RequestMethod, body []byte) *sip.Request {
	req := sip.NewRequest(method, d.target)
	req.SetTransport(d.transport)
	from, to, callID := d.from, d.to, d.callID
	from.Params, to.Params = d.from.Params.Clone(), d.to.Params.Clone()
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.cseq, MethodName: method})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
	return req
}

func (d *callerDialog) do(c *sipgo.Client, req *sip.Request) *sip.Response {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := c.Do(ctx, req)
	if err != nil {
		d.t.Fatalf("%s: %v", req.Method, err)
	}
	return res
}

// request sends an in-dialog request through c (next CSeq) and returns the answer.
func (d *callerDialog) request(c *sipgo.Client, method sip.RequestMethod, body []byte) *sip.Response {
	d.t.Helper()
	d.cseq++
	return d.do(c, d.build(method, body))
}

// ack acknowledges the INVITE with the current CSeq through c.
func (d *callerDialog) ack(c *sipgo.Client) {
	d.t.Helper()
	if err := c.WriteRequest(d.build(sip.ACK, nil)); err != nil {
		d.t.Fatal(err)
	}
}

func offerSDP(port int, dir string, formats ...string) []byte {
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: port},
		Protos: []string{"RTP", "AVP"}}}
	for _, f := range formats {
		pt, name, _ := strings.Cut(f, " ")
		n, _ := strconv.Atoi(pt)
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		if name != "" {
			md.WithValueAttribute("rtpmap", fmt.Sprintf("%d %s", n, name))
		}
	}
	if dir != "" {
		md.WithPropertyAttribute(dir)
	}
	s := sdp.SessionDescription{
		Origin:                sdp.Origin{Username: "-", SessionID: 1, SessionVersion: 1, NetworkType: "IN", AddressType: "IP4", UnicastAddress: "127.0.0.1"},
		SessionName:           "test",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: "IP4", Address: &sdp.Address{Address: "127.0.0.1"}},
		TimeDescriptions:      []sdp.TimeDescription{{}},
		MediaDescriptions:     []*sdp.MediaDescription{md},
	}
	b, _ := s.Marshal()
	return b
}

// answered reads an SDP answer: its audio port, formats and direction.
func answered(t *testing.T, res *sip.Response) (port int, formats []string, dir string, version uint64) {
	t.Helper()
	var s sdp.SessionDescription
	if err := s.Unmarshal(res.Body()); err != nil {
		t.Fatalf("answer %q: %v", res.Body(), err)
	}
	if ct := res.GetHeader("Content-Type"); ct == nil || ct.Value() != "application/sdp" {
		t.Fatalf("answer without Content-Type application/sdp: %v", res)
	}
	md := s.MediaDescriptions[0]
	dir = "sendrecv"
	for _, d := range []string{"sendonly", "recvonly", "inactive", "sendrecv"} {
		if _, ok := md.Attribute(d); ok {
			dir = d
		}
	}
	return md.MediaName.Port.Value, md.MediaName.Formats, dir, s.Origin.SessionVersion
}

func rtpPacket(seq uint16, pt byte) []byte {
	b := make([]byte, 12+160)
	b[0], b[1] = 0x80, pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], uint32(seq)*160)
	binary.BigEndian.PutUint32(b[8:], 0x5eed)
	for i := 12; i < len(b); i++ {
		b[i] = byte(int(seq) + i)
	}
	return b
}

// echoed sends n RTP packets to the echo's media port and counts those that came back identical.
func echoed(t *testing.T, conn *net.UDPConn, to int, n int) int {
	t.Helper()
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: to}
	buf := make([]byte, 2048)
	got := 0
	for i := range n {
		p := rtpPacket(uint16(1000+i), 0)
		if _, err := conn.WriteToUDP(p, dst); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		k, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		if from.Port != to {
			t.Fatalf("echo came from port %d, not the answer's %d", from.Port, to)
		}
		if bytes.Equal(buf[:k], p) {
			got++
		}
	}
	return got
}

// The echo's part of a call: INVITE answered with SDP, RTP echoed byte for byte, hold and resume by
// re-INVITE with the direction mirrored, UPDATE, INFO, OPTIONS, other methods refused, BYE. The hold comes
// from another address than the call (as through the alternate proxy after home died): its answers go
// there, where the request came from.
func TestEchoAnswersAndEchoes(t *testing.T) {
	e, err := lab.ListenEcho("127.0.0.1:0", lab.EchoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.Serve(ctx) }()

	media, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer media.Close()
	mport := media.LocalAddr().(*net.UDPAddr).Port
	home, alternate := sipClientToClose(t), sipClientToClose(t)
	closeClients := sync.OnceFunc(func() {
		home.UserAgent.Close()
		alternate.UserAgent.Close()
	})
	defer closeClients()

	d, res := invite(t, home, e.Addr(), "127.0.0.1:5999", offerSDP(mport, "", "0 PCMU/8000", "8 PCMA/8000", "101 telephone-event/8000"))
	if res.StatusCode != 200 {
		t.Fatalf("INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	if res.Contact() == nil || res.Contact().Address.Port == 0 {
		t.Fatalf("200 OK without a usable Contact: %v", res.Contact())
	}
	eport, formats, dir, v1 := answered(t, res)
	if strings.Join(formats, " ") != "0 101" || dir != "sendrecv" || eport == 0 {
		t.Fatalf("answer: port %d, formats %v, %s; want PCMU and telephone-event, sendrecv", eport, formats, dir)
	}
	d.ack(home)
	if n := echoed(t, media, eport, 20); n != 20 {
		t.Fatalf("%d of 20 RTP packets came back identical", n)
	}
	if e.Calls() != 1 {
		t.Fatalf("%d calls, want 1", e.Calls())
	}

	// Hold from the other address.
	res = d.request(alternate, sip.INVITE, offerSDP(mport, "sendonly", "0 PCMU/8000", "101 telephone-event/8000"))
	if res.StatusCode != 200 {
		t.Fatalf("hold re-INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	if port, _, dir, v2 := answered(t, res); dir != "recvonly" || port != eport || v2 != v1+1 {
		t.Fatalf("hold answer: %s on %d version %d; want recvonly on %d version %d", dir, port, v2, eport, v1+1)
	}
	d.ack(alternate)
	if n := echoed(t, media, eport, 5); n != 0 {
		t.Fatalf("%d RTP packets echoed while held (recvonly)", n)
	}
	res = d.request(alternate, sip.INVITE, offerSDP(mport, "inactive", "0 PCMU/8000"))
	if _, _, dir, _ := answered(t, res); res.StatusCode != 200 || dir != "inactive" {
		t.Fatalf("inactive re-INVITE: %d, %s", res.StatusCode, dir)
	}
	d.ack(alternate)
	// Resume.
	res = d.request(alternate, sip.INVITE, offerSDP(mport, "sendrecv", "0 PCMU/8000", "101 telephone-event/8000"))
	if _, _, dir, _ := answered(t, res); res.StatusCode != 200 || dir != "sendrecv" {
		t.Fatalf("resume re-INVITE: %d, %s", res.StatusCode, dir)
	}
	d.ack(alternate)
	if n := echoed(t, media, eport, 10); n != 10 {
		t.Fatalf("%d of 10 RTP packets echoed after resume", n)
	}

	if res := d.request(alternate, sip.UPDATE, nil); res.StatusCode != 200 {
		t.Fatalf("UPDATE answered %d", res.StatusCode)
	}
	res = d.request(alternate, sip.UPDATE, offerSDP(mport, "sendonly", "0 PCMU/8000"))
	if _, _, dir, _ := answered(t, res); res.StatusCode != 200 || dir != "recvonly" {
		t.Fatalf("UPDATE with an offer: %d, %s", res.StatusCode, dir)
	}
	if res := d.request(alternate, sip.INFO, nil); res.StatusCode != 200 {
		t.Fatalf("INFO answered %d", res.StatusCode)
	}
	if res := d.request(alternate, sip.MESSAGE, nil); res.StatusCode != 405 || res.GetHeader("Allow") == nil {
		t.Fatalf("MESSAGE answered %d, Allow %v; want 405 with Allow", res.StatusCode, res.GetHeader("Allow"))
	}
	if res := d.request(home, sip.OPTIONS, nil); res.StatusCode != 200 {
		t.Fatalf("OPTIONS answered %d", res.StatusCode)
	}
	if res := d.request(home, sip.BYE, nil); res.StatusCode != 200 {
		t.Fatalf("BYE answered %d", res.StatusCode)
	}
	if res := d.request(home, sip.BYE, nil); res.StatusCode != 481 {
		t.Fatalf("second BYE answered %d, want 481", res.StatusCode)
	}
	if n := echoed(t, media, eport, 3); n != 0 {
		t.Fatalf("%d RTP packets echoed after BYE", n)
	}
	if e.Calls() != 0 {
		t.Fatalf("%d calls after BYE", e.Calls())
	}

	// A call left running ends with Serve, and nothing of the echo's goroutines stays behind.
	d, res = invite(t, home, e.Addr(), "127.0.0.1:5999", offerSDP(mport, "", "0 PCMU/8000"))
	if res.StatusCode != 200 {
		t.Fatalf("second call answered %d", res.StatusCode)
	}
	d.ack(home)
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	closeClients()
	// The echo's own goroutines (package lab, not this test's sipgo clients, which sipgo winds down at
	// its own pace) must all be gone.
	deadline := time.Now().Add(5 * time.Second)
	for echoGoroutines() != "" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := echoGoroutines(); left != "" {
		t.Fatalf("the echo's goroutines outlive Serve:\n%s", left)
	}
}

// echoGoroutines is the stacks of the goroutines running the echo's code ("" when there are none).
func echoGoroutines() string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "stayline/lab.") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// The answer to each kind of offer.
func TestEchoAnswersOffers(t *testing.T) {
	e := startEcho(t, lab.EchoOptions{})
	c := sipClient(t)
	for _, tc := range []struct {
		name    string
		offer   []byte
		code    int
		formats string
		dir     string
	}{
		{"PCMA first", offerSDP(4000, "", "8 PCMA/8000", "0 PCMU/8000"), 200, "8", "sendrecv"},
		{"G722 with events", offerSDP(4000, "", "9 G722/8000", "96 telephone-event/8000"), 200, "9 96", "sendrecv"},
		{"static types without rtpmap", offerSDP(4000, "", "18", "0"), 200, "0", "sendrecv"},
		{"opus first, then PCMU", offerSDP(4000, "", "111 opus/48000/2", "0 PCMU/8000"), 200, "0", "sendrecv"},
		{"sendonly", offerSDP(4000, "sendonly", "0 PCMU/8000"), 200, "0", "recvonly"},
		{"recvonly", offerSDP(4000, "recvonly", "0 PCMU/8000"), 200, "0", "sendonly"},
		{"nothing the echo knows", offerSDP(4000, "", "111 opus/48000/2", "18 G729/8000"), 488, "", ""},
		{"no SDP: the echo offers", nil, 200, "0 8 9 101", "sendrecv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, res := invite(t, c, e.Addr(), "127.0.0.1:5999", tc.offer)
			if res.StatusCode != tc.code {
				t.Fatalf("answered %d %s, want %d", res.StatusCode, res.Reason, tc.code)
			}
			if tc.code != 200 {
				return
			}
			_, formats, dir, _ := answered(t, res)
			if got := strings.Join(formats, " "); got != tc.formats || dir != tc.dir {
				t.Fatalf("answer %s %s, want %s %s", got, dir, tc.formats, tc.dir)
			}
			d.ack(c)
			if res := d.request(c, sip.BYE, nil); res.StatusCode != 200 {
				t.Fatalf("BYE answered %d", res.StatusCode)
			}
		})
	}
}

// Over TCP too: the answers come back on the caller's connection, and the Contact says tcp.
func TestEchoOverTCP(t *testing.T) {
	e := startEcho(t, lab.EchoOptions{})
	c := sipClient(t)
	d, res := inviteOver(t, c, "TCP", e.Addr(), "127.0.0.1:5999", offerSDP(4000, "", "0 PCMU/8000"))
	if res.StatusCode != 200 {
		t.Fatalf("INVITE over TCP answered %d", res.StatusCode)
	}
	if tp, _ := res.Contact().Address.UriParams.Get("transport"); tp != "tcp" {
		t.Fatalf("Contact %s, want transport=tcp", res.Contact().Value())
	}
	d.ack(c)
	res = d.request(c, sip.INVITE, offerSDP(4000, "sendonly", "0 PCMU/8000"))
	if _, _, dir, _ := answered(t, res); res.StatusCode != 200 || dir != "recvonly" {
		t.Fatalf("hold over TCP: %d %s", res.StatusCode, dir)
	}
	d.ack(c)
	if res := d.request(c, sip.BYE, nil); res.StatusCode != 200 {
		t.Fatalf("BYE over TCP answered %d", res.StatusCode)
	}
}

// A call the caller forgets ends after MaxCall with a BYE from the echo, to the caller's Contact.
func TestEchoHangsUpAfterMaxCall(t *testing.T) {
	e := startEcho(t, lab.EchoOptions{MaxCall: 500 * time.Millisecond})
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ua, err := testUA()
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	srv, _ := sipgo.NewServer(ua)
	var byes atomic.Int32
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		byes.Add(1)
		tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go srv.ServeUDP(conn)
	for ua.TransportLayer().Pool("udp").Get(conn.LocalAddr().String()) == nil { // serving
		time.Sleep(time.Millisecond)
	}
	c, _ := sipgo.NewClient(ua, sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	d, res := invite(t, c, e.Addr(), conn.LocalAddr().String(), offerSDP(4000, "", "0 PCMU/8000"))
	if res.StatusCode != 200 {
		t.Fatalf("answered %d", res.StatusCode)
	}
	d.ack(c)
	deadline := time.Now().Add(3 * time.Second)
	for (byes.Load() == 0 || e.Calls() != 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if byes.Load() != 1 || e.Calls() != 0 {
		t.Fatalf("%d BYEs, %d calls left", byes.Load(), e.Calls())
	}
}

// From any program but stayline-lab (here a test binary) StartEcho runs the echo in that program.
func TestStartEchoWithoutTheLabBinary(t *testing.T) {
	port, err := lab.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p, err := lab.StartEcho(t.TempDir(), port)
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid() != 0 {
		p.Stop()
		t.Fatalf("pid %d: a test binary is not stayline-lab", p.Pid())
	}
	if err := lab.Ping(p.Addr, time.Second); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	if err := lab.Ping(p.Addr, 200*time.Millisecond); err == nil {
		t.Fatal("still answering after Stop")
	}
}

// stayline-lab up starts the echo as a process of its own that outlives it; down kills it.
func TestEchoLabUpRunsTheEchoAsItsOwnProcess(t *testing.T) {
	labtest.Need(t, "kamailio", "sipp")
	bin := filepath.Join(t.TempDir(), "stayline-lab")
	if out, err := exec.Command("go", "build", "-o", bin, "stayline/cmd/stayline-lab").CombinedOutput(); err != nil {
		t.Fatalf("build stayline-lab: %v\n%s", err, out)
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		args = append([]string{"-dir", dir, "-home-port", "0", "-alternate-port", "0"}, args...)
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("stayline-lab %v: %v\n%s", args, err, out)
		}
	}
	run("up")
	t.Cleanup(func() { exec.Command(bin, "-dir", dir, "down").Run() })
	b, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		EchoAddr string `json:"echo_addr"`
		EchoPid  int    `json:"echo_pid"`
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.EchoPid <= 1 || rec.EchoAddr == "" {
		t.Fatalf("lab.json %s: %v", b, err)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", rec.EchoPid))
	if args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"); len(args) < 2 || args[1] != "echo" {
		t.Fatalf("echo pid %d runs %q, want stayline-lab echo", rec.EchoPid, args)
	}
	if err := lab.Ping(rec.EchoAddr, time.Second); err != nil {
		t.Fatalf("the echo test does not answer after up exited: %v", err)
	}
	run("down")
	deadline := time.Now().Add(2 * time.Second)
	for lab.Ping(rec.EchoAddr, 100*time.Millisecond) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the echo test still answers after down")
		}
	}
}
