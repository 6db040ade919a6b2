package config

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Ticks gives none while the file rests, settleTicks after each change (Watch's two agreeing reads and one
// more), and none for changes to other files of the directory.
func TestTicksOnlyWhileTheFileChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "phone.toml")
	if err := os.WriteFile(path, []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const every = 20 * time.Millisecond
	ticks := Ticks(ctx, path, every)
	none := func(what string) {
		t.Helper()
		select {
		case <-ticks:
			t.Fatalf("a tick %s", what)
		case <-time.After(10 * every):
		}
	}
	none("before any change")
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("b"), 0o600); err != nil {
		t.Fatal(err)
	}
	none("for another file")
	if err := WriteFileAtomic(path, []byte("c")); err != nil { // an editor's save: a new file renamed over
		t.Fatal(err)
	}
	for i := 0; i < settleTicks; i++ {
		select {
		case <-ticks:
		case <-time.After(5 * time.Second):
			t.Fatalf("tick %d of %d after the change did not come", i+1, settleTicks)
		}
	}
	none("after the change settled")
}
