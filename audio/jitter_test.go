package audio

import (
	"slices"
	"testing"
)

func frame(seq uint16) []byte { return []byte{byte(seq >> 8), byte(seq)} }

// play pops n ticks and returns what each gave: the frame's sequence number, or -1 for a gap.
func play(j *JitterBuffer, n int) []int {
	var out []int
	for i := 0; i < n; i++ {
		p, ok := j.Pop()
		if !ok {
			out = append(out, -1)
			continue
		}
		out = append(out, int(p[0])<<8|int(p[1]))
	}
	return out
}

func TestJitterBufferReordersAndWaitsForTarget(t *testing.T) {
	j := NewJitterBuffer(2, 10)
	j.Push(101, frame(101))
	if got := play(j, 1); !slices.Equal(got, []int{-1}) {
		t.Fatalf("played before reaching the 2-frame target: %v", got)
	}
	j.Push(100, frame(100)) // arrives after 101
	j.Push(102, frame(102))
	if got := play(j, 3); !slices.Equal(got, []int{100, 101, 102}) {
		t.Fatalf("played %v, want 100 101 102 in order", got)
	}
}

func TestJitterBufferConcealsLossAndDropsLatePackets(t *testing.T) {
	j := NewJitterBuffer(2, 10)
	for _, s := range []uint16{1, 2, 4, 5} { // 3 is lost
		j.Push(s, frame(s))
	}
	if got := play(j, 2); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("got %v", got)
	}
	if got := play(j, 1); !slices.Equal(got, []int{-1}) {
		t.Fatalf("missing frame 3 gave %v, want a gap", got)
	}
	j.Push(3, frame(3)) // too late now
	if got := play(j, 2); !slices.Equal(got, []int{4, 5}) {
		t.Fatalf("got %v", got)
	}
	st := j.Stats()
	if st.Late != 1 || st.Concealed != 1 || st.Played != 4 {
		t.Fatalf("stats %+v, want 1 late, 1 concealed, 4 played", st)
	}
}

func TestJitterBufferWrapsSequenceNumbers(t *testing.T) {
	j := NewJitterBuffer(2, 10)
	for _, s := range []uint16{65534, 65535, 0, 1} {
		j.Push(s, frame(s))
	}
	if got := play(j, 4); !slices.Equal(got, []int{65534, 65535, 0, 1}) {
		t.Fatalf("got %v", got)
	}
}

func TestJitterBufferShrinksWhenTooDeep(t *testing.T) {
	j := NewJitterBuffer(2, 10)
	for s := uint16(0); s < 10; s++ { // a burst of 10 frames
		j.Push(s, frame(s))
	}
	got := play(j, 10)
	if j.Stats().Dropped == 0 {
		t.Fatalf("a 10-frame burst against a 2-frame target dropped nothing: %v", got)
	}
	if got[0] == 0 {
		t.Fatalf("played the oldest frame of an over-deep buffer first: %v", got)
	}
}

func TestJitterBufferTargetFollowsJitter(t *testing.T) {
	j := NewJitterBuffer(2, 10)
	j.SetJitter(0)
	if j.Target() != 2 {
		t.Fatalf("target %d at no jitter, want the minimum 2", j.Target())
	}
	j.SetJitter(40) // 3 × 40 ms = 6 frames, + 1
	if j.Target() != 7 {
		t.Fatalf("target %d at 40 ms jitter, want 7", j.Target())
	}
	j.SetJitter(1000)
	if j.Target() != 10 {
		t.Fatalf("target %d at 1 s jitter, want the maximum 10", j.Target())
	}
}

func TestJitterBufferRestartsAfterASilence(t *testing.T) {
	j := NewJitterBuffer(2, 10)
	j.Push(1, frame(1))
	j.Push(2, frame(2))
	play(j, 4) // 1, 2, then nothing: the sender paused (hold)
	j.Push(500, frame(500))
	j.Push(501, frame(501))
	if got := play(j, 2); !slices.Equal(got, []int{500, 501}) {
		t.Fatalf("after a pause got %v, want playout to restart at 500", got)
	}
}

func TestConcealerFadesThenFallsSilent(t *testing.T) {
	var c Concealer
	c.Good([]int16{800, -800})
	var got [][]int16
	for i := 0; i < 4; i++ {
		got = append(got, c.Conceal(nil, 2))
	}
	want := [][]int16{{400, -400}, {200, -200}, {100, -100}, {0, 0}}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("conceal %d = %v, want %v", i, got[i], want[i])
		}
	}
}
