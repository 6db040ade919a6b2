package core

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"stayline/audio"
	"stayline/config"
	"stayline/failover"
	"stayline/lab"
	"stayline/lab/labtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// A phone made from the lab's configuration registers on home, and closing it unregisters there.
func TestPhoneFromAConfigurationRegistersAndCloses(t *testing.T) {
	pair := labtest.Pair(t, lab.ServerOptions{})
	cfg, err := config.Parse("lab.toml", []byte(pair.PhoneConfig("1001", lab.LabTimers, "")))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if p.Config != cfg {
		t.Fatal("the phone does not keep the configuration it was made from")
	}
	sub := p.Manager.Subscribe()
	defer sub.Close()
	p.Manager.Start()
	deadline := time.After(5 * time.Second)
	for registered := false; !registered; {
		select {
		case ev := <-sub.C:
			if st, ok := ev.(*failover.StageEvent); ok && st.Stage == failover.StageNormal {
				registered = true
			}
		case <-deadline:
			t.Fatal("not in service on home within 5 s")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	unregistered := false
	for _, l := range pair.Home.RegisterLines() {
		unregistered = unregistered || strings.Contains(l, "expires=0")
	}
	if !unregistered {
		t.Fatal("closing in normal service did not unregister from home")
	}
}

// A shared sound engine is the caller's: closing a phone leaves it open for the others.
func TestASharedEngineOutlivesThePhone(t *testing.T) {
	engine, err := audio.OpenEngine(audio.EngineOptions{Backend: "null", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	cfg := config.Default()
	cfg.Account = config.Account{User: "1001", Password: "pw", Domain: "127.0.0.1"}
	cfg.Servers = []config.Server{{Name: "home", Address: "127.0.0.1:9", Transport: config.TransportUDP}}
	cfg.SIP.Listen = "127.0.0.1:0"
	p, err := New(&cfg, Options{Logger: quiet, Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	if p.Engine != engine || p.ownEngine {
		t.Fatal("the phone took an engine of its own, or took the shared one as its own to close")
	}
	p.Sound().DialTone(true)
	if got := engine.CurrentTone(); got != audio.ToneDial {
		t.Fatalf("the dial tone did not reach the engine: %v", got)
	}
	p.Sound().DialTone(false)
	if got := engine.CurrentTone(); got != audio.ToneNone {
		t.Fatalf("the dial tone did not stop: %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p.Close(ctx)
	cfg.Audio.Backend = "null" // no sound card here
	mine, err := New(&cfg, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close(ctx)
	if mine.Engine == nil || !mine.ownEngine {
		t.Fatal("without a shared engine the phone does not open (and own) one")
	}
}
