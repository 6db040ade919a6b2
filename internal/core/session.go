package core

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"stayline/config"
	"stayline/failover"
)

// SessionOptions adjust a Session.
type SessionOptions struct {
	Logger   *slog.Logger
	Instance string // the configuration's lasting instance id
	// Follow, if set, is given each phone's events from before it starts (the call history follows them
	// so); it returns when they end, and the session waits for it when it stops a phone.
	Follow func(sub *failover.Subscription)
}

// Session is the phone in use for one configuration file: started from a configuration, replaced by one
// made from a new configuration (the settings), stopped at the end.
type Session struct {
	opts SessionOptions

	mu       sync.Mutex
	leaving  func()
	changed  func(*Phone)
	phone    *Phone
	followed chan struct{} // closed once Follow has every event of this phone
}

// StartSession makes the phone for cfg. Its manager is not started: the first front end subscribes, then
// calls Manager.Start.
func StartSession(cfg *config.Config, opts SessionOptions) (*Session, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Session{opts: opts}
	if err := s.make(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Session) make(cfg *config.Config) error {
	p, err := New(cfg, Options{Logger: s.opts.Logger, Instance: s.opts.Instance})
	if err != nil {
		return err
	}
	followed := make(chan struct{})
	if s.opts.Follow != nil {
		sub := p.Manager.Subscribe()
		go func() {
			defer close(followed)
			s.opts.Follow(sub)
		}()
	} else {
		close(followed)
	}
	s.mu.Lock()
	s.phone, s.followed = p, followed
	s.mu.Unlock()
	return nil
}

// Phone is the phone in use now.
func (s *Session) Phone() *Phone {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.phone
}

// Apply replaces the phone in use with one made from cfg, and starts it.
func (s *Session) Apply(cfg *config.Config) error {
	s.mu.Lock()
	leaving := s.leaving
	s.mu.Unlock()
	if leaving != nil {
		leaving()
	}
	s.Stop()
	if err := s.make(cfg); err != nil {
		return fmt.Errorf("the phone did not restart with the configuration: %w", err)
	}
	s.mu.Lock()
	p, changed := s.phone, s.changed
	s.mu.Unlock()
	if changed != nil {
		changed(p)
	}
	p.Manager.Start()
	return nil
}

// SetFrontEnd has a front end told when Apply replaces the phone: leaving before the old one stops (the
// front end lets go of it, so its shutdown is not shown as news), changed with the new one before it
// starts.
func (s *Session) SetFrontEnd(leaving func(), changed func(*Phone)) {
	s.mu.Lock()
	s.leaving, s.changed = leaving, changed
	s.mu.Unlock()
}

// Stop shuts the phone in use down (ending calls, unregistering where the stage allows) and waits until
// Follow has its last events.
func (s *Session) Stop() {
	s.mu.Lock()
	p, followed := s.phone, s.followed
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), failover.ShutdownTimeout)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		s.opts.Logger.Warn("shutdown", "error", err)
	}
	select {
	case <-followed:
	case <-ctx.Done():
	}
}
