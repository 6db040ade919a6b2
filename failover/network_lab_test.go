package failover

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
	"stayline/phone"
)

// The phone's own network changes, live: home runs in a network namespace the test makes (NetworkPair),
// joined to the tests' namespace by two veth pairs, so the phone has two addresses that reach it. The
// first (the namespace's own pair) is the one in use, as the more specific route; the second reaches
// home's /24 through the test's own pair. Removing the first address is a laptop leaving its Wi-Fi with
// its Ethernet still plugged in.

// twoLinks is the second way into home's namespace.
type twoLinks struct {
	addr1, dev1  string // the address in use, and its interface (the namespace's own pair)
	addr2, peer2 string // the second address, and home's end of the second pair
	net          *lab.Netns
}

// secondLink adds a veth pair from the tests' namespace into n, on a /30 of the process's own /24, and a
// route to that /24 through it; both go when the test ends (with the pair).
func secondLink(t *testing.T, n *lab.Netns) *twoLinks {
	t.Helper()
	sub := n.HostIP[:strings.LastIndex(n.HostIP, ".")]
	l := &twoLinks{addr1: n.HostIP, addr2: sub + ".241", peer2: sub + ".242", net: n}
	out, err := exec.Command("ip", "-o", "-4", "addr", "show", "to", n.HostIP+"/32").Output()
	if f := strings.Fields(string(out)); err != nil || len(f) < 2 {
		t.Fatalf("the interface of %s: %v %q", n.HostIP, err, out)
	} else {
		l.dev1 = strings.TrimSuffix(f[1], ":")
	}
	near, far := fmt.Sprintf("slw%d", os.Getpid()%100000), fmt.Sprintf("slv%d", os.Getpid()%100000)
	t.Cleanup(func() { exec.Command("ip", "link", "del", near).Run() })
	for _, argv := range [][]string{
		{"ip", "link", "add", near, "type", "veth", "peer", "name", far},
		{"ip", "link", "set", far, "netns", n.Name},
		{"ip", "addr", "add", l.addr2 + "/30", "dev", near},
		{"ip", "link", "set", near, "up"},
		n.Exec("ip", "addr", "add", l.peer2+"/30", "dev", far),
		n.Exec("ip", "link", "set", far, "up"),
		{"ip", "route", "add", sub + ".0/24", "via", l.peer2, "dev", near},
	} {
		mustRun(t, argv...)
	}
	return l
}

func mustRun(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
}

// drop removes the address in use; restore puts it back.
func (l *twoLinks) drop(t *testing.T) {
	mustRun(t, "ip", "addr", "del", l.addr1+"/30", "dev", l.dev1)
}

func (l *twoLinks) restore(t *testing.T) {
	mustRun(t, "ip", "addr", "add", l.addr1+"/30", "dev", l.dev1)
}

// countFrom counts, inside home's namespace, the UDP packets from addr to any port but the registrar's
// (the phone's RTP reaching the far end) and to addr from any port but the registrar's (the far end's
// RTP toward the phone); read them with packets.
func (l *twoLinks) countFrom(t *testing.T, addr string, sipPort int) {
	t.Helper()
	p := strconv.Itoa(sipPort)
	mustRun(t, l.net.Exec("nft", "add", "rule", "inet", "stayline", "in", "ip", "saddr", addr, "udp", "dport", "!=", p,
		"counter", "comment", `"from"`)...)
	mustRun(t, l.net.Exec("nft", "add", "rule", "inet", "stayline", "out", "ip", "daddr", addr, "udp", "sport", "!=", p,
		"counter", "comment", `"to"`)...)
}

// baresipRTPStats is rtp_stats's line of packets sent and received, printed when a call ends.
var baresipRTPStats = regexp.MustCompile(`packets:\s+(\d+)\s+(\d+)`)

var nftCounter = regexp.MustCompile(`counter packets (\d+) bytes \d+ comment "(from|to)"`)

// packets reads the counters: RTP the far end's namespace got from the phone's address, and sent to it.
func (l *twoLinks) packets(t *testing.T) (in, out int) {
	t.Helper()
	argv := l.net.Exec("nft", "list", "table", "inet", "stayline")
	b, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range nftCounter.FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.Atoi(m[1])
		if m[2] == "from" {
			in = n
		} else {
			out = n
		}
	}
	return in, out
}

// recorder keeps every event of a subscription.
type recorder struct {
	mu  sync.Mutex
	evs []Event
}

