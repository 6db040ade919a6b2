package phone

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"stayline/audio"
	"stayline/config"
	"stayline/lab"
	"stayline/lab/labtest"
)

// waitCall waits for a call event of id (any id if "") in state.
func waitCall(t *testing.T, a *Agent, id string, state CallState, within time.Duration) CallInfo {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-a.Events():
			if ev.Kind == EventCall && (id == "" || ev.Call.ID == id) && ev.Call.State == state {
				return ev.Call
			}
		case <-deadline:
			t.Fatalf("call %s never %s", id, state)
		}
	}
}

func callStats(t *testing.T, a *Agent, id string) MediaStats {
	for _, c := range a.Calls() {
		if c.ID == id {
			return c.Stats
		}
	}
	t.Fatalf("no call %s", id)
	return MediaStats{}
}

// callEventsUntil gathers a's call events until one satisfies last (included), failing after within.
func callEventsUntil(t *testing.T, a *Agent, within time.Duration, last func(CallInfo) bool) []CallInfo {
	t.Helper()
	deadline := time.After(within)
	var out []CallInfo
	for {
		select {
		case ev := <-a.Events():
			if ev.Kind != EventCall {
				continue
			}
			out = append(out, ev.Call)
			if last(ev.Call) {
				return out
			}
		case <-deadline:
			t.Fatalf("call events so far %s, and no more within %s", describeCalls(out), within)
		}
	}
}

// describeCalls lists call events as "id state (server) reason".
func describeCalls(calls []CallInfo) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "[%s %s (%d) %s] ", c.ID, c.State, c.Server, c.Reason)
	}
	return b.String()
}

// registeredAgent is an agent registered as 1001 on k.
func registeredAgent(t *testing.T, k *lab.Server, transport config.Transport) *Agent {
	t.Helper()
	a := startAgent(t, lab.Password, srv("home", k, transport))
	mustRegister(t, a)
	return a
}

