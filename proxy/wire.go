package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// maxPayload is the largest payload of one physical MySQL packet; a
// logical payload of this size or more continues in the next packet.
const maxPayload = 1<<24 - 1

// errPacketTooLarge: a client command exceeded limits.max_packet_mb.
var errPacketTooLarge = errors.New("packet too large")

// errProtocol: the peer broke the wire protocol (bad sequence, bad length).
var errProtocol = errors.New("protocol error")

// wire frames MySQL packets over one connection with buffered I/O. It
// keeps the sequence id: reads check it, writes stamp it. Writes stay in
// the buffer until Flush, so a result set goes out in few syscalls.
//
// The buffers are pooled: idle gives them back while the connection waits
// for its peer (a session between statements, a pooled upstream), and the
// next read or write takes a pair again. Thousands of idle BI connections
// then cost no buffer memory, while a busy one keeps its buffers for the
// whole response.
type wire struct {
	rw   io.ReadWriter
	size int
	r    *bufio.Reader // nil while idle
	w    *bufio.Writer // nil while idle
	seq  uint8
	hdr  [4]byte
	// ownReader: r is this wire's own, small, and kept while idle (see
	// keepSmallReader).
	ownReader bool
}

func newWire(rw io.ReadWriter, bufSize int) *wire {
	c := &wire{rw: rw, size: bufSize}
	c.take()
	return c
}

// bufPools holds idle buffers by size (the proxy uses a few sizes).
var bufPools sync.Map // int -> *bufPool

type bufPool struct{ r, w sync.Pool }

func poolFor(size int) *bufPool {
	if p, ok := bufPools.Load(size); ok {
		return p.(*bufPool)
	}
	p, _ := bufPools.LoadOrStore(size, &bufPool{
		r: sync.Pool{New: func() any { return bufio.NewReaderSize(nil, size) }},
		w: sync.Pool{New: func() any { return bufio.NewWriterSize(nil, size) }},
	})
	return p.(*bufPool)
}

// putReader and putWriter give a buffer back, emptied: whatever it held
// stays with the connection it was read from or meant for.
func (p *bufPool) putReader(r *bufio.Reader) { r.Reset(nil); p.r.Put(r) }
func (p *bufPool) putWriter(w *bufio.Writer) { w.Reset(nil); p.w.Put(w) }

// take makes sure the wire has its buffers.
func (c *wire) take() {
	if c.r != nil && c.w != nil {
		return
	}
	p := poolFor(c.size)
	if c.r == nil {
		c.r = p.r.Get().(*bufio.Reader)
		c.r.Reset(c.rw)
	}
	if c.w == nil {
		c.w = p.w.Get().(*bufio.Writer)
		c.w.Reset(c.rw)
	}
}

// keepSmallReader gives the wire a reader of its own of size bytes, kept
// while idle. For a client connection: the next command is then read
// with the bytes already there in one read (a wire without a reader
// must read the header first and the rest after), for a few KiB per
// idle session.
func (c *wire) keepSmallReader(size int) {
	if c.r != nil && !c.ownReader {
		if c.r.Buffered() > 0 {
			return // keep what is buffered; try again when idle
		}
		poolFor(c.size).putReader(c.r)
	}
	r := poolFor(size).r.Get().(*bufio.Reader)
	r.Reset(c.rw)
	c.r, c.ownReader = r, true
}

// release gives all of the wire's buffers back to the pool once its
// connection is closed, whatever they hold: nothing will be read from
// or written to it again. Without it every session's buffers (20 KiB of
// a client wire) were garbage when it ended, and a storm of short
// sessions fed the collector that much per login.
func (c *wire) release() {
	if c.r != nil {
		// A reader of the wire's own (keepSmallReader) has its own size.
		poolFor(c.r.Size()).putReader(c.r)
		c.r, c.ownReader = nil, false
	}
	if c.w != nil {
		poolFor(c.size).putWriter(c.w)
		c.w = nil
	}
}

// idle returns the buffers to the pool, each only if it holds nothing:
// unread bytes (a pipelined command) or unflushed ones stay where they
// are.
func (c *wire) idle() {
	p := poolFor(c.size)
	if c.r != nil && !c.ownReader && c.r.Buffered() == 0 {
		p.putReader(c.r)
		c.r = nil
	}
	if c.w != nil && c.w.Buffered() == 0 {
		p.putWriter(c.w)
		c.w = nil
	}
}

// readHeader reads one physical packet header and checks its sequence.
// On an idle wire the header is read straight from the connection (the
// wait for it needs no buffer), and the buffers are taken for the rest.
func (c *wire) readHeader() (int, error) {
	var src io.Reader = c.r
	if c.r == nil {
		src = c.rw
	}
	if _, err := io.ReadFull(src, c.hdr[:]); err != nil {
		return 0, err
	}
	c.take()
	n := int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16
	if c.hdr[3] != c.seq {
		return 0, fmt.Errorf("%w: sequence %d, expected %d", errProtocol, c.hdr[3], c.seq)
	}
	c.seq++
	return n, nil
}

