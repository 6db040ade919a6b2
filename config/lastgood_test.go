package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodText = "[account]\nuser = \"1001\"\ndomain = \"example.com\"\n\n[[server]]\nname = \"home\"\naddress = \"192.0.2.1\"\n"

func TestBrokenFileFallsBackToTheLastGoodOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "phone.toml")
	os.WriteFile(path, []byte(goodText), 0o600)
	cfg, broken, err := LoadKeepingGood(path)
	if err != nil || broken != nil || cfg.Account.User != "1001" {
		t.Fatalf("valid file: %v, %v, %v", cfg, broken, err)
	}
	if b, _ := os.ReadFile(LastGoodPath(path)); string(b) != goodText {
		t.Fatalf("last good = %q", b)
	}
	if fi, _ := os.Stat(LastGoodPath(path)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("last good mode %v", fi.Mode().Perm())
	}

	bad := strings.Replace(goodText, `user = "1001"`, `user = "1001"`+"\ntransport = 5", 1)
	os.WriteFile(path, []byte(bad), 0o600)
	cfg, broken, err = LoadKeepingGood(path)
	if err != nil || cfg == nil || cfg.Account.User != "1001" {
		t.Fatalf("broken file: cfg %v, err %v; want the last good configuration", cfg, err)
	}
	if broken == nil || !strings.Contains(broken.Error(), path+":3:") {
		t.Fatalf("broken = %v, want the file's line 3 named", broken)
	}
	if b, _ := os.ReadFile(path); string(b) != bad {
		t.Fatal("the broken file was changed: the user's edit must stay for them to fix")
	}
	if b, _ := os.ReadFile(LastGoodPath(path)); string(b) != goodText {
		t.Fatal("a broken file replaced the last good one")
	}

	// Nothing good kept: an error, naming the line.
	other := filepath.Join(t.TempDir(), "phone.toml")
	os.WriteFile(other, []byte(bad), 0o600)
	if _, _, err := LoadKeepingGood(other); err == nil || !strings.Contains(err.Error(), ":3:") {
		t.Fatalf("broken file with no last good: %v", err)
	}
	if _, _, err := LoadKeepingGood(filepath.Join(t.TempDir(), "none.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestWatchReportsEditsGoodAndBad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "phone.toml")
	os.WriteFile(path, []byte(goodText), 0o600)
	tick := make(chan time.Time)
	type change struct {
		cfg *Config
		err error
	}
	changes := make(chan change, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	checked := make(chan struct{})
	go func() {
		watch(ctx, path, tick, func(c *Config, err error) { changes <- change{c, err} }, func() { checked <- struct{}{} })
		close(done)
	}()
	// A change is reported once it has been seen on two ticks in a row.
	step := func() {
		for range 2 {
			tick <- time.Time{}
			<-checked
		}
	}
	expect := func(what string) change {
		t.Helper()
		select {
		case c := <-changes:
			return c
		default:
			t.Fatalf("no change reported after %s", what)
		}
		return change{}
	}
	step()
	select {
	case c := <-changes:
		t.Fatalf("unchanged file reported: %+v", c)
	default:
	}
	// Half a save (seen once, then the whole file): only the whole file is reported.
	os.WriteFile(path, []byte(goodText[:20]), 0o600)
	tick <- time.Time{}
	<-checked
	os.WriteFile(path, []byte(goodText), 0o600)
	step()
	select {
	case c := <-changes:
		t.Fatalf("a half-written file that was whole again by the next tick was reported: %+v", c)
	default:
	}

	os.WriteFile(path, []byte(strings.Replace(goodText, "192.0.2.1", "192.0.2.2", 1)), 0o600)
	step()
	if c := expect("a valid edit"); c.err != nil || c.cfg.Servers[0].Address != "192.0.2.2" {
		t.Fatalf("valid edit: %+v", c)
	}
	if b, _ := os.ReadFile(LastGoodPath(path)); !strings.Contains(string(b), "192.0.2.2") {
		t.Fatal("a valid edit did not become the last good configuration")
	}

	os.WriteFile(path, []byte(goodText+"bogus = 1\n"), 0o600)
	step()
	if c := expect("a broken edit"); c.cfg != nil || c.err == nil || !strings.Contains(c.err.Error(), path+":8:") {
		t.Fatalf("broken edit: %v, want an error naming line 8", c.err)
	}
	step()
	select {
	case c := <-changes:
		t.Fatalf("the same broken file reported twice: %+v", c)
	default:
	}
	if b, _ := os.ReadFile(LastGoodPath(path)); !strings.Contains(string(b), "192.0.2.2") || strings.Contains(string(b), "bogus") {
		t.Fatal("a broken edit touched the last good configuration")
	}

	os.Remove(path)
	step()
	if c := expect("removal"); c.err == nil || !strings.Contains(c.err.Error(), "removed") {
		t.Fatalf("removal: %+v", c)
	}
	cancel()
	<-done
}
