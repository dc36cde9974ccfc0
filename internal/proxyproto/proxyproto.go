package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Header is what a PROXY header says about the connection it precedes.
type Header struct {
	Version int // 1 or 2
	// Local: the balancer's own connection (a v2 LOCAL command, such as
	// a health check, or v1 "UNKNOWN"); it names no client, and the
	// connection's own peer address stands.
	Local bool
	// Source is the client's address and Dest the address it connected
	// to (the balancer's listener); both are valid unless Local.
	Source, Dest netip.AddrPort
}

// ErrHeader: the connection did not begin with a valid PROXY header.
var ErrHeader = errors.New("proxyproto: no valid PROXY protocol header")

// v2sig begins every version 2 header.
var v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// v1Max is the longest version 1 header, CRLF included.
const v1Max = 107

// v2MaxLen caps the length a version 2 header may announce: addresses
// (36 bytes for TCP over IPv6) and TLVs, which real balancers keep to a
// few hundred bytes. It keeps a header from making the reader wait for,
// or discard, up to 64 KiB before the MySQL greeting.
const v2MaxLen = 2048

// Read reads one PROXY header, version 1 or 2, from r, and nothing
// after it: what follows stays in r. Anything else at the start of the
// stream, a truncated header, or an address that is not TCP over IPv4
// or IPv6 is an error wrapping ErrHeader.
func Read(r *bufio.Reader) (Header, error) {
	first, err := r.Peek(1)
	if err != nil {
		return Header{}, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	switch first[0] {
	case 'P':
		return readV1(r)
	case '\r':
		return readV2(r)
	}
	return Header{}, fmt.Errorf("%w: the connection begins with byte 0x%02x", ErrHeader, first[0])
}

// readV1 reads "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY
// UNKNOWN ...\r\n", a byte at a time from the buffer so that nothing
// past the CRLF is taken.
func readV1(r *bufio.Reader) (Header, error) {
	line := make([]byte, 0, v1Max)
	for {
		b, err := r.ReadByte()
		if err != nil {
			return Header{}, fmt.Errorf("%w: version 1 header cut short: %v", ErrHeader, err)
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
		if len(line) == v1Max {
			return Header{}, fmt.Errorf("%w: version 1 header longer than %d bytes", ErrHeader, v1Max)
		}
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return Header{}, fmt.Errorf("%w: version 1 header does not end in CRLF", ErrHeader)
	}
	f := strings.Split(string(line[:len(line)-2]), " ")
	if f[0] != "PROXY" || len(f) < 2 {
		return Header{}, fmt.Errorf("%w: version 1 header does not begin with \"PROXY \"", ErrHeader)
	}
	h := Header{Version: 1}
	switch f[1] {
	case "UNKNOWN":
		// The rest of the line, if any, is to be ignored.
		h.Local = true
		return h, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, fmt.Errorf("%w: version 1 protocol %q is not TCP4, TCP6 or UNKNOWN", ErrHeader, f[1])
	}
	if len(f) != 6 {
		return Header{}, fmt.Errorf("%w: version 1 header has %d fields, not 6", ErrHeader, len(f))
	}
	src, err1 := v1Addr(f[2], f[4], f[1] == "TCP4")
	dst, err2 := v1Addr(f[3], f[5], f[1] == "TCP4")
	if err := errors.Join(err1, err2); err != nil {
		return Header{}, fmt.Errorf("%w: version 1 %s: %v", ErrHeader, f[1], err)
	}
	h.Source, h.Dest = src, dst
	return h, nil
}

// v1Addr parses one address and port of a version 1 header: dotted IPv4
// for TCP4, IPv6 for TCP6 (no zone), a decimal port without sign or
// leading zeros.
func v1Addr(ip, port string, v4 bool) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" || a.Is4() != v4 {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", ip)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || port == "" || (len(port) > 1 && port[0] == '0') {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", port)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// readV2 reads the binary header: the signature, version and command,
// family and protocol, length, the addresses, then TLVs, which are
// skipped (none changes who the client is).
func readV2(r *bufio.Reader) (Header, error) {
	fixed, err := r.Peek(16)
	if err != nil {
		return Header{}, fmt.Errorf("%w: version 2 header cut short: %v", ErrHeader, err)
	}
	if !bytes.Equal(fixed[:12], v2sig) {
		return Header{}, fmt.Errorf("%w: bad version 2 signature", ErrHeader)
	}
	verCmd, fam := fixed[12], fixed[13]
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if verCmd>>4 != 2 {
		return Header{}, fmt.Errorf("%w: version nibble %d, not 2", ErrHeader, verCmd>>4)
	}
	if n > v2MaxLen {
		return Header{}, fmt.Errorf("%w: version 2 header announces %d bytes (at most %d are read)", ErrHeader, n, v2MaxLen)
	}
	if _, err := r.Discard(16); err != nil {
		return Header{}, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return Header{}, fmt.Errorf("%w: version 2 header cut short: %v", ErrHeader, err)
	}
	h := Header{Version: 2}
	switch verCmd & 0x0f {
	case 0: // LOCAL: addresses, if any, are to be ignored
		h.Local = true
		return h, nil
	case 1: // PROXY
	default:
		return Header{}, fmt.Errorf("%w: version 2 command %d is neither LOCAL nor PROXY", ErrHeader, verCmd&0x0f)
	}
	size, name := 0, ""
	switch fam {
	case 0x11: // TCP over IPv4
		size, name = 4, "TCP4"
	case 0x21: // TCP over IPv6
		size, name = 16, "TCP6"
	default:
		// UNSPEC, UDP or UNIX with the PROXY command: not a TCP client
		// whose address could stand for the connection's.
		return Header{}, fmt.Errorf("%w: version 2 PROXY for address family/protocol 0x%02x, not TCP over IPv4 or IPv6", ErrHeader, fam)
	}
	// Source address, destination address, source port, destination port.
	if n < 2*size+4 {
		return Header{}, fmt.Errorf("%w: version 2 %s addresses need %d bytes, the header has %d", ErrHeader, name, 2*size+4, n)
	}
	src, _ := netip.AddrFromSlice(body[:size])
	dst, _ := netip.AddrFromSlice(body[size : 2*size])
	ports := body[2*size:]
	h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(ports[0:2]))
	h.Dest = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(ports[2:4]))
	return h, nil
}
