package failover

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"stayline/netwatch"
	"stayline/phone"
)

// When the phone's own network changes (docs/ARCHITECTURE.md, "When the phone's own network changes"):
// an address it used goes, a new route makes another address the one that reaches the servers, or the
// computer wakes from sleep. That is no server failure. The manager asks the agent to move to the new
// address (phone.Agent.Rebind: links, and the calls by re-INVITE), registers again at once on every server
// it held, from the new address, and tells the front ends ("network changed: re-registering"). For
// networkSettle after that, a server's silence does not count as its loss: what the keep-alives or a
// REGISTER lost went out on the old address, so the server is asked again instead, and the stage stays.

// rebinder is the part of the agent that follows the phone's network (*phone.Agent has it; test agents
// may not, and then only a wake-up re-registers).
type rebinder interface {
	Rebind(ctx context.Context) (phone.Rebound, error)
}

// NetworkEvent: the phone's own network changed (or the computer woke from sleep) and the phone is
// registering again from its new address; the stage does not change for it.
type NetworkEvent struct {
	Header
	// Detail is the line the window shows: "network changed: re-registering".
	Detail string `json:"detail"`
	// Reason says what changed, in words ("address 192.168.1.20 removed from wlan0", "woke from sleep").
	Reason string `json:"reason"`
	// Moved lists the servers toward which the phone's address changed; absent when none did (a wake-up).
	Moved []MovedAddress `json:"moved,omitempty"`
	// Servers are the servers it registers on again.
	Servers []string `json:"servers"`
	// Calls is how many calls are offered again with the new address; absent when none.
	Calls int `json:"calls,omitempty"`
}

// MovedAddress is the phone's address toward one server, before and after.
type MovedAddress struct {
	Server string `json:"server"`
	From   string `json:"from"`
	To     string `json:"to"`
}

// NetworkChangedDetail is NetworkEvent.Detail.
const NetworkChangedDetail = "network changed: re-registering"

// wakeJump is how far the wall clock must run ahead of the monotonic one between two checks to mean a
// sleep: longer than any scheduling delay, shorter than any sleep worth the name. A wall clock set forward
// by hand or by NTP by more than this costs one registration round, nothing more.
const wakeJump = 3 * time.Second

// WakeCheckEvery is how often the manager compares the wall clock with the monotonic one where the OS
// does not say when the wall clock moved (netwatch.ClockSteps: Linux says).
const WakeCheckEvery = time.Second

// networkSettleMin is how long, at least, after a network change a server's silence is not counted as
// its loss; never less than three keep-alive timeouts either (a REGISTER and its retry).
const networkSettleMin = 5 * time.Second

// networkRetry is how soon a server whose REGISTER or keep-alive failed while the network settles is
// asked again.
const networkRetry = 500 * time.Millisecond

// netState is the manager's view of the phone's own network. It belongs to the loop, except the
// options' fields, set before the loop starts.
type netState struct {
	watcher   netwatch.Watcher
	watch     func() (netwatch.Watcher, error) // makes the watcher at Start (WatchNetwork)
	wall      func() time.Time                 // the wall clock without its monotonic reading; nil: no wake check
	wakeEvery time.Duration
	steps     func() (<-chan struct{}, func(), error) // the OS's word that the wall clock moved (netwatch.ClockSteps)

	lastMono, lastWall time.Time
	rebinding          bool
	again              string // a change that came during a rebind, done after it ("" none)
	againWake          bool
	settleUntil        time.Time
	regAt              map[int]time.Time // when each server last got a REGISTER for a network change
	waiting            map[int]bool      // a server's next such REGISTER is scheduled
}

// WithNetworkWatcher makes the manager follow the changes w reports (netwatch.New). The manager closes
// it when it stops.
func WithNetworkWatcher(w netwatch.Watcher) Option { return func(m *Manager) { m.net.watcher = w } }

// WithWakeCheck makes the manager look every interval whether wall (the wall clock, without a monotonic
// reading) ran ahead of its clock's monotonic time: a wake-up from sleep, during which the monotonic clock
// and every timer on it stood still.
func WithWakeCheck(every time.Duration, wall func() time.Time) Option {
	return func(m *Manager) { m.net.wakeEvery, m.net.wall = every, wall }
}

