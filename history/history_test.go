package history

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stayline/failover"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func call(id string, state failover.CallState, dir, remote, reason string) *failover.CallEvent {
	return &failover.CallEvent{ID: id, State: state, Direction: dir, Remote: remote, Reason: reason, Server: "home"}
}

func TestRecorderClassifiesEveryEnding(t *testing.T) {
	store, err := Open(filepath.Join(t.TempDir(), "history.json"), 0)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: t0}
	r := NewRecorder(store, nil, clk.Now)
	play := func(id, dir, remote string, talk time.Duration, reason string, cause failover.EndCause, states ...failover.CallState) {
		for _, st := range states {
			r.Apply(call(id, st, dir, remote, ""))
			clk.Advance(2 * time.Second)
		}
		clk.Advance(talk)
		end := call(id, "ended", dir, remote, reason)
		end.Cause = cause
		r.Apply(end)
		clk.Advance(time.Minute)
	}
	play("c1", "out", "1002@lab", 95*time.Second, "hung up", failover.EndLocal, "dialing", "ringing", "active")
	play("c2", "in", "1003@lab", 0, "cancelled by the caller", failover.EndRemote, "incoming")
	play("c3", "in", "1004@lab", 0, "hung up", failover.EndLocal, "incoming")
	play("c4", "out", "1005@lab", 0, "busy (486 Busy Here)", failover.EndBusy, "dialing")
	play("c5", "out", "1006@lab", 0, "cancelled", failover.EndLocal, "dialing", "ringing")
	play("c6", "out", "1007@lab", 0, "not found (404 Not Found)", failover.EndFailed, "dialing")
	play("c7", "in", "1008@lab", 30*time.Second, "hung up", failover.EndLocal, "incoming", "active", "held", "active")
	play("c8", "out", "911@lab", 0, "no server answered (tried home, branch)", failover.EndFailed, "dialing") // an emergency call no server took

	got := store.Entries()
	want := []struct {
		party, result string
		talk          time.Duration
	}{
		{"911@lab", Failed, 0}, {"1008@lab", Answered, 36 * time.Second}, {"1007@lab", Failed, 0}, {"1006@lab", Cancelled, 0},
		{"1005@lab", Busy, 0}, {"1004@lab", Declined, 0}, {"1003@lab", Missed, 0}, {"1002@lab", Answered, 97 * time.Second},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Party != w.party || got[i].Result != w.result || got[i].Talk != w.talk || got[i].Server != "home" {
			t.Errorf("entry %d = %+v, want %s %s talk %s", i, got[i], w.party, w.result, w.talk)
		}
	}
	if first := got[len(got)-1]; !first.Start.Equal(t0) || first.Direction != "out" || first.Reason != "hung up" {
		t.Errorf("first call %+v", first)
	}
	if store.LastDialled() != "911@lab" {
		t.Errorf("last dialled %q", store.LastDialled())
	}
}

// The file is what the next run reads, whatever happened to the process in between.
func TestHistorySurvivesARestartAndKeepsTheNewest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.json")
	s, _ := Open(path, 3)
	for i, p := range []string{"a", "b", "c", "d"} {
		if err := s.Add(Entry{Direction: "out", Party: p, Start: t0.Add(time.Duration(i) * time.Minute), Result: Answered}); err != nil {
			t.Fatal(err)
		}
	}
	again, err := Open(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	var parties []string
	for _, e := range again.Entries() {
		parties = append(parties, e.Party)
	}
	if strings.Join(parties, "") != "dcb" {
		t.Fatalf("after reopening: %v, want the newest three, newest first", parties)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}

func TestDamagedHistoryIsKeptAsideNotOverwritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "history.json")
	os.WriteFile(path, []byte(`{"version":1,"calls":[{"party":"1002"`), 0o600)
	s, err := Open(path, 0)
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged file: %v", err)
	}
	kept, _ := filepath.Glob(path + ".damaged-*")
	if len(kept) != 1 {
		t.Fatalf("the damaged file was not kept: %v", kept)
	}
	if b, _ := os.ReadFile(kept[0]); !strings.Contains(string(b), `"party":"1002"`) {
		t.Fatal("the kept copy lost its content")
	}
	if err := s.Add(Entry{Party: "x", Result: Missed}); err != nil {
		t.Fatal(err)
	}
	if len(s.Entries()) != 1 {
		t.Fatal("the new history does not work")
	}
}
