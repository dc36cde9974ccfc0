package authz

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// cheapHash is an argon2id PHC string at the smallest parameters Parse
// accepts (8 MiB, one pass), so that these tests, which count
// verifications rather than time them, stay quick under -race.
func cheapHash(t testing.TB, password string) string {
	t.Helper()
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte(password), salt, 1, 8*1024, 1, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=1,p=1$%s$%s", argon2.Version, 8*1024,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// loginPolicyText is a policy with one local account, u.
func loginPolicyText(hash string, disabled bool) string {
	return fmt.Sprintf("users:\n  u: {password: %q, disabled: %t}\n", hash, disabled)
}

func loginPolicy(t *testing.T, hash string, disabled bool) *Policy {
	t.Helper()
	p, err := Parse("p.yaml", []byte(loginPolicyText(hash, disabled)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// login authenticates and returns how many argon2id runs it took.
func login(t *testing.T, p *Policy, user, password string) (error, int64) {
	t.Helper()
	before := p.logins.argonCalls.Load()
	id, err := p.AuthenticatePassword(user, password)
	if err == nil && (id == nil || id.User != user) {
		t.Fatalf("%s: identity %+v", user, id)
	}
	return err, p.logins.argonCalls.Load() - before
}

func TestLoginCacheHitSkipsArgon2(t *testing.T) {
	p := loginPolicy(t, cheapHash(t, "pw-one"), false)
	if p.LoginCacheTTL() != DefaultLoginCacheTTL {
		t.Fatalf("a parsed policy's TTL = %v, want %v", p.LoginCacheTTL(), DefaultLoginCacheTTL)
	}
	if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 1 {
		t.Fatalf("first login: err %v, %d argon2id runs, want nil and 1", err, runs)
	}
	for range 3 {
		if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 0 {
			t.Fatalf("repeat login: err %v, %d argon2id runs, want nil and 0", err, runs)
		}
	}
	if n := p.logins.len(); n != 1 {
		t.Errorf("cache holds %d entries, want 1", n)
	}
}

func TestLoginCacheNeverRemembersFailures(t *testing.T) {
	p := loginPolicy(t, cheapHash(t, "pw-one"), false)
	for _, c := range []struct{ user, pw string }{
		{"u", "pw-two"},     // wrong password
		{"u", ""},           // empty password
		{"ghost", "pw-one"}, // unknown user
	} {
		for range 2 {
			if err, runs := login(t, p, c.user, c.pw); !errors.Is(err, ErrAuthFailed) || runs != 1 {
				t.Errorf("%s/%q: err %v, %d argon2id runs; want ErrAuthFailed after 1", c.user, c.pw, err, runs)
			}
		}
	}
	if n := p.logins.len(); n != 0 {
		t.Fatalf("failures left %d cache entries", n)
	}
	// A cached success does not let a wrong password in, nor make it cheaper.
	if err, _ := login(t, p, "u", "pw-one"); err != nil {
		t.Fatal(err)
	}
	if err, runs := login(t, p, "u", "pw-one "); !errors.Is(err, ErrAuthFailed) || runs != 1 {
		t.Errorf("wrong password after a cached success: err %v, %d runs", err, runs)
	}
}

func TestLoginCacheDisabledAccount(t *testing.T) {
	p := loginPolicy(t, cheapHash(t, "pw-one"), true)
	for range 2 {
		if err, runs := login(t, p, "u", "pw-one"); !errors.Is(err, ErrAuthFailed) || runs != 1 {
			t.Errorf("disabled account, right password: err %v, %d runs; want ErrAuthFailed after 1", err, runs)
		}
	}
	if n := p.logins.len(); n != 0 {
		t.Fatalf("disabled account cached %d entries", n)
	}
}

// TestLoginCacheReload: a reload starts an empty cache, keeps the TTL, and
// a new hash or a disabled account takes effect at once.
func TestLoginCacheReload(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(loginPolicyText(cheapHash(t, "pw-one"), false))
	old, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	old.SetLoginCacheTTL(5 * time.Minute)
	s := NewStore(old)
	if err, _ := login(t, old, "u", "pw-one"); err != nil {
		t.Fatal(err)
	}

	// Same password, new hash (a new salt): the old entry must not count.
	write(loginPolicyText(cheapHash(t, "pw-one"), false))
	p, err := s.Reload(file)
	if err != nil {
		t.Fatal(err)
	}
	if p.LoginCacheTTL() != 5*time.Minute {
		t.Errorf("reloaded policy TTL = %v, want the 5m of the one it replaced", p.LoginCacheTTL())
	}
	if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 1 {
		t.Errorf("after reload with a new hash: err %v, %d runs; want a full verification", err, runs)
	}
	if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 0 {
		t.Errorf("second login on the new policy: err %v, %d runs; want a hit", err, runs)
	}

	// Password changed: the old one no longer works, cached or not.
	write(loginPolicyText(cheapHash(t, "pw-two"), false))
	if p, err = s.Reload(file); err != nil {
		t.Fatal(err)
	}
	if err, _ := login(t, p, "u", "pw-one"); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("old password after a password change: %v", err)
	}

	// Disabled: refused although the previous policies cached a success.
	if err, _ := login(t, p, "u", "pw-two"); err != nil {
		t.Fatal(err)
	}
	write(loginPolicyText(cheapHash(t, "pw-two"), true))
	if p, err = s.Reload(file); err != nil {
		t.Fatal(err)
	}
	if err, runs := login(t, p, "u", "pw-two"); !errors.Is(err, ErrAuthFailed) || runs != 1 {
		t.Errorf("disabled after reload: err %v, %d runs; want ErrAuthFailed after 1", err, runs)
	}
}

func TestLoginCacheKeyBindsUserHashAndPassword(t *testing.T) {
	base := verifyKeyOf("u", "$argon2id$a", "pw")
	for _, k := range []verifyKey{
		verifyKeyOf("v", "$argon2id$a", "pw"),
		verifyKeyOf("u", "$argon2id$b", "pw"),
		verifyKeyOf("u", "$argon2id$a", "pw2"),
		verifyKeyOf("u\x00$argon2id$a", "", "pw"),
	} {
		if k == base {
			t.Error("two different (user, hash, password) share a key")
		}
	}
	if verifyKeyOf("u", "$argon2id$a", "pw") != base {
		t.Error("the key is not deterministic")
	}
	var c verifyCache
	c.setTTL(time.Minute)
	c.add(base)
	if !c.hit(base) || c.hit(verifyKeyOf("u", "$argon2id$b", "pw")) {
		t.Error("a hit must need the same hash")
	}
}

func TestLoginCacheExpires(t *testing.T) {
	p := loginPolicy(t, cheapHash(t, "pw-one"), false)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p.logins.now = func() time.Time { return now }
	p.SetLoginCacheTTL(time.Minute)
	if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 1 {
		t.Fatalf("first login: %v, %d runs", err, runs)
	}
	now = now.Add(time.Minute - time.Nanosecond)
	if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 0 {
		t.Fatalf("within the TTL: %v, %d runs; want a hit", err, runs)
	}
	now = now.Add(time.Nanosecond)
	if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 1 {
		t.Fatalf("at the TTL: %v, %d runs; want a full verification", err, runs)
	}
	// That verification starts a new window; a hit does not extend one.
	now = now.Add(30 * time.Second)
	if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 0 {
		t.Fatalf("in the new window: %v, %d runs", err, runs)
	}
	now = now.Add(30 * time.Second)
	if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 1 {
		t.Fatalf("a hit extended the window: %v, %d runs", err, runs)
	}
	// Lowering the TTL applies to entries already there.
	now = now.Add(10 * time.Second)
	p.SetLoginCacheTTL(5 * time.Second)
	if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 1 {
		t.Fatalf("after lowering the TTL: %v, %d runs", err, runs)
	}
}

func TestLoginCacheTTLZeroDisables(t *testing.T) {
	p := loginPolicy(t, cheapHash(t, "pw-one"), false)
	if err, _ := login(t, p, "u", "pw-one"); err != nil {
		t.Fatal(err)
	}
	p.SetLoginCacheTTL(0)
	for range 2 {
		if err, runs := login(t, p, "u", "pw-one"); err != nil || runs != 1 {
			t.Fatalf("TTL 0: err %v, %d runs; want a full verification every time", err, runs)
		}
	}
	if n := p.logins.len(); n != 1 {
		t.Errorf("TTL 0 added entries: %d, want the 1 from before", n)
	}
	var zero verifyCache // the zero value is off too
	k := verifyKeyOf("u", "h", "pw")
	zero.add(k)
	if zero.hit(k) || zero.len() != 0 {
		t.Error("the zero verifyCache remembered an entry")
	}
}

func TestLoginCacheBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := verifyCache{now: func() time.Time { return now }}
	c.setTTL(time.Minute)
	key := func(i int) verifyKey { return verifyKeyOf(fmt.Sprint("user", i), "h", "pw") }

	// Full of expired entries but for the newest 10: the expired go.
	for i := range maxCachedLogins {
		if i == maxCachedLogins-10 {
			now = now.Add(2 * time.Minute)
		}
		c.add(key(i))
	}
	if n := c.len(); n != maxCachedLogins {
		t.Fatalf("len = %d, want %d", n, maxCachedLogins)
	}
	c.add(key(-1))
	if n := c.len(); n != 11 {
		t.Fatalf("after adding to a full cache with expired entries: len = %d, want 11", n)
	}
	if !c.hit(key(maxCachedLogins-1)) || !c.hit(key(-1)) || c.hit(key(0)) {
		t.Error("the wrong entries were dropped")
	}

	// Full of live entries: start again empty.
	c.m = nil
	for i := range maxCachedLogins {
		c.add(key(i))
	}
	if n := c.len(); n != maxCachedLogins {
		t.Fatalf("len = %d, want %d", n, maxCachedLogins)
	}
	c.add(key(maxCachedLogins - 1)) // already there: no eviction
	if n := c.len(); n != maxCachedLogins {
		t.Fatalf("re-adding a present key evicted: len = %d", n)
	}
	c.add(key(-2))
	if n := c.len(); n != 1 || !c.hit(key(-2)) {
		t.Fatalf("after adding to a full live cache: len = %d, want 1 (the new entry)", n)
	}
}

// TestLoginCacheConcurrent is for -race: logins by several users at once,
// each verified once and then served from the cache.
func TestLoginCacheConcurrent(t *testing.T) {
	h := cheapHash(t, "pw-one")
	p, err := Parse("p.yaml", []byte(fmt.Sprintf("users:\n  a: {password: %q}\n  b: {password: %q}\n", h, h)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := []string{"a", "b"}[i%2]
			for range 20 {
				if _, err := p.AuthenticatePassword(user, "pw-one"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// Each user is verified at least once; concurrent first logins share
	// a verification under way, but one that starts after another ended
	// and before its entry was added may run again.
	if runs := p.logins.argonCalls.Load(); runs < 2 || runs > 16 {
		t.Errorf("%d argon2id runs for 320 logins by 2 users", runs)
	}
	if n := p.logins.len(); n != 2 {
		t.Errorf("cache holds %d entries, want 2", n)
	}
}

// TestConcurrentColdLoginsShareOneVerification: 32 logins with the same
// user and password, none cached, released at once while argon2id is
// held busy, run it once and all get in; 8 with the same wrong password
// run it once and all fail; different passwords are verified each on
// their own.
func TestConcurrentColdLoginsShareOneVerification(t *testing.T) {
	p := loginPolicy(t, cheapHash(t, "pw-one"), false)
	// Hold every argon2id slot so that the logins below queue behind
	// the first one's verification instead of finishing one by one.
	for range cap(argonSlots) {
		argonSlots <- struct{}{}
	}
	held := true
	release := func() {
		if held {
			held = false
			for range cap(argonSlots) {
				<-argonSlots
			}
		}
	}
	defer release()
	run := func(n int, password string) (ok, failed int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := p.AuthenticatePassword("u", password)
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					ok++
				} else if errors.Is(err, ErrAuthFailed) {
					failed++
				}
			})
		}
		// Every login is waiting (on a slot or on the first one's
		// flight) before argon2id may run.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			p.logins.fmu.Lock()
			inflight := len(p.logins.flights)
			p.logins.fmu.Unlock()
			if inflight == 1 || time.Now().After(deadline) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond) // the rest reach the flight
		release()
		wg.Wait()
		held = true
		for range cap(argonSlots) {
			argonSlots <- struct{}{}
		}
		return ok, failed
	}
	before := p.logins.argonCalls.Load()
	if ok, failed := run(32, "pw-one"); ok != 32 || failed != 0 {
		t.Fatalf("right password: %d in, %d refused; want 32 in", ok, failed)
	}
	if n := p.logins.argonCalls.Load() - before; n != 1 {
		t.Errorf("32 concurrent cold logins ran argon2id %d times, want 1", n)
	}
	before = p.logins.argonCalls.Load()
	if ok, failed := run(8, "wrong"); ok != 0 || failed != 8 {
		t.Fatalf("wrong password: %d in, %d refused; want 8 refused", ok, failed)
	}
	if n := p.logins.argonCalls.Load() - before; n != 1 {
		t.Errorf("8 concurrent identical wrong passwords ran argon2id %d times, want 1", n)
	}
	release()
	before = p.logins.argonCalls.Load()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() { _, _ = p.AuthenticatePassword("u", fmt.Sprint("guess-", i)) })
	}
	wg.Wait()
	if n := p.logins.argonCalls.Load() - before; n != 4 {
		t.Errorf("4 different wrong passwords ran argon2id %d times, want 4", n)
	}
	if n := p.logins.len(); n != 1 {
		t.Errorf("cache holds %d entries, want 1 (failures are not remembered)", n)
	}
}