// WatchNetwork is what the product uses: the OS's network notifications (netwatch.New) and the wake check
// on the system clocks. A watcher that cannot start is logged, and the wake check still runs.
func WatchNetwork(log *slog.Logger) Option {
	return func(m *Manager) {
		m.net.watch = func() (netwatch.Watcher, error) { return netwatch.New(log) }
		m.net.steps = netwatch.ClockSteps // where there are none (not Linux), the ticker below
		m.net.wakeEvery, m.net.wall = WakeCheckEvery, func() time.Time { return time.Now().Round(0) }
	}
}

// startNetwork begins following the network (from Start, in the loop).
func (m *Manager) startNetwork() {
	if m.net.watch != nil && m.net.watcher == nil {
		w, err := m.net.watch()
		if err != nil {
			m.log.Warn("the phone's own network is not watched; a change is noticed by the keep-alives only", "error", err)
		}
		m.net.watcher = w
	}
	if w := m.net.watcher; w != nil {
		go func() {
			defer w.Close()
			for {
				select {
				case c, ok := <-w.Changes():
					if !ok {
						return
					}
					m.post(func() { m.networkChanged(c.Why, false) })
				case <-m.ctx.Done():
					return
				}
			}
		}()
	}
	if m.net.wall == nil {
		return
	}
	m.net.lastMono, m.net.lastWall = m.clock.Now(), m.net.wall()
	if m.net.steps != nil {
		if steps, stop, err := m.net.steps(); err == nil {
			// The kernel says when the wall clock moved against the monotonic one (a resume, a clock set):
			// compared then, and only then, so an idle phone does not wake for it.
			go func() {
				defer stop()
				for {
					select {
					case <-steps:
						m.post(m.compareClocks)
					case <-m.ctx.Done():
						return
					}
				}
			}()
			return
		}
	}
	if m.net.wakeEvery > 0 {
		m.after(m.net.wakeEvery, m.checkWake)
	}
}

// checkWake compares the clocks every wakeEvery, where the OS does not say when the wall clock moved.
func (m *Manager) checkWake() {
	if m.closing {
		return
	}
	m.compareClocks()
	m.after(m.net.wakeEvery, m.checkWake)
}

// compareClocks compares how far the wall clock and the monotonic one moved since the last comparison:
// the wall clock ahead by more than wakeJump is a sleep the monotonic clock (and every timer) slept through.
func (m *Manager) compareClocks() {
	if m.closing {
		return
	}
	mono, wall := m.clock.Now(), m.net.wall()
	ahead := wall.Sub(m.net.lastWall) - mono.Sub(m.net.lastMono)
	m.net.lastMono, m.net.lastWall = mono, wall
	if ahead > wakeJump {
		m.networkChanged(fmt.Sprintf("woke from sleep (about %s)", ahead.Round(time.Second)), true)
	}
}

// NetworkChanged tells the manager that the phone's own network changed (why, in words); the front ends
// may call it (a "the network changed" hint of their own), the watcher does.
func (m *Manager) NetworkChanged(why string) { m.post(func() { m.networkChanged(why, false) }) }

// networkChanged moves the phone to its new address and registers again (see the top of the file). A
// change that comes while one is handled is handled after it, once, whatever their number.
func (m *Manager) networkChanged(why string, wake bool) {
	if m.closing || m.loggedOff {
		return
	}
	if m.net.rebinding {
		m.net.again, m.net.againWake = why, m.net.againWake || wake
		return
	}
	m.net.rebinding = true
	rb, _ := m.agent.(rebinder)
	runOp(m, 2*time.Second, func(ctx context.Context) (phone.Rebound, error) {
		if rb == nil {
			return phone.Rebound{}, nil
		}
		return rb.Rebind(ctx)
	}, func(r phone.Rebound, err error) {
		m.net.rebinding = false
		m.rebound(why, wake, r, err)
		if again := m.net.again; again != "" {
			w := m.net.againWake
			m.net.again, m.net.againWake = "", false
			m.networkChanged(again, w)
		}
	})
}

