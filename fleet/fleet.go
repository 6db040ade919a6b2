// Package fleet runs many real phones in one process against the project's lab, to see what a company's
// worth of Stayline does to its servers when home dies and when it comes back (make fleet). Each phone is
// the code a user runs: a failover.Manager over its own phone.Agent, with its own account (1001, 1002,
// ...) and UDP port. What the servers received is counted from their own logs.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"stayline/audio"
	"stayline/config"
	"stayline/failover"
	"stayline/internal/core"
	"stayline/lab"
)

// Options describe one load run.
type Options struct {
	N        int
	Policy   config.RegistrationPolicy
	Dir      string // the lab's directory
	Logger   *slog.Logger
	Timeout  time.Duration // for each phase; default 60 s
	Failover config.Failover
	// RegisterRate caps new REGISTERs at the alternate (503 + Retry-After beyond it); RetryAfter is the
	// Retry-After it sends, in seconds.
	RegisterRate int
	RetryAfter   int
}

// Defaults are the scenario: keep-alive every 5 s with a 1 s timeout, the alternate capped at
// 300 new REGISTERs a second with Retry-After 2.
func Defaults(n int, policy config.RegistrationPolicy, dir string) Options {
	f := config.Default().Failover
	f.Registration = policy
	f.KeepaliveInterval = config.Duration(5 * time.Second)
	f.KeepaliveTimeout = config.Duration(time.Second)
	f.KeepaliveMisses = 1
	f.FailbackHolddown = config.Duration(10 * time.Second)
	f.BackoffBase = config.Duration(2 * time.Second)
	f.BackoffMax = config.Duration(30 * time.Second)
	f.SimultaneousRegistrations = 2
	return Options{N: n, Policy: policy, Dir: dir, Timeout: 60 * time.Second, Failover: f,
		RegisterRate: 300, RetryAfter: 2, Logger: slog.New(slog.DiscardHandler)}
}

// member is one phone of the fleet and what it last said.
type member struct {
	user  string
	phone *core.Phone
	m     *failover.Manager
	sub   *failover.Subscription

	mu     sync.Mutex
	stage  failover.Stage
	server string
	regs   map[string]bool // registered on, by server name
}

func (p *member) is(stage failover.Stage, server string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stage == stage && p.server == server
}

func (p *member) registeredOn(server string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.regs[server]
}

func (p *member) follow() {
	for ev := range p.sub.C {
		p.mu.Lock()
		switch e := ev.(type) {
		case *failover.StageEvent:
			p.stage, p.server = e.Stage, e.Server
		case *failover.RegisteredEvent:
			p.regs[e.Server] = true
		case *failover.UnregisteredEvent:
			p.regs[e.Server] = false
		}
		p.mu.Unlock()
	}
}

// Fleet is a lab and the phones on it.
type Fleet struct {
	opts      Options
	Home      *lab.Server
	Alternate *lab.Server
	engine    *audio.Engine
	phones    []*member
	Start     time.Time // when the first phone started
}

// New starts the lab's two Kamailio servers (the alternate rate-limited) and N phones, and waits until
// every phone is in service on home (and, simultaneous, registered on the alternate too).
func New(ctx context.Context, opts Options) (*Fleet, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 60 * time.Second
	}
	hp, err := lab.FreePort()
	if err != nil {
		return nil, err
	}
	ap, err := lab.FreePort()
	for err == nil && (ap == hp || ap == hp+1 || ap+1 == hp) {
		ap, err = lab.FreePort()
	}
	if err != nil {
		return nil, err
	}
	f := &Fleet{opts: opts,
		Home:      lab.NewServer(opts.Dir, "home", hp, lab.ServerOptions{DieWithMe: true}),
		Alternate: lab.NewServer(opts.Dir, "alternate", ap, lab.ServerOptions{DieWithMe: true, RegisterRate: opts.RegisterRate, RetryAfter: opts.RetryAfter}),
	}
	if err := f.Home.Start(); err != nil {
		return nil, err
	}
	if err := f.Alternate.Start(); err != nil {
		f.Home.Stop()
		return nil, err
	}
	f.engine, err = audio.OpenEngine(audio.EngineOptions{Backend: "null", Logger: opts.Logger})
	if err != nil {
		f.Close()
		return nil, err
	}
	f.Start = time.Now()
	for i := 0; i < opts.N; i++ {
		if err := f.add(1001 + i); err != nil {
			f.Close()
			return nil, err
		}
	}
	want := func(p *member) bool { return p.is(failover.StageNormal, "home") }
	if opts.Policy == config.RegisterSimultaneous {
		want = func(p *member) bool { return p.is(failover.StageNormal, "home") && p.registeredOn("alternate") }
	}
	if _, err := f.waitAll(ctx, "in service on home", want); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *Fleet) add(user int) error {
	cfg := config.Default()
	cfg.Account = config.Account{User: strconv.Itoa(user), Password: lab.Password, Domain: "127.0.0.1"}
	cfg.Servers = []config.Server{
		{Name: "home", Address: f.Home.Addr(), Transport: config.TransportUDP},
		{Name: "alternate", Address: f.Alternate.Addr(), Transport: config.TransportUDP},
	}
	cfg.Failover = f.opts.Failover
	cfg.SIP.Listen = "127.0.0.1:0"
	ph, err := core.New(&cfg, core.Options{Engine: f.engine, Logger: f.opts.Logger})
	if err != nil {
		return fmt.Errorf("phone %d: %w", user, err)
	}
	p := &member{user: cfg.Account.User, phone: ph, m: ph.Manager, regs: map[string]bool{}}
	p.sub = p.m.Subscribe()
	go p.follow()
	p.m.Start()
	f.phones = append(f.phones, p)
	return nil
}

