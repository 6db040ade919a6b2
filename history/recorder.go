package history

import (
	"context"
	"log/slog"
	"time"

	"stayline/failover"
)

// Recorder turns the manager's call events into history entries.
type Recorder struct {
	store *Store
	log   *slog.Logger
	now   func() time.Time
	open  map[string]*pending
}

// pending is a call that has not ended yet.
type pending struct {
	entry    Entry
	answered time.Time
}

// NewRecorder records into store; now is the clock (nil: time.Now).
func NewRecorder(store *Store, log *slog.Logger, now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Recorder{store: store, log: log, now: now, open: map[string]*pending{}}
}

// Follow records the calls of a subscription until ctx ends or the subscription closes.
func (r *Recorder) Follow(ctx context.Context, sub *failover.Subscription) {
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			r.Apply(ev)
		}
	}
}

// Apply takes one event; a call's entry is written when it ends.
func (r *Recorder) Apply(ev failover.Event) {
	c, ok := ev.(*failover.CallEvent)
	if !ok {
		return
	}
	now := r.now()
	p := r.open[c.ID]
	if p == nil {
		p = &pending{entry: Entry{Direction: c.Direction, Party: c.Remote, Start: now, Server: c.Server}}
		r.open[c.ID] = p
	}
	if c.Server != "" {
		p.entry.Server = c.Server
	}
	switch c.State {
	case failover.CallActive:
		if p.answered.IsZero() {
			p.answered = now
		}
	case failover.CallEnded:
		delete(r.open, c.ID)
		e := p.entry
		e.Reason = c.Reason
		if !p.answered.IsZero() {
			e.Result, e.Talk = Answered, now.Sub(p.answered).Truncate(time.Second)
		} else {
			e.Result = unansweredResult(e.Direction, c.Cause)
		}
		if err := r.store.Add(e); err != nil {
			r.log.Warn("call not written to the history", "error", err)
		}
	}
}

// unansweredResult classifies a call that ended before anyone talked, by why it ended.
func unansweredResult(direction string, cause failover.EndCause) string {
	if direction == "in" {
		if cause == failover.EndLocal { // refused here (603)
			return Declined
		}
		return Missed
	}
	switch cause {
	case failover.EndBusy:
		return Busy
	case failover.EndDeclined:
		return Declined
	case failover.EndLocal:
		return Cancelled
	}
	return Failed
}
