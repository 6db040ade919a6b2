package contacts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirectoryAddSearchEditRemoveAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "contacts.json")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Contact{{"Reception", "1000"}, {"ann Lee", "1002"}, {"Bob Stone", "bob@branch.example"}} {
		if err := s.Put(Contact{}, c); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.All(); got[0].Name != "ann Lee" || got[2].Name != "Reception" {
		t.Errorf("not sorted by name, any case: %v", got)
	}
	for q, want := range map[string]int{"": 3, "lee": 1, "ANN": 1, "100": 2, "branch": 1, "bob stone": 1, "bob 1002": 0} {
		if got := s.Search(q); len(got) != want {
			t.Errorf("search %q: %v, want %d", q, got, want)
		}
	}
	if err := s.Put(Contact{"Bob Stone", "bob@branch.example"}, Contact{"Bob Stone", "1005"}); err != nil {
		t.Fatal(err)
	}
	if s.NameOf("1005") != "Bob Stone" || s.NameOf("bob@branch.example") != "" {
		t.Error("edit did not replace the number")
	}
	if err := s.Put(Contact{}, Contact{"ann Lee", "1002"}); err == nil {
		t.Error("a duplicate was added")
	}
	if err := s.Remove(Contact{"Reception", "1000"}); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.All(); len(got) != 2 || got[1] != (Contact{"Bob Stone", "1005"}) {
		t.Fatalf("after reopening: %v", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}

func TestContactsRefuseWhatCannotBeDialled(t *testing.T) {
	s, _ := Open(filepath.Join(t.TempDir(), "contacts.json"))
	for _, c := range []Contact{{"", "1002"}, {"Ann", ""}, {"Ann", "10 02"}, {"Ann", "<sip:x>"}, {"Ann\r\nX", "1002"}} {
		if err := s.Put(Contact{}, c); err == nil {
			t.Errorf("%q accepted", c)
		}
	}
	if len(s.All()) != 0 {
		t.Fatal("a refused contact was kept")
	}
}

func TestDamagedDirectoryIsKeptAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "contacts.json")
	os.WriteFile(path, []byte(`{"contacts": [{"name": "Ann"`), 0o600)
	s, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged file: %v", err)
	}
	if kept, _ := filepath.Glob(path + ".damaged-*"); len(kept) != 1 {
		t.Fatalf("kept: %v", kept)
	}
	if err := s.Put(Contact{}, Contact{"Ann", "1002"}); err != nil {
		t.Fatal(err)
	}
}
