package config

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settleTicks is how many ticks Ticks gives after the file's last change: Watch needs two that see the
// same content, and one more covers a change that lands between them.
const settleTicks = 3

// Ticks gives Watch its ticks: every `every`, but only while the file at path is changing (inotify on its
// directory, so an editor's replace-by-rename is seen too) and for settleTicks after, so an idle window
// does not wake every few seconds to read a file nobody touched. Where the directory cannot be watched it
// ticks every `every` all along. It stops when ctx ends.
func Ticks(ctx context.Context, path string, every time.Duration) <-chan time.Time {
	out := make(chan time.Time)
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(path)); err != nil {
			w.Close()
		}
	}
	if err != nil {
		slog.Warn("the configuration file is polled", "path", path, "every", every, "error", err)
		go func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-t.C:
					select {
					case out <- now:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
		return out
	}
	go func() {
		defer w.Close()
		name := filepath.Clean(path)
		t := time.NewTicker(every)
		t.Stop()
		left := 0
		for {
			var ticks <-chan time.Time
			if left > 0 {
				ticks = t.C
			}
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Clean(ev.Name) == name {
					if left == 0 {
						t.Reset(every)
					}
					left = settleTicks
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				slog.Warn("watching the configuration file", "path", path, "error", err)
			case now := <-ticks:
				if left--; left == 0 {
					t.Stop()
				}
				select {
				case out <- now:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
