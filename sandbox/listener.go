package sandbox

import (
	"net"
	"sync"
)

// trackingListener remembers the connections it hands out. The vitess
// listener under GMS stops accepting on Close but leaves established
// connections running, each in a goroutine of its own; Upstream.Close uses
// this to end them and wait until every handler has let go of its socket.
type trackingListener struct {
	net.Listener

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
	wg     sync.WaitGroup // one per connection not yet closed
}

func newTrackingListener(ln net.Listener) *trackingListener {
	return &trackingListener{Listener: ln, conns: make(map[*trackedConn]struct{})}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		// Raced with closeAll: nobody would ever close this one.
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, l: l}
	l.conns[tc] = struct{}{}
	l.wg.Add(1)
	return tc, nil
}

// closeAll closes the listener and every open connection, then waits for the
// connection handlers to close them on their side, which vitess does last
// thing before its handler goroutine returns.
func (l *trackingListener) closeAll() {
	_ = l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	for c := range l.conns {
		// Close the socket only: the read in the handler fails, the handler
		// unwinds and calls trackedConn.Close, which does the bookkeeping.
		_ = c.Conn.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
		c.l.wg.Done()
	})
	return err
}
