//go:build !linux

package netwatch

import (
	"log/slog"
	"time"

	"stayline/internal/clock"
)

// PollEvery is how often the fallback looks at the interfaces where the OS's notifications are not used.
const PollEvery = 3 * time.Second

// New starts watching the machine's network by polling (see the package comment for the OS APIs that
// would replace it).
func New(log *slog.Logger) (Watcher, error) {
	return newPoller(clock.Real{}, PollEvery, log, snapshot), nil
}
