package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// v2 builds a version 2 header: command, family, address block, TLVs.
func v2(cmd, fam byte, addrs []byte, tlvs ...[]byte) []byte {
	body := append([]byte{}, addrs...)
	for _, t := range tlvs {
		body = append(body, t...)
	}
	h := append([]byte{}, v2sig...)
	h = append(h, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(h[14:], uint16(len(body)))
	return append(h, body...)
}

func tcp4(src, dst string, sp, dp uint16) []byte {
	b := append(netip.MustParseAddr(src).AsSlice(), netip.MustParseAddr(dst).AsSlice()...)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, sp), dp)
}

func tcp6(src, dst string, sp, dp uint16) []byte {
	b := append(netip.MustParseAddr(src).AsSlice(), netip.MustParseAddr(dst).AsSlice()...)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, sp), dp)
}

// TestRead: every valid header is read exactly, and whatever follows it
// (the client's first bytes, in a relay) is left in the reader.
func TestRead(t *testing.T) {
	ap := netip.MustParseAddrPort
	for _, c := range []struct {
		name string
		in   []byte
		want Header
	}{
		{"v1 TCP4", []byte("PROXY TCP4 192.0.2.10 10.0.0.5 51234 3306\r\n"),
			Header{Version: 1, Source: ap("192.0.2.10:51234"), Dest: ap("10.0.0.5:3306")}},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 65535 3306\r\n"),
			Header{Version: 1, Source: ap("[2001:db8::7]:65535"), Dest: ap("[2001:db8::1]:3306")}},
		{"v1 port 0", []byte("PROXY TCP4 192.0.2.10 10.0.0.5 0 3306\r\n"),
			Header{Version: 1, Source: ap("192.0.2.10:0"), Dest: ap("10.0.0.5:3306")}},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Local: true}},
		{"v1 UNKNOWN with addresses", []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), Header{Version: 1, Local: true}},
		{"v2 TCP4", v2(1, 0x11, tcp4("192.0.2.10", "10.0.0.5", 51234, 3306)),
			Header{Version: 2, Source: ap("192.0.2.10:51234"), Dest: ap("10.0.0.5:3306")}},
		{"v2 TCP6 with TLVs", v2(1, 0x21, tcp6("2001:db8::7", "2001:db8::1", 40000, 3306), []byte{0x04, 0, 3, 'a', 'b', 'c'}, []byte{0x20, 0, 1, 0}),
			Header{Version: 2, Source: ap("[2001:db8::7]:40000"), Dest: ap("[2001:db8::1]:3306")}},
		{"v2 LOCAL", v2(0, 0x00, nil), Header{Version: 2, Local: true}},
		{"v2 LOCAL with addresses", v2(0, 0x11, tcp4("192.0.2.10", "10.0.0.5", 1, 2)), Header{Version: 2, Local: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := bufio.NewReader(io.MultiReader(bytes.NewReader(c.in), strings.NewReader("REST")))
			got, err := Read(r)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			if rest, _ := io.ReadAll(r); string(rest) != "REST" {
				t.Fatalf("left %q after the header, want REST", rest)
			}
		})
	}
}

// TestReadRefuses: anything but a whole valid header is an error that
// wraps ErrHeader and says what was wrong.
func TestReadRefuses(t *testing.T) {
	long := "PROXY TCP4 192.0.2.10 10.0.0.5 51234 3306" + strings.Repeat(" ", 80) + "\r\n"
	oversized := append([]byte{}, v2sig...)
	oversized = append(oversized, 0x21, 0x11, 0xff, 0xff)
	for _, c := range []struct {
		name string
		in   []byte
		says string
	}{
		{"empty", nil, "EOF"},
		{"a MySQL packet", []byte{0x20, 0, 0, 1, 0x85, 0xa6}, "begins with byte 0x20"},
		{"v1 without CRLF", []byte("PROXY TCP4 192.0.2.10 10.0.0.5 51234 3306\n"), "CRLF"},
		{"v1 cut short", []byte("PROXY TCP4 192.0.2.10"), "cut short"},
		{"v1 too long", []byte(long), "longer than 107"},
		{"v1 not PROXY", []byte("PROXX TCP4 192.0.2.10 10.0.0.5 1 2\r\n"), "does not begin"},
		{"v1 UDP", []byte("PROXY UDP4 192.0.2.10 10.0.0.5 1 2\r\n"), "not TCP4"},
		{"v1 TCP4 with IPv6", []byte("PROXY TCP4 2001:db8::7 10.0.0.5 1 2\r\n"), "bad address"},
		{"v1 TCP6 with IPv4", []byte("PROXY TCP6 192.0.2.10 2001:db8::1 1 2\r\n"), "bad address"},
		{"v1 leading zero", []byte("PROXY TCP4 192.0.2.10 10.0.0.5 01 2\r\n"), "bad port"},
		{"v1 port too big", []byte("PROXY TCP4 192.0.2.10 10.0.0.5 65536 2\r\n"), "bad port"},
		{"v1 signed port", []byte("PROXY TCP4 192.0.2.10 10.0.0.5 +1 2\r\n"), "bad port"},
		{"v1 five fields", []byte("PROXY TCP4 192.0.2.10 10.0.0.5 1\r\n"), "5 fields"},
		{"v1 double space", []byte("PROXY TCP4  192.0.2.10 10.0.0.5 1 2\r\n"), "7 fields"},
		{"v2 bad signature", append([]byte("\r\n\r\n\x00\r\nQUIX\n"), 0x21, 0x11, 0, 12), "signature"},
		{"v2 version 1", append(append([]byte{}, v2sig...), 0x11, 0x11, 0, 0), "version nibble 1"},
		{"v2 command 2", v2(2, 0x11, tcp4("192.0.2.10", "10.0.0.5", 1, 2)), "neither LOCAL nor PROXY"},
		{"v2 PROXY UNSPEC", v2(1, 0x00, nil), "not TCP"},
		{"v2 PROXY UDP4", v2(1, 0x12, tcp4("192.0.2.10", "10.0.0.5", 1, 2)), "not TCP"},
		{"v2 PROXY UNIX", v2(1, 0x31, make([]byte, 216)), "not TCP"},
		{"v2 TCP4 short", v2(1, 0x11, []byte{1, 2, 3, 4}), "need 12 bytes"},
		{"v2 TCP6 short", v2(1, 0x21, tcp4("192.0.2.10", "10.0.0.5", 1, 2)), "need 36 bytes"},
		{"v2 body cut short", v2(1, 0x11, tcp4("192.0.2.10", "10.0.0.5", 1, 2))[:20], "cut short"},
		{"v2 fixed part cut short", v2sig[:10], "cut short"},
		{"v2 oversized", oversized, "announces 65535 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := Read(bufio.NewReader(bytes.NewReader(c.in)))
			if !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Read = %+v, %v; want ErrHeader saying %q", h, err, c.says)
			}
		})
	}
}
