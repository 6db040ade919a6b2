package phone

import (
	"time"

	"stayline/audio"
)

// busyToneFor is how long the busy tone plays after a call failed busy.
const busyToneFor = 3 * time.Second

// updateTone sets the tone the user hears from the state of every call: the ring of an incoming call
// (a short beep instead when already talking), ringback while the far end rings, and for 3 s the busy
// tone of a call that just failed busy (justBusy: one did now).
func (a *Agent) updateTone(justBusy bool) {
	e := a.opts.Audio
	if e == nil {
		return
	}
	a.callsMu.Lock()
	defer a.callsMu.Unlock()
	var incoming, ringing, talking bool
	now := time.Now()
	for _, c := range a.calls {
		switch c.info().State {
		case CallIncoming:
			incoming = true
		case CallRinging:
			ringing = true
		case CallEarly:
			c.mu.Lock()
			ringing = ringing || c.early.wantsRingback(now)
			c.mu.Unlock()
		case CallActive, CallHeld:
			talking = true
		}
	}
	if justBusy {
		a.busyUntil = time.Now().Add(busyToneFor)
		time.AfterFunc(busyToneFor, func() { a.updateTone(false) })
	}
	switch {
	case incoming && talking:
		e.PlayTone(audio.ToneWaiting)
	case incoming:
		e.PlayTone(audio.ToneRingtone)
	case ringing:
		e.PlayTone(audio.ToneRingback)
	case time.Now().Before(a.busyUntil):
		e.PlayTone(audio.ToneBusy)
	default:
		e.PlayTone(audio.ToneNone)
	}
}

// PlayTone plays a call-progress tone the front end asks for (the dial tone while the user dials),
// unless a call's own tone is playing.
func (a *Agent) PlayTone(t audio.Tone) {
	e := a.opts.Audio
	if e == nil {
		return
	}
	if cur := e.CurrentTone(); cur == audio.ToneNone || cur == audio.ToneDial {
		e.PlayTone(t)
	}
}
