package fleet

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"stayline/lab"
)

// Message is one REGISTER a lab server logged (or refused with 503), and which server.
type Message struct {
	Server string // "home" or "alternate"
	lab.Register
}

// Traffic is every REGISTER both servers logged, in time order.
type Traffic struct {
	Messages   []Message
	RetryAfter time.Duration
}

// ReadTraffic reads the servers' logs (lab.Server.Registers).
func ReadTraffic(home, alternate *lab.Server, retryAfter int) (Traffic, error) {
	t := Traffic{RetryAfter: time.Duration(retryAfter) * time.Second}
	for _, s := range []*lab.Server{home, alternate} {
		rs, err := s.Registers()
		if err != nil {
			return t, err
		}
		for _, r := range rs {
			t.Messages = append(t.Messages, Message{Server: s.Name, Register: r})
		}
	}
	sort.SliceStable(t.Messages, func(i, j int) bool { return t.Messages[i].At.Before(t.Messages[j].At) })
	return t, nil
}

// Buckets counts the REGISTERs (503s included) a server received in each width-long slot of [from, to).
func (t Traffic) Buckets(server string, from, to time.Time, width time.Duration) []int {
	n := int(to.Sub(from)/width) + 1
	out := make([]int, n)
	for _, m := range t.Messages {
		if m.Server != server || m.At.Before(from) || !m.At.Before(to) {
			continue
		}
		out[int(m.At.Sub(from)/width)]++
	}
	return out
}

// PeakPerSecond is the most REGISTERs the server received in any one second (a window sliding by
// 100 ms) of [from, to).
func (t Traffic) PeakPerSecond(server string, from, to time.Time) int {
	b := t.Buckets(server, from, to, 100*time.Millisecond)
	peak := 0
	for i := range b {
		sum := 0
		for j := i; j < min(i+10, len(b)); j++ {
			sum += b[j]
		}
		peak = max(peak, sum)
	}
	return peak
}

// WaveRatio is the largest 100 ms bucket over the mean bucket at server, over the span of [from, to)
// that had REGISTERs (first to last): 1 is perfectly even, a synchronized wave shows as a large number.
func (t Traffic) WaveRatio(server string, from, to time.Time) float64 {
	var first, last time.Time
	for _, m := range t.Messages {
		if m.Server == server && !m.At.Before(from) && m.At.Before(to) {
			if first.IsZero() {
				first = m.At
			}
			last = m.At
		}
	}
	if first.IsZero() {
		return 0
	}
	b := t.Buckets(server, first, last.Add(time.Nanosecond), 100*time.Millisecond)
	total, peak := 0, 0
	for _, n := range b {
		total += n
		peak = max(peak, n)
	}
	if total == 0 {
		return 0
	}
	return float64(peak) / (float64(total) / float64(len(b)))
}

// Overloads counts the 503s server sent since from.
func (t Traffic) Overloads(server string, from time.Time) int {
	n := 0
	for _, m := range t.Messages {
		if m.Server == server && m.Overload && !m.At.Before(from) {
			n++
		}
	}
	return n
}

// Attempts counts each phone's attempts to register since from: a 401 challenge and its answer are one
// attempt, a REGISTER refused with 503 is one, a REGISTER with reused credentials is one. Un-REGISTERs
// (Expires: 0, leaving the alternate after failback) are releases, not attempts, and are not counted.
func (t Traffic) Attempts(from time.Time) map[string]int {
	asked := map[string]bool{} // user/callid/cseq of REGISTERs without credentials
	out := map[string]int{}
	for _, m := range t.Messages {
		if m.At.Before(from) || m.Unregister {
			continue
		}
		key := func(cseq int) string { return m.User + "/" + m.CallID + "/" + strconv.Itoa(cseq) }
		if m.Auth && asked[key(m.CSeq-1)] {
			continue // the answer to the challenge of the attempt already counted
		}
		if !m.Auth {
			asked[key(m.CSeq)] = true
		}
		out[m.User]++
	}
	return out
}

// EarlyRetries lists REGISTERs a phone sent to a server before the Retry-After of that server's 503 to
// it had passed.
func (t Traffic) EarlyRetries() []string {
	until := map[string]time.Time{} // server/user -> Retry-After end
	asked := map[string]bool{}
	var out []string
	for _, m := range t.Messages {
		k := m.Server + "/" + m.User
		if !m.Auth {
			asked[m.User+"/"+m.CallID+"/"+strconv.Itoa(m.CSeq)] = true
		} else if asked[m.User+"/"+m.CallID+"/"+strconv.Itoa(m.CSeq-1)] {
			continue // the answer to a challenge: part of an attempt already judged
		}
		if end, ok := until[k]; ok && m.At.Before(end) {
			out = append(out, fmt.Sprintf("user %s to %s %s before its Retry-After ended", m.User, m.Server,
				end.Sub(m.At).Round(time.Millisecond)))
		}
		if m.Overload {
			until[k] = m.At.Add(t.RetryAfter)
		}
	}
	return out
}
