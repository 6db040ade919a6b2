package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"stayline/lab"
)

// idleWindow is how long the idle window is watched; keep-alives are moved out of it (a 60 s interval), so
// what it counts is the window's and the runtime's own wake-ups.
const idleWindow = 10 * time.Second

// measureIdleWakeups runs the window under an Xvfb of its own, registered and idle, and counts how often
// its threads wake: the context switches of every thread (voluntary and not) over idleWindow, a second.
func measureIdleWakeups(b *bench) {
	f := b.fig("idle.wakeups_per_s", "≤ 5", below(5))
	f.note = fmt.Sprintf("the window under Xvfb, registered, idle; context switches of all its threads over %s (keep-alive every 60 s, outside it)", idleWindow)
	xvfb, display, err := startXvfb(b.dir)
	if err != nil {
		f.err = err
		return
	}
	defer func() { xvfb.Process.Kill(); xvfb.Wait() }()
	slowKeepalive := func(text string) string {
		return regexp.MustCompile(`(?m)^keepalive_interval = .*$`).ReplaceAllString(text, `keepalive_interval = "60s"`)
	}
	headless := b.fig("idle.headless_wakeups_per_s", "≤ 5", below(5))
	headless.note = "the same phone without the window (-headless): what Stayline's own code costs"
	headless.err = b.eachRun(false, func(p *lab.Pair) error {
		h, err := b.phoneOn(p, slowKeepalive)
		if err != nil {
			return err
		}
		defer h.quit()
		time.Sleep(3 * time.Second)
		n, err := wakeupsOver(h.pid())
		if err == nil {
			headless.add(b, n)
		}
		return err
	})
	f.err = b.eachRun(false, func(p *lab.Pair) error {
		pid, stop, err := b.windowOn(p, display, slowKeepalive)
		if err != nil {
			return err
		}
		defer stop()
		n, err := wakeupsOver(pid)
		if err == nil {
			f.add(b, n)
		}
		return err
	})
}

// wakeupsOver is a process's context switches a second over idleWindow.
func wakeupsOver(pid int) (float64, error) {
	before, err := contextSwitches(pid)
	if err != nil {
		return 0, err
	}
	time.Sleep(idleWindow)
	after, err := contextSwitches(pid)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / idleWindow.Seconds(), nil
}

// contextSwitches sums the voluntary and involuntary context switches of every thread of a process (a
// thread that exited meanwhile takes its count with it: the window's threads live as long as it does).
func contextSwitches(pid int) (uint64, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no threads of %d: %v", pid, err)
	}
	var n uint64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, field := range []string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if v, ok := strings.CutPrefix(line, field); ok {
					c, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
					if err != nil {
						return 0, fmt.Errorf("%s %q: %w", t, v, err)
					}
					n += c
				}
			}
		}
	}
	return n, nil
}
