package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/devcert"
)

// tcpPair returns the two ends of a loopback TCP connection, the first
// wrapped as the proxy wraps its sockets.
func tcpPair(t *testing.T) (*sockConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	sc, ok := newSockConn(c).(*sockConn)
	if !ok {
		t.Fatal("a TCP connection was not wrapped")
	}
	t.Cleanup(func() { sc.Close(); peer.Close() })
	return sc, peer
}

func TestSockConnRelaysBothWays(t *testing.T) {
	sc, peer := tcpPair(t)
	// 8 MiB each way: far more than the socket buffers hold, so writes
	// meet EAGAIN and must wait for the reader, and reads wait for data.
	want := bytes.Repeat([]byte("visit 7, subject 0042, arm blinded; "), 8<<20/36)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(want))))
		got <- b
	}()
	if n, err := sc.Write(want); err != nil || n != len(want) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("peer read %d bytes, not what was written", len(b))
	}
	go func() { _, _ = peer.Write(want) }()
	b := make([]byte, len(want))
	if _, err := io.ReadFull(sc, b); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("ReadFull: %v (equal %v)", err, bytes.Equal(b, want))
	}
	if n, err := sc.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
}

func TestSockConnEOF(t *testing.T) {
	sc, peer := tcpPair(t)
	_, _ = peer.Write([]byte("bye"))
	peer.Close()
	b, err := io.ReadAll(sc)
	if err != nil || string(b) != "bye" {
		t.Fatalf("ReadAll = %q, %v; want \"bye\", nil (io.EOF ends it)", b, err)
	}
	if _, err := sc.Read(make([]byte, 1)); !errors.Is(err, io.EOF) || !isClosed(err) {
		t.Fatalf("read after the peer closed: %v, want io.EOF", err)
	}
}

func TestSockConnDeadline(t *testing.T) {
	sc, _ := tcpPair(t)
	if err := sc.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := sc.Read(make([]byte, 1))
	if !isTimeout(err) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("read past the deadline: %#v, want a *net.OpError for read", err)
	}
	// The connection stays usable once the deadline is lifted.
	if err := sc.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func TestSockConnCloseWakesReader(t *testing.T) {
	sc, _ := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := sc.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the reader park
	sc.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) || !isClosed(err) {
			t.Fatalf("read on a closed connection: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the parked reader")
	}
}

func TestSockConnResetIsAnError(t *testing.T) {
	sc, peer := tcpPair(t)
	// Close with unread data makes the kernel send RST: the next write
	// or read on our end fails with ECONNRESET or EPIPE.
	_, _ = sc.Write([]byte("unread"))
	time.Sleep(20 * time.Millisecond)
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close()
	time.Sleep(20 * time.Millisecond)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = sc.Write(bytes.Repeat([]byte{'x'}, 64<<10))
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write to a reset connection: %v, want ECONNRESET or EPIPE", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("write error %#v is not a *net.OpError for write", err)
	}
}

func TestSockConnLeavesOthersAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := newSockConn(a); c != a {
		t.Fatalf("newSockConn wrapped a %T", a)
	}
}

