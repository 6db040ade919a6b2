package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux Stayline runs on.
const clockTicks = 100

// cpuSeconds is the user+system CPU time a process has used so far (its threads included).
func cpuSeconds(pid int) (float64, error) {
	u, s, err := cpuSplit(pid)
	return u + s, err
}

// cpuSplit is the user and the system CPU time a process has used so far.
func cpuSplit(pid int) (user, system float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces: the fields start after its closing parenthesis.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: bad times %q %q", pid, f[11], f[12])
	}
	return utime / clockTicks, stime / clockTicks, nil
}

// rssMB is a process's resident memory (VmRSS) in MB.
func rssMB(pid int) (float64, error) { return statusMB(pid, "VmRSS:") }

// statusMB reads one kB field of /proc/PID/status ("VmRSS:", "RssAnon:", "RssFile:") in MB.
func statusMB(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("%s %q: %w", field, v, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// rendererMB is the resident memory of the GL renderer's libraries in a process (Mesa's DRI drivers and
// the LLVM they load for software rendering), from /proc/PID/smaps.
func rendererMB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return 0, err
	}
	kb, inRenderer := 0.0, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Count(f[0], "-") == 1 && !strings.HasSuffix(f[0], ":") {
			path := ""
			if len(f) >= 6 {
				path = f[5]
			}
			base := path[strings.LastIndexByte(path, '/')+1:]
			inRenderer = strings.HasPrefix(base, "libLLVM") || strings.HasSuffix(base, "_dri.so")
			continue
		}
		if inRenderer && len(f) >= 2 && f[0] == "Rss:" {
			v, _ := strconv.ParseFloat(f[1], 64)
			kb += v
		}
	}
	return kb / 1024, nil
}
