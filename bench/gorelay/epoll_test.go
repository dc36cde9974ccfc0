package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestEpollRelaysBothWays: through the epoll relay, several connections
// at once each get back exactly what they sent to an echo server, with
// more data than the sockets between them hold (the pending path: the
// test fails if what a short write left is dropped).
func TestEpollRelaysBothWays(t *testing.T) { relaysBothWays(t, runEpoll) }

// TestCoroRelaysBothWays: the same through the coroutine relay, whose
// writes that come back short yield until the socket is writable, and
// whose reads after a short read wait for the next edge first.
func TestCoroRelaysBothWays(t *testing.T) { relaysBothWays(t, runCoro) }

func relaysBothWays(t *testing.T, run func(listen, upstream string)) {
	// The echo server's receive buffer is small from the start (set on
	// the listener, so the window is negotiated with it) and it waits
	// before it reads: the relay's writes to it come back short once the
	// relay's own send buffer (4 MiB at most here) is full, and what is
	// left waits in pending.
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		return cmp.Or(err, serr)
	}}
	echo, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { time.Sleep(300 * time.Millisecond); io.Copy(c, c); c.Close() }()
		}
	}()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	go run(addr, echo.Addr().String())

	var c net.Conn
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err = net.Dial("tcp", addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.Close()

	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			want := make([]byte, (i+6)<<20)
			rand.Read(want)
			go func() {
				for b := want; len(b) > 0; {
					n, err := c.Write(b[:min(len(b), 100<<10)])
					if err != nil {
						return
					}
					b = b[n:]
				}
			}()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Errorf("connection %d: %v", i, err)
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("connection %d: the echo differs from what was sent", i)
			}
		}()
	}
	wg.Wait()
}
