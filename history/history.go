// Package history keeps the phone's call history on disk: every call, in or out, with its party, when it
// started, how long it was talked, how it ended and through which server. A Recorder follows the failover
// manager's events (whatever front end runs); a Store keeps the entries in one JSON file, rewritten
// atomically after every call, so a crash loses at most the call in progress.
package history

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"stayline/config"
)

// Results of a call, as the history shows them.
const (
	Answered  = "answered"  // talked (in or out)
	Missed    = "missed"    // in: rang, not answered here (the caller gave up, or nobody answered)
	Declined  = "declined"  // in: refused here; out: refused by the far end
	Busy      = "busy"      // out: the far end was busy
	Cancelled = "cancelled" // out: hung up here before an answer
	Failed    = "failed"    // out: not found, no service, no answer from the server, ...
)

// Entry is one call.
type Entry struct {
	Direction string        `json:"direction"` // "in" or "out"
	Party     string        `json:"party"`     // user@host
	Start     time.Time     `json:"start"`     // when it began: dialled or started ringing here
	Talk      time.Duration `json:"talk_ns"`   // from answer to end; 0 when never answered
	Result    string        `json:"result"`    // Answered, Missed, ...
	Reason    string        `json:"reason,omitempty"`
	Server    string        `json:"server,omitempty"`
}

// DefaultMax is how many entries a Store keeps; the oldest go first.
const DefaultMax = 1000

// Store is the history file. It is safe for concurrent use.
type Store struct {
	path    string
	max     int
	mu      sync.Mutex
	entries []Entry // oldest first
	changed chan struct{}
}

// fileFormat is the file's content.
type fileFormat struct {
	Version int     `json:"version"`
	Calls   []Entry `json:"calls"`
}

// Path is where the history lives for the configuration at configPath: beside it.
func Path(configPath string) string { return filepath.Join(filepath.Dir(configPath), "history.json") }

// Open reads the history at path (none yet: empty). A damaged file is not overwritten: it is kept as
// path.damaged-TIME and the error says so, and the store starts empty.
func Open(path string, max int) (*Store, error) {
	if max <= 0 {
		max = DefaultMax
	}
	s := &Store{path: path, max: max, changed: make(chan struct{}, 1)}
	var f fileFormat
	if err := config.ReadJSONFile(path, "call history", &f); err != nil {
		return s, err
	}
	s.entries = f.Calls
	if len(s.entries) > max {
		s.entries = s.entries[len(s.entries)-max:]
	}
	return s, nil
}

// Add records a call and writes the file.
func (s *Store) Add(e Entry) error {
	s.mu.Lock()
	s.entries = append(s.entries, e)
	if len(s.entries) > s.max {
		s.entries = append([]Entry(nil), s.entries[len(s.entries)-s.max:]...)
	}
	err := s.writeLocked()
	s.mu.Unlock()
	s.notify()
	return err
}

// Clear empties the history, on disk too.
func (s *Store) Clear() error {
	s.mu.Lock()
	s.entries = nil
	err := s.writeLocked()
	s.mu.Unlock()
	s.notify()
	return err
}

func (s *Store) writeLocked() error {
	data, err := json.MarshalIndent(fileFormat{Version: 1, Calls: s.entries}, "", " ")
	if err != nil {
		return err
	}
	if err := config.WriteFileAtomic(s.path, data); err != nil {
		return fmt.Errorf("write call history: %w", err)
	}
	return nil
}

func (s *Store) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Changed signals (without blocking the writer) that entries were added or cleared.
func (s *Store) Changed() <-chan struct{} { return s.changed }

// Entries are the calls, newest first.
func (s *Store) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, len(s.entries))
	for i, e := range s.entries {
		out[len(s.entries)-1-i] = e
	}
	return out
}

// LastDialled is the party of the newest outgoing call ("" when none): what Redial calls.
func (s *Store) LastDialled() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.entries) - 1; i >= 0; i-- {
		if s.entries[i].Direction == "out" {
			return s.entries[i].Party
		}
	}
	return ""
}
