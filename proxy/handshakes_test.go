package proxy

import (
	"net/netip"
	"testing"
)

// TestHandshakeSlotsPerAddress: an address gets max slots and no more,
// a slot given back can be taken again, other addresses are not
// affected, an IPv6 /64 counts as one address, and an emptied address
// leaves nothing in the table.
func TestHandshakeSlotsPerAddress(t *testing.T) {
	h := newHandshakeSlots(2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if !h.enter(a) || !h.enter(a) {
		t.Fatal("the first two of an address were refused")
	}
	if h.enter(a) {
		t.Fatal("a third connection of one address was let in")
	}
	if !h.enter(b) {
		t.Fatal("another address was refused")
	}
	h.leave(a)
	if !h.enter(a) {
		t.Fatal("a slot given back could not be taken again")
	}
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:2")
	if !h.enter(v6a) || !h.enter(v6b) || h.enter(netip.MustParseAddr("2001:db8::3")) {
		t.Fatal("one /64 did not count as one address")
	}
	if !h.enter(netip.MustParseAddr("2001:db8:0:1::1")) {
		t.Fatal("the next /64 was refused")
	}
	for _, x := range []netip.Addr{a, a, b, v6a, v6b, netip.MustParseAddr("2001:db8:0:1::1")} {
		h.leave(x)
	}
	if len(h.n) != 0 {
		t.Fatalf("addresses with nobody logging in are kept: %v", h.n)
	}
	var none *handshakeSlots
	if !newHandshakeSlotsOK(none) {
		t.Fatal("a nil table refused a connection")
	}
	if newHandshakeSlots(0) != nil {
		t.Fatal("a limit of 0 made a table")
	}
}

func newHandshakeSlotsOK(h *handshakeSlots) bool {
	ok := h.enter(netip.MustParseAddr("192.0.2.9"))
	h.leave(netip.MustParseAddr("192.0.2.9"))
	return ok
}
