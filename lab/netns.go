package lab

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Netns is a network namespace of its own, joined to the one the tests run in by a veth pair: HostIP is
// the near end (in the tests' namespace), PeerIP the far end (inside, where a lab server runs). A
// partition drops every packet inside the namespace with nftables, so nothing answers: no RST, no ICMP,
// exactly what a dead link or a firewall somewhere on the path looks like. Linux only, as root.
type Netns struct {
	Name   string
	HostIP string
	PeerIP string
	hostIf string
}

// netnsPrefix names the lab's namespaces; the owner's process id follows, so leftovers can be found.
const netnsPrefix = "stayline-"

var netnsSeq atomic.Int32

// NewNetns makes a namespace with its veth pair and addresses (a /30 of 10.0.0.0/8 chosen from this
// process's id, so test packages running at once do not collide). Namespaces that dead processes left
// are removed first.
func NewNetns() (*Netns, error) {
	RemoveStaleNetns()
	seq := int(netnsSeq.Add(1))
	pid := os.Getpid()
	n := &Netns{Name: fmt.Sprintf("%s%d-%d", netnsPrefix, pid, seq)}
	// 10.(100+pid%100).(pid/100%256).(4*seq): one /30 per namespace of this process.
	sub := fmt.Sprintf("10.%d.%d.", 100+pid%100, (pid/100)%256)
	n.HostIP, n.PeerIP = sub+strconv.Itoa(4*seq+1), sub+strconv.Itoa(4*seq+2)
	n.hostIf = fmt.Sprintf("slh%d-%d", pid%100000, seq)
	peerIf := fmt.Sprintf("slp%d-%d", pid%100000, seq)
	steps := [][]string{
		{"ip", "netns", "add", n.Name},
		{"ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", peerIf},
		{"ip", "link", "set", peerIf, "netns", n.Name},
		{"ip", "addr", "add", n.HostIP + "/30", "dev", n.hostIf},
		{"ip", "link", "set", n.hostIf, "up"},
		{"ip", "netns", "exec", n.Name, "ip", "addr", "add", n.PeerIP + "/30", "dev", peerIf},
		{"ip", "netns", "exec", n.Name, "ip", "link", "set", peerIf, "up"},
		{"ip", "netns", "exec", n.Name, "ip", "link", "set", "lo", "up"},
		// Everything else (the tests' other namespaces' addresses) is reached through the near end.
		{"ip", "netns", "exec", n.Name, "ip", "route", "add", "default", "via", n.HostIP},
		// The filter the partition fills: empty (everything passes) until Partition.
		{"ip", "netns", "exec", n.Name, "nft", "add", "table", "inet", "stayline"},
		{"ip", "netns", "exec", n.Name, "nft", "add", "chain", "inet", "stayline", "in",
			"{ type filter hook input priority 0; policy accept; }"},
		{"ip", "netns", "exec", n.Name, "nft", "add", "chain", "inet", "stayline", "out",
			"{ type filter hook output priority 0; policy accept; }"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Partition silently drops every packet to and from the namespace (loopback inside it excepted).
func (n *Netns) Partition() error {
	for _, chain := range []string{"in", "out"} {
		iface := "iifname"
		if chain == "out" {
			iface = "oifname"
		}
		if err := run("ip", "netns", "exec", n.Name, "nft", "add", "rule", "inet", "stayline", chain,
			iface, "!=", "lo", "drop"); err != nil {
			return err
		}
	}
	return nil
}

// Heal ends a partition.
func (n *Netns) Heal() error {
	for _, chain := range []string{"in", "out"} {
		if err := run("ip", "netns", "exec", n.Name, "nft", "flush", "chain", "inet", "stayline", chain); err != nil {
			return err
		}
	}
	return nil
}

// Close removes the namespace and its veth pair. Processes still inside should be stopped first.
func (n *Netns) Close() error {
	err := run("ip", "netns", "del", n.Name)
	exec.Command("ip", "link", "del", n.hostIf).Run() // gone with the namespace, normally
	return err
}

// Exec wraps a command line so that it runs inside the namespace.
func (n *Netns) Exec(argv ...string) []string {
	return append([]string{"ip", "netns", "exec", n.Name}, argv...)
}

// NetnsUsable says why namespaces cannot be made here ("" when they can): not root, no ip, no nft, or a
// kernel that refuses.
func NetnsUsable() string {
	netnsUsableOnce.Do(func() { netnsUsable = netnsUsableNow() })
	return netnsUsable
}

var (
	netnsUsableOnce sync.Once
	netnsUsable     string
)

func netnsUsableNow() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	for _, p := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(p); err != nil {
			return p + " is not installed (apt-get install iproute2 nftables)"
		}
	}
	n, err := NewNetns()
	if err != nil {
		return "cannot make a network namespace here: " + err.Error()
	}
	defer n.Close()
	if err := n.Partition(); err != nil {
		return "cannot filter packets in a network namespace here: " + err.Error()
	}
	return ""
}

// RemoveStaleNetns deletes the lab namespaces whose owner process is gone (a test run that crashed).
func RemoveStaleNetns() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, netnsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		if pid, err := strconv.Atoi(pidText); err == nil && !alive(pid) {
			exec.Command("ip", "netns", "del", name).Run()
		}
	}
}

func run(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
