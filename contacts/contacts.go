// Package contacts is the phone's local directory: names and numbers, searched and dialled from the
// window. It is kept in contacts.json beside the configuration, written atomically on every change.
package contacts

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode"

	"stayline/config"
)

// Contact is one entry of the directory.
type Contact struct {
	Name   string `json:"name"`
	Number string `json:"number"` // an extension, a number, or user@host / a sip: address
}

// Check refuses a contact the phone could not dial or store cleanly.
func (c Contact) Check() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("a contact needs a name")
	}
	n := strings.TrimSpace(c.Number)
	if n == "" {
		return errors.New("a contact needs a number or SIP address")
	}
	if strings.IndexFunc(c.Name+n, unicode.IsControl) >= 0 {
		return errors.New("control characters are not allowed")
	}
	if strings.ContainsAny(n, " \t<>\"") {
		return fmt.Errorf("%q is not a number or SIP address", n)
	}
	return nil
}

// Store is the directory. It is safe for concurrent use.
type Store struct {
	path string
	mu   sync.Mutex
	list []Contact // sorted by name
}

type fileFormat struct {
	Version  int       `json:"version"`
	Contacts []Contact `json:"contacts"`
}

// Path is where the directory lives for the configuration at configPath: beside it.
func Path(configPath string) string { return filepath.Join(filepath.Dir(configPath), "contacts.json") }

// Open reads the directory at path (none yet: empty). A damaged file is set aside as path.damaged-TIME,
// never overwritten, and the error says so.
func Open(path string) (*Store, error) {
	s := &Store{path: path}
	var f fileFormat
	if err := config.ReadJSONFile(path, "contacts", &f); err != nil {
		return s, err
	}
	for _, c := range f.Contacts {
		if c.Check() == nil {
			s.list = append(s.list, c)
		}
	}
	s.sortLocked()
	return s, nil
}

func (s *Store) sortLocked() {
	slices.SortStableFunc(s.list, func(a, b Contact) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
}

// All is every contact, by name.
func (s *Store) All() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.list)
}

// Search lists the contacts whose name or number contains query (any case, every word of it), by name.
func (s *Store) Search(query string) []Contact {
	words := strings.Fields(strings.ToLower(query))
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Contact
	for _, c := range s.list {
		hay := strings.ToLower(c.Name + " " + c.Number)
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(hay, w) }) {
			out = append(out, c)
		}
	}
	return out
}

// Put adds c, or replaces old with it (old zero: add). The file is written before Put returns.
func (s *Store) Put(old, c Contact) error {
	c.Name, c.Number = strings.TrimSpace(c.Name), strings.TrimSpace(c.Number)
	if err := c.Check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := slices.Clone(s.list)
	if old != (Contact{}) {
		i := slices.Index(next, old)
		if i < 0 {
			return fmt.Errorf("no contact %q to change", old.Name)
		}
		next = slices.Delete(next, i, i+1)
	}
	if slices.Contains(next, c) {
		return fmt.Errorf("%s (%s) is already in the directory", c.Name, c.Number)
	}
	return s.commitLocked(append(next, c))
}

// Remove deletes c.
func (s *Store) Remove(c Contact) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.list, c)
	if i < 0 {
		return fmt.Errorf("no contact %q to remove", c.Name)
	}
	return s.commitLocked(slices.Delete(slices.Clone(s.list), i, i+1))
}

// NameOf is the name of the contact with number ("" when none): calls and the history show it.
func (s *Store) NameOf(number string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.list {
		if c.Number == number {
			return c.Name
		}
	}
	return ""
}

// commitLocked writes next and, once it is on disk, makes it the directory: a failed write changes nothing.
func (s *Store) commitLocked(next []Contact) error {
	prev := s.list
	s.list = next
	s.sortLocked()
	data, err := json.MarshalIndent(fileFormat{Version: 1, Contacts: s.list}, "", " ")
	if err == nil {
		err = config.WriteFileAtomic(s.path, data)
	}
	if err != nil {
		s.list = prev
		return fmt.Errorf("save contacts: %w", err)
	}
	return nil
}