// waitAll waits until cond holds for every phone and returns when it first did.
func (f *Fleet) waitAll(ctx context.Context, what string, cond func(*member) bool) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := 0
		for _, p := range f.phones {
			if !cond(p) {
				missing++
			}
		}
		if missing == 0 {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%d of %d phones not %s within %s", missing, len(f.phones), what, f.opts.Timeout)
		case <-tick.C:
		}
	}
}

// Close shuts every phone down and stops the servers.
func (f *Fleet) Close() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, p := range f.phones {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			p.phone.Close(ctx)
			cancel()
			p.sub.Close()
		}()
	}
	wg.Wait()
	if f.engine != nil {
		f.engine.Close()
	}
	f.Home.Stop()
	f.Alternate.Stop()
}

// Result is what one run measured.
type Result struct {
	N      int
	Policy config.RegistrationPolicy
	Start  time.Time // the first phone started
	// Kill and Restart are when home was killed and started again; AllOnAlternate and AllHome when the
	// last phone was in service on the alternate, and back on home.
	Kill, Restart, AllOnAlternate, AllHome time.Time
	RSSKBPerPhone                          float64
	CPUSeconds                             float64
	Servers                                Traffic
}

// Run is the scenario: home killed -9 with every phone on it; restarted once all are on the alternate;
// done when all are back home.
func (f *Fleet) Run(ctx context.Context, rssBefore float64) (Result, error) {
	r := Result{N: len(f.phones), Policy: f.opts.Policy, Start: f.Start}
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(500 * time.Millisecond)
	if rss, err := selfRSSKB(); err == nil {
		r.RSSKBPerPhone = (rss - rssBefore) / float64(len(f.phones))
	}
	cpu0, _ := selfCPU()
	r.Kill = time.Now()
	if err := f.Home.Kill(); err != nil {
		return r, err
	}
	var err error
	if r.AllOnAlternate, err = f.waitAll(ctx, "in service on the alternate", func(p *member) bool {
		return p.is(failover.StageAlternate, "alternate")
	}); err != nil {
		return r, err
	}
	r.Restart = time.Now()
	if err := f.Home.Start(); err != nil {
		return r, err
	}
	if r.AllHome, err = f.waitAll(ctx, "back on home", func(p *member) bool { return p.is(failover.StageNormal, "home") }); err != nil {
		return r, err
	}
	cpu1, _ := selfCPU()
	r.CPUSeconds = cpu1 - cpu0
	time.Sleep(time.Second) // the last un-REGISTERs reach the alternate's log
	r.Servers, err = ReadTraffic(f.Home, f.Alternate, f.opts.RetryAfter)
	return r, err
}

// RunOnce is a whole run: the lab and the fleet made, the scenario, everything stopped.
func RunOnce(ctx context.Context, opts Options) (Result, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return Result{}, err
	}
	runtime.GC()
	before, _ := selfRSSKB()
	f, err := New(ctx, opts)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	return f.Run(ctx, before)
}

// selfRSSKB and selfCPU read this process's resident memory and CPU time.
func selfRSSKB() (float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	var kb float64
	for _, line := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(line, "VmRSS: %f kB", &kb); err == nil {
			return kb, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

func selfCPU() (float64, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, errors.New("short /proc/self/stat")
	}
	u, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (u + st) / 100, nil
}
