// Command stayline-fleet is make fleet: N real phones in one process against the project's lab, home
// killed -9 and restarted, once with the alternate policy and once with simultaneous. It prints one
// `name value` line per figure, then a table with the targets, and draws the REGISTERs the servers
// received per 100 ms (PNG, gonum.org/v1/plot).
//
//	stayline-fleet [-n 1000] [-policies alternate,simultaneous] [-chart docs/fleet]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"stayline/config"
	"stayline/fleet"
	"stayline/internal/figures"
)

type figure struct {
	Name, Target, Note string
	Value              float64
	Limit              *float64 // the value may not exceed it; nil: no target
}

func main() {
	n := flag.Int("n", 1000, "phones")
	policies := flag.String("policies", "alternate,simultaneous", "registration policies to run, in turn")
	rate := flag.Int("rate", 300, "the alternate's cap on new REGISTERs a second (503 + Retry-After beyond it)")
	retryAfter := flag.Int("retry-after", 2, "the Retry-After of the alternate's 503s, seconds")
	chart := flag.String("chart", "", "write a chart per policy to PREFIX-POLICY.png")
	verbose := flag.Bool("v", false, "log the phones' warnings")
	asJSON := flag.Bool("json", false, "print the figures as JSON (what a run per policy hands back)")
	flag.Parse()
	list := strings.Split(*policies, ",")
	if len(list) > 1 {
		// One process per policy: each run's memory per phone is measured from a clean start.
		var all []figure
		for _, p := range list {
			args := []string{"-n", fmt.Sprint(*n), "-policies", p, "-rate", fmt.Sprint(*rate),
				"-retry-after", fmt.Sprint(*retryAfter), "-chart", *chart, "-json"}
			if *verbose {
				args = append(args, "-v")
			}
			cmd := exec.Command(os.Args[0], args...)
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				fail(fmt.Errorf("the %s run: %w", p, err))
			}
			var figs []figure
			if err := json.Unmarshal(out, &figs); err != nil {
				fail(fmt.Errorf("the %s run's figures: %w", p, err))
			}
			all = append(all, figs...)
		}
		report(os.Stdout, all)
		return
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	dir, err := os.MkdirTemp("", "stayline-fleet")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	var all []figure
	for _, p := range list {
		policy := config.RegistrationPolicy(strings.TrimSpace(p))
		if err := policy.Valid(); err != nil {
			fail(err)
		}
		opts := fleet.Defaults(*n, policy, fmt.Sprintf("%s/%s", dir, policy))
		opts.RegisterRate, opts.RetryAfter, opts.Logger = *rate, *retryAfter, logger
		opts.Timeout = 120 * time.Second
		fmt.Fprintf(os.Stderr, "fleet: %d phones, %s policy...\n", *n, policy)
		start := time.Now()
		r, err := fleet.RunOnce(context.Background(), opts)
		if err != nil {
			fail(fmt.Errorf("%s: %w", policy, err))
		}
		fmt.Fprintf(os.Stderr, "fleet: %s done in %s\n", policy, time.Since(start).Round(time.Second))
		all = append(all, fleetFigures(r, opts)...)
		if *chart != "" {
			path := fmt.Sprintf("%s-%s.png", *chart, policy)
			if err := drawChart(path, r); err != nil {
				fail(err)
			}
			fmt.Fprintln(os.Stderr, "fleet: chart", path)
		}
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(all)
		return
	}
	report(os.Stdout, all)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "stayline-fleet:", err)
	os.Exit(1)
}

func below(limit float64) *float64 { return &limit }

// figures are the names for the alternate policy; the simultaneous run's carry
// "fleet.simultaneous." instead of "fleet.".
func fleetFigures(r fleet.Result, opts fleet.Options) []figure {
	prefix := "fleet."
	if r.Policy != config.RegisterAlternate {
		prefix = "fleet." + string(r.Policy) + "."
	}
	t := r.Servers
	f := opts.Failover
	bound := f.KeepaliveInterval.D() + f.KeepaliveTimeout.D() + 5*time.Second
	worst := 0
	for _, n := range t.Attempts(r.Kill) {
		worst = max(worst, n)
	}
	settle := time.Second // the last phone's REGISTERs are in flight when it reports
	return []figure{
		{Name: prefix + "alternate.all_registered_s", Value: r.AllOnAlternate.Sub(r.Kill).Seconds(),
			Target: fmt.Sprintf("≤ %s", bound), Limit: below(bound.Seconds()), Note: "kill -9 of home -> the last phone in service on the alternate"},
		{Name: prefix + "alternate.peak_register_per_s", Value: float64(t.PeakPerSecond("alternate", r.Kill, r.AllOnAlternate.Add(settle))),
			Target: "-", Note: "REGISTERs (and 503s) the alternate received in its busiest second"},
		{Name: prefix + "alternate.503_sent", Value: float64(t.Overloads("alternate", r.Kill)), Target: "-",
			Note: fmt.Sprintf("counted in the alternate's log (cap %d new REGISTERs/s, Retry-After %d)", opts.RegisterRate, opts.RetryAfter)},
		{Name: prefix + "alternate.wave_ratio", Value: t.WaveRatio("alternate", r.Kill, r.AllOnAlternate.Add(settle)),
			Target: "≤ 3", Limit: below(3), Note: "largest 100 ms bucket / mean bucket while the fleet moved"},
		{Name: prefix + "failback.all_home_s", Value: r.AllHome.Sub(r.Restart).Seconds(), Target: "-",
			Note: fmt.Sprintf("home restarted -> the last phone back (hold-down %s + 0-%d %%)", f.FailbackHolddown, f.FailbackSpread)},
		{Name: prefix + "failback.peak_register_per_s", Value: float64(t.PeakPerSecond("home", r.Restart, r.AllHome.Add(settle))),
			Target: "-", Note: "REGISTERs home received in its busiest second after it returned"},
		{Name: prefix + "failback.wave_ratio", Value: t.WaveRatio("home", r.Restart, r.AllHome.Add(settle)),
			Target: "≤ 3", Limit: below(3), Note: "largest 100 ms bucket / mean bucket while the fleet came back"},
		{Name: prefix + "register_attempts_per_phone.max", Value: float64(worst), Target: "≤ 4", Limit: below(4),
			Note: "from the servers' logs, kill -> end; a challenge and its answer are one; un-REGISTERs not counted"},
		{Name: prefix + "early_retries", Value: float64(len(t.EarlyRetries())), Target: "0", Limit: below(0),
			Note: "REGISTERs sent to a server before its 503's Retry-After ended"},
		{Name: prefix + "rss_kb_per_phone", Value: r.RSSKBPerPhone, Target: "≤ 1024", Limit: below(1024),
			Note: "the load process's resident memory, all registered and idle, over N"},
		{Name: prefix + "cpu_s", Value: r.CPUSeconds, Target: "-", Note: "CPU of the whole fleet process, kill -> all home"},
	}
}

func report(w io.Writer, all []figure) {
	for _, f := range all {
		fmt.Fprintf(w, "%s %s\n", f.Name, figures.Format(f.Value))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\tverdict\tnote")
	for _, f := range all {
		verdict := "-"
		if f.Limit != nil {
			verdict = "met"
			if f.Value > *f.Limit {
				verdict = "MISSED"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Name, figures.Format(f.Value), f.Target, verdict, f.Note)
	}
	tw.Flush()
}
