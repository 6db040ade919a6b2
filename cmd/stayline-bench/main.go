// Command stayline-bench measures Stayline against baresip on the project's lab (README.md, "Performance") and
// prints one `name value` line per figure (the median of its runs), then a table with the spread and the
// target. It starts and stops every process it uses by process id: Kamailio pairs, SIPp echo far ends,
// baresip, Xvfb, and the stayline binary under test.
//
//	stayline-bench -stayline bin/stayline [-runs 5] [-only failover.,cpu.]
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"stayline/internal/figures"
)

// figure is one measured quantity: its runs, and the target it is held to.
type figure struct {
	name   string
	unit   string
	values []float64
	target string
	ok     func(median float64) bool // nil: no target
	note   string
	err    error
}

func (f *figure) add(b *bench, v float64) {
	f.values = append(f.values, v)
	b.log.Info("run", "figure", f.name, "value", v)
}

func (f *figure) median() float64 {
	if len(f.values) == 0 {
		return 0
	}
	v := append([]float64(nil), f.values...)
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// bench holds what every measurement needs.
type bench struct {
	binary  string
	env     []string // added to the environment of every stayline run
	runs    int
	dir     string
	log     *slog.Logger
	figures []*figure
	byName  map[string]*figure
}

func (b *bench) fig(name, target string, ok func(float64) bool) *figure {
	if f := b.byName[name]; f != nil {
		return f
	}
	f := &figure{name: name, target: target, ok: ok}
	b.figures = append(b.figures, f)
	b.byName[name] = f
	return f
}

func main() {
	binary := flag.String("stayline", "bin/stayline", "the stayline binary to measure")
	runs := flag.Int("runs", 5, "runs of each measurement (the median is printed)")
	only := flag.String("only", "", "comma-separated name prefixes of the measurements to run (default: all)")
	verbose := flag.Bool("v", false, "log each run on standard error")
	env := flag.String("stayline-env", "", "space-separated NAME=VALUE pairs for the stayline runs (e.g. GOMAXPROCS=1), for experiments")
	floor := flag.String("floor", "", "internal: run the Go floor (a bare 20 ms UDP clock) sending to this address")
	flag.Parse()
	if *floor != "" {
		runFloor(*floor, callLength)
		return
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	dir, err := os.MkdirTemp("", "stayline-bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, "stayline-bench:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	b := &bench{binary: *binary, runs: *runs, dir: dir, byName: map[string]*figure{}, env: strings.Fields(*env),
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))}
	start := time.Now()
	for _, m := range measurements {
		if !selected(m.name, *only) {
			continue
		}
		b.log.Info("measuring", "what", m.name)
		m.run(b)
	}
	failed := b.report(os.Stdout, time.Since(start))
	if failed {
		os.Exit(1)
	}
}

func selected(name, only string) bool {
	if only == "" {
		return true
	}
	for _, p := range strings.Split(only, ",") {
		if strings.HasPrefix(name, strings.TrimSpace(p)) {
			return true
		}
	}
	return false
}

// report prints `name value` lines, then the table; it says whether a measurement could not be made.
func (b *bench) report(w io.Writer, took time.Duration) bool {
	failed := false
	for _, f := range b.figures {
		if f.err != nil && len(f.values) == 0 {
			failed = true
			continue
		}
		fmt.Fprintf(w, "%s %s\n", f.name, figures.Format(f.median()))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmedian\tmin\tmax\truns\ttarget\tverdict\tnote")
	for _, f := range b.figures {
		if len(f.values) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t0\t%s\tNOT MEASURED\t%v\n", f.name, f.target, f.err)
			continue
		}
		v := append([]float64(nil), f.values...)
		sort.Float64s(v)
		verdict := "-"
		if f.ok != nil {
			verdict = "met"
			if !f.ok(f.median()) {
				verdict = "MISSED"
			}
		}
		note := f.note
		if f.err != nil {
			note = strings.TrimSpace(note + " (some runs failed: " + f.err.Error() + ")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", f.name, figures.Format(f.median()), figures.Format(v[0]), figures.Format(v[len(v)-1]),
			len(v), f.target, verdict, note)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d runs each; the whole run took %s\n", b.runs, took.Round(time.Second))
	return failed
}
