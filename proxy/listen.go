package proxy

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Keepalive on client connections: the first probe after keepAliveIdle
// of silence, then every keepAliveInterval, keepAliveCount unanswered
// probes end the connection. These are Go's own defaults for accepted
// connections; a BI tool's host that vanished without closing frees its
// session (and its pooled upstream connection) within about 2.5 minutes.
const (
	keepAliveIdle     = 15 * time.Second
	keepAliveInterval = 15 * time.Second
	keepAliveCount    = 9
)

// Listen opens the proxy's TCP listener on addr. Keepalive is set once,
// on the listening socket, and Linux's accepted sockets inherit it;
// Go's default sets it again on every accepted connection with four
// setsockopt calls, which in a connection storm were a sixth of the
// proxy's system calls per login (strace -c: 5 setsockopt of 30).
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{
		KeepAlive: -1, // inherited from the listener (setKeepAlive), not set per connection
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setKeepAlive(int(fd)) }); err != nil {
				return err
			}
			return serr
		},
	}
	return lc.Listen(ctx, "tcp", addr)
}

func setKeepAlive(fd int) error {
	for _, o := range []struct {
		level, opt, v int
		name          string
	}{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepAliveIdle / time.Second), "TCP_KEEPIDLE"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepAliveInterval / time.Second), "TCP_KEEPINTVL"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepAliveCount, "TCP_KEEPCNT"},
	} {
		if err := unix.SetsockoptInt(fd, o.level, o.opt, o.v); err != nil {
			return fmt.Errorf("listen: set %s: %w", o.name, err)
		}
	}
	return nil
}
