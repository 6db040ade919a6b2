package netwatch

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"stayline/internal/clock"
)

// poller is the fallback watcher: it compares the interfaces' addresses every interval and reports what
// appeared and what went. Linux uses netlink instead; the poller is built everywhere so it is tested
// everywhere.
type poller struct {
	*feed
	clk      clock.Clock
	interval time.Duration
	look     func() ([]string, error)
	log      *slog.Logger

	mu     sync.Mutex
	last   []string
	timer  clock.Timer
	closed bool
}

func newPoller(clk clock.Clock, interval time.Duration, log *slog.Logger, look func() ([]string, error)) *poller {
	if log == nil {
		log = slog.Default()
	}
	p := &poller{feed: newFeed(clk), clk: clk, interval: interval, look: look, log: log.With("part", "netwatch")}
	p.last, _ = look()
	p.mu.Lock()
	p.timer = clk.AfterFunc(interval, p.poll)
	p.mu.Unlock()
	return p
}

func (p *poller) poll() {
	now, err := p.look()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.timer = p.clk.AfterFunc(p.interval, p.poll)
	if err != nil {
		p.log.Debug("list interfaces", "error", err)
		return
	}
	for _, a := range now {
		if !slices.Contains(p.last, a) {
			p.lim.Note("address " + a + " added")
		}
	}
	for _, a := range p.last {
		if !slices.Contains(now, a) {
			p.lim.Note("address " + a + " removed")
		}
	}
	p.last = now
}

func (p *poller) Changes() <-chan Change { return p.out }

func (p *poller) Close() error {
	p.mu.Lock()
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	p.mu.Unlock()
	p.feed.close()
	return nil
}

// snapshot lists the machine's addresses that can reach a server ("10.0.0.5 on en0"), sorted: not
// loopback, not IPv6 link-local, on interfaces that are up.
func snapshot() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			out = append(out, fmt.Sprintf("%s on %s", ipn.IP, ifi.Name))
		}
	}
	slices.Sort(out)
	return out, nil
}
