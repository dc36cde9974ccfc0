package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/auditlog"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rrproxy.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const minimal = `
tls: {cert: c.pem, key: k.pem}
upstream:
  address: 127.0.0.1:3306
  user: {from_env: RRTEST_USER}
  password: {from_file: pw}
  tls: {mode: disabled}
policy: policy.yaml
audit: {path: audit.jsonl}
`

func TestLoadMinimalAppliesDefaults(t *testing.T) {
	p := write(t, minimal)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Listen != "127.0.0.1:3307" || !s.RequireTLS() || s.Audit.Sync != "batch" || s.CPUScheduling != "batch" || s.Upstream.Pool.MaxOpen != 64 {
		t.Errorf("defaults not applied: %+v", s)
	}
	if want := filepath.Join(filepath.Dir(p), "policy.yaml"); s.Policy != want {
		t.Errorf("policy path = %q, want %q (relative to the config file)", s.Policy, want)
	}
	// config does not import auditlog for one constant; this keeps the
	// two defaults from drifting apart.
	if s.Audit.SyncInterval != auditlog.DefaultSyncInterval {
		t.Errorf("audit.sync_interval defaults to %v, auditlog.DefaultSyncInterval is %v", s.Audit.SyncInterval, auditlog.DefaultSyncInterval)
	}
}

func TestLoginFailureLimits(t *testing.T) {
	s, err := Load(write(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if u, a, w := s.LoginFailureLimits(); u != 5 || a != 50 || w != 5*time.Minute {
		t.Errorf("defaults: %d per user, %d per address, window %v; want 5, 50, 5m", u, a, w)
	}
	s, err = Load(write(t, minimal+"limits: {login_failures: {per_user: 0, per_address: 20, window: 1h}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if u, a, w := s.LoginFailureLimits(); u != 0 || a != 20 || w != time.Hour {
		t.Errorf("set: %d per user, %d per address, window %v; want 0 (no limit), 20, 1h", u, a, w)
	}
}

func TestHandshakesPerAddress(t *testing.T) {
	s, err := Load(write(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if n := s.HandshakesPerAddress(); n != 64 {
		t.Errorf("default %d, want 64", n)
	}
	s, err = Load(write(t, minimal+"limits: {max_handshakes_per_address: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if n := s.HandshakesPerAddress(); n != 0 {
		t.Errorf("set to 0: %d (0 is no cap, not the default)", n)
	}
	p := write(t, minimal+"limits: {max_handshakes_per_address: -1}\n")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "limits.max_handshakes_per_address: must be 0 (no cap) or more") {
		t.Errorf("negative: %v", err)
	}
}

// TestProxyProtocolFrom: addresses and prefixes of both families are
// read, an IPv4-mapped address as IPv4; anything else is named with its
// file and line.
func TestProxyProtocolFrom(t *testing.T) {
	s, err := Load(write(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ProxyProtocolFrom(); len(got) != 0 {
		t.Fatalf("default: %v, want none", got)
	}
	s, err = Load(write(t, minimal+"proxy_protocol:\n  from: [10.0.1.7, 10.0.2.0/24, \"2001:db8::/64\", \"::ffff:192.0.2.1\", \"::ffff:192.0.2.0/120\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.1.7/32"), netip.MustParsePrefix("10.0.2.0/24"),
		netip.MustParsePrefix("2001:db8::/64"), netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.0/24")}
	if got := s.ProxyProtocolFrom(); !slices.Equal(got, want) {
		t.Fatalf("from = %v, want %v", got, want)
	}
	p := write(t, minimal+"proxy_protocol:\n  from:\n    - 10.0.1.7\n    - lb.example.com\n    - 10.0.2.1/24\n")
	_, err = Load(p)
	if err == nil {
		t.Fatal("want errors")
	}
	lines := strings.Count(minimal, "\n")
	for _, w := range []string{
		fmt.Sprintf("%s:%d", p, lines+4),
		`"lb.example.com" is not an IP address or prefix`,
		fmt.Sprintf("%s:%d", p, lines+5),
		"10.0.2.1/24 has host bits set (did you mean 10.0.2.0/24?)",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}

func TestExampleConfigLoads(t *testing.T) {
	if _, err := Load("../rrproxy.yaml"); err != nil {
		t.Fatalf("the repo's example rrproxy.yaml must load: %v", err)
	}
}

func TestLoadReportsEveryProblemWithLine(t *testing.T) {
	p := write(t, `listen: nonsense
tls: {cert: c.pem}
upstream:
  address: db:3306
  user: {from_env: U, from_file: f}
  password: hunter2
  tls: {mode: verify-full}
  pool: {max_open: -1}
policy: policy.yaml
audit: {path: a, sync: sometimes}
`)
	_, err := Load(p)
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	// An inline password is a type error from the strict decoder: it must
	// be refused before anything else is looked at.
	if !strings.Contains(msg, "rrproxy.yaml:6:") {
		t.Fatalf("inline password not reported at line 6:\n%s", msg)
	}
	p = write(t, strings.Replace(`listen: nonsense
tls: {cert: c.pem}
upstream:
  address: db:3306
  user: {from_env: U, from_file: f}
  password: {from_env: P}
  tls: {mode: verify-full}
  pool: {max_open: -1}
