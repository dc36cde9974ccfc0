package sso

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// TestPrune: credentials that ended (expired, or were revoked) before
// the cutoff are deleted with their refresh-token lock files, except a
// sign-in's credential that a kept app password still draws its refresh
// token from, and a lock file someone holds.
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenStore(dir, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	days := func(n int) time.Time { return now.Add(time.Duration(n) * 24 * time.Hour) }
	issue := func(kind string, expires time.Time, revoked *time.Time, signIn string) (*Credential, string) {
		t.Helper()
		c := &Credential{Kind: kind, User: "site.monitor@example.com", Issuer: "https://idp.example.com",
			Expires: expires, Revoked: revoked, SignIn: signIn}
		pw, err := st.Issue(c)
		if err != nil {
			t.Fatal(err)
		}
		return c, pw
	}
	lock := func(c *Credential) string {
		p := filepath.Join(dir, refreshLockName(c.ID))
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	longAgo := days(-100)
	oldSession, oldPW := issue(KindSession, days(-100), nil, "")
	oldLock := lock(oldSession)
	holder, _ := issue(KindSession, days(-100), nil, "") // its app password lives on
	holderLock := lock(holder)
	liveApp, _ := issue(KindApp, days(200), nil, holder.ID)
	revokedApp, _ := issue(KindApp, days(200), &longAgo, "") // ended when revoked
	recent, _ := issue(KindSession, days(-10), nil, "")
	holder2, _ := issue(KindSession, days(-100), nil, "")
	deadApp, _ := issue(KindApp, days(-95), nil, holder2.ID)

	// A re-check holding revokedApp's refresh lock: the file stays.
	heldLock := lock(revokedApp)
	hf, err := os.Open(heldLock)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	if err := syscall.Flock(int(hf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	gone, err := st.Prune(days(-90))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(gone)
	want := []string{oldSession.ID, revokedApp.ID, holder2.ID, deadApp.ID}
	slices.Sort(want)
	if !slices.Equal(gone, want) {
		t.Errorf("pruned %v, want %v", gone, want)
	}
	for _, id := range want {
		if _, err := st.Get(id, time.Hour); !errors.Is(err, errNoCredential) {
			t.Errorf("pruned %s still readable (cache included): %v", id, err)
		}
	}
	for _, c := range []*Credential{holder, liveApp, recent} {
		if _, err := st.Get(c.ID, 0); err != nil {
			t.Errorf("kept %s: %v", c.ID, err)
		}
	}
	if _, err := st.Check(oldPW); !errors.Is(err, errNoCredential) {
		t.Errorf("a pruned credential's password: %v, want no such credential", err)
	}
	for p, wantThere := range map[string]bool{oldLock: false, holderLock: true, heldLock: true} {
		if _, err := os.Stat(p); (err == nil) != wantThere {
			t.Errorf("%s: exists %v, want %v", filepath.Base(p), err == nil, wantThere)
		}
	}
	if again, err := st.Prune(days(-90)); err != nil || len(again) != 0 {
		t.Errorf("second prune: %v, %v; want nothing", again, err)
	}
}