// TestSockConnDoesNotAllocate: a read and a write that need no wait
// allocate nothing. Closures made per call allocated seven times per
// proxied statement, most of the proxy's garbage.
func TestSockConnDoesNotAllocate(t *testing.T) {
	sc, peer := tcpPair(t)
	msg := []byte("SELECT arm FROM visits WHERE subject_id = 42")
	buf := make([]byte, 256)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := sc.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(peer, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(sc, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per write and read, want 0", allocs)
	}
}

// peerServe answers each command packet the peer reads with reply, after
// delay, until the connection closes.
func peerServe(peer net.Conn, reply []byte, delay time.Duration) {
	pw := newWire(peer, 4096)
	for {
		pw.seq = 0
		if _, err := pw.readPacket(nil, 64<<20); err != nil {
			return
		}
		time.Sleep(delay)
		if pw.writePacket(reply) != nil || pw.flush() != nil {
			return
		}
	}
}

// readNow makes one read(2) on c's socket, without waiting: what a
// first read after awaitReply finds.
func readNow(t *testing.T, c *sockConn, p []byte) (int, error) {
	t.Helper()
	var n int
	var err error
	if cerr := c.rc.Control(func(fd uintptr) { n, err = syscall.Read(int(fd), p) }); cerr != nil {
		t.Fatal(cerr)
	}
	return n, err
}

// TestAwaitReplyReturnsWithTheReplyThere: awaitReply sends the command
// and returns once the reply can be read, so the first read finds it
// rather than EAGAIN; it reads nothing itself.
func TestAwaitReplyReturnsWithTheReplyThere(t *testing.T) {
	sc, peer := tcpPair(t)
	reply := []byte("\x00\x00\x00\x02\x00\x00\x00")
	go peerServe(peer, reply, 30*time.Millisecond)
	w := newWire(sc, 4096)
	cmd := append([]byte{0x03}, "SELECT arm FROM randomisation WHERE subject_id = 42"...)
	start := time.Now()
	if err := sc.awaitReply(w, cmd); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 25*time.Millisecond {
		t.Fatalf("awaitReply returned after %v, before the peer's reply (30ms)", waited)
	}
	buf := make([]byte, 64)
	n, err := readNow(t, sc, buf)
	if err != nil || n != 4+len(reply) {
		t.Fatalf("first read after awaitReply: %d bytes, %v; want the %d-byte reply packet", n, err, 4+len(reply))
	}
}

// TestAwaitReplyPingPong: replies that come back at once, racing the
// wait, never strand it (the wait begins before the command is sent);
// over plain TCP and over TLS, whose writes go through the sockConn.
func TestAwaitReplyPingPong(t *testing.T) {
	paths, err := devcert.Generate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(paths.Cert, paths.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			sc, peer := tcpPair(t)
			var conn net.Conn = sc
			if useTLS {
				peer = tls.Server(peer, &tls.Config{Certificates: []tls.Certificate{cert}})
				tc := tls.Client(sc, &tls.Config{InsecureSkipVerify: true}) // the pair is ours; the test is about the socket
				if got := sockOf(tc); got != nil {
					t.Fatal("sockOf took a TLS connection before its handshake")
				}
				go func() { _ = peer.(*tls.Conn).Handshake() }()
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				conn = tc
			}
			if got := sockOf(conn); got != sc {
				t.Fatalf("sockOf(%T) = %p, want the sockConn %p", conn, got, sc)
			}
			reply := []byte("\xfe\x00\x00\x02\x00")
			go peerServe(peer, reply, 0)
			// A hang fails here instead of at the test timeout.
			if err := sc.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			w := newWire(conn, 4096)
			cmd := []byte("\x0eping")
			for i := range 2000 {
				w.seq = 0
				if err := sc.awaitReply(w, cmd); err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
				got, err := w.readPacket(nil, 1<<20)
				if err != nil || !bytes.Equal(got, reply) {
					t.Fatalf("round %d: reply %q, %v", i, got, err)
				}
			}
		})
	}
}

// TestAwaitReplyLargeCommand: a command larger than the socket buffers
// waits to be writable inside the wait for the reply, and the peer gets
// all of it.
func TestAwaitReplyLargeCommand(t *testing.T) {
	sc, peer := tcpPair(t)
	got := make(chan int, 1)
	go func() {
		pw := newWire(peer, 4096)
		time.Sleep(20 * time.Millisecond) // let the sender fill the buffers
		p, err := pw.readPacket(nil, 64<<20)
		if err != nil {
			got <- -1
			return
		}
		got <- len(p)
		_ = pw.writePacket([]byte{0})
		_ = pw.flush()
	}()
	cmd := append([]byte{0x03}, bytes.Repeat([]byte("visit 7, subject 0042; "), 8<<20/23)...)
	if err := sc.awaitReply(newWire(sc, 4096), cmd); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != len(cmd) {
		t.Fatalf("peer read a %d-byte command, want %d", n, len(cmd))
	}
}

// TestAwaitReplyEnds: a deadline, a Close and a peer that goes away each
// end the wait with an error, instead of leaving it parked.
func TestAwaitReplyEnds(t *testing.T) {
	cmd := []byte("\x03SELECT 1")
	t.Run("deadline", func(t *testing.T) {
		sc, peer := tcpPair(t)
		go func() { _, _ = io.Copy(io.Discard, peer) }() // reads, never answers
		if err := sc.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		err := sc.awaitReply(newWire(sc, 4096), cmd)
		if !isTimeout(err) {
			t.Fatalf("awaitReply past the deadline: %v, want a timeout", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "read" {
			t.Fatalf("awaitReply past the deadline: %#v, want a *net.OpError for read", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		sc, peer := tcpPair(t)
		go func() { _, _ = io.Copy(io.Discard, peer) }()
		done := make(chan error, 1)
		go func() { done <- sc.awaitReply(newWire(sc, 4096), cmd) }()
		time.Sleep(20 * time.Millisecond) // let it park
		sc.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("awaitReply on a closed connection: %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end the wait")
		}
	})
	t.Run("peer gone", func(t *testing.T) {
		sc, peer := tcpPair(t)
		peer.(*net.TCPConn).SetLinger(0)
		peer.Close()
		time.Sleep(20 * time.Millisecond)
		done := make(chan error, 1)
		go func() {
			w := newWire(sc, 4096)
			if err := sc.awaitReply(w, cmd); err != nil {
				done <- err
				return
			}
			_, err := w.readPacket(nil, 1<<20) // readable: the reset or the end
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a command to a reset connection succeeded")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("awaitReply to a reset connection did not end")
		}
	})
}
