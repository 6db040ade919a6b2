package audio

// Port connects one call to the engine at the call's codec rate: as a Source it gives the microphone, as
// a Sink it takes what the call receives. Each direction is a flow (playout.go) between the device's clock
// and the call's tick. Without a device, what it is given waits (at most maxBuffered) until something
// drains it, and its microphone is silent.
type Port struct {
	e       *Engine
	rate    int
	mic     *flow // at EngineRate, filled by the capture device
	speaker *flow // at EngineRate, drained by the playback device
	up      upsampler
	down    downsampler
	// In a conference, each member also hears the others: what a member receives is kept in heard
	// until the other members' next Read mixes it into what they send.
	conference bool
	heard      map[*Port][]int16 // per listener, at EngineRate
	// clock is signalled each time the capture device has given the port a frame (fromMicrophone)
	clock chan struct{}
}

// NewPort connects a call whose audio runs at rate (8000 or 16000).
func (e *Engine) NewPort(rate int) *Port {
	p := &Port{e: e, rate: rate, mic: newFlow(engineFrame), speaker: newFlow(engineFrame), clock: make(chan struct{}, 1)}
	// The microphone's frames are read as they come (Clock): a frame is all the backlog it needs.
	p.mic.target = engineFrame
	if e.speakerRinged.Load() { // the speaker's ring holds a device period already (cring_linux.go)
		p.speaker.target = engineFrame + flowStep
	}
	e.mu.Lock()
	e.ports[p] = struct{}{}
	e.mu.Unlock()
	e.wake()
	return p
}

// Close disconnects the port (and takes it out of any conference).
func (p *Port) Close() {
	p.e.mu.Lock()
	delete(p.e.ports, p)
	for q := range p.e.ports {
		delete(q.heard, p)
	}
	p.e.mu.Unlock()
}

// Conference joins ports: each then sends the microphone mixed with what the others receive, and the
// speaker plays them all (it always does). Leave with Alone.
func (e *Engine) Conference(ports ...*Port) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range ports {
		p.conference = true
		if p.heard == nil {
			p.heard = map[*Port][]int16{}
		}
	}
}

// Alone takes a port out of its conference.
func (p *Port) Alone() {
	p.e.mu.Lock()
	defer p.e.mu.Unlock()
	p.conference = false
	for q := range p.e.ports {
		delete(q.heard, p)
	}
}

// Clock is signalled each time the capture device has given the port a 20 ms frame: with a sound device
// its callback is the call's media clock, and the frame is read as soon as it is there (docs/ARCHITECTURE.md,
// "Sound: devices and timing"). nil without a capture device (the null backend, no microphone, a device
// not open yet): the caller keeps a clock of its own. Ask again on each tick: devices come and go.
func (p *Port) Clock() <-chan struct{} {
	if !p.e.hasCapture() {
		return nil
	}
	return p.clock
}

// Read gives one frame of microphone audio at the port's rate (silence until the microphone's backlog
// is primed, and where the device was late).
func (p *Port) Read(pcm []int16) int {
	need := len(pcm)
	if p.rate == 8000 {
		need *= 2
	}
	frame := make([]int16, need)
	p.e.mu.Lock()
	if p.e.hasCapture() {
		p.mic.pull(frame)
	}
	if p.conference {
		for q, buf := range p.heard { // what the other members received since our last frame
			k := min(len(buf), need)
			for i := 0; i < k; i++ {
				frame[i] = clip(float64(frame[i]) + float64(buf[i]))
			}
			p.heard[q] = append(buf[:0], buf[k:]...)
		}
	}
	p.e.mu.Unlock()
	if p.rate == 8000 {
		p.down.process(pcm, frame)
	} else {
		copy(pcm, frame)
	}
	return len(pcm)
}

// Write queues one frame the call received, at the port's rate, for the speaker.
func (p *Port) Write(pcm []int16) {
	frame := pcm
	if p.rate == 8000 {
		frame = p.up.process(make([]int16, 0, 2*len(pcm)), pcm)
	}
	p.e.mu.Lock()
	p.speaker.push(frame)
	if p.conference {
		for q := range p.e.ports {
			if q != p && q.conference {
				q.heard[p] = appendBounded(q.heard[p], frame)
			}
		}
	}
	p.e.mu.Unlock()
}

// PortStats are a port's flows, for tests and the status: what waits to be played, and what the
// microphone holds for the call.
type PortStats struct {
	Speaker, Mic FlowStats
}

// PortStats reports every connected port.
func (e *Engine) PortStats() []PortStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []PortStats
	for p := range e.ports {
		out = append(out, PortStats{Speaker: p.speaker.stats(), Mic: p.mic.stats()})
	}
	return out
}

func appendBounded(q, s []int16) []int16 {
	q = append(q, s...)
	if over := len(q) - maxBuffered; over > 0 {
		q = append(q[:0], q[over:]...)
	}
	return q
}

// RaisePriority is called by the goroutine that feeds the port (a call's media tick), from that goroutine:
// on a real device it gets an OS thread of its own at a raised priority (priority_linux.go), so a busy
// machine does not starve the call's 20 ms clock. The goroutine must not return the thread: it keeps it
// until it ends. It reports the priority obtained ("" on the null device, which needs none).
func (p *Port) RaisePriority() string {
	if p.e.Backend == "null" {
		return ""
	}
	return raiseThread()
}
