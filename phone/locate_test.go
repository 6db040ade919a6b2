package phone

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
)

// zone is a Resolver answering from maps, counting nothing, failing where told.
type zone struct {
	naptr map[string][]NAPTR
	srv   map[string][]*net.SRV
	host  map[string][]string
	fail  map[string]error
}

func (z zone) LookupNAPTR(_ context.Context, n string) ([]NAPTR, error) {
	return z.naptr[n], z.fail["NAPTR "+n]
}
func (z zone) LookupSRV(_ context.Context, n string) ([]*net.SRV, error) {
	return z.srv[n], z.fail["SRV "+n]
}
func (z zone) LookupHost(_ context.Context, n string) ([]string, error) {
	return z.host[n], z.fail["A "+n]
}

func addrs(list []config.Server) []string {
	var out []string
	for _, s := range list {
		out = append(out, s.Name+"="+s.Address+"/"+string(s.Transport))
	}
	return out
}

func seeded() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func TestLocateWalksNAPTRThenSRVByPriority(t *testing.T) {
	z := zone{
		naptr: map[string][]NAPTR{"example.test": {
			{Order: 20, Preference: 10, Flags: "s", Service: "SIP+D2U", Replacement: "_sip._udp.example.test"},
			{Order: 10, Preference: 10, Flags: "s", Service: "SIP+D2T", Replacement: "_sip._tcp.example.test"},
			{Order: 5, Preference: 10, Flags: "s", Service: "SIP+D2X", Replacement: "_sip._sctp.example.test"}, // unknown transport
		}},
		srv: map[string][]*net.SRV{
			"_sip._tcp.example.test": {
				{Target: "c.example.test.", Port: 5062, Priority: 30},
				{Target: "a.example.test.", Port: 5060, Priority: 10},
				{Target: "b.example.test.", Port: 5061, Priority: 20},
			},
			"_sip._udp.example.test": {{Target: "u.example.test.", Port: 5060, Priority: 1}},
		},
		host: map[string][]string{"a.example.test": {"192.0.2.1"}, "b.example.test": {"192.0.2.2", "2001:db8::2"},
			"c.example.test": {"192.0.2.3"}},
	}
	l := &Locator{Resolver: z, Rand: seeded()}
	cfg := []config.Server{{Name: "home", Address: "example.test", Transport: config.TransportUDP, TransportAuto: true,
		Features: []config.Feature{config.FeatureHold}}, {Name: "branch", Address: "198.51.100.9:5060", Transport: config.TransportUDP}}
	got, report := l.Locate(context.Background(), cfg)
	want := []string{"home=192.0.2.1:5060/tcp", "home 2=192.0.2.2:5061/tcp", "home 3=[2001:db8::2]:5061/tcp",
		"home 4=192.0.2.3:5062/tcp", "branch=198.51.100.9:5060/udp"}
	if !reflect.DeepEqual(addrs(got), want) {
		t.Fatalf("list = %v\nwant %v", addrs(got), want)
	}
	for _, s := range got[:4] {
		if s.Domain != "example.test" || s.TLSName() != "example.test" || !reflect.DeepEqual(s.Features, cfg[0].Features) {
			t.Errorf("discovered %+v: want domain example.test and the configured features", s)
		}
	}
	if report[0].How != "NAPTR example.test -> SRV _sip._tcp.example.test" || report[1].How != "" {
		t.Errorf("report = %+v", report)
	}
}

func TestLocateWithATransportAsksOnlyItsSRV(t *testing.T) {
	z := zone{
		naptr: map[string][]NAPTR{"example.test": {{Order: 1, Flags: "s", Service: "SIP+D2U", Replacement: "_sip._udp.example.test"}}},
		srv: map[string][]*net.SRV{
			"_sip._udp.example.test":  {{Target: "u.example.test", Port: 5060}},
			"_sips._tcp.example.test": {{Target: "t.example.test", Port: 5061}},
		},
		host: map[string][]string{"u.example.test": {"192.0.2.1"}, "t.example.test": {"192.0.2.5"}},
	}
	got, _ := (&Locator{Resolver: z}).Locate(context.Background(),
		[]config.Server{{Name: "home", Address: "example.test", Transport: config.TransportTLS}})
	if want := []string{"home=192.0.2.5:5061/tls"}; !reflect.DeepEqual(addrs(got), want) {
		t.Fatalf("list = %v, want %v", addrs(got), want)
	}
}

