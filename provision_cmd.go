package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"stayline/config"
	"stayline/provision"
)

// provisionRequest is `stayline -provision SOURCE`: a deskphone settings file imported into the
// configuration at path.
type provisionRequest struct {
	source   string // a file or an http(s) URL
	path     string // the configuration to write
	user     string // -user: the account's user, when the settings do not change it
	password string // STAYLINE_PASSWORD: settings files never carry one
	dryRun   bool   // print what would be written, write nothing
}

// runProvision imports the settings onto the configuration at req.path (or onto the defaults when there
// is none yet), prints what became of every name, and saves atomically. Nothing is written when anything
// is wrong: a broken existing file, a settings line that cannot be applied, an account without a user.
func runProvision(ctx context.Context, req provisionRequest, out io.Writer) error {
	cfg, existed, err := provisionBase(req.path)
	if err != nil {
		return err
	}
	if req.user != "" {
		cfg.Account.User = req.user
	}
	if req.password != "" {
		cfg.Account.Password = req.password
	}
	if cfg.Account.User == "" {
		return errors.New("the settings file names no user and there is no configuration yet: pass -user EXTENSION (and STAYLINE_PASSWORD in the environment)")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	script, err := provision.Load(ctx, req.source)
	if err != nil {
		return err
	}
	report, err := provision.Apply(cfg, script)
	if err != nil {
		return fmt.Errorf("nothing written: %w", err)
	}
	printReport(out, report)
	if req.dryRun {
		text, err := config.Marshal(cfg, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\nwould write %s (-dry-run: nothing written):\n%s", req.path, text)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(req.path), 0o700); err != nil {
		return fmt.Errorf("create the configuration directory: %w", err)
	}
	warning, err := config.Save(req.path, cfg)
	if err != nil {
		return fmt.Errorf("nothing written: %w", err)
	}
	if warning != "" {
		fmt.Fprintln(out, "warning:", warning)
	}
	verb := "wrote"
	if existed {
		verb = "updated"
	}
	fmt.Fprintf(out, "%s %s: %d settings applied, %d understood and not needed, %d unknown\n",
		verb, req.path, len(report.Applied), len(report.Ignored), len(report.Unknown))
	return nil
}

// provisionBase is what the import starts from: the existing configuration (with its password from the
// keyring), or the defaults when there is no file. A file that exists and does not load is not replaced.
func provisionBase(path string) (cfg *config.Config, existed bool, err error) {
	cfg, err = config.Load(path)
	switch {
	case err == nil:
		if err := cfg.FillPassword(); err != nil {
			return nil, true, err
		}
		return cfg, true, nil
	case errors.Is(err, os.ErrNotExist):
		d := config.Default()
		return &d, false, nil
	default:
		return nil, true, fmt.Errorf("the configuration to update is broken, fix or move it first (nothing written): %w", err)
	}
}

func printReport(out io.Writer, r provision.Report) {
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(out, "%s (%d):\n", title, len(lines))
		for _, l := range lines {
			fmt.Fprintln(out, "  "+l)
		}
	}
	section("applied", r.Applied)
	section("understood, not needed by Stayline", r.Ignored)
	section("unknown to Stayline (not applied)", r.Unknown)
	section("IF/GOTO lines (not evaluated: every SET applies, the last one wins)", r.Conditionals)
}
