package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"stayline/lab"
)

// measureNetworkChange measures the phone's own network moving during a call (docs/ARCHITECTURE.md, "When
// the phone's own network changes"), as failover's TestNetworkAddressInUseRemovedDuringACall does it: home
// in a network namespace joined to the phone by two veth pairs, baresip inside it as the far end; during a
// call the phone's address in use is removed. reregister_ms: removal -> the phone's "registered" event on
// home; media_resume_ms: removal -> audio both ways again (the phone's received count grows past what was in
// flight, and baresip's namespace gets RTP from the new address, whichever is later). Needs root.
func measureNetworkChange(b *bench) {
	reg := b.fig("network.change.reregister_ms", "≤ 2000", below(2000))
	reg.note = "the address in use removed during a call -> registered on home from the other (UDP, lab timers)"
	media := b.fig("network.change.media_resume_ms", "≤ 3000", below(3000))
	media.note = "same removal -> the call's audio flows both ways again (re-INVITE with the new address)"
	if why := lab.NetnsUsable(); why != "" {
		reg.err, media.err = errors.New(why), errors.New(why)
		return
	}
	var errs []error
	for i := 0; i < b.runs; i++ {
		r, m, err := b.networkChangeRun()
		if err != nil {
			errs = append(errs, err)
			b.log.Warn("run failed", "error", err)
			continue
		}
		reg.add(b, r)
		media.add(b, m)
	}
	reg.err, media.err = errors.Join(errs...), errors.Join(errs...)
}

// networkChangeRun is one run: it returns the two figures in milliseconds.
func (b *bench) networkChangeRun() (reregister, resume float64, err error) {
	dir, err := os.MkdirTemp(b.dir, "net")
	if err != nil {
		return 0, 0, err
	}
	var undo []func()
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	n, err := lab.NewNetns()
	if err != nil {
		return 0, 0, err
	}
	undo = append(undo, func() { n.Close() })
	port, err := lab.FreePort()
	if err != nil {
		return 0, 0, err
	}
	home := lab.NewServer(filepath.Join(dir, "home"), "home", port, lab.ServerOptions{Netns: n, DieWithMe: true})
	if err := home.Start(); err != nil {
		return 0, 0, err
	}
	undo = append(undo, func() { home.Stop() })
	dev1, addr2, err := secondLinkInto(n, &undo)
	if err != nil {
		return 0, 0, err
	}
	bs, err := lab.StartBaresipWith(filepath.Join(dir, "baresip"), "1003", home.Addr(), lab.BaresipOptions{Netns: n})
	if err != nil {
		return 0, 0, err
	}
	undo = append(undo, bs.Stop)
	altPort, err := lab.FreePort() // an alternate that is never started: the phone stays on home
	if err != nil {
		return 0, 0, err
	}
	p := &lab.Pair{Dir: dir, Home: home, Alternate: lab.NewServer(filepath.Join(dir, "alternate"), "alternate", altPort, lab.ServerOptions{})}
	cfg, err := b.phoneConfig(p, func(s string) string {
		return strings.Replace(s, `listen = "127.0.0.1:0"`, `listen = "0.0.0.0:0"`, 1)
	})
	if err != nil {
		return 0, 0, err
	}
	h, err := startHeadless(b.binary, cfg, b.env...)
	if err != nil {
		return 0, 0, err
	}
	undo = append(undo, h.quit)
	if _, err := h.wait(5*time.Second, "normal on home", stageIs("normal", "home")); err != nil {
		return 0, 0, err
	}
	h.send("dial 1003")
	if _, err := bs.WaitEvent("CALL_INCOMING", 5*time.Second); err != nil {
		return 0, 0, err
	}
	bs.Command("accept", "")
	if _, err := h.wait(5*time.Second, "the call active", callIs("active")); err != nil {
		return 0, 0, err
	}
	time.Sleep(time.Second)
	rx0, err := rxPackets(h)
	if err != nil {
		return 0, 0, err
	}
	p2 := strconv.Itoa(home.Port)
	if err := runArgv(n.Exec("nft", "add", "rule", "inet", "stayline", "in", "ip", "saddr", addr2, "udp", "dport", "!=", p2,
		"counter", "comment", `"bench"`)); err != nil {
		return 0, 0, err
	}
	removed := time.Now()
	if err := runArgv([]string{"ip", "addr", "del", n.HostIP + "/30", "dev", dev1}); err != nil {
		return 0, 0, err
	}
	ev, err := h.wait(3*time.Second, "registered on home again", registeredOn("home"))
	if err != nil {
		return 0, 0, err
	}
	reregister = ms(ev.at.Sub(removed))
	var heard, got time.Duration
	for time.Since(removed) < 5*time.Second && (heard == 0 || got == 0) {
		time.Sleep(20 * time.Millisecond)
		if rx, err := rxPackets(h); err == nil && heard == 0 && rx >= rx0+3 {
			heard = time.Since(removed)
		}
		if c, err := nftCount(n, "bench"); err == nil && got == 0 && c > 0 {
			got = time.Since(removed)
		}
	}
	if heard == 0 || got == 0 {
		return 0, 0, fmt.Errorf("audio not back both ways within 5 s (phone heard after %s, far end got RTP after %s)", heard, got)
	}
	h.send("hangup")
	return reregister, ms(max(heard, got)), nil
}

