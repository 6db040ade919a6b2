package phone

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// After the proxy in the route set dies, the call's media keeps flowing (it never went through the
// proxy) and the BYE still reaches the far end, sent to its Contact directly.
func TestHangupAfterProxyDied(t *testing.T) {
	for _, told := range []bool{true, false} {
		name := map[bool]string{true: "manager knows the proxy is down", false: "route fails first"}[told]
		t.Run(name, func(t *testing.T) {
			k := labtest.Server(t, "home", lab.ServerOptions{})
			far := labtest.FarEnd(t, "1002", k.Addr())
			a, id := activeCall(t, srv("home", k, config.TransportUDP))
			a.opts.RequestTimeout = 300 * time.Millisecond
			before := callStats(t, a, id)
			if err := k.Kill(); err != nil {
				t.Fatal(err)
			}
			if told {
				a.SetServerHealth(0, false)
			}
			time.Sleep(500 * time.Millisecond)
			after := callStats(t, a, id)
			if after.RxPackets < before.RxPackets+20 || after.Lost != 0 {
				t.Fatalf("media across the proxy's death: before %+v, after %+v", before, after)
			}
			start := time.Now()
			if err := a.Hangup(id, "hung up"); err != nil {
				t.Fatal(err)
			}
			waitCall(t, a, id, CallEnded, 5*time.Second)
			if n := far.Received("BYE"); n < 1 {
				t.Fatalf("the BYE never reached the far end")
			}
			t.Logf("hangup took %s", time.Since(start))
		})
	}
}

// A call over TCP to the phone's server, the far end on UDP behind it: the proxy bridges the
// transports; after the proxy dies the hangup goes straight to the far end, over the far end's own UDP.
func TestCallOverTCPAndHangupAfterTheProxyDied(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	far := labtest.FarEnd(t, "1002", k.Addr())
	a, id := activeCall(t, srv("home", k, config.TransportTCP))
	a.opts.RequestTimeout = 300 * time.Millisecond
	st := callStats(t, a, id)
	if st.Lost != 0 || st.RxPackets < 10 {
		t.Fatalf("media of a TCP-signalled call: %+v", st)
	}
	k.Kill()
	select {
	case ev := <-a.Events():
		for ev.Kind != EventConnectionLost {
			ev = <-a.Events()
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the TCP connection's end was not seen")
	}
	a.SetServerHealth(0, false)
	if err := a.Hangup(id, "hung up"); err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallEnded, 5*time.Second)
	if far.Received("BYE") != 1 {
		t.Fatal("the BYE did not reach the far end")
	}
}

// In-dialog requests go along the route set, or straight to the far end's Contact once its first proxy
// is dead; the far end's requests must carry the dialog's tags and a growing CSeq.
func TestDialogRequests(t *testing.T) {
	d := &dialog{callID: "c@x", local: sip.Uri{Scheme: "sip", User: "1001", Host: "example.com"}, localTag: "ours",
		remote: sip.Uri{Scheme: "sip", User: "1002", Host: "example.com"}, remoteTag: "theirs",
		remoteTarget: sip.Uri{Scheme: "sip", User: "1002", Host: "10.0.0.2", Port: 5062},
		routes:       []sip.Uri{{Scheme: "sip", Host: "proxy.example.com", Port: 5070}}, localSeq: 1, transport: "TCP"}
	contact := sip.Uri{Scheme: "sip", User: "1001", Host: "10.0.0.1"}
	routed := d.request(sip.BYE, contact, false)
	if routed.Destination() != "proxy.example.com:5070" || routed.Transport() != "TCP" || routed.GetHeader("Route") == nil ||
		routed.CSeq().SeqNo != 2 {
		t.Fatalf("along the route set: %s via %s %s", routed.Destination(), routed.Transport(), routed.CSeq())
	}
	direct := d.request(sip.INFO, contact, true)
	if direct.Destination() != "10.0.0.2:5062" || direct.Transport() != "UDP" || direct.GetHeader("Route") != nil ||
		direct.CSeq().SeqNo != 3 {
		t.Fatalf("straight to the far end: %s via %s %s", direct.Destination(), direct.Transport(), direct.CSeq())
	}
	if d.firstHop().Host != "proxy.example.com" || hostPort(sip.Uri{Host: "h", Scheme: "sips"}) != "h:5061" {
		t.Fatal("first hop or default port")
	}
	withTLS := sip.NewParams()
	withTLS.Add("transport", "tls")
	if tp := uriTransport(sip.Uri{Host: "h", UriParams: withTLS}, "UDP", false); tp != "TLS" {
		t.Fatalf("transport parameter: %s", tp)
	}
	theirs := func(fromTag, toTag string, seq uint32) *sip.Request {
		req := sip.NewRequest(sip.INFO, contact)
		from := &sip.FromHeader{Address: d.remote, Params: sip.NewParams()}
		from.Params.Add("tag", fromTag)
		to := &sip.ToHeader{Address: d.local, Params: sip.NewParams()}
		to.Params.Add("tag", toTag)
		req.AppendHeader(from)
		req.AppendHeader(to)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.INFO})
		return req
	}
	if err := d.accept(theirs("theirs", "ours", 5)); err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]*sip.Request{"an old CSeq": theirs("theirs", "ours", 5),
		"another dialog's tags": theirs("other", "ours", 6), "swapped tags": theirs("ours", "theirs", 7)} {
		if d.accept(req) == nil {
			t.Errorf("%s accepted", name)
		}
	}
}
