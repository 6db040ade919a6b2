package phone

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

const (
	dialogCallID = "dlg@test"
	telEvent     = "a=rtpmap:101 telephone-event/8000\r\n"
)

// dialogCall is an established call of a's, with no SIP stack behind it: Call-ID dialogCallID, our tag
// "ours", the far end's "theirs", its media set by offer (the far end's, at 127.0.0.1:6000), PCMU and PCMA
// ours. a gets a context if it has none.
func dialogCall(t *testing.T, a *Agent, offer []byte) *call {
	t.Helper()
	if a.ctx == nil {
		a.ctx, a.cancel = context.WithCancel(context.Background())
		t.Cleanup(a.cancel)
	}
	m, err := openMedia("127.0.0.1", a.log)
	if err != nil {
		t.Fatal(err)
	}
	c := &call{a: a, link: &serverLink{local: "127.0.0.1", cfg: config.Server{Transport: config.TransportUDP}},
		server: -1, state: CallActive, media: m, sdp: newSDPSession(SRTPOff, []string{"PCMU", "PCMA"}),
		done: make(chan struct{}), remote: "far@127.0.0.1",
		dlg: &dialog{callID: dialogCallID, localTag: "ours", remoteTag: "theirs",
			remoteTarget: sip.Uri{Scheme: "sip", User: "far", Host: "127.0.0.1", Port: 5099}}}
	a.track(c, dialogCallID)
	t.Cleanup(func() { c.end(causeShutDown) })
	r, err := parseSDP(offer)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.negotiate(r, true); err != nil {
		t.Fatal(err)
	}
	return c
}

// dialogRequest is the far end's request within dialogCall's dialog (tags as given), with body: SDP when it
// starts with "v=", else text/plain; none if "".
func dialogRequest(t *testing.T, method, callID, toTag string, seq int, body string) *sip.Request {
	t.Helper()
	ct := ""
	switch {
	case strings.HasPrefix(body, "v="):
		ct = "Content-Type: application/sdp\r\n"
	case body != "":
		ct = "Content-Type: text/plain\r\n"
	}
	raw := fmt.Sprintf("%s sip:1001@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-%s\r\n"+
		"From: <sip:far@127.0.0.1>;tag=theirs\r\nTo: <sip:1001@127.0.0.1>;tag=%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"+
		"Contact: <sip:far@127.0.0.1:5099>\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s",
		method, sip.GenerateTagN(12), toTag, callID, seq, method, ct, len(body), body)
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return msg.(*sip.Request)
}

// mediaNow is what a call's media does: where it sends, which codec, which way.
func mediaNow(c *call) (remote, codec string, dir Direction) {
	m := c.media
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.remote != nil {
		remote = m.remote.String()
	}
	if m.codec != nil {
		codec = m.codec.Name()
	}
	return remote, codec, m.dir
}

// finalResponse is the last response the recorder holds, failing if there is none.
func finalResponse(t *testing.T, tx *siptest.ServerTxRecorder) *sip.Response {
	t.Helper()
	rs := tx.Result()
	if len(rs) == 0 {
		t.Fatal("no response")
	}
	return rs[len(rs)-1]
}

