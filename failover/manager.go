// Package failover is Stayline's brain: it keeps the phone registered through server outages. The Manager
// holds the failover stage (docs/ARCHITECTURE.md, "Stages and their rules"), watches the servers, applies the registration and failback
// policies, gates every user action and publishes what happens to any number of front ends.
//
// All of the manager's state belongs to one goroutine (the loop); everything else talks to it through
// closures posted to its inbox. Time comes from an injected clock, so tests drive every timer by hand.
package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"stayline/config"
	"stayline/internal/clock"
	"stayline/phone"
)

// Agent is what the manager needs of the SIP user agent; *phone.Agent implements it.
type Agent interface {
	Register(ctx context.Context, server int, expires, reqTimeout time.Duration) (phone.Binding, error)
	Unregister(ctx context.Context, server int, reqTimeout time.Duration) error
	Probe(ctx context.Context, server int) error
	// CheckBinding asks whether the server still holds the phone's registration (binding.go).
	CheckBinding(ctx context.Context, server int) (phone.BindingCheck, error)
	Events() <-chan phone.Event
	Listen() string
	SetServerHealth(server int, up bool)
	SetAdmission(phone.Admission)

	// DialServers places one call through servers in turn until one takes it (one id, one outcome).
	DialServers(ctx context.Context, servers []int, target string, respTimeout time.Duration) (string, error)
	// DialVia places one call through servers next chooses as it goes (a call the server in use did not
	// answer is tried through the next one in service, as the same call).
	DialVia(ctx context.Context, next phone.NextServer, target string, respTimeout time.Duration) (string, error)
	Answer(id string) error
	Hangup(id, reason string) error
	Hold(id string) error
	Resume(id string) error
	SendDTMF(id, digits string) error
	Transfer(id, target string) error
	Conference(ids ...string) error
	Calls() []phone.CallInfo
	SubscribeMWI(ctx context.Context, server int, expires time.Duration) error
	UnsubscribeMWI(ctx context.Context, server int) error
}

// ShutdownTimeout is how long a front end lets Shutdown take (calls ended, unregistered where the stage
// allows) before it stops waiting.
const ShutdownTimeout = 5 * time.Second

// ErrClosed is returned by a Manager that has shut down.
var ErrClosed = errors.New("the phone is shutting down")

// ErrNotImplemented is returned for actions the gate allows but this build cannot do yet.
var ErrNotImplemented = errors.New("not available in this version")

// Option adjusts a Manager.
type Option func(*Manager)

// WithClock sets the clock (default: the system clock).
func WithClock(c clock.Clock) Option { return func(m *Manager) { m.clock = c } }

