package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"stayline/config"
)

// Server discovery (RFC 3263): a [[server]] whose address is a domain without a port stands for the
// servers DNS names for it. NAPTR records choose the transport (when the file names none), SRV records
// the targets in priority order (weighted within a priority, RFC 2782), A/AAAA records their addresses.
// The phone's server list is the configured one with each such domain replaced by its targets, so the
// failover manager walks the SRV set like any other list: the first target is home.

// NAPTR is one naming-authority pointer record (RFC 3403), as discovery reads it.
type NAPTR struct {
	Order, Preference uint16
	Flags, Service    string
	Replacement       string
}

// Resolver answers the three questions discovery asks. A name that does not exist, or has no records of
// the type, is answered with none and no error.
type Resolver interface {
	LookupNAPTR(ctx context.Context, name string) ([]NAPTR, error)
	LookupSRV(ctx context.Context, name string) ([]*net.SRV, error)
	LookupHost(ctx context.Context, name string) ([]string, error)
}

// Locator turns configured servers into the list the phone uses.
type Locator struct {
	Resolver Resolver
	// Rand orders SRV targets of equal priority by weight; nil: a fresh random source.
	Rand *rand.Rand
	// MaxTargets bounds the servers one domain becomes (default 8).
	MaxTargets int
}

// maxTargetsDefault bounds what one domain expands to: a list longer than that is not walked in any
// useful time anyway.
const maxTargetsDefault = 8

// Located is what discovery made of one configured server.
type Located struct {
	From    config.Server
	Servers []config.Server // what it stands for (From itself when it is not a domain, or on failure)
	How     string          // "SRV _sip._udp.example.com", "A example.com", ...
	Err     error           // why discovery kept From as it is
}

// Locate returns the server list with every domain replaced by the servers found for it, and what was
// done for each configured server. A domain whose lookups fail stays as configured (its name is then
// resolved when the phone sends to it), so a DNS outage never leaves the phone without a list.
func (l *Locator) Locate(ctx context.Context, servers []config.Server) ([]config.Server, []Located) {
	var out []config.Server
	var report []Located
	used := map[string]bool{}
	for _, s := range servers {
		used[s.Name] = true
	}
	for _, s := range servers {
		loc := Located{From: s, Servers: []config.Server{s}}
		if s.Discoverable() {
			found, how, err := l.locate(ctx, s)
			switch {
			case err != nil:
				loc.Err = err
			case len(found) == 0:
				loc.Err = fmt.Errorf("no NAPTR, SRV or address records for %s", s.Address)
			default:
				loc.Servers, loc.How = nameTargets(s, found, used), how
			}
		}
		out = append(out, loc.Servers...)
		report = append(report, loc)
	}
	return out, report
}

// nameTargets names the servers of one domain: the first keeps the configured name, the others get it
// with their rank ("home 2"), avoiding names the list already has.
func nameTargets(from config.Server, found []config.Server, used map[string]bool) []config.Server {
	for i := range found {
		found[i].Features = from.Features
		if i == 0 {
			found[i].Name = from.Name
			continue
		}
		n := i + 1
		for used[fmt.Sprintf("%s %d", from.Name, n)] {
			n++
		}
		found[i].Name = fmt.Sprintf("%s %d", from.Name, n)
		used[found[i].Name] = true
	}
	return found
}

// srvService is the SRV prefix and NAPTR service of each transport (RFC 3263 §4.1).
var srvService = []struct {
	transport config.Transport
	prefix    string
	naptr     string
}{
	// The order is Stayline's preference when a domain has SRV records but no NAPTR: the most secure first.
	{config.TransportTLS, "_sips._tcp.", "SIPS+D2T"},
	{config.TransportTCP, "_sip._tcp.", "SIP+D2T"},
	{config.TransportUDP, "_sip._udp.", "SIP+D2U"},
}

