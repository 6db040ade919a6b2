// Package netwatch tells the phone when its own network changes: an address appears or goes, a route
// (above all the default route) comes or goes, as when Wi-Fi gives way to Ethernet, a VPN goes up or
// down, or DHCP renews with another address (docs/ARCHITECTURE.md, "When the phone's own network
// changes").
//
// On Linux the kernel says so itself, through netlink (github.com/vishvananda/netlink: address and route
// subscriptions); netwatch_linux.go. Elsewhere the interfaces and their addresses are polled every few
// seconds (netwatch_other.go); the operating systems' own notifications would replace the polling there:
// a PF_ROUTE routing socket (RTM_NEWADDR, RTM_DELADDR, RTM_ADD, RTM_DELETE) or SCNetworkReachability on
// macOS, NotifyIpInterfaceChange, NotifyUnicastIpAddressChange and NotifyRouteChange2 (iphlpapi) on
// Windows.
//
// ClockSteps (clock_linux.go) says when the wall clock moved against the monotonic one, a resume from
// sleep included, so the failover manager can tell a wake-up without polling.
//
// Whatever the source, changes come out rate-limited (Limiter): the first at once, then at most one per
// Gap, each one standing for every change since the one before. An interface that flaps every 200 ms
// costs the phone at most one re-registration a second.
package netwatch

import (
	"strconv"
	"sync"
	"time"

	"stayline/internal/clock"
)

// Gap is the shortest time between two changes a Watcher reports.
const Gap = time.Second

// Change is one report: something in the phone's network changed. Why names what, in words ("address
// 10.0.0.5 removed from wlan0"); several changes coalesced are joined with "; " (at most a few named).
type Change struct {
	At  time.Time
	Why string
	// Count is how many raw changes this report stands for.
	Count int
}

// Watcher reports the changes of the machine's network until Close.
type Watcher interface {
	// Changes delivers the rate-limited changes; it is closed by Close.
	Changes() <-chan Change
	Close() error
}

// maxNamed bounds how many raw changes a coalesced report names.
const maxNamed = 3

// Limiter turns raw changes into reports: the first at once, then at most one per gap (the changes of
// the gap coalesced into one report at its end). It runs on an injected clock, so it is tested without
// sleeping.
type Limiter struct {
	clk  clock.Clock
	gap  time.Duration
	emit func(Change)

	mu      sync.Mutex
	last    time.Time // when the last report went out
	pending *Change   // changes waiting for the gap to end
	timer   clock.Timer
	closed  bool
}

// NewLimiter reports through emit (called from Note, or from the clock's timer goroutine).
func NewLimiter(clk clock.Clock, gap time.Duration, emit func(Change)) *Limiter {
	return &Limiter{clk: clk, gap: gap, emit: emit}
}

// Note takes one raw change.
func (l *Limiter) Note(why string) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	now := l.clk.Now()
	if l.pending == nil && (l.last.IsZero() || now.Sub(l.last) >= l.gap) {
		l.last = now
		l.mu.Unlock()
		l.emit(Change{At: now, Why: why, Count: 1})
		return
	}
	if l.pending == nil {
		l.pending = &Change{Why: why, Count: 1}
		l.timer = l.clk.AfterFunc(l.last.Add(l.gap).Sub(now), l.flush)
	} else {
		l.pending.Count++
		if l.pending.Count <= maxNamed {
			l.pending.Why += "; " + why
		}
	}
	l.mu.Unlock()
}

func (l *Limiter) flush() {
	l.mu.Lock()
	p := l.pending
	l.pending, l.timer = nil, nil
	if p == nil || l.closed {
		l.mu.Unlock()
		return
	}
	now := l.clk.Now()
	l.last = now
	p.At = now
	if p.Count > maxNamed {
		p.Why += "; and " + plural(p.Count-maxNamed, "more change")
	}
	l.mu.Unlock()
	l.emit(*p)
}

// Close drops what waits and stops reporting.
func (l *Limiter) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.pending = nil
}

func plural(n int, what string) string {
	if n != 1 {
		what += "s"
	}
	return strconv.Itoa(n) + " " + what
}

// feed is the common end of the OS watchers: a limiter writing into a channel that never blocks the
// source (a report that finds the previous one unread replaces nothing: it waits in a one-slot queue,
// coalesced with it).
type feed struct {
	lim  *Limiter
	out  chan Change
	mu   sync.Mutex
	held *Change
	wake chan struct{}
	done chan struct{}
	once sync.Once
}

func newFeed(clk clock.Clock) *feed {
	f := &feed{out: make(chan Change), wake: make(chan struct{}, 1), done: make(chan struct{})}
	f.lim = NewLimiter(clk, Gap, f.put)
	go f.pump()
	return f
}

func (f *feed) put(c Change) {
	f.mu.Lock()
	if f.held == nil {
		f.held = &c
	} else {
		f.held.At, f.held.Count = c.At, f.held.Count+c.Count
		f.held.Why += "; " + c.Why
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *feed) pump() {
	defer close(f.out)
	for {
		select {
		case <-f.wake:
		case <-f.done:
			return
		}
		f.mu.Lock()
		c := f.held
		f.held = nil
		f.mu.Unlock()
		if c == nil {
			continue
		}
		select {
		case f.out <- *c:
		case <-f.done:
			return
		}
	}
}

func (f *feed) close() {
	f.once.Do(func() {
		f.lim.Close()
		close(f.done)
	})
}
