package authz

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes: OWASP's second recommended profile
// (19 MiB, 2 passes, 1 lane). Verification uses the parameters stored in
// each hash, so raising these later does not break existing accounts.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// HashPassword returns a PHC-format argon2id hash for policy.yaml.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

type argonHash struct {
	encoded string // the PHC string it was parsed from
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func parseArgon2id(encoded string) (*argonHash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, errors.New("not an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return nil, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	h := &argonHash{encoded: encoded}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return nil, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	// Bounds keep a hostile or mistyped policy from making every login
	// allocate gigabytes or spin for minutes.
	if h.memory < 8*1024 || h.memory > 1024*1024 || h.time < 1 || h.time > 20 || h.threads < 1 || h.threads > 16 {
		return nil, fmt.Errorf("argon2 parameters out of range %q (m 8192..1048576 KiB, t 1..20, p 1..16)", parts[3])
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return nil, errors.New("bad argon2 salt")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 {
		return nil, errors.New("bad argon2 hash")
	}
	return h, nil
}

// argonSlots caps concurrent argon2id verifications at one per CPU. Each
// allocates its memory parameter (19 MiB by default): 500 cold logins at
// once would otherwise ask for ~10 GB, and more at once than there are
// CPUs finish no sooner. A login waits here like any other blocking step;
// the proxy's handshake timeout bounds the wait.
var argonSlots = make(chan struct{}, runtime.GOMAXPROCS(0))

func (h *argonHash) verify(password string) bool {
	argonSlots <- struct{}{}
	defer func() {
		<-argonSlots
		argonDone()
	}()
	got := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// Memory of finished hashes goes back to the OS once a burst of cold
// logins is over. Each hash allocates its memory parameter (19 MiB) and
// drops it when it returns; between logins the proxy makes little
// garbage (a few hundred bytes per statement), so the collector could
// leave a burst's worth in the heap for minutes: 126 MB resident after
// 32 sysbench threads logged in, against 44 MB before. One forced
// collection, releaseAfter after the last hash of a burst, hands it back.
// During a burst nothing is forced: the hashes' own garbage drives the
// collector then. releaseAfter is long enough that a steady trickle of
// cold logins does not pay for faulting 19 MiB back in each time.
var (
	argonIdle struct {
		sync.Mutex
		timer *time.Timer
		last  time.Time
	}
	// Both are read under argonIdle's lock; tests change them.
	releaseAfter = 2 * time.Second
	freeOSMemory = debug.FreeOSMemory
)

func argonDone() {
	argonIdle.Lock()
	defer argonIdle.Unlock()
	argonIdle.last = time.Now()
	if argonIdle.timer == nil {
		argonIdle.timer = time.AfterFunc(releaseAfter, releaseArgonMemory)
	}
}

func releaseArgonMemory() {
	argonIdle.Lock()
	if quiet := time.Since(argonIdle.last); quiet < releaseAfter || len(argonSlots) > 0 {
		argonIdle.timer.Reset(max(releaseAfter-quiet, releaseAfter/4))
		argonIdle.Unlock()
		return
	}
	argonIdle.timer = nil
	free := freeOSMemory
	argonIdle.Unlock()
	free()
}

// dummyHash is verified against when the user does not exist or is
// disabled, so that "no such user" costs the same time as "wrong password".
var dummyHash = func() *argonHash {
	enc, err := HashPassword("rrproxy-timing-equaliser")
	if err != nil {
		panic(err)
	}
	h, _ := parseArgon2id(enc)
	return h
}()

// NativeHash returns the mysql_native_password stored form of a password:
// "*" + hex(SHA1(SHA1(password))), as MySQL's PASSWORD() printed it.
func NativeHash(password string) string {
	s1 := sha1.Sum([]byte(password))
	s2 := sha1.Sum(s1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(s2[:]))
}

func parseNativeHash(s string) ([]byte, error) {
	if len(s) != 41 || s[0] != '*' {
		return nil, errors.New(`not a mysql_native_password hash ("*" and 40 hex digits)`)
	}
	return hex.DecodeString(s[1:])
}

// verifyNativeScramble checks a mysql_native_password response:
// resp = SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))). Recover SHA1(pw) and
// compare its SHA1 with the stored hash.
func verifyNativeScramble(stored, salt, resp []byte) bool {
	if len(resp) != sha1.Size || len(stored) != sha1.Size {
		return false
	}
	h := sha1.New()
	h.Write(salt)
	h.Write(stored)
	mix := h.Sum(nil)
	stage1 := make([]byte, sha1.Size)
	for i := range stage1 {
		stage1[i] = resp[i] ^ mix[i]
	}
	s2 := sha1.Sum(stage1)
	return subtle.ConstantTimeCompare(s2[:], stored) == 1
}