func record(sub *Subscription) *recorder {
	r := &recorder{}
	go func() {
		for ev := range sub.C {
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.evs...)
}

// stagesOtherThan lists the stage events since whose stage is not st.
func (r *recorder) stagesOtherThan(st Stage, since time.Time) []string {
	var out []string
	for _, ev := range r.events() {
		if se, ok := ev.(*StageEvent); ok && se.Stage != st && !se.At().Before(since) {
			out = append(out, string(se.Stage)+" ("+se.Reason+")")
		}
	}
	return out
}

// startNetworkPhone is startLivePhone with the network watched (as internal/core makes the product's
// phone), listening on every address; its log goes to a file the test names on failure.
func startNetworkPhone(t *testing.T, p *lab.Pair, transport config.Transport) (*livePhone, *recorder) {
	t.Helper()
	cfg, err := config.Parse("lab.toml", []byte(p.PhoneConfig("1001", integrationTimers, "")))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SIP.Listen = "0.0.0.0:0"
	for i := range cfg.Servers {
		cfg.Servers[i].Transport = transport
	}
	logPath := filepath.Join(t.TempDir(), "phone.log")
	if p := os.Getenv("STAYLINE_PHONE_LOG"); p != "" { // kept after the test, to read
		logPath = p
	}
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := phone.ConfigOptions(cfg)
	opts.Logger = log
	agent, err := phone.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	m := New(cfg, agent, WithLogger(log), WatchNetwork(log))
	lp := &livePhone{t: t, m: m, sub: m.Subscribe(), cfg: cfg}
	rec := record(m.Subscribe())
	m.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.Shutdown(ctx)
		agent.Close()
		f.Close()
		if t.Failed() {
			t.Logf("phone's log: %s", logPath)
		}
	})
	return lp, rec
}

// phoneRegisters are home's log lines for the phone's REGISTERs that bind (credentials, positive expiry).
func phoneRegisters(s *lab.Server) []string {
	var out []string
	for _, line := range s.RegisterLines() {
		exp, err := strconv.Atoi(field(line, "expires"))
		if field(line, "user") == "1001" && field(line, "auth") != "" && err == nil && exp > 0 {
			out = append(out, line)
		}
	}
	return out
}

func registerTime(line string) time.Time {
	secs := atof(field(line, "t"))
	return time.Unix(0, int64(secs*1e9))
}

func srcHost(line string) string {
	h, _, _ := strings.Cut(field(line, "src"), ":")
	return h
}

// networkLab is home and alternate in namespaces of their own, home with a second link (NetworkPair
// skips, saying why, where namespaces cannot be made).
func networkLab(t *testing.T) (*labtest.NetPair, *twoLinks) {
	t.Helper()
	np := labtest.NetworkPair(t, lab.ServerOptions{})
	return np, secondLink(t, np.HomeNet)
}

// (a) During a call to baresip the address in use is removed: the phone registers again through the
// other within 2 s, the call's audio comes back both ways within 3 s (counted at both ends), and no stage
// but normal is ever shown.
func TestNetworkAddressInUseRemovedDuringACall(t *testing.T) {
	for _, transport := range []config.Transport{config.TransportUDP, config.TransportTCP} {
		t.Run(string(transport), func(t *testing.T) { addressRemovedDuringACall(t, transport) })
	}
}