policy: policy.yaml
audit: {path: a, sync: sometimes, sync_interval: 20s}
cpu_scheduling: realtime
gc_heap_floor_mb: -4
limits: {login_failures: {per_user: -1, window: 500ms}}
`, "\t", "  ", -1))
	_, err = Load(p)
	if err == nil {
		t.Fatal("want errors")
	}
	msg = err.Error()
	for _, want := range []string{
		"rrproxy.yaml:1: listen: not a host:port",
		"rrproxy.yaml:2: tls.key: is required",
		"rrproxy.yaml:5: upstream.user: set one of from_file or from_env, not both",
		"rrproxy.yaml:7: upstream.tls.ca: is required when mode is verify-full",
		"rrproxy.yaml:8: upstream.pool.max_open: must be at least 1",
		"rrproxy.yaml:10: audit.sync: must be always, batch or none",
		"rrproxy.yaml:10: audit.sync_interval: must be between 1ms and 10s, not 20s",
		`rrproxy.yaml:11: cpu_scheduling: must be batch or normal; not "realtime"`,
		"rrproxy.yaml:12: gc_heap_floor_mb: must be between 0 (off) and 1024, not -4",
		"rrproxy.yaml:13: limits.login_failures.per_user: must be between 0 (no limit) and 100000, not -1",
		"rrproxy.yaml:13: limits.login_failures.window: must be between 1s and 24h, not 500ms",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestUnknownKeyIsAnError(t *testing.T) {
	_, err := Load(write(t, minimal+"requre_tls: false\n"))
	if err == nil || !strings.Contains(err.Error(), "field requre_tls not found") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretResolveAndRedaction(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	os.WriteFile(f, []byte("s3cret-value\n"), 0o600)
	s, err := SecretSource{FromFile: f}.Resolve()
	if err != nil || s.Reveal() != "s3cret-value" {
		t.Fatalf("Resolve = %q, %v", s.Reveal(), err)
	}
	t.Setenv("RRTEST_SECRET", "env-value")
	s2, err := SecretSource{FromEnv: "RRTEST_SECRET"}.Resolve()
	if err != nil || s2.Reveal() != "env-value" {
		t.Fatalf("Resolve env = %v", err)
	}
	if _, err := (SecretSource{FromEnv: "RRTEST_UNSET_VAR"}).Resolve(); err == nil {
		t.Error("unset env var must be an error")
	}
	for _, out := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if strings.Contains(out, "s3cret") {
			t.Errorf("secret leaked: %q", out)
		}
	}
}

func TestSSOSection(t *testing.T) {
	p := write(t, minimal+`sso:
  listen: 127.0.0.1:8443
  key: {from_file: sso.key}
  clients:
    - {issuer: "https://idp.example.com/realms/clinical", client_id: rrproxy, client_secret: {from_env: RR_SSO_SECRET}}
`)
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p)
	if s.SSO.PublicURL != "https://127.0.0.1:8443" || s.SSO.PublicMySQL != "127.0.0.1:3307" ||
		s.SSO.Store != filepath.Join(dir, "sso-credentials") || s.SSO.Key.FromFile != filepath.Join(dir, "sso.key") {
		t.Errorf("sso defaults: %+v", s.SSO)
	}
	_, err = Load(write(t, minimal+`sso:
  listen: nowhere
  clients:
    - {client_id: rrproxy}
`))
	if err == nil {
		t.Fatal("a bad sso section loaded")
	}
	for _, want := range []string{
		`:11: sso.listen: not a host:port address`,
		`:10: sso.key: is required`,
		`:13: sso.clients[0].issuer: is required`,
		`:13: sso.clients[0].client_secret: is required`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestLoginCache(t *testing.T) {
	s, err := Load(write(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.LoginCacheTTL(); got != DefaultLoginCache {
		t.Errorf("absent login_cache = %v, want the default %v", got, DefaultLoginCache)
	}
	for _, c := range []struct {
		v    string
		want time.Duration
	}{
		{"0s", 0}, // off
		{"90s", 90 * time.Second},
		{"15m", 15 * time.Minute},
	} {
		s, err := Load(write(t, minimal+"limits:\n  login_cache: "+c.v+"\n"))
		if err != nil {
			t.Errorf("login_cache: %s: %v", c.v, err)
			continue
		}
		if got := s.LoginCacheTTL(); got != c.want {
			t.Errorf("login_cache: %s = %v, want %v", c.v, got, c.want)
		}
	}
	// minimal ends on line 9: limits is line 10, login_cache line 12.
	for _, c := range []struct{ v, want string }{
		{"16m", "rrproxy.yaml:12: limits.login_cache: must be between 0s (off) and 15m, not 16m0s"},
		{"-1s", "rrproxy.yaml:12: limits.login_cache: must be between 0s (off) and 15m, not -1s"},
		{"60", "rrproxy.yaml:12: cannot unmarshal !!int `60` into time.Duration"}, // a unit is required
		{"soon", "rrproxy.yaml:12: cannot unmarshal !!str `soon` into time.Duration"},
	} {
		_, err := Load(write(t, minimal+"limits:\n  max_connections: 10\n  login_cache: "+c.v+"\n"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("login_cache: %s: err = %v, want %q", c.v, err, c.want)
		}
	}
}

func TestGCHeapFloor(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want uint64
	}{
		{"", DefaultGCHeapFloorMB << 20}, // absent: the default
		{"gc_heap_floor_mb: 0\n", 0},     // off
		{"gc_heap_floor_mb: 64\n", 64 << 20},
	} {
		s, err := Load(write(t, minimal+c.yaml))
		if err != nil {
			t.Errorf("%q: %v", c.yaml, err)
			continue
		}
		if got := s.GCHeapFloor(); got != c.want {
			t.Errorf("%q: GCHeapFloor = %d, want %d", c.yaml, got, c.want)
		}
	}
	_, err := Load(write(t, minimal+"gc_heap_floor_mb: 2048\n"))
	if err == nil || !strings.Contains(err.Error(), "rrproxy.yaml:10: gc_heap_floor_mb: must be between 0 (off) and 1024, not 2048") {
		t.Errorf("err = %v", err)
	}
}
