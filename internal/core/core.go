// Package core makes a phone from a configuration: the sound engine, the SIP agent on the servers the
// configuration names (domains located through DNS), and the failover manager over them. Every program
// that runs a phone makes it here: the window and headless binary, the fleet, the tests; so a setting
// reaches the agent and the manager the same way everywhere (docs/ARCHITECTURE.md, "Layers").
package core

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"stayline/audio"
	"stayline/config"
	"stayline/failover"
	"stayline/phone"
)

// Options adjust a Phone.
type Options struct {
	Logger *slog.Logger // default: slog.Default()
	// Instance is the configuration's lasting RFC 5626 instance id (config.InstanceID); "": one for this run.
	Instance string
	// Engine is a sound engine to share (a fleet's, one for many phones); nil: the phone opens one from
	// the configuration's [audio] and closes it with itself.
	Engine *audio.Engine
	// Manager adds options to the failover manager (a clock or a random source, for tests).
	Manager []failover.Option
}

// Phone is one running phone. Its manager is made but not started: a front end subscribes first, then
// calls Manager.Start, so it misses no event.
type Phone struct {
	Config  *config.Config // as given (the window and the settings show and edit this one)
	Engine  *audio.Engine
	Agent   *phone.Agent
	Manager *failover.Manager

	ownEngine bool
	once      sync.Once
	closeErr  error
}

// New makes the phone for cfg.
func New(cfg *config.Config, opts Options) (*Phone, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Phone{Config: cfg, Engine: opts.Engine}
	if p.Engine == nil {
		engine, err := audio.OpenEngine(audio.EngineOptions{Backend: cfg.Audio.Backend, Input: cfg.Audio.Input,
			Output: cfg.Audio.Output, Ringer: cfg.Audio.Ringer, RingVolume: float64(cfg.Audio.RingVolume) / 100,
			Logger: opts.Logger})
		if err != nil {
			return nil, fmt.Errorf("audio: %w", err)
		}
		p.Engine, p.ownEngine = engine, true
		engine.SetEchoCancel(cfg.Audio.EchoCancel)
		engine.SetNoiseSuppression(cfg.Audio.NoiseSuppression)
	}
	// Servers given as domains become the servers DNS names for them (RFC 3263): the manager and the
	// agent work on that list, the window and the settings on the configuration as written.
	run := *cfg
	run.Servers = phone.LocateServers(context.Background(), cfg.Servers, cfg.SIP.DNS, opts.Logger)
	agentOpts := phone.ConfigOptions(&run)
	agentOpts.Audio, agentOpts.Logger, agentOpts.Instance = p.Engine, opts.Logger, opts.Instance
	agent, err := phone.Start(agentOpts)
	if err != nil {
		p.closeEngine()
		return nil, err
	}
	p.Agent = agent
	p.Manager = failover.New(&run, agent, append([]failover.Option{failover.WithLogger(opts.Logger),
		failover.WatchNetwork(opts.Logger)}, opts.Manager...)...)
	return p, nil
}

// Close shuts the manager down (ending calls, unregistering where the stage allows) within ctx, then
// releases the agent and, if the phone opened it, the sound engine. Only the first call does anything.
func (p *Phone) Close(ctx context.Context) error {
	p.once.Do(func() {
		err := p.Manager.Shutdown(ctx)
		p.Agent.Close()
		p.closeEngine()
		p.closeErr = err
	})
	return p.closeErr
}

func (p *Phone) closeEngine() {
	if p.ownEngine {
		p.Engine.Close()
	}
}
