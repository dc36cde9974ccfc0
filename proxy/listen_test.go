package proxy

import (
	"context"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestListenKeepAliveInherited: the keepalive set on the listening
// socket is in force on accepted connections, as the kernel reports it
// for the accepted socket itself (Listen relies on Linux copying it).
func TestListenKeepAliveInherited(t *testing.T) {
	ln, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		level, opt, v int
		name          string
	}{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15, "TCP_KEEPIDLE"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15, "TCP_KEEPINTVL"},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9, "TCP_KEEPCNT"},
		{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1, "TCP_NODELAY"},
	}
	if err := raw.Control(func(fd uintptr) {
		for _, w := range want {
			got, err := unix.GetsockoptInt(int(fd), w.level, w.opt)
			if err != nil {
				t.Errorf("%s: %v", w.name, err)
			} else if got != w.v {
				t.Errorf("accepted connection: %s = %d, want %d", w.name, got, w.v)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
}
