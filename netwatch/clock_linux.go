package netwatch

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ClockSteps reports, on the returned channel, each time the wall clock is set discontinuously, the
// machine's resume from sleep included: a timerfd armed on CLOCK_REALTIME with TFD_TIMER_CANCEL_ON_SET is
// cancelled by the kernel on every clock set and on resume (timerfd_resume). The read blocks in Go's
// poller, so watching costs nothing while nothing happens. stop ends it. A report says only that the wall
// clock moved relative to the monotonic one: the caller compares the two to tell a sleep from a small
// adjustment.
func ClockSteps() (steps <-chan struct{}, stop func(), err error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_REALTIME, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("timerfd: %w", err)
	}
	arm := func() error {
		far := unix.NsecToTimespec(time.Now().Add(10 * 365 * 24 * time.Hour).UnixNano())
		return unix.TimerfdSettime(fd, unix.TFD_TIMER_ABSTIME|unix.TFD_TIMER_CANCEL_ON_SET,
			&unix.ItimerSpec{Value: far}, nil)
	}
	if err := arm(); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("timerfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "timerfd-clock-steps") // non-blocking: reads wait in the poller
	ch := make(chan struct{}, 1)
	go func() {
		var buf [8]byte
		for {
			_, err := f.Read(buf[:])
			switch {
			case errors.Is(err, unix.ECANCELED):
				select {
				case ch <- struct{}{}:
				default: // one unread report stands for several
				}
				if arm() != nil {
					return
				}
			case err != nil:
				return // closed by stop
			}
		}
	}()
	return ch, func() { f.Close() }, nil
}
