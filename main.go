// Go 1.25 re-reads the cgroup's CPU limit every second to follow GOMAXPROCS; a desktop phone has no such
// limit to follow, and that check woke the idle phone (docs/ARCHITECTURE.md, "The idle window").
//
//go:debug updatemaxprocs=0

// Stayline is a desktop softphone that stays in service when its SIP server fails.
//
//	stayline [-config FILE]             the desk-phone window
//	stayline -headless [-config FILE]   commands on stdin, JSON events on stdout (README.md, "Headless control")
package main

import (
	"bytes"
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

	fyneapp "fyne.io/fyne/v2/app"

	stayapp "stayline/app"
	"stayline/config"
	"stayline/contacts"
	"stayline/failover"
	"stayline/headless"
	"stayline/history"
	"stayline/internal/core"
	"stayline/internal/instance"
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
		provSrc  = flag.String("provision", "", "import a deskphone settings file (path or http(s) URL) into the configuration and exit")
		provUser = flag.String("user", "", "with -provision: the account's user (extension); the password comes from STAYLINE_PASSWORD")
		provDry  = flag.Bool("dry-run", false, "with -provision: print the configuration it would write, write nothing")
	)
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: stayline [flags] [sip:user@host | tel:+number | number]")
		fmt.Fprintln(flag.CommandLine.Output(), "A link or number is dialled by the running Stayline (or by this one, once it has service).")
		flag.PrintDefaults()
	}
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
	if *provSrc != "" {
		req := provisionRequest{source: *provSrc, path: path, user: *provUser,
			password: os.Getenv("STAYLINE_PASSWORD"), dryRun: *provDry}
		if err := runProvision(context.Background(), req, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "stayline: provision:", err)
			return 2
		}
		return 0
	}
	// One Stayline per configuration: a later run hands its link (or a plain start) to the running one.
	target := ""
	if flag.NArg() > 0 {
		t, err := instance.DialTarget(flag.Arg(0))
		if err != nil {
			fmt.Fprintln(os.Stderr, "stayline:", err)
			return 2
		}
		target = t
	}
	sock := instance.SocketPath(path)
	request, arg := "show", ""
	if target != "" {
		request, arg = "dial", target
	}
	if running, err := instance.Send(sock, request, arg); running {
		if err != nil {
			fmt.Fprintln(os.Stderr, "stayline:", err)
			return 1
		}
		if target != "" {
			fmt.Println("stayline: the running phone is calling", target)
		} else {
			fmt.Fprintln(os.Stderr, "stayline: already running for", path, "- it was asked to show its window")
		}
		return 0
	}
	if err := config.RemoveLeftovers(path); err != nil {
		logger.Warn("temporary files of an interrupted save are left", "error", err)
	}
	// Headless runs are for scripts: a broken file stops them. The window runs on with the last good
	// configuration and shows what is wrong (config.LoadKeepingGood).
	var (
		cfg         *config.Config
		broken, err error
	)
	if *headOnly {
		cfg, err = config.Load(path)
	} else {
		cfg, broken, err = config.LoadKeepingGood(path)
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "stayline: no configuration at %s; write one (see README.md) or pass -config FILE\n", path)
		} else {
			fmt.Fprintln(os.Stderr, "stayline: invalid configuration:", err)
		}
		return 2
	}
	if broken != nil {
		logger.Warn("configuration not applied; running with the last good one", "error", broken,
			"last_good", config.LastGoodPath(path))
	}
	for _, w := range cfg.Warnings {
		logger.Warn(w)
	}
	if err := cfg.FillPassword(); err != nil {
		logger.Warn("no password from the keyring", "error", err)
	}

	instanceID, err := config.InstanceID(path)
	if err != nil {
		logger.Warn("no lasting instance id: a binding left by a crash lingers until it expires", "error", err)
	}
	hist, err := history.Open(history.Path(path), 0)
	if err != nil {
		logger.Warn("call history", "error", err)
	}
	recorder := history.NewRecorder(hist, logger, nil)
	sess, err := core.StartSession(cfg, core.SessionOptions{Logger: logger, Instance: instanceID,
		Follow: func(sub *failover.Subscription) { recorder.Follow(context.Background(), sub) }})
	if err != nil {
		fmt.Fprintln(os.Stderr, "stayline:", err)
		return 1
	}
	defer sess.Stop()
	c := sess.Phone()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if target != "" {
		go func() { // a link that started the phone: dialled once the gate lets it out
			if err := c.Manager.DialWhenAllowed(ctx, target, linkDialWithin); err != nil {
				logger.Warn("the link's call was not placed", "target", target, "error", err)
			}
		}()
	}
	listener, err := instance.Listen(sock)
	if err != nil {
		logger.Warn("links and later starts cannot reach this phone", "error", err)
	}
	if *headOnly {
		if listener != nil {
			go listener.Serve(ctx, func(request, arg string) error {
				if request == "dial" {
					return c.Manager.Request(failover.ActDial, arg)
				}
				return nil // "show": there is no window
			}, logger)
		}
		if err := headless.Run(ctx, c.Manager, os.Stdin, os.Stdout); err != nil {
			logger.Warn("stopped", "error", err)
		}
		return 0
	}
	return runWindow(ctx, sess, hist, path, broken, listener, logger)
}

// quitSettle is how long a quitting window stays hidden before the app quits: long enough for the
// pointer events already queued for it to be handled while it still exists.
const quitSettle = 100 * time.Millisecond