func addressRemovedDuringACall(t *testing.T, transport config.Transport) {
	np, links := networkLab(t)
	bs := labtest.BaresipWith(t, "1003", np.Home.Addr(), lab.BaresipOptions{Netns: np.HomeNet})
	lp, rec := startNetworkPhone(t, np.Pair, transport)
	start := lp.waitStage(StageNormal, "home", 5*time.Second)
	if regs := phoneRegisters(np.Home); len(regs) == 0 || srcHost(regs[len(regs)-1]) != links.addr1 {
		t.Fatalf("registered from %v, want from %s (the first link)", regs, links.addr1)
	}
	if err := lp.m.Dial("1003"); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.WaitEvent("CALL_INCOMING", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Command("accept", ""); err != nil {
		t.Fatal(err)
	}
	id := lp.waitCall("active", 5*time.Second).ID
	time.Sleep(time.Second)
	if st := lp.callStats(id); st.RxPackets < 30 {
		t.Fatalf("no audio from baresip before the change: %+v", st)
	}
	links.countFrom(t, links.addr2, np.Home.Port)

	rx0 := lp.callStats(id).RxPackets
	removed := time.Now()
	links.drop(t)
	net := lp.waitEvent(2*time.Second, "a network event", func(ev Event) bool { _, ok := ev.(*NetworkEvent); return ok }).(*NetworkEvent)
	reg := lp.waitEvent(2*time.Second, "registered on home again", func(ev Event) bool {
		r, ok := ev.(*RegisteredEvent)
		return ok && r.Server == "home"
	})
	reregister := reg.At().Sub(removed)
	if reregister > 2*time.Second {
		t.Errorf("registered again %s after the address went, want within 2 s", reregister)
	}
	if len(net.Moved) == 0 || net.Moved[0].From != links.addr1 || net.Moved[0].To != links.addr2 || net.Calls != 1 ||
		net.Detail != NetworkChangedDetail {
		t.Errorf("network event %+v, want home moved %s -> %s with its call", net, links.addr1, links.addr2)
	}
	regs := phoneRegisters(np.Home)
	if last := regs[len(regs)-1]; srcHost(last) != links.addr2 {
		t.Errorf("the last REGISTER came from %s, want %s", srcHost(last), links.addr2)
	}

	// Audio both ways: the phone hears baresip again, and baresip's namespace gets the phone's RTP from the
	// new address and sends its own there.
	var phoneBack, farBack, farSends time.Duration
	for deadline := removed.Add(3 * time.Second); time.Now().Before(deadline) && (phoneBack == 0 || farBack == 0 || farSends == 0); {
		time.Sleep(20 * time.Millisecond)
		since := time.Since(removed)
		if phoneBack == 0 && lp.callStats(id).RxPackets >= rx0+3 { // beyond the one or two in flight
			phoneBack = since
		}
		in, out := links.packets(t)
		if farBack == 0 && in > 0 {
			farBack = since
		}
		if farSends == 0 && out > 0 {
			farSends = since
		}
	}
	if phoneBack == 0 || farBack == 0 || farSends == 0 {
		in, out := links.packets(t)
		t.Fatalf("audio not back both ways within 3 s: phone rx %d -> %d, far end got %d from %s and sent %d to it",
			rx0, lp.callStats(id).RxPackets, in, links.addr2, out)
	}
	resume := max(phoneBack, farBack)
	time.Sleep(2 * time.Second)
	st := lp.callStats(id)
	in, out := links.packets(t)
	if st.State != "active" || in < 100 || out < 100 {
		t.Errorf("two seconds after: call %+v, far end got %d and sent %d: want active with audio both ways", st, in, out)
	}
	if bad := rec.stagesOtherThan(StageNormal, start); len(bad) > 0 {
		t.Errorf("stages other than normal shown: %v", bad)
	}
	if err := lp.m.Hangup(id); err != nil {
		t.Fatal(err)
	}
	// baresip's control connection went with the removed address: its log says how the call ended, and its
	// own packet counts (rtp_stats).
	var tx, rx int
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if m := baresipRTPStats.FindStringSubmatch(bs.Log()); m != nil {
			tx, _ = strconv.Atoi(m[1])
			rx, _ = strconv.Atoi(m[2])
			break
		}
		if time.Now().After(deadline) {
			log := bs.Log()
			t.Fatalf("baresip did not end the call on the phone's BYE:\n%s", log[max(0, len(log)-2000):])
		}
	}
	if talked := time.Since(removed); rx < int(talked/(20*time.Millisecond))-50 || tx < 100 {
		t.Errorf("baresip sent %d and received %d packets, want audio both ways after the move too", tx, rx)
	}
	t.Logf("FIGURE network.change.%s.reregister_ms %d (the address in use removed during a call)", transport, reregister.Milliseconds())
	t.Logf("FIGURE network.change.%s.media_resume_ms %d (phone hears again %d ms, far end gets RTP %d ms, sends %d ms; "+
		"baresip's counts for the call: sent %d, received %d)", transport,
		resume.Milliseconds(), phoneBack.Milliseconds(), farBack.Milliseconds(), farSends.Milliseconds(), tx, rx)
}

// (c) The address in use flaps, gone and back every 200 ms for 10 s: home sees at most one registration
// a second (plus the first, at once), and after it the phone is registered from the address in use, on
// home, never having left normal.
func TestNetworkFlappingAddressIsNoRegisterStorm(t *testing.T) {
	np, links := networkLab(t)
	lp, rec := startNetworkPhone(t, np.Pair, config.TransportUDP)
	start := lp.waitStage(StageNormal, "home", 5*time.Second)
	before := len(phoneRegisters(np.Home))
	flapStart := time.Now()
	flaps := 0
	for gone := false; time.Since(flapStart) < 10*time.Second; gone = !gone {
		if gone {
			links.restore(t)
		} else {
			links.drop(t)
		}
		flaps++
		time.Sleep(200 * time.Millisecond)
	}
	// Leave it present (an odd number of flaps ends removed).
	if flaps%2 == 1 {
		links.restore(t)
	}
	flapEnd := time.Now()
	time.Sleep(2500 * time.Millisecond) // the last change's report, its REGISTER, and a margin
	regs := phoneRegisters(np.Home)[before:]
	window := flapEnd.Sub(flapStart) + 2*time.Second
	limit := int(window/time.Second) + 1
	if len(regs) > limit {
		t.Errorf("%d REGISTERs in %s of flapping (and 2 s after), want at most one a second (%d)", len(regs), window.Round(time.Second), limit)
	}
	if len(regs) < 2 {
		t.Errorf("%d REGISTERs while the address in use flapped, want the phone to follow it", len(regs))
	}
	for i := 1; i < len(regs); i++ {
		if gap := registerTime(regs[i]).Sub(registerTime(regs[i-1])); gap < 900*time.Millisecond {
			t.Errorf("REGISTERs %d and %d only %s apart", i-1, i, gap.Round(time.Millisecond))
		}
	}
	if last := regs[len(regs)-1]; srcHost(last) != links.addr1 {
		t.Errorf("finally registered from %s, want %s (the address in use once the flapping ended)", srcHost(last), links.addr1)
	}
	if bad := rec.stagesOtherThan(StageNormal, start); len(bad) > 0 {
		t.Errorf("stages other than normal shown: %v", bad)
	}
	t.Logf("FIGURE network.flap.registers %d in %s (%d flaps of the address in use, every 200 ms)", len(regs),
		window.Round(time.Second), flaps)
}
