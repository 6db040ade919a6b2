//go:build !linux

package netwatch

import "errors"

// ClockSteps is Linux's (timerfd); elsewhere the caller compares the clocks on a ticker. The OS APIs that
// would replace it: NSWorkspaceDidWakeNotification or IORegisterForSystemPower on macOS,
// PowerRegisterSuspendResumeNotification (PBT_APMRESUMEAUTOMATIC) on Windows.
func ClockSteps() (steps <-chan struct{}, stop func(), err error) {
	return nil, nil, errors.ErrUnsupported
}
