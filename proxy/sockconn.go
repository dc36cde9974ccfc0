package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// sockConn is a TCP connection whose reads and writes are raw system
// calls made from the netpoller's RawConn callbacks, instead of the
// runtime's blocking-syscall path.
//
// Why: a read or write on a non-blocking socket never blocks, but the
// runtime still marks the goroutine's P as "in a system call". A loopback
// write wakes the peer (MariaDB, the client) and the kernel often switches
// to it before the write returns; the runtime's monitor then sees a P
// stuck in a system call, hands it to another thread (a futex wake), and
// the writer, back from the kernel, finds its P gone and sleeps (another
// futex). On a busy 2-core host these switches cost more than the proxy's
// own work. Measured with a bare relay (bench, 8 sysbench threads, point
// selects): voluntary context switches per query fell from 0.75 to 0.40
// and CPU per query by 10–20%, which took it from 77% to 95% of HAProxy.
//
// Waiting (EAGAIN) still parks the goroutine in the netpoller, and
// deadlines and Close behave as on the embedded connection: RawConn
// honours both.
type sockConn struct {
	*net.TCPConn
	rc syscall.RawConn
	// Each direction's buffer, result and callback live here, the
	// callbacks made once: a closure made per call, capturing its
	// results, cost seven allocations per proxied statement (a Read or
	// Write for each packet batch), two thirds of the proxy's garbage.
	// The mutexes keep a direction's fields to one caller at a time, as
	// net.Conn allows concurrent Reads (or Writes).
	rmu   sync.Mutex
	rbuf  []byte
	rn    uintptr
	rerr  syscall.Errno
	rfn   func(fd uintptr) bool
	wmu   sync.Mutex
	wbuf  []byte
	wdone int
	werr  syscall.Errno
	wfn   func(fd uintptr) bool
	// awaitReply's, for its one caller.
	awire *wire // writes the command (over TLS, when there is TLS)
	apkt  []byte
	asent bool
	aerr  error
	afn   func(fd uintptr) bool
}

// newSockConn wraps c when it is a TCP connection; anything else (a test's
// net.Pipe, a TLS connection) is returned as is.
func newSockConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	sc := &sockConn{TCPConn: tc, rc: rc}
	sc.rfn, sc.wfn, sc.afn = sc.readFD, sc.writeFD, sc.awaitFD
	return sc
}

func (c *sockConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rbuf, c.rn, c.rerr = p, 0, 0
	err := c.rc.Read(c.rfn)
	n, errno := c.rn, c.rerr
	c.rbuf = nil // not kept past the call
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", os.NewSyscallError("read", errno))
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

// readFD is Read's RawConn callback: one read(2), retried on EINTR.
func (c *sockConn) readFD(fd uintptr) bool {
	p := c.rbuf
	for {
		c.rn, _, c.rerr = syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch c.rerr {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			c.rerr = 0
			return false // park until readable (or the deadline)
		}
		return true
	}
}

func (c *sockConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf, c.wdone, c.werr = p, 0, 0
	err := c.rc.Write(c.wfn)
	done, errno := c.wdone, c.werr
	c.wbuf = nil
	switch {
	case err != nil:
		return done, c.opError("write", err)
	case errno != 0:
		return done, c.opError("write", os.NewSyscallError("write", errno))
	}
	return done, nil
}

// writeFD is Write's RawConn callback: write(2) until everything is
// written, an error, or EAGAIN (park until writable).
func (c *sockConn) writeFD(fd uintptr) bool {
	p := c.wbuf
	for c.wdone < len(p) {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[c.wdone])), uintptr(len(p)-c.wdone))
		switch errno {
		case 0:
			c.wdone += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // park until writable (or the deadline)
		default:
			c.werr = errno
			return true
		}
	}
	return true
}

// awaitReply sends a command packet on w (whose connection is c, or TLS
// over c) and then waits until the
// connection is readable, without reading: the reply's first read then
// finds its bytes instead of a read(2) that returns EAGAIN before the
// goroutine parks. On this host a system call costs about a microsecond,
// and that read was one of the proxy's seven per statement (HAProxy,
// which reads only after epoll says so, makes four to five).
//
// The wait is only safe because the write happens inside it: the
// netpoller forgets readiness when a wait begins (RawConn.Read resets
// it), so a reply that arrived, and was noticed, before the wait began
// would never wake it. Here the wait begins before the command is sent,
// and nothing the peer sends can predate the command it answers. A
// connection whose peer may speak unasked (a client) cannot use it.
//
// write may block (a command larger than the socket buffer waits to be
// writable); a Close or a read deadline ends the wait with an error.
//
// One caller at a time, and no Read meanwhile: the session that owns the
// connection. w must not read while it writes (see sockOf).
func (c *sockConn) awaitReply(w *wire, pkt []byte) error {
	c.awire, c.apkt, c.asent, c.aerr = w, pkt, false, nil
	err := c.rc.Read(c.afn)
	werr := c.aerr
	c.awire, c.apkt, c.aerr = nil, nil, nil
	if werr != nil {
		return werr
	}
	if err != nil {
		return c.opError("read", err)
	}
	return nil
}

// awaitFD is awaitReply's RawConn callback: the first call sends, and
// asks to wait; the next (readable) ends the wait.
func (c *sockConn) awaitFD(uintptr) bool {
	if c.asent {
		return true
	}
	c.asent = true
	c.aerr = c.awire.writeFlush(c.apkt)
	return c.aerr != nil
}

// sockOf is the sockConn under c, through TLS, or nil. A TLS connection
// must have finished its handshake: until then a write reads too (the
// server's hello), and a read inside awaitReply's wait would wait for
// the wait.
func sockOf(c net.Conn) *sockConn {
	if tc, ok := c.(*tls.Conn); ok {
		if !tc.ConnectionState().HandshakeComplete {
			return nil
		}
		c = tc.NetConn()
	}
	sc, _ := c.(*sockConn)
	return sc
}

// opError shapes an error as net.Conn's own (a *net.OpError), so callers
// that look for timeouts and closed connections see what they expect.
// RawConn's errors already are one, with the operation named "raw-read".
func (c *sockConn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
