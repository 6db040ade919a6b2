package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// NAT is a home router between the tests' namespace, the LAN where the phone runs, and a namespace that
// stands for the Internet, where servers and far ends run (Internet: a Netns, so ServerOptions.Netns and
// BaresipOptions.Netns put them there). The router is a namespace of its own that forwards between its two
// veth pairs and masquerades what leaves for the Internet (nftables), as a home router does: the Internet
// sees every packet from the LAN come from WANIP, and a packet from the Internet reaches the LAN only as
// the answer to one the LAN sent (conntrack), never by its private address. Linux only, as root.
type NAT struct {
	Router   string // the router's namespace
	LANIP    string // the phone's address, in the tests' namespace
	RouterIP string // the router's LAN address, the LAN's gateway to the Internet
	WANIP    string // the router's public address: what the Internet sees the LAN as
	Internet *Netns // the Internet's namespace: its PeerIP is the one host there (servers, far ends)

	lanIf string
	ports [][2]int // fixed mappings (MapPort): LAN UDP port, public port
}

// NewNAT makes the router and the Internet behind it. The addresses are two /30s of 10.0.0.0/8 chosen from
// this process's id (another /16 than NewNetns's), so test packages running at once do not collide.
func NewNAT() (*NAT, error) {
	RemoveStaleNetns()
	seq := int(netnsSeq.Add(1)) // the plain namespaces' sequence: names never repeat
	pid := os.Getpid()
	base := fmt.Sprintf("10.%d.%d.", 200+pid%50, (pid/50)%256)
	n := &NAT{Router: fmt.Sprintf("%s%d-%dr", netnsPrefix, pid, seq),
		LANIP: base + strconv.Itoa(8*seq+1), RouterIP: base + strconv.Itoa(8*seq+2),
		WANIP: base + strconv.Itoa(8*seq+5),
		lanIf: fmt.Sprintf("sln%d-%d", pid%100000, seq)}
	n.Internet = &Netns{Name: fmt.Sprintf("%s%d-%di", netnsPrefix, pid, seq), HostIP: n.WANIP, PeerIP: base + strconv.Itoa(8*seq+6)}
	routerLAN, routerWAN, inetIf := fmt.Sprintf("slr%d-%d", pid%100000, seq), fmt.Sprintf("slw%d-%d", pid%100000, seq),
		fmt.Sprintf("sli%d-%d", pid%100000, seq)
	r := func(argv ...string) []string { return append([]string{"ip", "netns", "exec", n.Router}, argv...) }
	i := n.Internet.Exec
	steps := [][]string{
		{"ip", "netns", "add", n.Router},
		{"ip", "netns", "add", n.Internet.Name},
		// The LAN: the tests' namespace and the router.
		{"ip", "link", "add", n.lanIf, "type", "veth", "peer", "name", routerLAN},
		{"ip", "link", "set", routerLAN, "netns", n.Router},
		{"ip", "addr", "add", n.LANIP + "/30", "dev", n.lanIf},
		{"ip", "link", "set", n.lanIf, "up"},
		r("ip", "addr", "add", n.RouterIP+"/30", "dev", routerLAN),
		r("ip", "link", "set", routerLAN, "up"),
		r("ip", "link", "set", "lo", "up"),
		// The WAN: the router and the Internet.
		r("ip", "link", "add", routerWAN, "type", "veth", "peer", "name", inetIf),
		r("ip", "link", "set", inetIf, "netns", n.Internet.Name),
		r("ip", "addr", "add", n.WANIP+"/30", "dev", routerWAN),
		r("ip", "link", "set", routerWAN, "up"),
		i("ip", "addr", "add", n.Internet.PeerIP+"/30", "dev", inetIf),
		i("ip", "link", "set", inetIf, "up"),
		i("ip", "link", "set", "lo", "up"),
		i("ip", "route", "add", "default", "via", n.WANIP),
		r("sysctl", "-qw", "net.ipv4.ip_forward=1"),
		// The tests' namespace reaches the Internet through the router only.
		{"ip", "route", "add", n.Internet.PeerIP + "/32", "via", n.RouterIP},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			n.Close()
			return nil, err
		}
	}
	if err := n.load(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// ruleset is the router's nftables table: masquerade toward the Internet (fixed public ports first), and
// forward from the Internet only what answers the LAN. No SIP helper: the router knows nothing of SIP.
func (n *NAT) ruleset() string {
	var fixed strings.Builder
	for _, p := range n.ports {
		fmt.Fprintf(&fixed, "\t\tip saddr %s udp sport %d masquerade to :%d\n", n.LANIP, p[0], p[1])
	}
	return fmt.Sprintf(`table ip stayline_nat {
	chain masq {
		type nat hook postrouting priority srcnat; policy accept;
%s		ip saddr %s masquerade
	}
	chain guard {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ip saddr %s accept
	}
}
`, fixed.String(), n.LANIP, n.LANIP)
}

// load replaces the router's table with the ruleset (the old one's rules go with it).
func (n *NAT) load() error {
	run("ip", "netns", "exec", n.Router, "nft", "delete", "table", "ip", "stayline_nat") // absent the first time
	f, err := os.CreateTemp("", "stayline-nat-*.nft")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(n.ruleset()); err != nil {
		f.Close()
		return err
	}
	f.Close()
	return run("ip", "netns", "exec", n.Router, "nft", "-f", filepath.Clean(f.Name()))
}

// MapPort makes the router give the LAN's UDP port lanPort the public port public, toward every
// destination (a NAT that does not keep ports as they are). Mappings the router already made stay until
// Flush.
func (n *NAT) MapPort(lanPort, public int) error {
	kept := n.ports[:0]
	for _, p := range n.ports {
		if p[0] != lanPort {
			kept = append(kept, p)
		}
	}
	n.ports = append(kept, [2]int{lanPort, public})
	return n.load()
}

// Flush makes the router forget every mapping it made (conntrack -F), as a router that restarted or timed
// them out: packets from the Internet to the old public ports are dropped until the LAN sends again.
func (n *NAT) Flush() error {
	return run("ip", "netns", "exec", n.Router, "conntrack", "-F")
}

// Close removes both namespaces and the LAN's veth pair. Processes still inside should be stopped first.
func (n *NAT) Close() error {
	exec.Command("ip", "route", "del", n.Internet.PeerIP+"/32").Run() // gone with the veth, normally
	err := run("ip", "netns", "del", n.Internet.Name)
	if e := run("ip", "netns", "del", n.Router); err == nil {
		err = e
	}
	exec.Command("ip", "link", "del", n.lanIf).Run()
	return err
}

// NATUsable says why a NAT cannot be made here ("" when it can): what NetnsUsable needs, and conntrack.
func NATUsable() string {
	if why := NetnsUsable(); why != "" {
		return why
	}
	if _, err := exec.LookPath("conntrack"); err != nil {
		return "conntrack is not installed (apt-get install conntrack)"
	}
	return ""
}
