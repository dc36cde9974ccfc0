package proxy

import (
	"net/netip"
	"sync"
	"time"
)

// LoginLimits bounds password guessing (limits.login_failures): at most
// PerUser failed logins of one user name from one address, and PerAddress
// from one address whatever the names, in any Window. Spent attempts
// come back evenly over the window (a token bucket), so a person who
// mistypes a password waits a minute, not the whole window. A limit of 0
// is no limit.
//
// Both keys include the address (an IPv6 address's /64), so that nobody
// can lock a person out from elsewhere by failing logins in their name;
// the per-address limit is what stops one address from trying one
// password against many names.
// A login that succeeds gives its user name back its attempts from that
// address, never the address its own: one valid account must not reset
// the count of an address spraying others.
type LoginLimits struct {
	PerUser    int
	PerAddress int
	Window     time.Duration
}

// maxThrottleKeys caps each table of the throttle. A table that is full
// first forgets the buckets that have drained (they limit nothing); if
// that frees nothing, the one last touched longest ago.
const maxThrottleKeys = 1 << 16

// maxThrottledName is how much of a user name keys the per-user table:
// names are client-chosen, and only the table's size should be.
const maxThrottledName = 80

// loginThrottle keeps the failed-login buckets. A nil *loginThrottle
// limits nothing: newLoginThrottle returns one when no limit is set.
type loginThrottle struct {
	limits LoginLimits
	now    func() time.Time // tests move time

	mu     sync.Mutex
	user   map[userAt]*bucket
	source map[netip.Addr]*bucket
	// added counts new keys since the tables were last swept of drained
	// buckets: every sweepEvery of them, so that the tables hold what
	// still limits someone, not every name that ever failed.
	added int
}

// sweepEvery is how many new keys come between sweeps.
const sweepEvery = 1024

type userAt struct {
	name string
	addr netip.Addr
}

// bucket is spent attempts: each failure adds one, and they drain at
// limit per window. The login is refused while spent >= limit.
type bucket struct {
	spent float64
	at    time.Time // when spent was last brought up to date
}

func newLoginThrottle(l LoginLimits) *loginThrottle {
	if l.Window <= 0 || (l.PerUser <= 0 && l.PerAddress <= 0) {
		return nil
	}
	return &loginThrottle{limits: l, now: time.Now, user: map[userAt]*bucket{}, source: map[netip.Addr]*bucket{}}
}

// spentAt is b's spent attempts at now: limit come back per window.
func (b *bucket) spentAt(now time.Time, limit int, window time.Duration) float64 {
	d := now.Sub(b.at)
	if d <= 0 {
		return b.spent
	}
	return max(0, b.spent-float64(limit)*d.Seconds()/window.Seconds())
}

// drain brings b up to date.
func (b *bucket) drain(now time.Time, limit int, window time.Duration) {
	b.spent, b.at = b.spentAt(now, limit, window), now
}

// wait reports how long b must drain before it allows one more attempt
// (0: now).
func (b *bucket) wait(limit int, window time.Duration) time.Duration {
	over := b.spent - float64(limit) + 1
	if over <= 0 {
		return 0
	}
	// To the millisecond: float arithmetic leaves 999.999999ms for 1s.
	return max(time.Millisecond, time.Duration(over*float64(window)/float64(limit)).Round(time.Millisecond))
}

// throttleAddr is the address a limit counts against: an IPv6 address's
// /64, since one host or one customer commonly holds a whole /64 and
// could otherwise try from a new address each time.
func throttleAddr(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

func throttleName(name string) string {
	if len(name) > maxThrottledName {
		return name[:maxThrottledName]
	}
	return name
}

// Wait reports whether a login of name from addr must be refused before
// its password is checked, for how long, and which limit refuses it
// ("user" or "address").
func (t *loginThrottle) Wait(name string, addr netip.Addr) (time.Duration, string) {
	if t == nil {
		return 0, ""
	}
	addr = throttleAddr(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	var which string
	if l := t.limits.PerAddress; l > 0 {
		if b := t.source[addr]; b != nil {
			b.drain(now, l, t.limits.Window)
			wait, which = b.wait(l, t.limits.Window), "address"
		}
	}
	if l := t.limits.PerUser; l > 0 {
		if b := t.user[userAt{throttleName(name), addr}]; b != nil {
			b.drain(now, l, t.limits.Window)
			if w := b.wait(l, t.limits.Window); w > wait {
				wait, which = w, "user"
			}
		}
	}
	if wait <= 0 {
		return 0, ""
	}
	return wait, which
}

// Failed counts a failed login of name from addr.
func (t *loginThrottle) Failed(name string, addr netip.Addr) {
	if t == nil {
		return
	}
	addr = throttleAddr(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	w := t.limits.Window
	if l := t.limits.PerAddress; l > 0 && spend(t.source, addr, now, l, w) {
		t.added++
	}
	if l := t.limits.PerUser; l > 0 && spend(t.user, userAt{throttleName(name), addr}, now, l, w) {
		t.added++
	}
	if t.added >= sweepEvery {
		t.added = 0
		sweep(t.source, now, t.limits.PerAddress, w)
		sweep(t.user, now, t.limits.PerUser, w)
	}
}

// Succeeded gives name its attempts from addr back.
func (t *loginThrottle) Succeeded(name string, addr netip.Addr) {
	if t == nil {
		return
	}
	addr = throttleAddr(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.user, userAt{throttleName(name), addr})
}

// spend counts a failure against k, and reports whether k is new.
func spend[K comparable](m map[K]*bucket, k K, now time.Time, limit int, window time.Duration) (added bool) {
	b := m[k]
	if b == nil {
		if len(m) >= maxThrottleKeys {
			forget(m, now, limit, window)
		}
		b, added = &bucket{at: now}, true
		m[k] = b
	}
	b.drain(now, limit, window)
	b.spent++
	return added
}

// sweep drops the buckets that have drained: they limit nothing.
func sweep[K comparable](m map[K]*bucket, now time.Time, limit int, window time.Duration) {
	if limit <= 0 {
		return
	}
	for k, b := range m {
		if b.spentAt(now, limit, window) == 0 {
			delete(m, k)
		}
	}
}

// forget makes room in a full table: buckets that have drained go first;
// if none has, the one brought up to date longest ago.
func forget[K comparable](m map[K]*bucket, now time.Time, limit int, window time.Duration) {
	sweep(m, now, limit, window)
	if len(m) < maxThrottleKeys {
		return
	}
	var oldest K
	var oldestAt time.Time
	found := false
	for k, b := range m {
		if !found || b.at.Before(oldestAt) {
			oldest, oldestAt, found = k, b.at, true
		}
	}
	delete(m, oldest)
}
