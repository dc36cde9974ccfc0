package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/sso"
)

// ssoSetup writes an rrproxy.yaml with an sso section and a key made by
// sso keygen, and opens its credential store; reopen opens it again, with
// nothing cached.
func ssoSetup(t *testing.T) (cfg string, st *sso.Store, reopen func() *sso.Store) {
	t.Helper()
	var out bytes.Buffer
	if err := ssoCmd([]string{"keygen"}, &out); err != nil || !regexp.MustCompile(`^[0-9a-f]{64}\n$`).MatchString(out.String()) {
		t.Fatalf("keygen: %q, %v", out.String(), err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sso.key"), out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RRTEST_SSO_SECRET", "client-secret")
	cfg = filepath.Join(dir, "rrproxy.yaml")
	if err := os.WriteFile(cfg, []byte(`
tls: {cert: c.pem, key: k.pem}
upstream: {address: 127.0.0.1:3306, user: {from_env: X}, password: {from_env: Y}, tls: {mode: disabled}}
policy: policy.yaml
audit: {path: audit.jsonl}
sso:
  listen: 127.0.0.1:0
  key: {from_file: sso.key}
  clients: [{issuer: "https://idp.example.com", client_id: rrproxy, client_secret: {from_env: RRTEST_SSO_SECRET}}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := sso.ParseKey(out.Bytes())
	reopen = func() *sso.Store {
		st, err := sso.OpenStore(filepath.Join(dir, "sso-credentials"), key)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	return cfg, reopen(), reopen
}

func TestSSOCommand(t *testing.T) {
	cfg, st, reopen := ssoSetup(t)
	var out bytes.Buffer
	var ids []string
	for _, u := range []string{"jane@example.com", "jane@example.com", "mark@example.com"} {
		c := &sso.Credential{Kind: sso.KindSession, User: u, Issuer: "https://idp.example.com", Expires: time.Now().Add(time.Hour)}
		if _, err := st.Issue(c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	out.Reset()
	if err := ssoCmd([]string{"revoke", "-config", cfg, "jane@example.com"}, &out); err != nil || !strings.Contains(out.String(), "revoked 2 credential(s)") {
		t.Fatalf("revoke: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := ssoCmd([]string{"list", "-config", cfg}, &out); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"revoked", "revoked", "valid"} {
		line := regexp.MustCompile(ids[i] + `.*`).FindString(out.String())
		if !strings.HasSuffix(strings.TrimSpace(line), want) {
			t.Errorf("list: %s is %q, want %s\n%s", ids[i], line, want, out.String())
		}
	}
	c, err := reopen().Get(ids[0], 0)
	if err != nil || c.Revoked == nil || !strings.Contains(c.RevokedReason, "revoked by an administrator (by ") {
		t.Fatalf("revoked credential: %+v, %v", c, err)
	}
	if err := ssoCmd([]string{"revoke", "-config", cfg}, &out); err == nil {
		t.Fatal("revoke without a user or id succeeded")
	}
}

func TestWriteOptionFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "my.cnf")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := &sso.Issued{User: "jane.doe@example.com", Password: "rrp_x", Host: "db.example.com", Port: "3307", Expires: time.Now()}
	if err := sso.WriteOptionFile(p, got, "ca.pem"); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	b, _ := os.ReadFile(p)
	if st.Mode().Perm() != 0o600 || !strings.Contains(string(b), "[client]\nuser=jane.doe@example.com\npassword=rrp_x\nhost=db.example.com\nport=3307\nssl=1\nssl-ca=/") {
		t.Fatalf("option file (%v):\n%s", st.Mode().Perm(), b)
	}
}

// TestSSOPruneCommand: sso prune deletes what ended more than -keep-days
// ago and says what it deleted; list no longer shows it.
func TestSSOPruneCommand(t *testing.T) {
	cfg, st, _ := ssoSetup(t)
	var out bytes.Buffer
	old := &sso.Credential{Kind: sso.KindSession, User: "jane@example.com", Issuer: "https://idp.example.com", Expires: time.Now().AddDate(0, 0, -40)}
	live := &sso.Credential{Kind: sso.KindSession, User: "jane@example.com", Issuer: "https://idp.example.com", Expires: time.Now().Add(time.Hour)}
	for _, c := range []*sso.Credential{old, live} {
		if _, err := st.Issue(c); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if err := ssoCmd([]string{"prune", "-config", cfg}, &out); err != nil || !strings.Contains(out.String(), "deleted 0 credential(s)") {
		t.Fatalf("prune with the default 90 days: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := ssoCmd([]string{"prune", "-config", cfg, "-keep-days", "30"}, &out); err != nil ||
		!strings.Contains(out.String(), "deleted "+old.ID+"\n") || !strings.Contains(out.String(), "deleted 1 credential(s) that ended before ") {
		t.Fatalf("prune -keep-days 30: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := ssoCmd([]string{"list", "-config", cfg}, &out); err != nil || strings.Contains(out.String(), old.ID) || !strings.Contains(out.String(), live.ID) {
		t.Fatalf("list after prune: %q, %v", out.String(), err)
	}
	if err := ssoCmd([]string{"prune", "-config", cfg, "-keep-days", "0"}, &out); err == nil {
		t.Fatal("prune -keep-days 0 succeeded")
	}
}
