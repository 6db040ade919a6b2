//go:build !linux

package phone

import (
	"errors"
	"net"
	"os"
	"time"
)

// Elsewhere the tick reads with a deadline already past (no waiting) and stamps packets as it reads
// them: jitter figures are then rounded to the tick.

func enableRxTimestamps(c *net.UDPConn) { c.SetReadDeadline(time.Unix(1, 0)) }

func readNow(c *net.UDPConn, buf, oob []byte) (int, *net.UDPAddr, time.Time, bool) {
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, nil, time.Time{}, false
		}
		return 0, nil, time.Time{}, false
	}
	return n, from, time.Now(), true
}
