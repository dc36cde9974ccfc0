package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// TestShutdownBeforeServe: a shutdown that comes before Serve has taken
// its listener (a signal right at start) still ends Serve, and closes
// the listener. It once left Serve in Accept for ever.
func TestShutdownBeforeServe(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := NewPool(UpstreamConfig{Addr: "127.0.0.1:1", MaxOpen: 1, MaxIdle: 1}, log)
	srv, err := New(Config{MaxConnections: 1, MaxPacket: 1 << 20, HandshakeTimeout: time.Second}, nil, nil, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background(), ln, nil) }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Serve after Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still accepting after Shutdown")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("listener still open after Serve returned")
	}
}