// The far end's UPDATE (RFC 3311), each branch: a refresh without SDP, an offer that holds us on another
// port and codec, an offer that cannot be taken (the media stays), glare with our own offer, an unknown
// dialog, a body that is no SDP.
func TestUpdateAnswersEachCase(t *testing.T) {
	first := string(sdpWith("127.0.0.1", "RTP/AVP", "0 101", telEvent))
	moved := strings.Replace(string(sdpWith("127.0.0.1", "RTP/AVP", "8 101", telEvent+"a=sendonly\r\n")), "6000", "6002", 1)
	for _, tc := range []struct {
		name, callID, toTag, body string
		pending                   bool      // our own offer is out
		code                      int       // the answer
		has                       []string  // in the answer (headers and body)
		remote, codec             string    // the media after it
		dir                       Direction // ditto
	}{
		{name: "refresh without SDP", code: 200, has: []string{"Contact: <sip:"}, remote: "127.0.0.1:6000", codec: "PCMU", dir: SendRecv},
		{name: "hold on another port and codec", body: moved, code: 200,
			has: []string{"a=recvonly", "m=audio ", " RTP/AVP 8 101", "Contact: <sip:"}, remote: "127.0.0.1:6002", codec: "PCMA", dir: RecvOnly},
		{name: "no codec in common", body: string(sdpWith("127.0.0.1", "RTP/AVP", "18", "a=rtpmap:18 G729/8000\r\n")), code: 488,
			has: []string{`Warning: 399 stayline "no codec in common (offered: G729)"`}, remote: "127.0.0.1:6000", codec: "PCMU", dir: SendRecv},
		{name: "unreadable SDP", body: "v=0\r\nnonsense\r\n", code: 488, has: []string{"Warning: 399 stayline "},
			remote: "127.0.0.1:6000", codec: "PCMU", dir: SendRecv},
		{name: "glare with our offer", body: moved, pending: true, code: 491, remote: "127.0.0.1:6000", codec: "PCMU", dir: SendRecv},
		{name: "refresh during our offer", pending: true, code: 200, remote: "127.0.0.1:6000", codec: "PCMU", dir: SendRecv},
		{name: "unknown dialog", callID: "other@test", body: moved, code: 481, remote: "127.0.0.1:6000", codec: "PCMU", dir: SendRecv},
		{name: "another dialog's tag", toTag: "not-ours", body: moved, code: 481, remote: "127.0.0.1:6000", codec: "PCMU", dir: SendRecv},
		{name: "not SDP", body: "1", code: 415, has: []string{"Accept: application/sdp"},
			remote: "127.0.0.1:6000", codec: "PCMU", dir: SendRecv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := bareAgent()
			c := dialogCall(t, a, []byte(first))
			if tc.pending {
				c.mu.Lock()
				c.sdp.pending = true
				c.mu.Unlock()
			}
			req := dialogRequest(t, "UPDATE", cmp.Or(tc.callID, dialogCallID), cmp.Or(tc.toTag, "ours"), 2, tc.body)
			tx := siptest.NewServerTxRecorder(req)
			a.onUpdate(req, tx)
			res := finalResponse(t, tx)
			if res.StatusCode != tc.code {
				t.Fatalf("answered %d %s, want %d", res.StatusCode, res.Reason, tc.code)
			}
			for _, want := range tc.has {
				if !strings.Contains(res.String(), want) {
					t.Errorf("the answer lacks %q:\n%s", want, res)
				}
			}
			if remote, codec, dir := mediaNow(c); remote != tc.remote || codec != tc.codec || dir != tc.dir {
				t.Fatalf("media to %s, %s, %s; want %s, %s, %s", remote, codec, dir, tc.remote, tc.codec, tc.dir)
			}
		})
	}
}

// Every method Allow lists has a handler, and only those: read from the table, from sipgo's server, and
// on the wire (none of them is answered 405; a method left out is).
func TestAllowListsTheHandledMethods(t *testing.T) {
	allowed := strings.Split(allowedMethods, ", ")
	a := startPhone(t, Options{Servers: []config.Server{{Name: "home", Address: "127.0.0.1:9", Transport: config.TransportUDP}}})
	var table []string
	for _, h := range a.handlers() {
		table = append(table, string(h.method))
	}
	registered := a.server.RegisteredMethods()
	for _, l := range [][]string{allowed, table, registered} {
		slices.Sort(l)
	}
	if !slices.Equal(allowed, table) || !slices.Equal(allowed, registered) {
		t.Fatalf("Allow: %v; handler table: %v; registered with sipgo: %v", allowed, table, registered)
	}
	r := newRawSender(t, a.Listen())
	for _, method := range append(allowed, "MESSAGE") {
		if method == "ACK" {
			continue // no answer
		}
		callID := "allow-" + method
		req := strings.Replace(string(r.request(method, callID, "", "")), "\r\nTo: <sip:1001@"+a.Listen()+">", "\r\nTo: <sip:1001@"+a.Listen()+">;tag=x", 1)
		r.send([]byte(req))
		var got string
		eventually(t, 2*time.Second, method+" answered", func() bool {
			for _, res := range r.responses("SIP/2.0 ") {
				if strings.Contains(res, "Call-ID: "+callID+"\r\n") && !strings.HasPrefix(res, "SIP/2.0 100 ") {
					got = res[:strings.Index(res, "\r\n")]
					return true
				}
			}
			return false
		})
		if method == "MESSAGE" {
			if got != "SIP/2.0 405 Method Not Allowed" {
				t.Errorf("MESSAGE, which Allow leaves out, answered %q, want 405", got)
			}
		} else if strings.HasPrefix(got, "SIP/2.0 405") {
			t.Errorf("%s is in Allow and answered %q", method, got)
		}
	}
}