// readPacket reads one logical payload (joining 16 MiB continuations)
// into buf, refusing to buffer more than limit bytes. When the payload is
// larger it is drained and discarded, so the connection stays usable, and
// errPacketTooLarge is returned.
func (c *wire) readPacket(buf []byte, limit int) ([]byte, error) {
	buf = buf[:0]
	tooLarge := false
	for {
		n, err := c.readHeader()
		if err != nil {
			return nil, err
		}
		if !tooLarge && len(buf)+n > limit {
			tooLarge = true
		}
		if tooLarge {
			if _, err := c.r.Discard(n); err != nil {
				return nil, err
			}
		} else {
			start := len(buf)
			buf = slices.Grow(buf, n)[:start+n]
			if _, err := io.ReadFull(c.r, buf[start:]); err != nil {
				return nil, err
			}
		}
		if n < maxPayload {
			break
		}
	}
	if tooLarge {
		return nil, errPacketTooLarge
	}
	return buf, nil
}

// writePacket writes one logical payload, splitting it into 16 MiB
// physical packets. It does not flush.
func (c *wire) writePacket(payload []byte) error {
	c.take()
	for {
		n := len(payload)
		if n > maxPayload {
			n = maxPayload
		}
		c.hdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), c.seq}
		c.seq++
		if _, err := c.w.Write(c.hdr[:]); err != nil {
			return err
		}
		if _, err := c.w.Write(payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
		if n < maxPayload {
			return nil
		}
	}
}

func (c *wire) flush() error {
	if c.w == nil {
		return nil // idle: nothing buffered
	}
	return c.w.Flush()
}

// writeFlush writes one packet and flushes it: a whole command or answer.
func (c *wire) writeFlush(payload []byte) error {
	if err := c.writePacket(payload); err != nil {
		return err
	}
	return c.flush()
}

// --- packet builders -------------------------------------------------------

func okPacket(status uint16, info string) []byte {
	b := []byte{mysql.OK_HEADER, 0, 0}
	b = binary.LittleEndian.AppendUint16(b, status)
	b = append(b, 0, 0) // warnings
	return append(b, info...)
}

func eofPacket(status uint16) []byte {
	b := []byte{mysql.EOF_HEADER, 0, 0}
	return binary.LittleEndian.AppendUint16(b, status)
}

func errPacket(code uint16, state, msg string) []byte {
	if state == "" {
		state = "HY000"
	}
	b := []byte{mysql.ERR_HEADER}
	b = binary.LittleEndian.AppendUint16(b, code)
	b = append(b, '#')
	b = append(b, state...)
	return append(b, msg...)
}

// isEOF reports whether a payload is an EOF packet: 0xFE and short. A row
// may also begin with 0xFE (an 8-byte length prefix) but is then longer.
func isEOF(p []byte, n int) bool { return len(p) > 0 && p[0] == mysql.EOF_HEADER && n < 9 }

// eofStatus returns the server status flags of an EOF packet.
func eofStatus(p []byte) uint16 {
	if len(p) < 5 {
		return 0
	}
	return binary.LittleEndian.Uint16(p[3:5])
}

// okStatus returns the server status flags of an OK packet.
func okStatus(p []byte) (uint16, bool) {
	if len(p) < 1 || p[0] != mysql.OK_HEADER {
		return 0, false
	}
	r := reader{b: p[1:]}
	r.lenencInt() // affected rows
	r.lenencInt() // last insert id
	st := r.uint16()
	return st, r.err == nil
}

// errCode returns the code and message of an ERR packet.
func parseErr(p []byte) (uint16, string, string) {
	if len(p) < 3 || p[0] != mysql.ERR_HEADER {
		return 0, "", ""
	}
	code := binary.LittleEndian.Uint16(p[1:3])
	rest := p[3:]
	state := ""
	if len(rest) >= 6 && rest[0] == '#' {
		state, rest = string(rest[1:6]), rest[6:]
	}
	return code, state, string(rest)
}

// reader parses untrusted payloads: every read is bounds-checked and the
// first short read sets err, after which reads return zero values. (The
// go-mysql helpers index without checking and would panic on a hostile
// handshake.)
type reader struct {
	b   []byte
	err error
}

var errShort = fmt.Errorf("%w: packet too short", errProtocol)

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errShort
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte1() byte {
	v := r.take(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (r *reader) uint16() uint16 {
	v := r.take(2)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(v)
}

func (r *reader) uint32() uint32 {
	v := r.take(4)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(v)
}

func (r *reader) lenencInt() uint64 {
	switch b := r.byte1(); b {
	case 0xfc:
		return uint64(r.uint16())
	case 0xfd:
		v := r.take(3)
		if v == nil {
			return 0
		}
		return uint64(v[0]) | uint64(v[1])<<8 | uint64(v[2])<<16
	case 0xfe:
		v := r.take(8)
		if v == nil {
			return 0
		}
		return binary.LittleEndian.Uint64(v)
	case 0xfb, 0xff:
		r.err = fmt.Errorf("%w: unexpected NULL or ERR marker in length", errProtocol)
		return 0
	default:
		return uint64(b)
	}
}

func (r *reader) lenencBytes() []byte {
	n := r.lenencInt()
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	return r.take(int(n))
}

// cstring reads a NUL-terminated string; a missing NUL is an error.
func (r *reader) cstring() []byte {
	if r.err != nil {
		return nil
	}
	i := slices.Index(r.b, 0)
	if i < 0 {
		r.err = fmt.Errorf("%w: missing NUL terminator", errProtocol)
		return nil
	}
	v := r.b[:i:i]
	r.b = r.b[i+1:]
	return v
}

// rest returns what is left, NUL-terminated or not.
func (r *reader) rest() []byte {
	v := r.b
	r.b = nil
	return v
}
