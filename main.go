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
	"strings"
	"syscall"

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
	)
	flag.Parse()
	if *showVer {
		fmt.Println("stayline", version)
		return 0
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

	agent, err := phone.Start(phone.Options{
		Account: cfg.Account,
		Servers: cfg.Servers,
		Listen:  cfg.SIP.Listen,
		Logger:  logger,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "stayline:", err)
		return 1
	}
	defer agent.Close()
	m := failover.New(cfg, agent, failover.WithLogger(logger))
	m.Start()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *headOnly {
		if err := headless.Run(ctx, m, os.Stdin, os.Stdout); err != nil {
			logger.Warn("stopped", "error", err)
		}
		return 0
	}
	return runWindow(ctx, m, cfg, path)
}

// runWindow is replaced by the desk-phone window; until then the headless front end serves.
func runWindow(ctx context.Context, m *failover.Manager, cfg *config.Config, path string) int {
	_ = cfg
	_ = path
	fmt.Fprintln(os.Stderr, "stayline: "+strings.TrimSpace(`
the window is not built yet; running headless (type status, dial NUMBER, quit)`))
	if err := headless.Run(ctx, m, os.Stdin, os.Stdout); err != nil {
		return 1
	}
	return 0
}
