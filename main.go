// Stayline is a desktop softphone that stays in service when its SIP server fails.
//
//	stayline [-config FILE]             the desk-phone window
//	stayline -headless [-config FILE]   commands on stdin, JSON events on stdout (DESIGN.md §4)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	stayapp "stayline/app"
	"stayline/audio"
	"stayline/config"
	"stayline/failover"
	"stayline/headless"
	"stayline/phone"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run())
}

func run() int {
	var (
		cfgPath  = flag.String("config", "", "configuration file (default: the OS config dir's stayline/phone.toml)")
		headOnly = flag.Bool("headless", false, "no window: commands on standard input, JSON events on standard output")
		logLevel = flag.String("log-level", "info", "log level on standard error: debug, info, warn, error")
		showVer  = flag.Bool("version", false, "print the version and exit")
		cpuProf  = flag.String("cpuprofile", "", "write a CPU profile to this file (for measuring)")
	)
	flag.Parse()
	if *showVer {
		fmt.Println("stayline", version)
		return 0
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "stayline:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "stayline:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "stayline: -log-level %q: use debug, info, warn or error\n", *logLevel)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	path := *cfgPath
	if path == "" {
		p, err := config.DefaultPath()
		if err != nil {
			fmt.Fprintln(os.Stderr, "stayline:", err)
			return 2
		}
		path = p
	}
	cfg, err := config.Load(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "stayline: no configuration at %s; write one (see README.md) or pass -config FILE\n", path)
		} else {
			fmt.Fprintln(os.Stderr, "stayline: invalid configuration:", err)
		}
		return 2
	}
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}

	engine, err := audio.OpenEngine(audio.EngineOptions{Backend: cfg.Audio.Backend, Input: cfg.Audio.Input,
		Output: cfg.Audio.Output, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "stayline: audio:", err)
		return 1
	}
	defer engine.Close()
	agent, err := phone.Start(phone.Options{
		Audio:          engine,
		Account:        cfg.Account,
		Servers:        cfg.Servers,
		Listen:         cfg.SIP.Listen,
		Codecs:         cfg.Audio.Codecs,
		RequestTimeout: max(2*cfg.Failover.KeepaliveTimeout.D(), 500*time.Millisecond),
		Logger:         logger,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "stayline:", err)
		return 1
	}
	defer agent.Close()
	m := failover.New(cfg, agent, failover.WithLogger(logger)) // each front end starts it once subscribed

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *headOnly {
		if err := headless.Run(ctx, m, os.Stdin, os.Stdout); err != nil {
			logger.Warn("stopped", "error", err)
		}
		return 0
	}
	return runWindow(ctx, m, cfg)
}

// runWindow shows the desk-phone window until it is closed (or a signal arrives), then shuts down.
func runWindow(ctx context.Context, m *failover.Manager, cfg *config.Config) int {
	a := fyneapp.NewWithID("net.stayline.phone")
	a.SetIcon(stayapp.Icon)
	ext := cfg.Account.User
	if cfg.Account.DisplayName != "" {
		ext = cfg.Account.DisplayName + " · " + cfg.Account.User
	}
	w := stayapp.New(a, m, stayapp.Options{Extension: ext, Lines: cfg.Calls.Lines})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.Start(ctx)
	m.Start()
	go func() {
		select {
		case <-ctx.Done():
			fyne.Do(a.Quit)
		case <-m.Done():
		}
	}()
	w.Win.ShowAndRun()
	sctx, scancel := context.WithTimeout(context.Background(), headless.ShutdownTimeout)
	defer scancel()
	if err := m.Shutdown(sctx); err != nil {
		slog.Warn("shutdown", "error", err)
	}
	return 0
}