// linkDialWithin is how long a link that started the phone waits for service before it gives up.
const linkDialWithin = 20 * time.Second

// settings is the window's settings store: the configuration file, applied by the session (a new phone).
type settings struct {
	path string
	sess *core.Session
}

func (s *settings) Config() *config.Config { return s.sess.Phone().Config }

func (s *settings) AudioDevices() ([]string, []string, error) {
	return s.sess.Phone().Sound().AudioDevices()
}

// Save writes the configuration, then replaces the running phone with one made from it.
func (s *settings) Save(cfg *config.Config) (string, error) {
	warning, err := config.Save(s.path, cfg)
	if err != nil {
		return "", err
	}
	if err := s.sess.Apply(cfg); err != nil {
		return warning, fmt.Errorf("saved, but %w", err)
	}
	return warning, nil
}

// configPollInterval is how often the window reads the configuration file while it is being edited outside
// it (config.Ticks: only after the file changed).
const configPollInterval = 2 * time.Second

// watchConfig follows the configuration file while the window runs: a broken edit is shown (line named)
// and the phone keeps its configuration; a valid one different from the running one is offered.
func watchConfig(ctx context.Context, st *settings, w *stayapp.Window, logger *slog.Logger) {
	config.Watch(ctx, st.path, config.Ticks(ctx, st.path, configPollInterval), func(cfg *config.Config, err error) {
		if err != nil {
			logger.Warn("configuration file not applied", "error", err)
			w.Do(func() { w.ConfigProblem(err) })
			return
		}
		if err := cfg.FillPassword(); err != nil {
			logger.Warn("no password from the keyring", "error", err)
		}
		if sameConfig(cfg, st.Config()) { // the settings dialog's own save, or an edit that changes nothing
			w.Do(w.ConfigSettled)
			return
		}
		w.Do(func() { w.ConfigChanged(func() error { return st.sess.Apply(cfg) }) })
	})
}

func sameConfig(a, b *config.Config) bool {
	ta, erra := config.Marshal(a, true)
	tb, errb := config.Marshal(b, true)
	return erra == nil && errb == nil && bytes.Equal(ta, tb)
}

// extension is the status line's "Display name · 1001".
func extension(cfg *config.Config) string {
	if cfg.Account.DisplayName == "" {
		return cfg.Account.User
	}
	return cfg.Account.DisplayName + " · " + cfg.Account.User
}

// runWindow shows the desk-phone window until it is quit (or a signal arrives), then shuts down.
func runWindow(ctx context.Context, sess *core.Session, hist *history.Store, path string, broken error,
	listener *instance.Listener, logger *slog.Logger) int {
	a := fyneapp.NewWithID("net.stayline.phone")
	a.SetIcon(stayapp.Icon)
	c := sess.Phone()
	st := &settings{path: path, sess: sess}
	dir, err := contacts.Open(contacts.Path(path))
	if err != nil {
		logger.Warn("contacts", "error", err)
	}
	opts := stayapp.Options{Extension: extension(c.Config), Lines: c.Config.Calls.Lines, Voicemail: c.Config.Calls.Voicemail,
		Settings: st, History: hist, Contacts: dir, IdlePark: true}
	if tray := newDesktopTray(a); tray != nil {
		opts.Tray = tray
	}
	var w *stayapp.Window
	opts.OnQuit = func() {
		// Hidden first, quit a moment later: Fyne 2.7 handles a pointer event that reaches a window it is
		// destroying by dereferencing a nil GLFW window (processMouseMoved -> SetInputMode), and crashed
		// a quit from the tray now and then. A hidden window gets no pointer events.
		w.Win.Hide()
		time.AfterFunc(quitSettle, func() { w.Do(a.Quit) })
	}
	w = stayapp.New(a, c.Manager, c.Sound(), opts)
	w.SetMinimiser(minimiser(w.Win))
	a.Lifecycle().SetOnStarted(w.RefreshTray)
	// The settings made a new phone: the window moves to it. Not waited for: Save runs on Fyne's goroutine;
	// the window's subscription then starts with the stage and actions of the moment.
	sess.SetFrontEnd(func() { w.Do(w.Unbind) }, func(next *core.Phone) {
		w.Do(func() {
			w.SetExtension(extension(next.Config))
			w.SetVoicemail(next.Config.Calls.Voicemail)
			w.SetController(next.Manager, next.Sound())
		})
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.Start(ctx)
	c.Manager.Start()
	if broken != nil {
		go w.Do(func() { w.ConfigProblem(broken) })
	}
	go watchConfig(ctx, st, w, logger)
	if listener != nil {
		go listener.Serve(ctx, func(request, arg string) error {
			w.Do(func() {
				w.Win.Show()
				w.Win.RequestFocus()
				if request == "dial" {
					w.Dial(arg)
				}
			})
			return nil
		}, logger)
	}
	go func() {
		<-ctx.Done()
		w.Do(func() {
			w.Stop()
			opts.OnQuit() // hidden, then quit
		})
	}()
	w.Win.ShowAndRun()
	// The window lets go of the tray and the events before the phone shuts down: the shutdown's stage
	// and call events must not reach a tray whose D-Bus connection has closed.
	w.Stop()
	sess.Stop() // the phone in use (the first, or the one the settings made)
	return 0
}
