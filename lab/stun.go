package lab

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"

	"github.com/pion/stun/v3"
	"golang.org/x/sys/unix"
)

// ListenUDP opens a UDP socket inside the namespace, for a server the test runs in its own process (a
// socket keeps the namespace it was made in): the calling thread enters the namespace just for the
// socket() call and comes back.
func (n *Netns) ListenUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer own.Close()
	target, err := os.Open("/var/run/netns/" + n.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("enter namespace %s: %w", n.Name, err)
	}
	c, lerr := net.ListenUDP("udp", ua)
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays in the wrong namespace: leave it locked, so Go ends it with this goroutine.
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("leave namespace %s: %w", n.Name, err)
	}
	runtime.UnlockOSThread()
	return c, lerr
}

// STUNServer answers STUN Binding requests (RFC 5389) with the address they came from, as a public
// STUN server does; it counts them.
type STUNServer struct {
	conn *net.UDPConn
	mu   sync.Mutex
	n    int
	done chan struct{}
}

// StartSTUN serves STUN on c until Close.
func StartSTUN(c *net.UDPConn) *STUNServer {
	s := &STUNServer{conn: c, done: make(chan struct{})}
	go s.serve()
	return s
}

// Addr is the server's host:port.
func (s *STUNServer) Addr() string { return s.conn.LocalAddr().String() }

// Requests is how many Binding requests it answered.
func (s *STUNServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Close stops the server.
func (s *STUNServer) Close() error {
	err := s.conn.Close()
	<-s.done
	return err
}

func (s *STUNServer) serve() {
	defer close(s.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil || req.Type != stun.BindingRequest {
			continue
		}
		res, err := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: from.IP, Port: from.Port}, stun.Fingerprint)
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.n++
		s.mu.Unlock()
		s.conn.WriteToUDP(res.Raw, from)
	}
}
