// Following the manager: its events, once a second its status, and the idle window (idle.go).

package app

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/systray"

	"stayline/failover"
	"stayline/internal/clock"
)

// Start follows the manager's events, and once a second the clock and the calls' figures, until ctx ends.
func (w *Window) Start(ctx context.Context) {
	w.ctx = ctx
	if w.opts.IdlePark {
		w.idle = newIdler(clock.Real{}, platformParker(), fyne.Do, w.moving, func() { w.tick(w.ctl.Status()) })
		if w.idle != nil {
			go w.idle.loop(ctx)
			go w.followTrayMenu(ctx)
		}
	}
	w.bind(w.ctl)
}

// followTrayMenu keeps the window running while its tray menu is open: a click on the menu reaches Fyne's
// main thread through Fyne's own queue, which a parked loop would not see if the click's D-Bus message were
// read just before it parked (idle.go); the menu opens first ("opened"), and that wakes it for 3 s.
func (w *Window) followTrayMenu(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-systray.TrayOpenedCh:
			w.idle.poke(inputQuiet)
		}
	}
}

// moving says whether something on the screen changes by itself (on Fyne's goroutine): a call's figures,
// a notice held back. The idle window parks only when nothing does.
func (w *Window) moving() bool {
	return w.stopped.Load() || len(w.model.Calls) > 0 || w.note.pending != nil
}

// SetController moves the window to another manager and its sound (the settings were applied by starting
// a new phone). The display starts over from its events; the timeline is kept.
func (w *Window) SetController(ctl Controller, sound Sound) {
	timeline, last := w.model.Timeline, w.model.LastDial
	w.model = NewModel()
	w.model.Timeline, w.model.LastDial = timeline, last
	w.ctl, w.sound = ctl, sound
	w.followDevices()
	w.bind(ctl)
	w.render()
}

func (w *Window) bind(ctl Controller) {
	w.Unbind()
	gen := w.gen
	parent := w.ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	w.unbind = cancel
	sub := ctl.Subscribe()
	go func() {
		defer sub.Close()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			// A parked window ticks only when its minute changes (idle.go): no timer runs meanwhile.
			parked, changed := w.idle.Parked()
			ticks := tick.C
			if parked {
				ticks = nil
			}
			select {
			case ev, ok := <-sub.C:
				if !ok {
					return
				}
				w.Do(func() {
					if gen == w.gen { // not an event of a manager the window has left
						w.apply(ev)
					}
				})
			case <-changed:
			case <-ticks:
				st := ctl.Status()
				w.Do(func() {
					if gen == w.gen {
						w.tick(st)
					}
				})
			case <-ctx.Done():
				return
			}
		}
	}()
}

// Unbind stops following the current manager (on Fyne's goroutine): events of it still on their way are
// not shown. The settings call it before the phone is replaced, so the old phone's shutdown (its last
// stage events) does not reach the display or the notifications.
func (w *Window) Unbind() {
	w.gen++
	if w.unbind != nil {
		w.unbind()
		w.unbind = nil
	}
}

// apply shows one event (on Fyne's goroutine).
func (w *Window) apply(ev failover.Event) {
	if w.stopped.Load() {
		return
	}
	w.model.Apply(ev, w.opts.Now())
	switch e := ev.(type) {
	case *failover.StageEvent:
		w.notify(w.note.stage(e.Stage, e.Server, w.model.LoggedOff, w.opts.Now()))
		if e.Stage == failover.StageAlternate {
			w.model.ApplyStatus(w.ctl.Status()) // the banner names what this server lacks
		}
	case *failover.CallEvent:
		if e.State == failover.CallIncoming {
			w.notify(&Notice{"Stayline: incoming call", namedParty(w.party(e.Remote), e.Remote, e.DisplayName)})
			w.Win.Show()
			w.Win.RequestFocus()
		}
		if e.State == failover.CallEnded {
			defer w.offerPendingConfig()
		}
	}
	w.render()
}

// tick runs once a second: the clock, the calls' figures, and notices held back by their gap.
func (w *Window) tick(st failover.StatusEvent) {
	if w.stopped.Load() {
		return
	}
	w.model.ApplyStatus(st)
	w.notify(w.note.due(w.opts.Now()))
	w.render()
}
