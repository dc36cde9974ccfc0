package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
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
