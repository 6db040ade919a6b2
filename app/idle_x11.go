//go:build linux && !wayland && cgo

package app

/*
#cgo LDFLAGS: -lX11
#include <X11/Xlib.h>

static int stayline_x_fd(void *d) { return ConnectionNumber((Display *)d); }
static int stayline_x_queued(void *d) { return XEventsQueued((Display *)d, QueuedAfterFlush); }
*/
import "C"

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"
	"unsafe"

	"github.com/go-gl/glfw/v3.3/glfw"
	"golang.org/x/sys/unix"
)

// xParker parks Fyne's main thread in poll(2) on the X connection, the process's other Unix sockets (the
// session bus: the tray's clicks, the notifications, the desktop's settings) and a pipe of its own that
// wake writes to (docs/ARCHITECTURE.md, "The idle window").
type xParker struct {
	r, w int // the wake pipe
}

// platformParker is the X11 parker; nil when the pipe cannot be made.
func platformParker() parker {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		slog.Warn("the idle window cannot park (the window wakes 60 times a second)", "error", err)
		return nil
	}
	return &xParker{r: fds[0], w: fds[1]}
}

func (p *xParker) wake() { unix.Write(p.w, []byte{1}) } // a full pipe has a wake in it already

// wait runs on the main thread, with GLFW initialised: Fyne's loop has just polled the window's events.
// Once Fyne has quit, fyne.Do runs a park on the caller's goroutine instead, and GLFW, terminated, panics
// when asked for its display: that park ends at once.
func (p *xParker) wait(until time.Time) (r wakeReason) {
	defer func() {
		if recover() != nil {
			r = wakeStop
		}
	}()
	d := unsafe.Pointer(glfw.GetX11Display())
	if d == nil {
		return wakeStop
	}
	if C.stayline_x_queued(d) > 0 { // events Xlib has read already: poll would not see them
		return wakeInput
	}
	x := int(C.stayline_x_fd(d))
	fds := []unix.PollFd{{Fd: int32(p.r), Events: unix.POLLIN}, {Fd: int32(x), Events: unix.POLLIN}}
	for _, fd := range unixSockets() {
		if fd != x {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
	}
	for {
		ms := time.Until(until).Milliseconds() + 1
		if ms <= 0 {
			return wakeClock
		}
		n, err := unix.Poll(fds, int(min(ms, 1<<30)))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			slog.Warn("the idle window's poll", "error", fmt.Errorf("poll: %w", err))
			return wakeInput
		case n == 0:
			return wakeClock
		case fds[0].Revents != 0:
			var b [64]byte
			for {
				if n, _ := unix.Read(p.r, b[:]); n <= 0 {
					break
				}
			}
			return wakeShow
		}
		return wakeInput
	}
}

// unixSockets lists the process's Unix socket descriptors (the SIP and RTP sockets are not: the phone's
// own work never wakes the window).
func unixSockets() []int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil && dom == unix.AF_UNIX {
			out = append(out, fd)
		}
	}
	return out
}