// exercisedBy names, for each option tag the phone claims, the test of a call that uses it.
var exercisedBy = map[string]string{
	"100rel": "TestLiveEarlyMediaReliable183IsPRACKed", // and TestIncomingCallRequiringReliableRinging
	"timer":  "TestLiveSessionRefreshedByThePhone",
}

// Supported names only what the phone implements, in the requests and answers it sends; a request that
// requires anything else is answered 420 with Unsupported.
func TestSupportedNamesOnlyWhatIsImplemented(t *testing.T) {
	for _, tag := range supportedExtensions {
		if exercisedBy[tag] == "" {
			t.Errorf("the phone claims %q and no test uses it: add one to exercisedBy", tag)
		}
	}
	server, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	a := startPhone(t, Options{Servers: []config.Server{{Name: "home", Address: server.LocalAddr().String(), Transport: config.TransportUDP}}})
	go a.Dial(context.Background(), 0, "1002", 300*time.Millisecond)
	server.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 65536)
	n, err := server.Read(buf)
	if err != nil {
		t.Fatalf("the phone's INVITE: %v", err)
	}
	invite := string(buf[:n])
	r := newRawSender(t, a.Listen())
	r.send(r.request("OPTIONS", "sup-options", "", ""))
	r.send(r.request("INVITE", "sup-invite", "", "")) // rings: a delayed offer
	r.send(r.request("OPTIONS", "sup-require", "Require: 100rel, x-nothing\r\n", ""))
	eventually(t, 2*time.Second, "answers", func() bool {
		return len(r.responses("SIP/2.0 200")) >= 1 && len(r.responses("SIP/2.0 180")) >= 1 && len(r.responses("SIP/2.0 420")) >= 1
	})
	for _, msg := range append([]string{invite}, append(r.responses("SIP/2.0 200"), r.responses("SIP/2.0 180")...)...) {
		for _, line := range strings.Split(msg, "\r\n") {
			name, _, _ := strings.Cut(strings.ToLower(line), ":")
			if name != "supported" && name != "k" {
				continue
			}
			_, value, _ := strings.Cut(line, ":")
			for _, tag := range strings.Split(value, ",") {
				if !slices.Contains(supportedExtensions, strings.TrimSpace(tag)) {
					t.Errorf("the phone sent %q, not implementing %q:\n%s", line, tag, msg)
				}
			}
		}
	}
	if !strings.Contains(invite, "Supported: "+supportedOptions+"\r\n") {
		t.Errorf("the INVITE's Supported is not %q:\n%s", supportedOptions, invite)
	}
	if !strings.Contains(invite, "Allow: "+allowedMethods+"\r\n") {
		t.Errorf("the INVITE's Allow is not %q:\n%s", allowedMethods, invite)
	}
	if bad := r.responses("SIP/2.0 420")[0]; !strings.Contains(bad, "Unsupported: x-nothing\r\n") {
		t.Errorf("420 without the tags in Unsupported:\n%s", bad)
	}
	for _, c := range a.Calls() {
		if !c.Outgoing { // the call out ends when its server does not answer
			a.Hangup(c.ID, "test over")
		}
	}
}

