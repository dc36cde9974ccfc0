package proxyproto

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// NewListener wraps ln for a protocol whose client speaks first (HTTPS:
// the single sign-on page). A connection from an address in from must
// begin with a PROXY header; its RemoteAddr is then the client the header
// names, and its reads continue after the header. The header is read on
// the connection's first RemoteAddr or Read, by whoever serves it (not by
// Accept, which one slow balancer connection must not hold up), within
// timeout. A connection whose header is missing or bad fails its reads
// with the reason, so that it is never served under the balancer's
// address; a connection from any other address is returned as it is, and
// a header it sends is just its first bytes (for HTTPS, a bad TLS
// handshake).
func NewListener(ln net.Listener, from []netip.Prefix, timeout time.Duration) net.Listener {
	if len(from) == 0 {
		return ln
	}
	return &listener{Listener: ln, from: from, timeout: timeout}
}

type listener struct {
	net.Listener
	from    []netip.Prefix
	timeout time.Duration
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	peer, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil || !Trusted(l.from, peer.Addr()) {
		return c, nil
	}
	return &conn{Conn: c, timeout: l.timeout}, nil
}

// Trusted reports whether a is in one of the prefixes (IPv4-mapped IPv6
// as IPv4).
func Trusted(from []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range from {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// conn is a balancer's connection whose header is read once, first.
type conn struct {
	net.Conn
	timeout time.Duration
	once    sync.Once
	br      *bufio.Reader
	remote  net.Addr // the client's, once the header named one
	err     error    // the header's failure: every read returns it
}

func (c *conn) header() {
	c.once.Do(func() {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		c.br = bufio.NewReaderSize(c.Conn, 512)
		h, err := Read(c.br)
		_ = c.Conn.SetReadDeadline(time.Time{})
		switch {
		case err != nil:
			c.err = fmt.Errorf("connection from load balancer %s: %w", c.Conn.RemoteAddr(), err)
		case !h.Local:
			c.remote = net.TCPAddrFromAddrPort(netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port()))
		}
	})
}

// RemoteAddr is the client the header named; the balancer's own address
// for a LOCAL header, or when the header failed (the reads fail too).
func (c *conn) RemoteAddr() net.Addr {
	c.header()
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// Via is the balancer's own address, and whether its header named a
// client (not a LOCAL or failed header). It reads the header if nobody
// has yet.
func (c *conn) Via() (net.Addr, bool) {
	c.header()
	return c.Conn.RemoteAddr(), c.remote != nil
}

func (c *conn) Read(p []byte) (int, error) {
	c.header()
	if c.err != nil {
		return 0, c.err
	}
	return c.br.Read(p)
}