// rebound acts on what the agent moved: nothing to do when no address changed (and no wake-up), else
// every held server registers again at once, and the others are tried at once, their backoff forgotten.
func (m *Manager) rebound(why string, wake bool, r phone.Rebound, err error) {
	if m.closing || m.loggedOff {
		return
	}
	if err != nil {
		m.log.Info("the phone's address could not be found again", "why", why, "error", err)
	}
	now := m.clock.Now()
	if !wake && len(r.Moved) == 0 {
		if m.active < 0 { // out of service: the network that came back may be what was missing
			m.log.Info("network changed while out of service: trying the servers now", "why", why)
			m.forgetBackoff(now)
			m.reconcile()
			return
		}
		m.log.Debug("network change without effect on the phone's addresses", "why", why)
		return
	}
	m.net.settleUntil = now.Add(max(networkSettleMin, 3*m.cfg.Failover.KeepaliveTimeout.D()))
	ev := &NetworkEvent{Detail: NetworkChangedDetail, Reason: why, Calls: r.Calls}
	for _, mv := range r.Moved {
		if mv.Server >= 0 && mv.Server < len(m.servers) {
			ev.Moved = append(ev.Moved, MovedAddress{Server: m.servers[mv.Server].cfg.Name, From: mv.From, To: mv.To})
		}
	}
	for _, s := range m.servers {
		if s.registered {
			ev.Servers = append(ev.Servers, s.cfg.Name)
			m.reregister(s)
		}
	}
	m.forgetBackoff(now)
	m.log.Info(NetworkChangedDetail, "why", why, "servers", ev.Servers, "calls", r.Calls)
	m.emit("network", ev)
	m.reconcile()
}

// forgetBackoff lets the servers the phone does not hold be tried at once: what failed on the old network
// says nothing of the new. A refused password and a server's own Retry-After stand.
func (m *Manager) forgetBackoff(now time.Time) {
	for _, s := range m.servers {
		if !s.registered && s.authFailed == "" && !s.retryAfter.After(now) {
			s.notBefore = time.Time{}
		}
	}
}

// reregister sends a server the phone holds a REGISTER now, as a refresh: the stage does not change. One
// already in flight (it may have left from the old address) is followed by another. However often the
// network changes, a server gets at most one such REGISTER per netwatch.Gap: the rest wait, as one.
func (m *Manager) reregister(s *server) {
	if m.net.regAt == nil {
		m.net.regAt, m.net.waiting = map[int]time.Time{}, map[int]bool{}
	}
	now := m.clock.Now()
	next := m.net.regAt[s.idx].Add(netwatch.Gap)
	if s.registering && next.Before(now.Add(networkRetry)) {
		next = now.Add(networkRetry)
	}
	if s.registering || now.Before(next) {
		if !m.net.waiting[s.idx] {
			m.net.waiting[s.idx] = true
			m.after(next.Sub(now), func() {
				m.net.waiting[s.idx] = false
				if s.registered && !m.closing && !m.loggedOff {
					m.reregister(s)
					m.reconcile()
				}
			})
		}
		return
	}
	m.net.regAt[s.idx] = now
	s.stopRefresh()
	s.misses = 0
	m.startRegister(s)
}

// settling reports whether a network change is recent enough that a server's silence is not its loss.
func (m *Manager) settling() bool {
	return !m.net.settleUntil.IsZero() && m.clock.Now().Before(m.net.settleUntil)
}

// networkExcuses is asked by markDown: while the network settles, a server the phone holds that did not
// answer (no 503: that is the server's own word) is not lost; it is asked again soon, from the new address.
func (m *Manager) networkExcuses(s *server, why string, retryAfter time.Duration) bool {
	if !m.settling() || retryAfter > 0 || !s.registered || m.closing || m.loggedOff {
		return false
	}
	m.log.Info("not counted as a loss: the phone's network just changed; asking again", "server", s.cfg.Name, "why", why)
	s.misses = 0
	m.reregister(s)
	return true
}
