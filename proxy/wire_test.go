package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestWireRoundTripLargePayloads(t *testing.T) {
	for _, n := range []int{0, 1, maxPayload - 1, maxPayload, maxPayload + 1, 2*maxPayload + 5} {
		var buf bytes.Buffer
		w := newWire(&buf, 4096)
		payload := bytes.Repeat([]byte{0xab}, n)
		if err := w.writePacket(payload); err != nil {
			t.Fatal(err)
		}
		w.flush()
		r := newWire(&buf, 4096)
		got, err := r.readPacket(nil, 64<<20)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: got %d bytes, %v", n, len(got), err)
		}
		if r.seq != w.seq {
			t.Fatalf("n=%d: sequence reader %d writer %d", n, r.seq, w.seq)
		}
	}
}

func TestWireOversizeIsDrainedAndConnectionStaysUsable(t *testing.T) {
	var buf bytes.Buffer
	w := newWire(&buf, 4096)
	w.writePacket(bytes.Repeat([]byte{1}, 5000))
	w.seq = 0
	w.writePacket([]byte("next"))
	w.flush()
	r := newWire(&buf, 4096)
	if _, err := r.readPacket(nil, 1000); !errors.Is(err, errPacketTooLarge) {
		t.Fatalf("want errPacketTooLarge, got %v", err)
	}
	r.seq = 0
	got, err := r.readPacket(nil, 1000)
	if err != nil || string(got) != "next" {
		t.Fatalf("next packet: %q, %v", got, err)
	}
}

func TestWireRejectsBadSequence(t *testing.T) {
	r := newWire(bytes.NewBuffer([]byte{1, 0, 0, 5, 'x'}), 64)
	if _, err := r.readPacket(nil, 100); !errors.Is(err, errProtocol) {
		t.Fatalf("want errProtocol, got %v", err)
	}
}

func TestOKStatusAndEOF(t *testing.T) {
	st, ok := okStatus(okPacket(0x0008|0x0002, "info"))
	if !ok || st != 0x000a {
		t.Fatalf("okStatus = %x, %v", st, ok)
	}
	if _, ok := okStatus([]byte{0, 0xfc}); ok {
		t.Fatal("truncated OK accepted")
	}
	e := eofPacket(0x0008)
	if !isEOF(e, len(e)) || eofStatus(e) != 8 {
		t.Fatal("EOF not recognised")
	}
	row := append([]byte{0xfe}, make([]byte, 9)...) // a row with an 8-byte length prefix
	if isEOF(row, len(row)) {
		t.Fatal("long 0xfe row taken for EOF")
	}
}

// FuzzParseHandshakeResponse: hostile handshake bytes must produce an
// error or a response, never a panic.
func FuzzParseHandshakeResponse(f *testing.F) {
	// A real go-sql-driver HandshakeResponse41 (TLS, caching_sha2_password, attributes).
	f.Add([]byte("\x8d\xa2\x0b\x00\x00\x00\x00\x00\x2d\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00alice\x00\x20aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x00study\x00caching_sha2_password\x00\x10\x03_os\x05linux\x05_pid\x0212"))
	f.Add([]byte{0x05, 0xa6, 0x3f, 0x20, 0, 0, 0, 1, 0x21})
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := parseHandshakeResponse(p)
		if err == nil && h == nil {
			t.Fatal("nil response without error")
		}
	})
}

