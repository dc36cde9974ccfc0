package sso

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Credential kinds.
const (
	KindSession = "session" // issued at web sign-in, hours
	KindApp     = "app"     // named, for a scheduled refresh, months
)

// Credential is one issued database password, as stored (without the
// password).
type Credential struct {
	ID      string         `json:"id"`
	Kind    string         `json:"kind"`
	Name    string         `json:"name,omitempty"` // app passwords: what it is for
	User    string         `json:"user"`
	Issuer  string         `json:"issuer"`
	Subject string         `json:"subject"`
	Claims  map[string]any `json:"claims"` // the verified ID token claims at issue
	Created time.Time      `json:"created"`
	Expires time.Time      `json:"expires"`
	// Hash is hex HMAC-SHA256(key, "rrproxy-credential-v1" 0 id 0 secret).
	Hash    string     `json:"hash"`
	Revoked *time.Time `json:"revoked,omitempty"`
	// RevokedReason says who or what revoked it.
	RevokedReason string `json:"revoked_reason,omitempty"`
	// RefreshToken (a sign-in's credential) is sealed with the key;
	// rrproxy uses it to ask the IdP whether the person still exists and
	// is still in the granting groups.
	RefreshToken string `json:"refresh_token,omitempty"`
	// SignIn (app passwords) is the id of the credential of the sign-in
	// the app password was created in, which holds the refresh token all
	// app passwords of that sign-in share: IdPs that rotate refresh
	// tokens invalidate the old one at each use, so there must be one
	// copy, always the newest. App passwords stored before SignIn
	// existed hold a RefreshToken of their own.
	SignIn    string    `json:"sign_in,omitempty"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// refreshTokenHolder is the id of the credential whose refresh token c is
// re-checked with.
func (c *Credential) refreshTokenHolder() string {
	if c.SignIn != "" {
		return c.SignIn
	}
	return c.ID
}

// Valid reports why c cannot be used at now, or nil.
func (c *Credential) Valid(now time.Time) error {
	switch {
	case c.Revoked != nil:
		return fmt.Errorf("credential %s was revoked at %s (%s)", c.ID, c.Revoked.UTC().Format(time.RFC3339), c.RevokedReason)
	case !now.Before(c.Expires):
		return fmt.Errorf("credential %s expired at %s", c.ID, c.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// Store keeps credentials as files in a directory.
type Store struct {
	dir string
	key []byte

	mu    sync.Mutex
	cache map[string]cached // id -> recently read credential
}

type cached struct {
	c    *Credential
	read time.Time
}

// cacheFor bounds how stale a revocation can be on another instance
// sharing the directory: a revoked credential stops working everywhere
// within this time (plus the statement it is checked at).
const cacheFor = 2 * time.Second

// OpenStore opens (creating it, mode 0700) the credential directory.
// key is the shared secret (at least 32 bytes).
func OpenStore(dir string, key []byte) (*Store, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("sso: the key must be at least 32 bytes (it is %d)", len(key))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sso: credential store: %w", err)
	}
	return &Store{dir: dir, key: key, cache: map[string]cached{}}, nil
}

const (
	idChars     = "abcdefghijklmnopqrstuvwxyz234567"
	secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	idLen       = 12
	secretLen   = 32
	prefix      = "rrp_"
)

func randomString(alphabet string, n int) string {
	// Rejection sampling keeps every character uniform.
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	limit := 256 - 256%len(alphabet)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

func (s *Store) hash(id, secret string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("rrproxy-credential-v1\x00" + id + "\x00" + secret))
	return hex.EncodeToString(m.Sum(nil))
}

// Issue stores a new credential and returns it with its password, which
// exists nowhere else: show it once.
func (s *Store) Issue(c *Credential) (password string, err error) {
	c.ID = randomString(idChars, idLen)
	secret := randomString(secretChars, secretLen)
	c.Hash = s.hash(c.ID, secret)
	if c.Created.IsZero() {
		c.Created = time.Now().UTC()
	}
	if err := s.write(c); err != nil {
		return "", err
	}
	return prefix + c.ID + "_" + secret, nil
}

// IsIssuedPassword reports whether pw has the shape of an issued password.
func IsIssuedPassword(pw string) bool {
	return len(pw) == len(prefix)+idLen+1+secretLen && strings.HasPrefix(pw, prefix) && pw[len(prefix)+idLen] == '_'
}

// errNoCredential: the password names no stored credential.
var errNoCredential = errors.New("no such credential")

// Check returns the credential an issued password belongs to, if the
// secret matches; validity (expiry, revocation) is the caller's check.
func (s *Store) Check(pw string) (*Credential, error) {
	if !IsIssuedPassword(pw) {
		return nil, errNoCredential
	}
	id, secret := pw[len(prefix):len(prefix)+idLen], pw[len(prefix)+idLen+1:]
	c, err := s.Get(id, 0)
	if err != nil {
		// Same HMAC work as a real check, so timing does not tell
		// whether the id exists.
		_ = hmac.Equal([]byte(s.hash(id, secret)), []byte(strings.Repeat("0", 64)))
		return nil, err
	}
	if !hmac.Equal([]byte(s.hash(id, secret)), []byte(c.Hash)) {
		return nil, fmt.Errorf("wrong secret for credential %s", id)
	}
	return c, nil
}

// Get reads credential id, from the cache if it was read within maxAge.
func (s *Store) Get(id string, maxAge time.Duration) (*Credential, error) {
	if !validID(id) {
		return nil, errNoCredential
	}
	s.mu.Lock()
	if e, ok := s.cache[id]; ok && maxAge > 0 && time.Since(e.read) < maxAge {
		s.mu.Unlock()
		return e.c, nil
	}
	s.mu.Unlock()
	b, err := os.ReadFile(filepath.Join(s.dir, id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoCredential
	}
	if err != nil {
		return nil, fmt.Errorf("sso: credential store: %w", err)
	}
	var c Credential
	if err := json.Unmarshal(b, &c); err != nil || c.ID != id {
		return nil, fmt.Errorf("sso: credential store: %s.json is damaged", id)
	}
	s.mu.Lock()
	s.cache[id] = cached{&c, time.Now()}
	s.mu.Unlock()
	return &c, nil
}

func validID(id string) bool {
	return len(id) == idLen && strings.Trim(id, idChars) == ""
}

func (s *Store) write(c *Credential) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("sso: credential store: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(s.dir, c.ID+".json"))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("sso: credential store: %w", err)
	}
	s.mu.Lock()
	s.cache[c.ID] = cached{c, time.Now()}
	s.mu.Unlock()
	return nil
}

// List returns the credentials of user ("" for all), newest first.
func (s *Store) List(user string) ([]*Credential, error) {
	names, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Credential
	for _, n := range names {
		c, err := s.Get(strings.TrimSuffix(filepath.Base(n), ".json"), 0)
		if err != nil {
			return nil, err
		}
		if user == "" || strings.EqualFold(c.User, user) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Revoke marks credential id revoked; it stops working at the next
// statement of any session using it.
func (s *Store) Revoke(id, reason string) error {
	return s.modify(id, func(c *Credential) bool {
		if c.Revoked != nil {
			return false
		}
		now := time.Now().UTC()
		c.Revoked, c.RevokedReason = &now, reason
		return true
	})
}

// modify re-reads credential id under the store's lock (shared by every
// process using the directory), lets change edit it, and writes it back
// if change says so. Read-modify-write under one lock is what keeps an
// app password re-check from writing back a copy read just before an
// administrator revoked it.
func (s *Store) modify(id string, change func(*Credential) bool) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	c, err := s.Get(id, 0)
	if err != nil {
		return err
	}
	if !change(c) {
		return nil
	}
	return s.write(c)
}

// RevokeUser revokes every live credential of user and returns how many.
func (s *Store) RevokeUser(user, reason string) (int, error) {
	cs, err := s.List(user)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		if c.Revoked == nil && time.Now().Before(c.Expires) {
			if err := s.Revoke(c.ID, reason); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// lock takes the store's lock, which every process using the directory
// shares, and returns what releases it.
func (s *Store) lock() (unlock func(), err error) {
	lf, err := s.openLock(".lock")
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		lf.Close()
		return nil, fmt.Errorf("sso: credential store lock: %w", err)
	}
	return func() { lf.Close() }, nil // closing releases the lock
}

// refreshLockName is the file credential id's refresh-token redeems take
// turns on (lockRefreshToken).
func refreshLockName(id string) string { return ".refresh-" + id + ".lock" }

func (s *Store) openLock(name string) (*os.File, error) {
	lf, err := os.OpenFile(filepath.Join(s.dir, name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sso: credential store: %w", err)
	}
	return lf, nil
}

// Ended is when c stopped working: its revocation if it was revoked
// before it expired, else its expiry.
func (c *Credential) Ended() time.Time {
	if c.Revoked != nil && c.Revoked.Before(c.Expires) {
		return *c.Revoked
	}
	return c.Expires
}

// Prune deletes the credentials that ended before cutoff, with their
// refresh-token lock files, and returns their ids. A sign-in's credential
// stays while any credential that is kept names it (SignIn): it holds the
// refresh token their re-checks use. Without pruning the directory grows
// by a file per sign-in for ever, and the app-password re-check and the
// account page read every file. Who was issued what, and when, stays in
// the audit log (sso-signin records); the store is only what the proxy
// needs to check a password.
func (s *Store) Prune(cutoff time.Time) ([]string, error) {
	// The store's lock: no revocation or re-check writes a credential
	// back while it is being removed.
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := s.List("")
	if err != nil {
		return nil, err
	}
	needed := map[string]bool{}
	for _, c := range all {
		if !c.Ended().Before(cutoff) && c.SignIn != "" {
			needed[c.SignIn] = true
		}
	}
	var gone []string
	for _, c := range all {
		if !c.Ended().Before(cutoff) || needed[c.ID] {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, c.ID+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return gone, fmt.Errorf("sso: credential store: %w", err)
		}
		s.mu.Lock()
		delete(s.cache, c.ID)
		s.mu.Unlock()
		gone = append(gone, c.ID)
		s.removeRefreshLock(c.ID)
	}
	return gone, nil
}

// removeRefreshLock removes the refresh-token lock file of credential id
// unless someone holds it: a file removed under its holder would let the
// next redeem lock a new file of the same name while the first still
// runs.
func (s *Store) removeRefreshLock(id string) {
	p := filepath.Join(s.dir, refreshLockName(id))
	lf, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return // none
	}
	defer lf.Close()
	if syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		_ = os.Remove(p)
	}
}

// Recheck records a successful re-check of an app password: its fresh
// claims. A credential revoked meanwhile stays revoked.
func (s *Store) Recheck(id string, claims map[string]any, at time.Time) error {
	return s.modify(id, func(c *Credential) bool {
		if c.Revoked != nil {
			return false
		}
		c.Claims, c.CheckedAt = claims, at
		return true
	})
}

// RedeemRefreshToken lets redeem use the sealed refresh token credential
// id holds, and stores the rotated one redeem returns ("" if the IdP kept
// the token). Redeems of one credential's token take turns, across every
// process using the directory, and each reads the token the one before
// stored: an IdP that rotates refresh tokens refuses the old one (some
// revoke the whole grant when it comes back), so the app passwords of one
// sign-in must never both send the same token. ctx bounds only the wait
// for the turn. The token is stored even if id is revoked or expired: it
// belongs to the sign-in, whose app passwords outlive its own password.
func (s *Store) RedeemRefreshToken(ctx context.Context, id string, redeem func(sealed string) (rotated string, err error)) error {
	if !validID(id) {
		return errNoCredential
	}
	unlock, err := s.lockRefreshToken(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := s.Get(id, 0)
	if err != nil {
		return err
	}
	rotated, err := redeem(c.RefreshToken)
	if err != nil || rotated == "" {
		return err
	}
	return s.modify(id, func(c *Credential) bool {
		c.RefreshToken = rotated
		return true
	})
}

// lockRefreshToken waits, until ctx ends, for the turn to redeem the
// refresh token of credential id. The lock is a file of its own, not the
// store's: it is held while the IdP answers, and must not hold up every
// revocation meanwhile.
func (s *Store) lockRefreshToken(ctx context.Context, id string) (unlock func(), err error) {
	lf, err := s.openLock(refreshLockName(id))
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { lf.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			lf.Close()
			return nil, fmt.Errorf("sso: refresh token lock: %w", err)
		}
		select {
		case <-ctx.Done():
			lf.Close()
			return nil, fmt.Errorf("sso: waiting for another re-check with the same refresh token: %w", ctx.Err())
		case <-time.After(refreshLockPoll):
		}
	}
}

// refreshLockPoll is how often a re-check waiting for its turn tries the
// lock (flock cannot wait on a context).
const refreshLockPoll = 20 * time.Millisecond

// ParseKey accepts a key as 64+ hex digits or 32+ raw bytes.
func ParseKey(b []byte) ([]byte, error) {
	s := strings.TrimSpace(string(b))
	if h, err := hex.DecodeString(s); err == nil && len(h) >= 32 {
		return h, nil
	}
	if len(s) >= 32 && !isHex(s) {
		return []byte(s), nil
	}
	return nil, errors.New("want at least 64 hex digits (rrproxy sso keygen)")
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// NewKeyHex returns a new random key as 64 hex digits.
func NewKeyHex() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