func (l *Locator) locate(ctx context.Context, s config.Server) ([]config.Server, string, error) {
	domain := strings.TrimSuffix(s.Address, ".")
	var errs []error
	if s.TransportAuto {
		naptrs, err := l.Resolver.LookupNAPTR(ctx, domain)
		if err != nil {
			errs = append(errs, err)
		}
		for _, n := range usableNAPTR(naptrs) {
			found, err := l.targets(ctx, n.Replacement, n.transport, domain)
			if err != nil {
				errs = append(errs, err)
			}
			if len(found) > 0 {
				return found, "NAPTR " + domain + " -> SRV " + n.Replacement, nil
			}
		}
		for _, svc := range srvService {
			found, err := l.targets(ctx, svc.prefix+domain, svc.transport, domain)
			if err != nil {
				errs = append(errs, err)
			}
			if len(found) > 0 {
				return found, "SRV " + svc.prefix + domain, nil
			}
		}
	} else {
		for _, svc := range srvService {
			if svc.transport != s.Transport {
				continue
			}
			found, err := l.targets(ctx, svc.prefix+domain, svc.transport, domain)
			if err != nil {
				errs = append(errs, err)
			}
			if len(found) > 0 {
				return found, "SRV " + svc.prefix + domain, nil
			}
		}
	}
	// No SRV: the domain's own addresses, on the transport's default port (RFC 3263 §4.2).
	addrs, err := l.Resolver.LookupHost(ctx, domain)
	if err != nil {
		errs = append(errs, err)
	}
	var found []config.Server
	_, port, _ := net.SplitHostPort(s.HostPort()) // the transport's default
	for _, ip := range addrs {
		found = append(found, config.Server{Address: net.JoinHostPort(ip, port), Transport: s.Transport, Domain: domain})
	}
	if len(found) > 0 {
		return l.bound(found), "A/AAAA " + domain, nil
	}
	return nil, "", errors.Join(errs...)
}

type naptrChoice struct {
	NAPTR
	transport config.Transport
}

// usableNAPTR keeps the records that point at SRV records of a transport Stayline speaks, in order.
func usableNAPTR(records []NAPTR) []naptrChoice {
	var out []naptrChoice
	for _, r := range records {
		if !strings.EqualFold(r.Flags, "s") || r.Replacement == "" || r.Replacement == "." {
			continue
		}
		for _, svc := range srvService {
			if strings.EqualFold(r.Service, svc.naptr) {
				out = append(out, naptrChoice{NAPTR: r, transport: svc.transport})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Order != out[j].Order {
			return out[i].Order < out[j].Order
		}
		return out[i].Preference < out[j].Preference
	})
	return out
}

// targets resolves one SRV name into servers, in RFC 2782 order, each target's addresses in turn.
func (l *Locator) targets(ctx context.Context, name string, t config.Transport, domain string) ([]config.Server, error) {
	records, err := l.Resolver.LookupSRV(ctx, strings.TrimSuffix(name, "."))
	if err != nil || len(records) == 0 {
		return nil, err
	}
	var found []config.Server
	var errs []error
	for _, r := range l.order(records) {
		target := strings.TrimSuffix(r.Target, ".")
		if target == "" { // "." : the service is decidedly not offered here
			continue
		}
		addrs, err := l.Resolver.LookupHost(ctx, target)
		if err != nil {
			errs = append(errs, err)
		}
		for _, ip := range addrs {
			found = append(found, config.Server{Address: net.JoinHostPort(ip, strconv.Itoa(int(r.Port))),
				Transport: t, Domain: domain})
		}
	}
	if len(found) == 0 {
		return nil, errors.Join(errs...)
	}
	return l.bound(found), nil
}

func (l *Locator) bound(found []config.Server) []config.Server {
	max := l.MaxTargets
	if max <= 0 {
		max = maxTargetsDefault
	}
	return found[:min(len(found), max)]
}

// order sorts SRV records by priority and, within a priority, by RFC 2782's weighted random selection:
// each next record is drawn with a chance proportional to its weight (weight 0 rarely first).
func (l *Locator) order(records []*net.SRV) []*net.SRV {
	rnd := l.Rand
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	rs := append([]*net.SRV(nil), records...)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Priority < rs[j].Priority })
	var out []*net.SRV
	for start := 0; start < len(rs); {
		end := start
		for end < len(rs) && rs[end].Priority == rs[start].Priority {
			end++
		}
		group := rs[start:end]
		// Zero weights first within the group, as RFC 2782 asks, so they get a small chance.
		sort.SliceStable(group, func(i, j int) bool { return group[i].Weight == 0 && group[j].Weight != 0 })
		for len(group) > 0 {
			total := 0
			for _, r := range group {
				total += int(r.Weight)
			}
			pick := 0
			if total > 0 {
				n := rnd.IntN(total + 1)
				for sum := 0; pick < len(group); pick++ {
					sum += int(group[pick].Weight)
					if sum >= n {
						break
					}
				}
				pick = min(pick, len(group)-1)
			}
			out = append(out, group[pick])
			group = append(group[:pick:pick], group[pick+1:]...)
		}
		start = end
	}
	return out
}

// DNSResolver asks a name server directly (github.com/miekg/dns: the standard library has no NAPTR).
type DNSResolver struct {
	Servers []string // host:port, tried in turn
	Timeout time.Duration
}

