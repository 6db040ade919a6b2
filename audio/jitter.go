package audio

import "sync"

// JitterBuffer holds received frames in sequence order and releases one per 20 ms tick. It absorbs
// network jitter and reordering, drops packets that arrive too late to be played, and reports a gap
// (Pop returns false) where a frame is missing, for the caller to conceal.
//
// Its depth adapts: it waits for Target frames before playing, Target follows the measured jitter
// (SetJitter), and when it holds more than Target+Slack frames it drops one to cut the delay.
type JitterBuffer struct {
	mu      sync.Mutex
	frames  map[uint16][]byte
	next    uint16 // sequence number to play next
	started bool   // playout has begun
	primed  bool   // enough frames were buffered to start
	target  int
	min     int
	max     int
	stats   JitterStats
}

// JitterStats counts what the buffer did.
type JitterStats struct {
	Played    uint64 // frames released
	Concealed uint64 // ticks with no frame to play (lost or not yet arrived)
	Late      uint64 // packets that arrived after their turn, dropped
	Dropped   uint64 // frames discarded to shrink the delay, or duplicates
}

// Slack is how far above its target the buffer may grow before it drops a frame.
const Slack = 3

// NewJitterBuffer makes a buffer whose target depth stays within [min, max] frames.
func NewJitterBuffer(min, max int) *JitterBuffer {
	if min < 1 {
		min = 1
	}
	if max < min {
		max = min
	}
	return &JitterBuffer{frames: map[uint16][]byte{}, target: min, min: min, max: max}
}

// seqLess reports whether a comes before b, with wrap-around.
func seqLess(a, b uint16) bool { return a != b && b-a < 0x8000 }

// Push adds a received frame. The payload is kept, not copied.
func (j *JitterBuffer) Push(seq uint16, payload []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.started && seqLess(seq, j.next) {
		j.stats.Late++
		return
	}
	if _, dup := j.frames[seq]; dup {
		j.stats.Dropped++
		return
	}
	if !j.started && (len(j.frames) == 0 || seqLess(seq, j.next)) {
		j.next = seq // the earliest frame seen before playout starts
	}
	j.frames[seq] = payload
	if len(j.frames) > j.max+Slack+64 { // a sender that jumped far ahead: keep memory bounded
		j.resync()
	}
}

// resync restarts from the earliest frame held.
func (j *JitterBuffer) resync() {
	first := true
	for seq := range j.frames {
		if first || seqLess(seq, j.next) {
			j.next, first = seq, false
		}
	}
	for seq := range j.frames {
		if seqLess(seq, j.next) || seq-j.next > uint16(j.max+Slack) {
			delete(j.frames, seq)
			j.stats.Dropped++
		}
	}
}

// Pop releases the frame due at this tick. It returns false when there is none: before playout starts,
// or for a lost or missing frame, which the caller conceals.
func (j *JitterBuffer) Pop() ([]byte, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.primed {
		if j.depth() < j.target {
			return nil, false
		}
		j.primed, j.started = true, true
	}
	// Too deep (a burst, or the sender's clock runs fast): skip the oldest frame to cut the delay.
	if j.depth() > j.target+Slack {
		if _, ok := j.frames[j.next]; ok {
			delete(j.frames, j.next)
			j.stats.Dropped++
		}
		j.next++
	}
	p, ok := j.frames[j.next]
	if ok {
		delete(j.frames, j.next)
		j.stats.Played++
	} else {
		j.stats.Concealed++
	}
	j.next++
	if len(j.frames) == 0 && !ok {
		// Nothing held at all (the sender paused, or the delay grew): start over from the next packet
		// that arrives, once the target depth is buffered again.
		j.primed, j.started = false, false
	}
	return p, ok
}

// depth is how many frames span from next to the newest held.
func (j *JitterBuffer) depth() int {
	d := 0
	for seq := range j.frames {
		if n := int(seq-j.next) + 1; !seqLess(seq, j.next) && n > d {
			d = n
		}
	}
	return d
}

// SetJitter adapts the target depth to the interarrival jitter (RFC 3550), in milliseconds: enough frames
// to cover about three times the jitter, within the buffer's bounds.
func (j *JitterBuffer) SetJitter(ms float64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	t := 1 + int(3*ms/FrameDurationMs)
	j.target = max(j.min, min(j.max, t))
}

// Target is the current target depth in frames.
func (j *JitterBuffer) Target() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.target
}

// Stats returns the counters.
func (j *JitterBuffer) Stats() JitterStats {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stats
}

// Concealer hides lost frames: it replays the last good frame, fading by half each time, then silence.
type Concealer struct {
	last    []int16
	repeats int
}

// Good records a frame that was decoded and played.
func (c *Concealer) Good(pcm []int16) {
	c.last = append(c.last[:0], pcm...)
	c.repeats = 0
}

// Conceal appends n samples standing in for a missing frame.
func (c *Concealer) Conceal(dst []int16, n int) []int16 {
	c.repeats++
	if len(c.last) != n || c.repeats > 3 {
		for i := 0; i < n; i++ {
			dst = append(dst, 0)
		}
		return dst
	}
	shift := uint(c.repeats)
	for _, s := range c.last {
		dst = append(dst, s>>shift)
	}
	return dst
}
