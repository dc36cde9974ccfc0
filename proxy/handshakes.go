package proxy

import (
	"net/netip"
	"sync"
)

// handshakeSlots caps the connections from one address (an IPv6
// address's /64, as for the login limits) that have not yet finished
// logging in (limits.max_handshakes_per_address).
//
// Why: every connection takes one of limits.max_connections from the
// moment it is accepted, and a connection that never logs in keeps it
// for timeouts.handshake. Without a cap per address, one machine opening
// a thousand sockets and sending nothing would hold every slot, again and
// again, and nobody else could log in. With it, that machine holds its
// share only. A BI server opening its pool logs its connections in within
// milliseconds each, so it seldom has more than a few in flight.
//
// A nil *handshakeSlots limits nothing.
type handshakeSlots struct {
	max int
	mu  sync.Mutex
	n   map[netip.Addr]int
}

func newHandshakeSlots(max int) *handshakeSlots {
	if max <= 0 {
		return nil
	}
	return &handshakeSlots{max: max, n: map[netip.Addr]int{}}
}

// enter takes a slot for a connection from a, or reports false when a
// already has max connections logging in.
func (h *handshakeSlots) enter(a netip.Addr) bool {
	if h == nil {
		return true
	}
	a = throttleAddr(a)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n[a] >= h.max {
		return false
	}
	h.n[a]++
	return true
}

// leave gives back a slot enter took.
func (h *handshakeSlots) leave(a netip.Addr) {
	if h == nil {
		return
	}
	a = throttleAddr(a)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n[a] <= 1 {
		delete(h.n, a) // the table holds addresses logging in now, no more
		return
	}
	h.n[a]--
}