// NewResolver is the resolver discovery uses: the given name server, or the system's from
// /etc/resolv.conf; where there is none (Windows), the OS resolver, which answers SRV and addresses
// but not NAPTR.
func NewResolver(server string) Resolver {
	if server != "" {
		return &DNSResolver{Servers: []string{server}, Timeout: 2 * time.Second}
	}
	if cc, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(cc.Servers) > 0 {
		r := &DNSResolver{Timeout: min(time.Duration(max(cc.Timeout, 1))*time.Second, 2*time.Second)}
		for _, s := range cc.Servers {
			r.Servers = append(r.Servers, net.JoinHostPort(s, cc.Port))
		}
		return r
	}
	return osResolver{}
}

func (r *DNSResolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	msg := new(dns.Msg)
	msg.SetQuestion(dns.Fqdn(name), qtype)
	msg.RecursionDesired = true
	var errs []error
	for _, server := range r.Servers {
		c := &dns.Client{Timeout: r.Timeout}
		in, _, err := c.ExchangeContext(ctx, msg, server)
		if err == nil && in.Truncated {
			c.Net = "tcp"
			in, _, err = c.ExchangeContext(ctx, msg, server)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("DNS %s %s at %s: %w", dns.TypeToString[qtype], name, server, err))
			continue
		}
		switch in.Rcode {
		case dns.RcodeSuccess:
			return in.Answer, nil
		case dns.RcodeNameError:
			return nil, nil
		default:
			errs = append(errs, fmt.Errorf("DNS %s %s at %s: %s", dns.TypeToString[qtype], name, server,
				dns.RcodeToString[in.Rcode]))
		}
	}
	return nil, errors.Join(errs...)
}

func (r *DNSResolver) LookupNAPTR(ctx context.Context, name string) ([]NAPTR, error) {
	rrs, err := r.query(ctx, name, dns.TypeNAPTR)
	var out []NAPTR
	for _, rr := range rrs {
		if n, ok := rr.(*dns.NAPTR); ok {
			out = append(out, NAPTR{Order: n.Order, Preference: n.Preference, Flags: n.Flags,
				Service: n.Service, Replacement: n.Replacement})
		}
	}
	return out, err
}

func (r *DNSResolver) LookupSRV(ctx context.Context, name string) ([]*net.SRV, error) {
	rrs, err := r.query(ctx, name, dns.TypeSRV)
	var out []*net.SRV
	for _, rr := range rrs {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, &net.SRV{Target: s.Target, Port: s.Port, Priority: s.Priority, Weight: s.Weight})
		}
	}
	return out, err
}

func (r *DNSResolver) LookupHost(ctx context.Context, name string) ([]string, error) {
	if ip := net.ParseIP(name); ip != nil {
		return []string{name}, nil
	}
	var out []string
	var errs []error
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := r.query(ctx, name, qt)
		if err != nil {
			errs = append(errs, err)
		}
		for _, rr := range rrs {
			switch a := rr.(type) {
			case *dns.A:
				out = append(out, a.A.String())
			case *dns.AAAA:
				out = append(out, a.AAAA.String())
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, errors.Join(errs...)
}

// osResolver is the operating system's resolver: SRV and addresses, no NAPTR.
type osResolver struct{}

func (osResolver) LookupNAPTR(context.Context, string) ([]NAPTR, error) { return nil, nil }

func (osResolver) LookupSRV(ctx context.Context, name string) ([]*net.SRV, error) {
	_, srvs, err := net.DefaultResolver.LookupSRV(ctx, "", "", name)
	if isNotFound(err) {
		return nil, nil
	}
	return srvs, err
}

func (osResolver) LookupHost(ctx context.Context, name string) ([]string, error) {
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if isNotFound(err) {
		return nil, nil
	}
	return addrs, err
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// LocateServers is discovery as the phone starts it: the configured servers with every domain replaced
// by what DNS says, each step logged.
func LocateServers(ctx context.Context, servers []config.Server, dnsServer string, logger *slog.Logger) []config.Server {
	need := false
	for _, s := range servers {
		need = need || s.Discoverable()
	}
	if !need {
		return servers
	}
	// Bounded: the phone starts (and a saved configuration applies) at most this much later when DNS is
	// down, and then uses the domains as written.
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	l := &Locator{Resolver: NewResolver(dnsServer)}
	list, report := l.Locate(ctx, servers)
	for _, r := range report {
		switch {
		case r.Err != nil:
			logger.Warn("server discovery failed; the address is used as it is", "server", r.From.Name,
				"address", r.From.Address, "error", r.Err)
		case r.How != "":
			var addrs []string
			for _, s := range r.Servers {
				addrs = append(addrs, s.Name+"="+s.Address+"/"+string(s.Transport))
			}
			logger.Info("servers discovered", "server", r.From.Name, "by", r.How, "list", strings.Join(addrs, ", "))
		}
	}
	return list
}