// nullEngine is a sound engine with no device, closed at the end of the test.
func nullEngine(t *testing.T) *audio.Engine {
	t.Helper()
	e, err := audio.OpenEngine(audio.EngineOptions{Backend: "null"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// activeCall registers on k, calls 1002 (an echoing SIPp) and waits for media.
func activeCall(t *testing.T, servers ...config.Server) (*Agent, string) {
	t.Helper()
	a := startAgent(t, lab.Password, servers...)
	mustRegister(t, a)
	id, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 5*time.Second)
	eventually(t, 3*time.Second, "echoed RTP", func() bool { return callStats(t, a, id).RxPackets >= 10 })
	return a, id
}

// callPhone calls user's phone b from a, has b answer, and waits until the call is active on a: the call's
// id on a, and on b.
func callPhone(t *testing.T, a, b *Agent, user string) (string, string) {
	t.Helper()
	id, err := a.Dial(context.Background(), 0, user, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	in := waitCall(t, b, "", CallIncoming, 3*time.Second)
	b.Answer(in.ID)
	waitCall(t, a, id, CallActive, 3*time.Second)
	return id, in.ID
}

// listenTo puts src on call id's microphone and records what the call plays for 1.5 s.
func listenTo(t *testing.T, a *Agent, id string, src audio.Source) []int16 {
	t.Helper()
	c, err := a.lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	c.media.setAudio(src, rec)
	time.Sleep(1500 * time.Millisecond)
	return rec.samples()
}

// callBaresip dials user's baresip from a, has it accept, and waits until the call is active on a.
func callBaresip(t *testing.T, a *Agent, bs *lab.Baresip, user string) string {
	t.Helper()
	id, err := a.Dial(context.Background(), 0, user, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.WaitEvent("CALL_INCOMING", 3*time.Second); err != nil {
		t.Fatalf("baresip %s: %v", user, err)
	}
	bs.Command("accept", "")
	waitCall(t, a, id, CallActive, 3*time.Second)
	return id
}

// recorder is a Sink that keeps what it is given.
type recorder struct {
	mu  sync.Mutex
	pcm []int16
}

func (r *recorder) Write(pcm []int16) {
	r.mu.Lock()
	r.pcm = append(r.pcm, pcm...)
	r.mu.Unlock()
}

func (r *recorder) samples() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.pcm...)
}

// expectTone checks that the last half second of pcm (at rate) is a tone of freq Hz (±20), clearly audible.
func expectTone(t *testing.T, pcm []int16, rate, freq int, what string) {
	t.Helper()
	if len(pcm) < rate {
		t.Fatalf("%s: only %d samples played", what, len(pcm))
	}
	tail := pcm[len(pcm)-rate/2:] // half a second, well after the start
	crossings := 0
	var peak int16
	for i := 1; i < len(tail); i++ {
		if (tail[i-1] < 0) != (tail[i] < 0) {
			crossings++
		}
		peak = max(peak, tail[i])
	}
	got := float64(crossings) / 2 / 0.5
	if got < float64(freq-20) || got > float64(freq+20) || peak < 1000 {
		t.Fatalf("decoded %s as %.0f Hz at peak %d, want its %d Hz tone", what, got, peak, freq)
	}
}

func TestCallThroughKamailioToSIPpEcho(t *testing.T) {
	k := labtest.Server(t, "home", lab.ServerOptions{})
	far := labtest.FarEnd(t, "1002", k.Addr())
	a := startAgent(t, lab.Password, srv("home", k, config.TransportUDP))
	a.opts.Codecs = []string{"PCMU"}
	mustRegister(t, a)
	start := time.Now()
	id, err := a.Dial(context.Background(), 0, "1002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitCall(t, a, id, CallActive, 5*time.Second)
	t.Logf("FIGURE call.setup_ms %.1f (dial -> 200 OK and ACK through Kamailio to SIPp)", float64(time.Since(start).Microseconds())/1000)
	eventually(t, 3*time.Second, "echoed RTP", func() bool { return callStats(t, a, id).RxPackets >= 50 })
	st := callStats(t, a, id)
	if st.Codec != "PCMU" || st.Lost != 0 || st.TxPackets < 50 {
		t.Fatalf("stats %+v", st)
	}
	if err := a.Hangup(id, "hung up"); err != nil {
		t.Fatal(err)
	}
	ended := waitCall(t, a, id, CallEnded, 5*time.Second)
	if ended.Reason != "hung up" {
		t.Fatalf("ended: %+v", ended)
	}
	if n := far.Received("BYE"); n != 1 {
		b, _ := os.ReadFile(far.MessagesFile())
		t.Fatalf("the far end received %d BYEs, want 1\n%s", n, b)
	}
}

// bareAgent is an agent with no SIP stack: enough for the call table, a call's end and its events.
func bareAgent() *Agent {
	return &Agent{log: slog.New(slog.NewTextHandler(io.Discard, nil)), events: heldEvents(),
		calls: map[string]*call{}, byCallID: map[string]*call{}, down: map[int]bool{}}
}

// tracked is a call of a's in state, filed in its table (outgoing when dialing), with no SIP or media.
func tracked(a *Agent, state CallState) *call {
	c := &call{a: a, outgoing: state == CallDialing, state: state, server: -1, done: make(chan struct{})}
	a.track(c, "")
	return c
}

// The call table: ids in order, lookup by id and by each attempt's Call-ID, nothing left once a call ends.
func TestCallTable(t *testing.T) {
	a := bareAgent()
	c := tracked(a, CallDialing)
	other := &call{a: a, state: CallIncoming, done: make(chan struct{})}
	a.track(other, "in@x")
	if c.id != "1" || other.id != "2" {
		t.Fatalf("ids %s and %s", c.id, other.id)
	}
	if !a.alias(c, "attempt1@x") || !a.alias(c, "attempt2@x") {
		t.Fatal("a call in progress refused an attempt's Call-ID")
	}
	a.unalias("attempt1@x")
	byCallID := func(id string) *call {
		req := sip.NewRequest(sip.BYE, sip.Uri{Host: "x"})
		h := sip.CallIDHeader(id)
		req.AppendHeader(&h)
		return a.byDialog(req)
	}
	if byCallID("attempt1@x") != nil || byCallID("attempt2@x") != c || byCallID("in@x") != other {
		t.Fatal("requests do not find their calls by Call-ID")
	}
	if found, err := a.lookup("2"); err != nil || found != other {
		t.Fatalf("lookup 2: %v", err)
	}
	if _, err := a.lookup("7"); !errors.Is(err, ErrNoCall) {
		t.Fatalf("lookup of an unknown call: %v", err)
	}
	c.end(causeCancelled)
	if a.alias(c, "attempt3@x") || byCallID("attempt2@x") != nil || len(a.Calls()) != 1 {
		t.Fatalf("an ended call is still filed: %+v", a.Calls())
	}
}

// A call ends once: one ended event, with the first cause; later ends change nothing.
func TestCallEndsOnce(t *testing.T) {
	a := bareAgent()
	c := &call{a: a, state: CallActive, server: 1, remote: "1002@x", done: make(chan struct{})}
	a.track(c, "")
	c.end(causeFarEndHungUp)
	c.end(hangupCause("hung up"))
	c.setState(CallHeld)
	select {
	case <-c.done:
	default:
		t.Fatal("done is still open")
	}
	events := a.events.held()
	if len(events) != 1 || events[0].Kind != EventCall || events[0].Server != 1 || events[0].Call.State != CallEnded ||
		events[0].Call.Reason != "the far end hung up" || events[0].Call.Remote != "1002@x" {
		t.Fatalf("events %+v, want one: ended, the far end hung up", events)
	}
	if err := a.Hangup(c.id, "again"); !errors.Is(err, ErrNoCall) {
		t.Fatalf("hang-up of an ended call: %v", err)
	}
}
