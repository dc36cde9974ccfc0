package authz

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLoginCacheTTL is how long a successful password verification is
// remembered unless the server configuration says otherwise
// (rrproxy.yaml limits.login_cache).
const DefaultLoginCacheTTL = 60 * time.Second

// maxCachedLogins bounds the cache (about 100 bytes an entry). When it is
// full, expired entries go; if none have, it starts again empty, which
// costs one argon2id run per login and never serves a stale entry.
const maxCachedLogins = 10_000

// verifyCache remembers successful password verifications for a short
// while, so that a storm of logins by the same few users (a BI server
// opening its connection pool, a job fleet starting) costs a map lookup
// per login instead of argon2id's 19 MiB and ~30 ms.
//
// What a hit proves: this user presented this same password, and it
// verified against this same stored hash, within the TTL. Only successes
// are remembered: a wrong password, an unknown user and a disabled
// account always pay the full argon2id cost, so online guessing is not
// made cheaper and a failure takes as long as it did without the cache.
//
// The cost: entries are HMAC-SHA256(key, user, hash, password) under a
// key that exists only in this process's memory. Whoever can read that
// memory (a core dump, a debugger) gets the key and the entries and can
// test guesses at recently used passwords at HMAC speed: for the TTL,
// argon2id no longer protects the passwords of users who logged in. A
// TTL of 0 (limits.login_cache: 0s) turns the cache off entirely.
//
// The cache lives in a Policy, so a reload starts empty: a changed hash
// or a disabled account takes effect with the policy that says so. The
// stored hash is part of the key all the same, so no entry can outlive
// the hash it was verified against.
//
// Safe for concurrent use; the zero value is a disabled cache.
type verifyCache struct {
	ttl atomic.Int64 // time.Duration; <= 0 is off

	mu sync.RWMutex
	m  map[verifyKey]time.Time // key -> when it verified

	// flights are the verifications under way, by key: a login that
	// presents the same user, stored hash and password as one being
	// verified waits for that one's answer instead of running argon2id
	// again (see once).
	fmu     sync.Mutex
	flights map[verifyKey]*flight

	now        func() time.Time // time.Now; tests move the clock
	argonCalls atomic.Int64     // argon2id verifications done for this policy; tests count them
}

// flight is one verification under way; match is set before done closes.
type flight struct {
	done  chan struct{}
	match bool
}

// verifyKey names one (user, stored hash, password) that verified.
type verifyKey [sha256.Size]byte

// loginMACKey is the per-process HMAC key. It never leaves memory: a
// restart forgets every entry, and entries cannot be recomputed from
// anything on disk.
var loginMACKey = func() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return k
}()

// loginMAC is a keyed HMAC and a buffer for its input, pooled so that a
// cache hit allocates nothing for the key.
type loginMAC struct {
	h   hash.Hash
	buf []byte
}

var loginMACs = sync.Pool{New: func() any { return &loginMAC{h: hmac.New(sha256.New, loginMACKey)} }}

// verifyKeyOf is HMAC-SHA256(loginMACKey, user 0 encodedHash 0 password).
// User names and PHC strings never contain a 0 byte, and the password
// comes last, so no two triples share an input.
func verifyKeyOf(user, encodedHash, password string) verifyKey {
	m := loginMACs.Get().(*loginMAC)
	m.buf = append(m.buf[:0], user...)
	m.buf = append(m.buf, 0)
	m.buf = append(m.buf, encodedHash...)
	m.buf = append(m.buf, 0)
	m.buf = append(m.buf, password...)
	m.h.Reset()
	m.h.Write(m.buf)
	clear(m.buf) // the pool keeps the buffer: do not keep the password in it
	var k verifyKey
	m.h.Sum(k[:0])
	loginMACs.Put(m)
	return k
}

func (c *verifyCache) setTTL(d time.Duration) { c.ttl.Store(int64(d)) }

func (c *verifyCache) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// hit reports whether k verified within the TTL. The entry holds the time
// of the verification, not an expiry, so a TTL lowered (or set to 0)
// takes effect on entries already there.
func (c *verifyCache) hit(k verifyKey) bool {
	ttl := time.Duration(c.ttl.Load())
	if ttl <= 0 {
		return false
	}
	c.mu.RLock()
	at, ok := c.m[k]
	c.mu.RUnlock()
	if !ok {
		return false
	}
	age := c.clock().Sub(at)
	return age >= 0 && age < ttl
}

// add remembers that k verified now. Call it only after a successful
// verification.
func (c *verifyCache) add(k verifyKey) {
	ttl := time.Duration(c.ttl.Load())
	if ttl <= 0 {
		return
	}
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[verifyKey]time.Time)
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= maxCachedLogins {
		for old, at := range c.m {
			if now.Sub(at) >= ttl {
				delete(c.m, old)
			}
		}
		if len(c.m) >= maxCachedLogins {
			c.m = make(map[verifyKey]time.Time)
		}
	}
	c.m[k] = now
}

// once runs verify for k, unless a verification of k is already under
// way, in which case it waits for that one and returns its answer.
//
// Why: the cache remembers a password for the TTL after it verified,
// and then every session that logs in at the same moment misses at once:
// a BI server reopening its pool of 32 connections, or sysbench's 32
// threads, ran argon2id 32 times (about a second of CPU, and the last
// login waited for the other 31, two at a time) where one answer serves
// all. Sharing it is exact, failures included: the waiters presented the
// very same password for the very same stored hash. It makes no guess
// cheaper, since a guess shared is the same guess, and each failed
// login still counts against the login limits (proxy/throttle.go).
func (c *verifyCache) once(k verifyKey, verify func() bool) bool {
	c.fmu.Lock()
	if f := c.flights[k]; f != nil {
		c.fmu.Unlock()
		<-f.done
		return f.match
	}
	if c.flights == nil {
		c.flights = make(map[verifyKey]*flight)
	}
	f := &flight{done: make(chan struct{})}
	c.flights[k] = f
	c.fmu.Unlock()
	defer func() {
		c.fmu.Lock()
		delete(c.flights, k)
		c.fmu.Unlock()
		close(f.done) // a panic in verify leaves match false: waiters fail closed
	}()
	f.match = verify()
	return f.match
}

// len is the number of entries, expired ones included.
func (c *verifyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// SetLoginCacheTTL sets how long a successful password verification is
// remembered (see verifyCache for what that trades); 0 turns the cache
// off and ignores what it already holds. A policy starts with
// DefaultLoginCacheTTL, and Store.Reload gives a reloaded policy the TTL
// of the one it replaces. Safe to call while the policy is in use.
func (p *Policy) SetLoginCacheTTL(d time.Duration) { p.logins.setTTL(d) }

// LoginCacheTTL returns the TTL SetLoginCacheTTL set.
func (p *Policy) LoginCacheTTL() time.Duration { return time.Duration(p.logins.ttl.Load()) }