// WithRand sets the source of the random factors (backoff, keep-alive phase): r() in [0,1).
func WithRand(r func() float64) Option { return func(m *Manager) { m.rand = r } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// Manager keeps the phone in service. Create it with New, then Start it.
type Manager struct {
	cfg   *config.Config
	agent Agent
	clock clock.Clock
	rand  func() float64
	log   *slog.Logger
	bus   *bus

	inbox    chan func()
	ctx      context.Context // ends when the loop ends; cancels every operation in flight
	cancel   context.CancelFunc
	loopDone chan struct{}
	started  sync.Once
	inflight atomic.Int64 // operations whose results the loop has not yet taken

	// Everything below belongs to the loop goroutine.
	stage        Stage
	stageServer  string
	active       int // index of the server in use, -1 when none
	servers      []*server
	loggedOff    bool
	closing      bool
	failingBack  bool
	lastFailback time.Time
	lostReason   string                    // why service was lost, for the transition event
	calls        map[string]phone.CallInfo // by call id, from the agent's events
	wake         clock.Timer
	wakeAt       time.Time
	lastActions  []Action
	shutdownWait []func()      // run when the unregistrations of a shutdown have finished
	callsGone    func()        // run when the last call has ended, during a shutdown
	mwiServer    int           // the server whose message-summary we follow, -1: none
	holddown     time.Duration // failback_holddown with this phone's random spread (fixed at New)
	mwiWaiting   bool          // the lamp
	mwiRefresh   clock.Timer
	net          netState // the phone's own network (network.go)
}

// New makes a Manager for the configuration, using agent for SIP.
func New(cfg *config.Config, agent Agent, opts ...Option) *Manager {
	m := &Manager{
		cfg:       cfg,
		agent:     agent,
		clock:     clock.Real{},
		rand:      rand.Float64,
		log:       slog.Default(),
		bus:       newBus(),
		inbox:     make(chan func(), 256),
		loopDone:  make(chan struct{}),
		active:    -1,
		stage:     StageTransition,
		calls:     map[string]phone.CallInfo{},
		mwiServer: -1,
	}
	for _, o := range opts {
		o(m)
	}
	// This phone's hold-down: the configured one, lengthened by its own random share of the spread.
	m.holddown = spreadHolddown(cfg.Failover.FailbackHolddown.D(), cfg.Failover.FailbackSpread, m.rand())
	m.log = m.log.With("part", "failover")
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for i, s := range cfg.Servers {
		m.servers = append(m.servers, &server{idx: i, cfg: s})
	}
	go m.loop()
	return m
}

// spreadHolddown is a phone's own hold-down: base lengthened by r (in [0,1)) of percent %.
func spreadHolddown(base time.Duration, percent int, r float64) time.Duration {
	return base + time.Duration(float64(base)*float64(percent)/100*r)
}

// Start begins registering. Subscribe first to see every event from the start. Call Shutdown to stop.
func (m *Manager) Start() {
	m.started.Do(func() {
		m.agent.SetAdmission(m.admit)
		m.post(func() {
			m.setStage(StageTransition, "starting")
			m.startNetwork()
			m.reconcile()
		})
	})
}

func (m *Manager) loop() {
	defer close(m.loopDone)
	agentEvents := m.agent.Events()
	for {
		select {
		case f := <-m.inbox:
			f()
		case ev, ok := <-agentEvents:
			if !ok {
				agentEvents = nil
				continue
			}
			m.onAgentEvent(ev)
		case <-m.ctx.Done():
			return
		}
	}
}

// post hands f to the loop. It never blocks once the loop has ended.
func (m *Manager) post(f func()) bool {
	select {
	case <-m.loopDone:
		return false
	default:
	}
	select {
	case m.inbox <- f:
		return true
	case <-m.loopDone:
		return false
	}
}

// call runs f in the loop and waits for it.
func (m *Manager) call(f func()) error {
	done := make(chan struct{})
	if !m.post(func() { f(); close(done) }) {
		return ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-m.loopDone:
		return ErrClosed
	}
}

// Subscribe starts a subscription; its first events are the current stage and actions.
func (m *Manager) Subscribe() *Subscription {
	var sub *Subscription
	if err := m.call(func() {
		sub = m.bus.subscribe(m.stageEvent(""), m.actionsEvent())
	}); err != nil {
		sub = m.bus.subscribe()
	}
	return sub
}

// Stage returns the current stage and the name of the server in use.
func (m *Manager) Stage() (Stage, string) {
	var st Stage
	var srv string
	if m.call(func() { st, srv = m.stage, m.stageServer }) != nil {
		return StageNoService, ""
	}
	return st, srv
}

// Actions lists what the user may do now.
func (m *Manager) Actions() []Action {
	var a []Action
	m.call(func() { a = m.situation().available() })
	return a
}

// Check asks the gate about an action without doing it. target matters for dial (emergency numbers).
func (m *Manager) Check(a Action, target string) error {
	var r *Refusal
	if err := m.call(func() { r = m.situation().check(a, m.cfg.IsEmergency(target)) }); err != nil {
		return err
	}
	if r != nil {
		return r
	}
	return nil
}

// IsEmergency reports whether target is one of the configured emergency numbers, which the gate lets
// out in every stage.
func (m *Manager) IsEmergency(target string) bool { return m.cfg.IsEmergency(target) }

// Status reports the stage, the registrations and the calls.
func (m *Manager) Status() StatusEvent {
	var st StatusEvent
	if m.call(func() { st = m.status() }) != nil {
		st = StatusEvent{Stage: StageNoService}
		st.stamp("status", m.clock.Now())
	}
	return st
}

// Logoff unregisters from every server and stops, but only in the normal stage: during failover it is
// refused, because an alternate may not let the phone back in.
func (m *Manager) Logoff() error {
	return m.act(ActLogoff, "", func() error {
		m.logoff()
		return nil
	})
}

// Login undoes a logoff (or retries servers that refused the password) and registers again.
func (m *Manager) Login() error {
	return m.act(ActLogin, "", func() error {
		m.login()
		return nil
	})
}

// Failback asks to move back to home now (the admin policy's way back; with auto it skips the hold-down).
func (m *Manager) Failback() error {
	return m.act(ActFailback, "", func() error {
		home := m.servers[0]
		if home.authFailed != "" {
			return m.refused(refuse(ActFailback, "The home server refused the password"))
		}
		m.startFailback("requested by the user")
		return nil
	})
}

// act checks the gate and, if it allows a, runs do in the loop. A refusal is published and returned.
func (m *Manager) act(a Action, target string, do func() error) error {
	var err error
	if cerr := m.call(func() {
		if r := m.situation().check(a, m.cfg.IsEmergency(target)); r != nil {
			err = m.refused(r)
			return
		}
		err = do()
		m.reconcile()
	}); cerr != nil {
		return cerr
	}
	return err
}

func (m *Manager) refused(r *Refusal) error {
	ev := &RefusedEvent{Action: r.Action, Reason: r.Reason}
	m.emit("refused", ev)
	return r
}

// Shutdown ends calls, unregisters unless the stage forbids it, publishes a last stage event and stops.
// It returns when done or when ctx ends.
func (m *Manager) Shutdown(ctx context.Context) error {
	finished := make(chan struct{})
	if !m.post(func() { m.shutdown(func() { close(finished) }) }) {
		return nil
	}
	var err error
	select {
	case <-finished:
	case <-m.loopDone:
	case <-ctx.Done():
		err = fmt.Errorf("shutdown: %w", ctx.Err())
	}
	m.cancel()
	<-m.loopDone
	m.bus.end()
	return err
}

// Config is the configuration the manager runs with.
func (m *Manager) Config() *config.Config { return m.cfg }

// Done is closed when the manager has stopped.
func (m *Manager) Done() <-chan struct{} { return m.loopDone }

// checkTarget refuses dial strings that could break a SIP message.
func checkTarget(target string) error {
	if target == "" {
		return errors.New("dial: no number given")
	}
	if len(target) > 256 || strings.ContainsAny(target, "\r\n\t <>\"") {
		return fmt.Errorf("dial: %q is not a number or SIP address", target)
	}
	return nil
}