// mediaPortPair is a free even port whose next port is free too (SIPp's -mp).
func mediaPortPair(t *testing.T) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		p, err := lab.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		p &^= 1
		rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			continue
		}
		rtcp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 1})
		rtp.Close()
		if err == nil {
			rtcp.Close()
			return p
		}
	}
	t.Fatal("no free even port pair")
	return 0
}

// logLines is a log the test can search.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

// A PBX (SIPp, lab/scenarios/uas-update.xml) the phone calls through Kamailio sends UPDATEs: a refresh
// without SDP (200), an offer holding us (200 with a=recvonly: the phone stops sending), an offer of G.729
// only (488: the media stays held), an offer resuming (200 with a=sendrecv: the phone sends again), then
// BYE. The scenario fails on any other answer.
func TestUpdateFromAPBXThroughKamailio(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	mport := mediaPortPair(t)
	pbx := labtest.SIPp(t, "uas-update", "-m", "1", "-rtp_echo", "-mp", strconv.Itoa(mport))
	if err := lab.RegisterWith(t.TempDir(), "1002", pbx.Port, k.Addr()); err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	a := startPhone(t, Options{Account: config.Account{Password: lab.Password}, Servers: []config.Server{srv("home", k, config.TransportUDP)},
		Codecs: []string{"PCMU"}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	mustRegister(t, a)
	fail := func(format string, args ...any) {
		t.Helper()
		b, _ := os.ReadFile(pbx.MessagesFile())
		t.Fatalf(format+"\nSIPp's messages:\n%s", append(args, b)...)
	}
	id, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 5*time.Second)
	c, err := a.lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "echoed RTP", func() bool { return callStats(t, a, id).RxPackets >= 10 })
	deadline := time.Now().Add(5 * time.Second)
	for _, _, dir := mediaNow(c); dir != RecvOnly; _, _, dir = mediaNow(c) {
		if time.Now().After(deadline) {
			fail("the media is %s, want recvonly after the UPDATE offering sendonly", dir)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	held := callStats(t, a, id).TxPackets
	time.Sleep(300 * time.Millisecond)
	if sent := callStats(t, a, id).TxPackets - held; sent != 0 {
		fail("sent %d RTP packets while the far end holds the call", sent)
	}
	eventually(t, 5*time.Second, "the G.729 offer refused", func() bool { return logs.has("offer refused; media unchanged") })
	want := fmt.Sprintf("127.0.0.1:%d", mport)
	if remote, codec, dir := mediaNow(c); remote != want || codec != "PCMU" || dir != RecvOnly {
		fail("after the 488 the media goes to %s, %s, %s; want it as it was (%s, PCMU, recvonly)", remote, codec, dir, want)
	}
	deadline = time.Now().Add(5 * time.Second)
	for _, _, dir := mediaNow(c); dir != SendRecv; _, _, dir = mediaNow(c) {
		if time.Now().After(deadline) {
			fail("the media is %s, want sendrecv after the UPDATE resuming", dir)
		}
		time.Sleep(10 * time.Millisecond)
	}
	resumed := callStats(t, a, id).TxPackets
	eventually(t, 2*time.Second, "audio again", func() bool { return callStats(t, a, id).TxPackets > resumed+10 })
	if ended := waitCall(t, a, id, CallEnded, 10*time.Second); ended.Reason != "the far end hung up" {
		t.Fatalf("ended %q", ended.Reason)
	}
	if code := pbx.Wait(10 * time.Second); code != 0 {
		fail("SIPp exited %d", code)
	}
	if n := pbx.Received("SIP/2.0 200"); n < 4 {
		fail("SIPp got %d 200s, want three UPDATEs' and the BYE's", n)
	}
	if n := pbx.Received("SIP/2.0 488"); n != 1 {
		fail("SIPp got %d 488s, want one", n)
	}
}
