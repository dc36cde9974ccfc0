package proxy

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// TestPanicClosesUpstream: a session that panicked may have left part of
// a response unread on its upstream connection. That connection must be
// closed, never reset and pooled for the next user (who would read the
// rest of someone else's result).
func TestPanicClosesUpstream(t *testing.T) {
	pool := NewPool(UpstreamConfig{MaxOpen: 1, MaxIdle: 1, MaxLifetime: time.Hour}, slog.New(slog.DiscardHandler))
	pool.slots <- struct{}{} // the connection below holds the one slot
	proxySide, server := net.Pipe()
	up := &upConn{nc: proxySide, created: time.Now(), lastUsed: time.Now()}
	up.w = newWire(proxySide, upstreamBufSize)
	client, _ := net.Pipe()
	s := &session{
		srv:  &Server{pool: pool},
		conn: client,
		log:  slog.New(slog.DiscardHandler),
		cw:   newWire(struct{ io.ReadWriter }{&discardRW{}}, clientBufSize),
		up:   up,
		upOK: true,
	}
	sent := make(chan []byte, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := server.Read(b) // EOF when the proxy closes the connection
		sent <- b[:n]
		server.Close()
	}()

	s.panicked("relay: index out of range")
	s.close()

	if b := <-sent; len(b) > 0 {
		t.Fatalf("after the panic the proxy sent % x upstream (a reset, to pool the connection again)", b)
	}
	if n := len(pool.idle); n != 0 {
		t.Fatalf("%d connection(s) pooled after a panic", n)
	}
	if n := len(pool.slots); n != 0 {
		t.Fatalf("the closed connection still holds its slot (%d)", n)
	}
}

type discardRW struct{}

func (*discardRW) Read([]byte) (int, error)    { return 0, io.EOF }
func (*discardRW) Write(p []byte) (int, error) { return len(p), nil }