// secondLinkInto joins the benchmark's namespace to n by a second veth pair on a /30 of n's /24, routes
// that /24 through it, and returns the interface of n's own pair (whose address the run removes) and the
// second address.
func secondLinkInto(n *lab.Netns, undo *[]func()) (dev1, addr2 string, err error) {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show", "to", n.HostIP+"/32").Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) < 2 {
		return "", "", fmt.Errorf("the interface of %s: %v %q", n.HostIP, err, out)
	}
	dev1 = strings.TrimSuffix(f[1], ":")
	sub := n.HostIP[:strings.LastIndex(n.HostIP, ".")]
	addr2, peer2 := sub+".241", sub+".242"
	near, far := fmt.Sprintf("sbw%d", os.Getpid()%100000), fmt.Sprintf("sbv%d", os.Getpid()%100000)
	*undo = append(*undo, func() { exec.Command("ip", "link", "del", near).Run() })
	for _, argv := range [][]string{
		{"ip", "link", "add", near, "type", "veth", "peer", "name", far},
		{"ip", "link", "set", far, "netns", n.Name},
		{"ip", "addr", "add", addr2 + "/30", "dev", near},
		{"ip", "link", "set", near, "up"},
		n.Exec("ip", "addr", "add", peer2+"/30", "dev", far),
		n.Exec("ip", "link", "set", far, "up"),
		{"ip", "route", "add", sub + ".0/24", "via", peer2, "dev", near},
	} {
		if err := runArgv(argv); err != nil {
			return "", "", err
		}
	}
	return dev1, addr2, nil
}

func runArgv(argv []string) error {
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// rxPackets asks the phone for its status and returns the first call's received packets.
func rxPackets(h *headless) (float64, error) {
	h.send("status")
	ev, err := h.wait(time.Second, "status", func(ev event) bool { return ev.str("event") == "status" })
	if err != nil {
		return 0, err
	}
	calls, _ := ev.fields["calls"].([]any)
	if len(calls) == 0 {
		return 0, errors.New("no call in the status")
	}
	c, _ := calls[0].(map[string]any)
	rx, _ := c["rx_packets"].(float64)
	return rx, nil
}

// nftCount reads the packets of the counter rule with comment name in n's stayline table.
func nftCount(n *lab.Netns, name string) (int, error) {
	argv := n.Exec("nft", "list", "table", "inet", "stayline")
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`counter packets (\d+) bytes \d+ comment "` + regexp.QuoteMeta(name) + `"`).FindSubmatch(out)
	if m == nil {
		return 0, errors.New("no counter")
	}
	return strconv.Atoi(string(m[1]))
}