// TestWireIdleKeepsBufferedBytes: an idle wire gives its buffers back only
// when they hold nothing, so a pipelined command is never lost, and it
// reads and writes as before once it takes buffers again.
func TestWireIdleKeepsBufferedBytes(t *testing.T) {
	var conn bytes.Buffer
	src := newWire(&conn, 64)
	for _, p := range []string{"first", "second"} {
		if err := src.writePacket([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.flush(); err != nil {
		t.Fatal(err)
	}
	c := newWire(&conn, 64)
	if p, err := c.readPacket(nil, 1<<10); err != nil || string(p) != "first" {
		t.Fatalf("first: %q %v", p, err)
	}
	c.idle()
	if c.r == nil {
		t.Fatal("idle gave back a reader holding the next command")
	}
	if c.w != nil {
		t.Fatal("idle kept an empty writer")
	}
	if p, err := c.readPacket(nil, 1<<10); err != nil || string(p) != "second" {
		t.Fatalf("second: %q %v", p, err)
	}
	c.idle()
	if c.r != nil || c.w != nil {
		t.Fatal("idle kept empty buffers")
	}
	// The next header is read straight from the connection.
	src.seq = 2
	if err := src.writePacket([]byte("third")); err != nil {
		t.Fatal(err)
	}
	_ = src.flush()
	if p, err := c.readPacket(nil, 1<<10); err != nil || string(p) != "third" {
		t.Fatalf("third after idle: %q %v", p, err)
	}
	c.idle()
	c.seq = 9
	if err := c.writePacket([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(); err != nil {
		t.Fatal(err)
	}
	if got := conn.Bytes(); len(got) != 9 || got[3] != 9 || string(got[4:]) != "reply" {
		t.Fatalf("write after idle: % x", got)
	}
}

// TestWireIdleOnTCP: an idle wire on a plain TCP socket waits for
// readability without a buffer, then reads the command whole; a read
// deadline and the peer's close end the wait with the usual errors.
func TestWireIdleOnTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := newWire(conn, 64)
	c.idle()

	// Nothing sent yet: the deadline ends the wait as a timeout.
	_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.readPacket(nil, 1<<10); !isTimeout(err) {
		t.Fatalf("wait past the deadline: %v", err)
	}
	if c.r != nil {
		t.Fatal("a timed-out wait took buffers")
	}
	_ = conn.SetReadDeadline(time.Time{})

	pw := newWire(peer, 64)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		time.Sleep(20 * time.Millisecond)
		_ = pw.writePacket([]byte("SELECT 1"))
		_ = pw.flush()
	}()
	if p, err := c.readPacket(nil, 1<<10); err != nil || string(p) != "SELECT 1" {
		t.Fatalf("command after waiting: %q %v", p, err)
	}
	<-sent
	c.idle()
	// Bytes that arrived before the wait began are seen at once.
	if err := pw.writePacket([]byte("SELECT 2")); err != nil {
		t.Fatal(err)
	}
	_ = pw.flush()
	time.Sleep(20 * time.Millisecond)
	if p, err := c.readPacket(nil, 1<<10); err != nil || string(p) != "SELECT 2" {
		t.Fatalf("command already there: %q %v", p, err)
	}
	c.idle()
	peer.Close()
	if _, err := c.readPacket(nil, 1<<10); !errors.Is(err, io.EOF) {
		t.Fatalf("peer closed: %v", err)
	}
}

// TestWireSmallReaderKeptWhileIdle: a client wire keeps its own small
// reader through idle (the next command is read in one go) and never
// drops buffered bytes when switching to it.
func TestWireSmallReaderKeptWhileIdle(t *testing.T) {
	var conn bytes.Buffer
	src := newWire(&conn, 64)
	for _, p := range []string{"one", "two"} {
		_ = src.writePacket([]byte(p))
	}
	_ = src.flush()
	c := newWire(&conn, 64)
	if p, err := c.readPacket(nil, 1<<10); err != nil || string(p) != "one" {
		t.Fatalf("one: %q %v", p, err)
	}
	c.keepSmallReader(16) // "two" is buffered: not now
	if c.ownReader {
		t.Fatal("switched readers with bytes buffered")
	}
	if p, err := c.readPacket(nil, 1<<10); err != nil || string(p) != "two" {
		t.Fatalf("two: %q %v", p, err)
	}
	c.keepSmallReader(16)
	c.idle()
	if !c.ownReader || c.r == nil || c.r.Size() != 16 || c.w != nil {
		t.Fatalf("after idle: own=%v reader=%v writer=%v", c.ownReader, c.r != nil, c.w != nil)
	}
	src.seq = 2
	_ = src.writePacket([]byte("three, longer than the reader"))
	_ = src.flush()
	if p, err := c.readPacket(nil, 1<<10); err != nil || string(p) != "three, longer than the reader" {
		t.Fatalf("three: %q %v", p, err)
	}
}

// TestWireReleaseLeavesNothingBehind: a closed session's buffers go back
// to the pool whatever they held (an unflushed reply, bytes the client
// sent after its last command), and whoever gets them next finds them
// empty: nothing of one person's session reaches another's.
func TestWireReleaseLeavesNothingBehind(t *testing.T) {
	const size = 1536 // a size of this test's own: no other test shares its pool
	sc, peer := tcpPair(t)
	w := newWire(sc, size)
	if _, err := peer.Write([]byte("pipelined after COM_QUIT")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.r.Peek(8); err != nil {
		t.Fatal(err)
	}
	if _, err := w.w.Write([]byte("unflushed reply: subject 1042, arm B")); err != nil {
		t.Fatal(err)
	}
	small := newWire(sc, size)
	small.keepSmallReader(size / 2)
	if _, err := peer.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if _, err := small.r.Peek(4); err != nil {
		t.Fatal(err)
	}

	w.release()
	small.release()
	if w.r != nil || w.w != nil || small.r != nil || small.w != nil || small.ownReader {
		t.Fatal("release left buffers on the wire")
	}
	for _, n := range []int{size, size / 2} {
		p := poolFor(n)
		for range 4 {
			r := p.r.Get().(*bufio.Reader)
			wr := p.w.Get().(*bufio.Writer)
			if r.Buffered() != 0 || wr.Buffered() != 0 {
				t.Fatalf("a pooled %d-byte buffer still holds %d bytes read, %d unwritten", n, r.Buffered(), wr.Buffered())
			}
			if r.Size() != n || wr.Size() != n {
				t.Fatalf("pool for %d bytes gave buffers of %d and %d", n, r.Size(), wr.Size())
			}
		}
	}
}
