package audio

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// raiseThread gives the calling goroutine an OS thread of its own at the priority PulseAudio's own threads
// take: real-time round-robin at priority 5 where the system allows it (root, CAP_SYS_NICE, an RLIMIT_RTPRIO
// of 5 or more), else nice -11, else none. The goroutine keeps the thread until it returns (the thread then
// ends with it, its priority never lent to other goroutines). It reports what it got. Measured here with two
// busy loops on the two cores: a 20 ms Go timer came up to 160 ms late at normal priority, 57 ms at nice -11,
// 1.6 ms real-time (docs/ARCHITECTURE.md, "Sound").
func raiseThread() string {
	runtime.LockOSThread()
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_RR, Priority: 5}
	if unix.SchedSetAttr(0, &attr, 0) == nil {
		return "real-time"
	}
	if unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), -11) == nil {
		return "nice -11"
	}
	return "normal"
}