func TestLocateWithoutNAPTRPrefersTLSThenFallsBackToA(t *testing.T) {
	z := zone{
		srv: map[string][]*net.SRV{
			"_sip._udp.example.test":  {{Target: "u.example.test", Port: 5060}},
			"_sips._tcp.example.test": {{Target: "t.example.test", Port: 5061}},
		},
		host: map[string][]string{"u.example.test": {"192.0.2.1"}, "t.example.test": {"192.0.2.5"},
			"plain.test": {"192.0.2.9"}},
	}
	l := &Locator{Resolver: z}
	got, _ := l.Locate(context.Background(), []config.Server{
		{Name: "home", Address: "example.test", Transport: config.TransportUDP, TransportAuto: true},
		{Name: "alt", Address: "plain.test", Transport: config.TransportUDP, TransportAuto: true},
		{Name: "tls", Address: "plain.test", Transport: config.TransportTLS}})
	want := []string{"home=192.0.2.5:5061/tls", "alt=192.0.2.9:5060/udp", "tls=192.0.2.9:5061/tls"}
	if !reflect.DeepEqual(addrs(got), want) {
		t.Fatalf("list = %v, want %v", addrs(got), want)
	}
}

func TestLocateKeepsTheDomainWhenDNSFails(t *testing.T) {
	z := zone{fail: map[string]error{"NAPTR example.test": errors.New("timeout"), "A example.test": errors.New("timeout")}}
	cfg := []config.Server{{Name: "home", Address: "example.test", Transport: config.TransportUDP, TransportAuto: true}}
	got, report := (&Locator{Resolver: z}).Locate(context.Background(), cfg)
	if !reflect.DeepEqual(got, cfg) || report[0].Err == nil || !strings.Contains(report[0].Err.Error(), "timeout") {
		t.Fatalf("got %v, report %+v: want the configured server kept and the error reported", got, report)
	}
	// A target of "." says the service is not offered: nothing is made of it.
	z = zone{srv: map[string][]*net.SRV{"_sip._udp.example.test": {{Target: ".", Port: 0}}}}
	got, report = (&Locator{Resolver: z}).Locate(context.Background(), cfg)
	if !reflect.DeepEqual(got, cfg) || report[0].Err == nil {
		t.Fatalf("SRV \".\": got %v, report %+v", got, report)
	}
}

// RFC 2782: within a priority, a record is first with a chance proportional to its weight.
func TestSRVWeightsShareTheFirstPlace(t *testing.T) {
	l := &Locator{Rand: seeded()}
	records := []*net.SRV{{Target: "heavy", Priority: 10, Weight: 60}, {Target: "light", Priority: 10, Weight: 20},
		{Target: "zero", Priority: 10, Weight: 0}, {Target: "backup", Priority: 20, Weight: 100}}
	first := map[string]int{}
	const n = 10000
	for i := 0; i < n; i++ {
		o := l.order(records)
		if len(o) != 4 || o[3].Target != "backup" {
			t.Fatalf("order %v: the priority-20 record must come last", o)
		}
		first[o[0].Target]++
	}
	// Expected shares: 60/81, 20/81, 1/81 (zero weight wins only on a draw of 0).
	if h := float64(first["heavy"]) / n; h < 0.70 || h > 0.78 {
		t.Errorf("heavy first %.3f of the time, want ~0.74", h)
	}
	if l := float64(first["light"]) / n; l < 0.21 || l > 0.28 {
		t.Errorf("light first %.3f of the time, want ~0.25", l)
	}
	if z := first["zero"]; z == 0 || z > n/40 {
		t.Errorf("zero-weight first %d times in %d, want rarely but not never", z, n)
	}
}

// The real resolver against a name server on loopback.
func TestDNSResolverAgainstALoopbackServer(t *testing.T) {
	d, err := lab.StartDNS(
		`example.test. 60 IN NAPTR 10 10 "S" "SIP+D2U" "" _sip._udp.example.test.`,
		`_sip._udp.example.test. 60 IN SRV 10 0 5099 a.example.test.`,
		`_sip._udp.example.test. 60 IN SRV 20 0 5098 b.example.test.`,
		`a.example.test. 60 IN A 127.0.0.1`,
		`b.example.test. 60 IN AAAA ::1`,
	)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, report := (&Locator{Resolver: NewResolver(d.Addr())}).Locate(context.Background(),
		[]config.Server{{Name: "home", Address: "example.test", Transport: config.TransportUDP, TransportAuto: true}})
	if want := []string{"home=127.0.0.1:5099/udp", "home 2=[::1]:5098/udp"}; !reflect.DeepEqual(addrs(got), want) {
		t.Fatalf("list = %v (%+v), want %v; queries %v", addrs(got), report, want, d.Queries())
	}
	// A name the server does not know is "none", not an error.
	if srv, err := NewResolver(d.Addr()).LookupSRV(context.Background(), "_sip._tcp.nowhere.test"); err != nil || len(srv) != 0 {
		t.Fatalf("unknown name: %v, %v", srv, err)
	}
}

// A name server that never answers delays the start by a bounded time, and the domain is then used as
// written.
func TestLocateServersWithASilentNameServer(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	cfg := []config.Server{{Name: "home", Address: "example.test", Transport: config.TransportUDP, TransportAuto: true}}
	start := time.Now()
	got := LocateServers(context.Background(), cfg, silent.LocalAddr().String(), slog.New(slog.DiscardHandler))
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("discovery took %s against a silent name server, want at most ~4 s", took)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Fatalf("got %v, want the configured server as written", addrs(got))
	}
}
