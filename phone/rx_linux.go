//go:build linux

package phone

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// On Linux the kernel stamps each datagram with its arrival time (SO_TIMESTAMPNS), so the media tick can
// drain its sockets late without blurring the jitter it measures.

func enableRxTimestamps(c *net.UDPConn) {
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		})
	}
}

// readNow returns one queued datagram without waiting: its length, sender and arrival time; ok is false
// when none is queued (or the socket is closed).
func readNow(c *net.UDPConn, buf, oob []byte) (n int, from *net.UDPAddr, at time.Time, ok bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, nil, time.Time{}, false
	}
	var oobn int
	var sa unix.Sockaddr
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, oobn, _, sa, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
		return true // never wait
	}); err != nil || rerr != nil {
		return 0, nil, time.Time{}, false
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		from = &net.UDPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		from = &net.UDPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	default:
		return 0, nil, time.Time{}, false
	}
	at = time.Now()
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
				ts := *(*syscall.Timespec)(unsafePointer(m.Data))
				at = time.Unix(ts.Sec, ts.Nsec)
			}
		}
	}
	return n, from, at, true
}