func TestArgonSlotsMatchCPUs(t *testing.T) {
	if got, want := cap(argonSlots), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("argon2id verifications capped at %d, want GOMAXPROCS %d", got, want)
	}
}

// TestArgonMemoryReleasedAfterBurst: once a burst of argon2id hashes is
// over, their memory is handed back with one forced collection, not one
// per hash and not during the burst.
func TestArgonMemoryReleasedAfterBurst(t *testing.T) {
	// A release scheduled by an earlier test's logins runs first, with
	// the real settings.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		argonIdle.Lock()
		pending := argonIdle.timer != nil
		argonIdle.Unlock()
		if !pending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an earlier burst's release never ran")
		}
	}
	var released atomic.Int32
	argonIdle.Lock()
	oldAfter, oldFree := releaseAfter, freeOSMemory
	releaseAfter, freeOSMemory = 100*time.Millisecond, func() { released.Add(1) }
	argonIdle.Unlock()
	defer func() {
		argonIdle.Lock()
		releaseAfter, freeOSMemory = oldAfter, oldFree
		argonIdle.Unlock()
	}()
	waitFor := func(n int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for released.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d releases after the burst, want %d", released.Load(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	burst := func() {
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				if dummyHash.verify("not the password") {
					t.Error("a wrong password verified")
				}
			})
		}
		wg.Wait()
	}
	burst()
	if n := released.Load(); n != 0 {
		t.Fatalf("%d releases right after the burst, want none before it has been quiet for %v", n, releaseAfter)
	}
	waitFor(1)
	time.Sleep(3 * releaseAfter)
	if n := released.Load(); n != 1 {
		t.Fatalf("%d releases for one burst, want 1", n)
	}
	burst()
	waitFor(2)
}
