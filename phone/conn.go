package phone

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"stayline/config"
)

// The phone dials its TCP and TLS connections to servers itself, wraps them so that it sees every byte read
// and the moment a connection ends, and hands them to sipgo through a feeder listener. sipgo's own dialer
// refuses configured servers (serverDialer), so no connection to a server can exist that the phone does
// not watch; it still reaches other parties (a far end's Contact, after a failover).

// serverDialer is sipgo's dialer: it refuses the addresses in servers, which the phone dials itself.
func serverDialer(servers map[string]bool) func(laddr net.Addr) net.Dialer {
	return func(laddr net.Addr) net.Dialer {
		return net.Dialer{
			LocalAddr: laddr,
			Timeout:   10 * time.Second,
			Control: func(network, address string, _ syscall.RawConn) error {
				if servers[address] {
					return errNoAutoDial
				}
				return nil
			},
		}
	}
}

// feeder is a net.Listener whose Accept returns the connections the phone dialled. Feed returns once sipgo
// has taken the connection into its pool (it is asking for the next one by then).
type feeder struct {
	addr  net.Addr
	mu    sync.Mutex // one Feed at a time
	conns chan net.Conn
	ready chan struct{}
	done  chan struct{}
	once  sync.Once
	taken bool // Accept handed out a connection and has not yet been called again
}

func newFeeder(addr net.Addr) *feeder {
	return &feeder{addr: addr, conns: make(chan net.Conn), ready: make(chan struct{}, 1), done: make(chan struct{})}
}

func (f *feeder) Accept() (net.Conn, error) {
	if f.taken {
		f.taken = false
		f.ready <- struct{}{}
	}
	select {
	case c := <-f.conns:
		f.taken = true
		return c, nil
	case <-f.done:
		return nil, net.ErrClosed
	}
}

func (f *feeder) Feed(ctx context.Context, c net.Conn) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case f.conns <- c:
	case <-f.done:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-f.ready:
		return nil
	case <-f.done:
		return net.ErrClosed
	}
}

func (f *feeder) Close() error {
	if f != nil {
		f.once.Do(func() { close(f.done) })
	}
	return nil
}

func (f *feeder) Addr() net.Addr { return f.addr }

// watchedConn reports every read and the end of the connection.
type watchedConn struct {
	net.Conn
	onClose func(error)

	mu       sync.Mutex
	rx       chan struct{} // closed and replaced on every read that brings data
	closed   chan struct{}
	once     sync.Once
	closeErr error
}

func newWatchedConn(c net.Conn, onClose func(error)) *watchedConn {
	return &watchedConn{Conn: c, onClose: onClose, rx: make(chan struct{}), closed: make(chan struct{})}
}

func (w *watchedConn) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	if n > 0 {
		w.mu.Lock()
		close(w.rx)
		w.rx = make(chan struct{})
		w.mu.Unlock()
	}
	if err != nil {
		w.end(err)
	}
	return n, err
}

func (w *watchedConn) Close() error {
	err := w.Conn.Close()
	w.end(net.ErrClosed)
	return err
}

func (w *watchedConn) end(err error) {
	w.once.Do(func() {
		w.closeErr = err
		close(w.closed)
		if w.onClose != nil {
			w.onClose(err)
		}
	})
}

// nextRead is closed by the next read that brings data.
func (w *watchedConn) nextRead() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rx
}

// ping sends an RFC 5626 CRLF keep-alive and waits for the server's pong (any data) or the context's end.
func (w *watchedConn) ping(ctx context.Context) error {
	rx := w.nextRead()
	if _, err := w.Conn.Write([]byte("\r\n\r\n")); err != nil {
		return fmt.Errorf("keep-alive ping: %w", err)
	}
	select {
	case <-rx:
		return nil
	case <-w.closed:
		return fmt.Errorf("keep-alive ping: connection closed: %w", w.closeErr)
	case <-ctx.Done():
		return fmt.Errorf("keep-alive ping: no pong: %w", ctx.Err())
	}
}

// connSlot holds a server's current watched connection.
type connSlot struct {
	mu   sync.Mutex
	conn *watchedConn
	// quiet is set when the phone closes the connection itself, so its end is not reported as a failure.
	quiet bool
}

func (s *connSlot) get() *watchedConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

func (s *connSlot) close() {
	s.mu.Lock()
	c := s.conn
	s.conn = nil
	s.quiet = true
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// connection returns the server's watched connection, dialling it first if there is none.
func (a *Agent) connection(ctx context.Context, l *serverLink) (*watchedConn, error) {
	l.conn.mu.Lock()
	defer l.conn.mu.Unlock()
	if l.conn.conn != nil {
		return l.conn.conn, nil
	}
	if a.ctx.Err() != nil {
		return nil, net.ErrClosed
	}
	raw, err := a.dial(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	var w *watchedConn
	w = newWatchedConn(raw, func(err error) { a.connEnded(l, w, err) })
	feed := a.feedTCP
	if l.cfg.Transport == config.TransportTLS {
		feed = a.feedTLS
	}
	if err := feed.Feed(ctx, w); err != nil {
		raw.Close()
		return nil, fmt.Errorf("server %s: hand connection to SIP stack: %w", l.cfg.Name, err)
	}
	l.conn.conn = w
	l.conn.quiet = false
	a.log.Debug("connected", "server", l.cfg.Name, "local", raw.LocalAddr(), "remote", raw.RemoteAddr())
	return w, nil
}

func (a *Agent) dial(ctx context.Context, s config.Server) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", s.HostPort())
	if err != nil {
		return nil, fmt.Errorf("server %s: connect %s: %w", s.Name, s.HostPort(), err)
	}
	if s.Transport != config.TransportTLS {
		return raw, nil
	}
	cfg := a.tls.Clone()
	cfg.ServerName = s.TLSName()
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("server %s: TLS handshake with %s: %w", s.Name, s.HostPort(), handshakeError(err))
	}
	return tc, nil
}

// connEnded runs when a watched connection ends, by the server, the network or the phone.
func (a *Agent) connEnded(l *serverLink, w *watchedConn, err error) {
	l.conn.mu.Lock()
	current := l.conn.conn == w
	if current {
		l.conn.conn = nil
	}
	quiet := l.conn.quiet || a.ctx.Err() != nil
	l.conn.mu.Unlock()
	if !current || quiet {
		return
	}
	a.log.Info("connection to server lost", "server", l.cfg.Name, "error", err)
	a.notify(Event{Kind: EventConnectionLost, Server: l.index, Err: err})
}
