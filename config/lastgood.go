package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LastGoodPath is where the last configuration that loaded without error is kept: beside path, named
// after it ("phone.toml" -> "phone.last-good.toml"), mode 0600 like the file itself.
func LastGoodPath(path string) string {
	base := filepath.Base(path)
	return filepath.Join(filepath.Dir(path), strings.TrimSuffix(base, filepath.Ext(base))+".last-good.toml")
}

// LoadKeepingGood loads path for the window. A valid file becomes the last good configuration. A broken
// one does not stop the phone when an earlier good one is kept: that one is returned, with broken saying
// what is wrong with the file (its line named). err is set when there is nothing to run with.
func LoadKeepingGood(path string) (cfg *Config, broken error, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read configuration: %w", err)
	}
	cfg, perr := Parse(path, data)
	if perr == nil {
		// A failure to keep the copy costs only the fallback for a later mistake: the phone runs.
		RememberGood(path, data)
		return cfg, nil, nil
	}
	good := LastGoodPath(path)
	gdata, gerr := os.ReadFile(good)
	if gerr != nil {
		return nil, nil, perr
	}
	gcfg, gerr := Parse(good, gdata)
	if gerr != nil {
		return nil, nil, perr
	}
	return gcfg, perr, nil
}

// RememberGood keeps data (a configuration that parsed) as path's last good configuration.
func RememberGood(path string, data []byte) error {
	good := LastGoodPath(path)
	if old, err := os.ReadFile(good); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := WriteFileAtomic(good, data); err != nil {
		return fmt.Errorf("keep the last good configuration: %w", err)
	}
	return nil
}

// Watch reads path at every tick and calls changed when its content differs from what it last saw (the
// content at the time Watch starts counts as seen) and has stayed the same for two ticks, so an editor's
// half-written save is not read: with the new configuration when it is valid (it becomes the last good
// one), or with the error that keeps the running configuration. A file that disappears is reported once
// as an error. Watch returns when ctx ends.
func Watch(ctx context.Context, path string, tick <-chan time.Time, changed func(*Config, error)) {
	watch(ctx, path, tick, changed, func() {})
}

// watch is Watch, calling checked after each tick's work (tests wait on it).
func watch(ctx context.Context, path string, tick <-chan time.Time, changed func(*Config, error), checked func()) {
	seen := fileSum(path)
	pending := seen
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		data, err := os.ReadFile(path)
		sum := sumOf(data, err)
		settled := sum == pending
		pending = sum
		if sum == seen || !settled {
			checked()
			continue
		}
		seen = sum
		report(path, data, err, changed)
		checked()
	}
}

// report tells changed what a settled change of the file holds.
func report(path string, data []byte, err error, changed func(*Config, error)) {
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%s was removed", path)
		}
		changed(nil, fmt.Errorf("read configuration: %w", err))
		return
	}
	cfg, perr := Parse(path, data)
	if perr != nil {
		changed(nil, perr)
		return
	}
	RememberGood(path, data)
	changed(cfg, nil)
}

func fileSum(path string) [sha256.Size]byte {
	data, err := os.ReadFile(path)
	return sumOf(data, err)
}

// sumOf fingerprints a read: the content, or the failure (a missing file differs from an empty one).
func sumOf(data []byte, err error) [sha256.Size]byte {
	if err != nil {
		return sha256.Sum256([]byte("\x00error: " + err.Error()))
	}
	return sha256.Sum256(data)
}
