package phone

import (
	"time"

	"stayline/audio"
)

// run is the call's 20 ms clock, the session's only goroutine: take in what arrived, send a frame, play a
// frame, and every 5 s an RTCP report. One wake-up per tick keeps a call cheap. On a sound device the
// capture device's callback is the clock (audio.Port.Clock): the tick runs when the microphone's frame is
// there, so the frame waits for nothing, and no timer of the phone's own wakes the process; the timer then
// only stands in when the device stalls (docs/ARCHITECTURE.md, "Sound: devices and timing").
func (m *media) run() {
	defer m.wg.Done()
	const tick = audio.FrameDurationMs * time.Millisecond
	next := time.Now()
	nextReport := next.Add(time.Second)
	timer := time.NewTimer(0)
	defer timer.Stop()
	untimed := 0 // ticks in a row without a device clock
	for {
		device := m.deviceClock()
		clocked := false
		select {
		case <-m.ctx.Done():
			return
		case <-timer.C:
		case <-device:
			clocked = true
		}
		now := time.Now()
		if untimed++; device != nil {
			untimed = 0
		} else if untimed == raiseAfter {
			m.raisePriority()
		}
		m.drainRTP()
		m.drainRTCP()
		m.sendFrame()
		m.playFrame()
		if now.After(nextReport) {
			m.sendReport()
			nextReport = now.Add(5 * time.Second)
		}
		if clocked {
			// The device's next frame is due in 20 ms; the timer stands in if it has not come 40 ms later.
			next = now.Add(tick)
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(3 * tick)
			continue
		}
		next = next.Add(tick)
		if behind := now.Sub(next); behind > 5*tick {
			next = now.Add(tick) // the process was stopped or starved: restart the schedule, no burst
		}
		timer.Reset(time.Until(next))
	}
}

// raiseAfter is how many ticks the timer runs a call with no capture device before the tick's thread gets
// a raised priority: a device that opens late (they open with the call) clocks the call on its own.
const raiseAfter = 50

// deviceClock is the capture device's clock for the call (nil: none, the timer ticks).
func (m *media) deviceClock() <-chan struct{} {
	m.mu.Lock()
	p, ok := m.src.(*audio.Port)
	m.mu.Unlock()
	if !ok {
		return nil
	}
	return p.Clock()
}

// raisePriority gives the tick a raised priority once it plays on a sound device with no capture device
// to clock it (audio.Port.RaisePriority): a busy machine would delay a tick by up to 160 ms, and the call
// click. Only from run's goroutine.
func (m *media) raisePriority() {
	m.mu.Lock()
	p, ok := m.sink.(*audio.Port)
	m.mu.Unlock()
	if ok && !m.raised {
		m.raised = true
		m.log.Debug("media tick priority", "priority", p.RaisePriority())
	}
}
