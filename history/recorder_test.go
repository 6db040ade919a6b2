package history

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"stayline/config"
	"stayline/failover"
	"stayline/internal/core"
	"stayline/lab"
)

// The user's report: in noservice, 911 went to both servers and the history showed two failed calls.
// The real SIP agent and manager, two servers nobody answers at (a dead UDP server): one row.
func TestOneEmergencyDialOverTwoDeadServersIsOneHistoryRow(t *testing.T) {
	cfg := config.Default()
	cfg.Account = config.Account{User: "1001", Password: "secret", Domain: "127.0.0.1"}
	for _, name := range []string{"home", "branch"} {
		port, err := lab.FreePort() // free: nothing answers there
		if err != nil {
			t.Fatal(err)
		}
		cfg.Servers = append(cfg.Servers, config.Server{Name: name, Address: fmt.Sprintf("127.0.0.1:%d", port),
			Transport: config.TransportUDP})
	}
	f := &cfg.Failover
	f.KeepaliveInterval, f.KeepaliveTimeout, f.KeepaliveMisses = config.Duration(time.Second), config.Duration(200*time.Millisecond), 1
	f.BackoffBase, f.BackoffMax = config.Duration(30*time.Second), config.Duration(60*time.Second)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.SIP.Listen, cfg.Audio.Backend = "127.0.0.1:0", "null"
	ph, err := core.New(&cfg, core.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	m := ph.Manager
	store, err := Open(filepath.Join(t.TempDir(), "history.json"), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan struct{})
	go func() {
		NewRecorder(store, quiet, nil).Follow(ctx, m.Subscribe())
		close(followed)
	}()
	m.Start()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		ph.Close(sctx)
		cancel()
		<-followed
	})
	waitFor(t, 5*time.Second, "noservice", func() bool { return m.Status().Stage == failover.StageNoService })

	if err := m.Dial("911"); err != nil {
		t.Fatalf("emergency dial refused: %v", err)
	}
	waitFor(t, 5*time.Second, "a history row", func() bool { return len(store.Entries()) > 0 })
	time.Sleep(500 * time.Millisecond) // a second row would be written by now
	got := store.Entries()
	if len(got) != 1 {
		t.Fatalf("%d history rows for one dial, want 1: %+v", len(got), got)
	}
	e := got[0]
	if e.Party != "911@127.0.0.1" || e.Direction != "out" || e.Result != Failed ||
		e.Reason != "no server answered (tried home, branch)" || e.Server != "branch" {
		t.Fatalf("row %+v", e)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
