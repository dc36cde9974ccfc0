package proxy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// clockThrottle is a throttle whose time the test moves.
func clockThrottle(l LoginLimits) (*loginThrottle, *time.Time) {
	t := newLoginThrottle(l)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	t.now = func() time.Time { return now }
	return t, &now
}

var (
	addrA = netip.MustParseAddr("192.0.2.10")
	addrB = netip.MustParseAddr("192.0.2.20")
)

func TestThrottleRefusesAfterPerUserFailures(t *testing.T) {
	th, now := clockThrottle(LoginLimits{PerUser: 3, PerAddress: 100, Window: 3 * time.Minute})
	for i := range 3 {
		if w, _ := th.Wait("alice", addrA); w != 0 {
			t.Fatalf("attempt %d refused (wait %v) before the limit", i+1, w)
		}
		th.Failed("alice", addrA)
	}
	w, which := th.Wait("alice", addrA)
	if which != "user" || w != time.Minute {
		t.Fatalf("after 3 failures in a window of 3 minutes: wait %v by %q, want 1m0s by the user limit", w, which)
	}
	// Someone else, and alice from elsewhere, are not held back: nobody
	// can lock a person out from another address.
	if w, _ := th.Wait("bob", addrA); w != 0 {
		t.Errorf("bob from the same address waits %v", w)
	}
	if w, _ := th.Wait("alice", addrB); w != 0 {
		t.Errorf("alice from another address waits %v", w)
	}
	// One attempt comes back per window/limit.
	*now = now.Add(59 * time.Second)
	if w, _ := th.Wait("alice", addrA); w != time.Second {
		t.Errorf("59 s later: wait %v, want 1s", w)
	}
	*now = now.Add(time.Second)
	if w, _ := th.Wait("alice", addrA); w != 0 {
		t.Errorf("a minute later: wait %v, want none", w)
	}
	th.Failed("alice", addrA)
	if w, _ := th.Wait("alice", addrA); w == 0 {
		t.Error("the attempt that came back was spent, but the next is allowed")
	}
}

func TestThrottleSuccessResetsOnlyThatUser(t *testing.T) {
	th, _ := clockThrottle(LoginLimits{PerUser: 2, PerAddress: 3, Window: time.Hour})
	th.Failed("alice", addrA)
	th.Failed("alice", addrA)
	th.Failed("mallory", addrA)
	if _, which := th.Wait("carol", addrA); which != "address" {
		t.Fatalf("3 failures from one address with a limit of 3: carol's wait is by %q, want the address limit", which)
	}
	th.Succeeded("alice", addrA)
	if _, which := th.Wait("alice", addrA); which != "address" {
		t.Errorf("a success gave the address its attempts back (refused by %q)", which)
	}
	th.Failed("dave", addrB)
	if w, _ := th.Wait("dave", addrB); w != 0 {
		t.Errorf("one failure from another address: wait %v", w)
	}
}

func TestThrottleOffAndNames(t *testing.T) {
	if th := newLoginThrottle(LoginLimits{Window: time.Minute}); th != nil {
		t.Errorf("no limits gave a throttle")
	}
	var off *loginThrottle
	off.Failed("x", addrA)
	off.Succeeded("x", addrA)
	if w, _ := off.Wait("x", addrA); w != 0 {
		t.Errorf("a nil throttle refused")
	}
	// Names are keyed by their first maxThrottledName bytes: a long
	// name is the same key, whatever follows.
	th, _ := clockThrottle(LoginLimits{PerUser: 1, Window: time.Minute})
	long := string(make([]byte, maxThrottledName))
	th.Failed(long+"a", addrA)
	if w, _ := th.Wait(long+"b", addrA); w == 0 {
		t.Error("names that differ only past the keyed prefix are counted apart")
	}
}

func TestThrottleTableIsBounded(t *testing.T) {
	th, now := clockThrottle(LoginLimits{PerUser: 5, Window: time.Minute})
	for i := range maxThrottleKeys + 10 {
		th.Failed(fmt.Sprint("user", i), addrA)
	}
	if n := len(th.user); n > maxThrottleKeys {
		t.Fatalf("%d keys, the cap is %d", n, maxThrottleKeys)
	}
	// The newest failure is still counted; the oldest was forgotten.
	last := fmt.Sprint("user", maxThrottleKeys+9)
	if b := th.user[userAt{last, addrA}]; b == nil || b.spent != 1 {
		t.Errorf("the newest key's bucket: %+v", b)
	}
	// Once buckets have drained, a full table forgets them all.
	*now = now.Add(time.Minute)
	th.Failed("late", addrB)
	if n := len(th.user); n != 1 {
		t.Errorf("after the window, %d keys remain, want only the new one", n)
	}
}

// TestThrottleSweepsDrainedKeys: names that failed once and then drained
// do not stay in the table until it is full.
func TestThrottleSweepsDrainedKeys(t *testing.T) {
	th, now := clockThrottle(LoginLimits{PerUser: 5, Window: time.Minute})
	for i := range 1000 {
		th.Failed(fmt.Sprint("old", i), addrA)
	}
	*now = now.Add(time.Minute)
	for i := range sweepEvery - 1000 {
		th.Failed(fmt.Sprint("new", i), addrA)
	}
	if n := len(th.user); n != sweepEvery-1000 {
		t.Errorf("%d keys after the sweep, want the %d that still limit someone", n, sweepEvery-1000)
	}
}

// TestThrottleCountsIPv6By64: a host holding a /64 cannot try from a new
// address each time; another /64 is someone else; an IPv4-mapped address
// is its IPv4 address.
func TestThrottleCountsIPv6By64(t *testing.T) {
	th, _ := clockThrottle(LoginLimits{PerUser: 2, PerAddress: 3, Window: time.Hour})
	th.Failed("alice", netip.MustParseAddr("2001:db8:1:2::10"))
	th.Failed("alice", netip.MustParseAddr("2001:db8:1:2:ffff::99"))
	if _, which := th.Wait("alice", netip.MustParseAddr("2001:db8:1:2::1234")); which != "user" {
		t.Errorf("two failures from one /64: a third address in it is refused by %q, want the user limit", which)
	}
	if w, _ := th.Wait("alice", netip.MustParseAddr("2001:db8:1:3::10")); w != 0 {
		t.Errorf("another /64 waits %v", w)
	}
	th.Failed("bob", netip.MustParseAddr("::ffff:192.0.2.10"))
	if _, which := th.Wait("carol", addrA); which != "" {
		t.Errorf("one failure from %v refused carol by %q", addrA, which)
	}
	th.Failed("dave", addrA)
	th.Failed("erin", addrA)
	if _, which := th.Wait("carol", netip.MustParseAddr("::ffff:192.0.2.10")); which != "address" {
		t.Errorf("three failures from %v, counting the mapped one: carol refused by %q, want the address limit", addrA, which)
	}
}
