package lab

import (
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// DNS is a name server on loopback answering from a fixed set of records, for server discovery tests
// (RFC 3263: NAPTR, SRV, A). Names it has no record for are answered NXDOMAIN.
type DNS struct {
	server  *dns.Server
	conn    net.PacketConn
	mu      sync.Mutex
	records []dns.RR
	queries []string // "TYPE name", in order
}

// StartDNS serves records (zone-file lines, e.g. "_sip._udp.example.test. 60 IN SRV 10 0 5060 a.example.test.")
// on a free UDP port of 127.0.0.1.
func StartDNS(zone ...string) (*DNS, error) {
	d := &DNS{}
	for _, line := range zone {
		rr, err := dns.NewRR(line)
		if err != nil {
			return nil, fmt.Errorf("lab DNS record %q: %w", line, err)
		}
		d.records = append(d.records, rr)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lab DNS: %w", err)
	}
	d.conn = conn
	started := make(chan struct{})
	d.server = &dns.Server{PacketConn: conn, Handler: dns.HandlerFunc(d.answer), NotifyStartedFunc: func() { close(started) }}
	go d.server.ActivateAndServe()
	<-started
	return d, nil
}

// Addr is the server's host:port.
func (d *DNS) Addr() string { return d.conn.LocalAddr().String() }

// Queries lists what was asked, "TYPE name" each.
func (d *DNS) Queries() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.queries...)
}

// Close stops the server.
func (d *DNS) Close() error { return d.server.Shutdown() }

func (d *DNS) answer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	known := false
	d.mu.Lock()
	for _, q := range req.Question {
		d.queries = append(d.queries, dns.TypeToString[q.Qtype]+" "+strings.TrimSuffix(q.Name, "."))
		for _, rr := range d.records {
			h := rr.Header()
			if !strings.EqualFold(h.Name, q.Name) {
				continue
			}
			known = true
			if h.Rrtype == q.Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
	}
	d.mu.Unlock()
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}
