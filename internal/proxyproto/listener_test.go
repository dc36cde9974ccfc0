package proxyproto

import (
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestListener: through the wrapped listener, a balancer's connection
// (from a listed address) reports the client its header names and reads
// on from the bytes after the header, even when they arrived with it; a
// balancer's connection without a valid header fails its reads; an
// unlisted address's connection is its own, header bytes and all.
func TestListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	accept := func(from string, send string) (net.Conn, []byte, error) {
		t.Helper()
		ln := NewListener(raw, []netip.Prefix{netip.MustParsePrefix(from)}, 2*time.Second)
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(s)
		return s, body, err
	}

	s, body, err := accept("127.0.0.1/32", "PROXY TCP4 192.0.2.10 127.0.0.1 51234 443\r\nGET / HTTP/1.1\r\n")
	if err != nil || string(body) != "GET / HTTP/1.1\r\n" {
		t.Fatalf("after the header: %q, %v", body, err)
	}
	if got := s.RemoteAddr().String(); got != "192.0.2.10:51234" {
		t.Fatalf("RemoteAddr %s, want the client's 192.0.2.10:51234", got)
	}
	if via, named := s.(interface{ Via() (net.Addr, bool) }).Via(); !named || !strings.HasPrefix(via.String(), "127.0.0.1:") {
		t.Fatalf("Via %s, %v; want the balancer's, with a client named", via, named)
	}
	s.Close()

	s, body, err = accept("127.0.0.1/32", "GET / HTTP/1.1\r\n")
	if err == nil || len(body) != 0 || !strings.Contains(err.Error(), "no valid PROXY protocol header") {
		t.Fatalf("no header from a balancer: read %q, %v; want an error", body, err)
	}
	if !strings.HasPrefix(s.RemoteAddr().String(), "127.0.0.1:") {
		t.Fatalf("RemoteAddr after a failed header: %s", s.RemoteAddr())
	}
	if _, named := s.(interface{ Via() (net.Addr, bool) }).Via(); named {
		t.Fatal("a failed header named a client")
	}
	s.Close()

	s, body, err = accept("10.0.0.0/8", "PROXY TCP4 192.0.2.10 127.0.0.1 51234 443\r\n")
	if err != nil || string(body) != "PROXY TCP4 192.0.2.10 127.0.0.1 51234 443\r\n" || !strings.HasPrefix(s.RemoteAddr().String(), "127.0.0.1:") {
		t.Fatalf("unlisted address: %q, %v, %s; want its bytes as sent and its own address", body, err, s.RemoteAddr())
	}
	s.Close()
}
