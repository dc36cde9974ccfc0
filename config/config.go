package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/rrproxy/rrproxy/internal/strictyaml"
)

// Server is rrproxy.yaml.
type Server struct {
	Listen   string   `yaml:"listen"`
	TLS      TLS      `yaml:"tls"`
	Upstream Upstream `yaml:"upstream"`
	Limits   Limits   `yaml:"limits"`
	Timeouts Timeouts `yaml:"timeouts"`
	Policy   string   `yaml:"policy"`
	Audit    Audit    `yaml:"audit"`
	Log      Log      `yaml:"log"`
	Metrics  Metrics  `yaml:"metrics"`
	SSO      SSO      `yaml:"sso"`
	// ProxyProtocol names the load balancers that put a PROXY protocol
	// header in front of the connections they relay; read it with
	// ProxyProtocolFrom.
	ProxyProtocol ProxyProtocol `yaml:"proxy_protocol"`
	// CPUScheduling is the Linux scheduling policy of rrproxy's threads:
	// "batch" (default: a woken thread does not preempt the running task;
	// see internal/cpusched) or "normal".
	CPUScheduling string `yaml:"cpu_scheduling"`
	// GCHeapFloorMB keeps the garbage collector's heap goal at this many
	// MiB or more while the live heap is small (internal/gcfloor); 0
	// leaves the collector to GOGC alone. Read it with GCHeapFloor.
	GCHeapFloorMB *int `yaml:"gc_heap_floor_mb"`

	// File is the path the config was loaded from; relative paths inside
	// it are resolved against its directory, not the working directory,
	// so a service unit and a shell see the same files.
	File string `yaml:"-"`
}

// ProxyProtocol is proxy_protocol: From lists the load balancers'
// addresses or prefixes (10.0.1.7, 10.0.1.0/24, 2001:db8::/64). A
// connection from one of them must begin with a PROXY header (version 1
// or 2), and the client address in it is the connection's for the audit
// log, the login limits and network rules; any other connection is a
// client's own, and a header from it is refused like any malformed
// login. Empty: no connection may send one.
type ProxyProtocol struct {
	From []string `yaml:"from"`
}

// TLS is the client-facing TLS listener.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// Require refuses clients that do not switch to TLS. Default true:
	// passwords and tokens travel in the handshake.
	Require *bool `yaml:"require"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

// Upstream is the replica and the service account rrproxy relays over.
type Upstream struct {
	Address        string        `yaml:"address"`
	User           SecretSource  `yaml:"user"`
	Password       SecretSource  `yaml:"password"`
	TLS            UpstreamTLS   `yaml:"tls"`
	Pool           Pool          `yaml:"pool"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// UpstreamTLS modes follow the MySQL client's --ssl-mode names.
type UpstreamTLS struct {
	// Mode: disabled, required (encrypt, no verification), verify-ca,
	// verify-full (CA and host name). Default verify-full.
	Mode       string `yaml:"mode"`
	CA         string `yaml:"ca"`
	ServerName string `yaml:"server_name"`
}

// Pool sizes the pool of service-account connections.
type Pool struct {
	MaxOpen     int           `yaml:"max_open"`
	MaxIdle     int           `yaml:"max_idle"`
	WaitTimeout time.Duration `yaml:"wait_timeout"`
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	IdleTimeout time.Duration `yaml:"idle_timeout"`
}

// Limits protect the proxy from one client exhausting it.
type Limits struct {
	MaxConnections int `yaml:"max_connections"`
	// MaxPacketMB caps one client command (all its 16 MiB packets). A
	// larger command is refused before it is read into memory.
	MaxPacketMB int `yaml:"max_packet_mb"`
	// LoginCache is how long a successful password check is remembered,
	// so that a storm of logins by the same users skips argon2id: up to
	// 15m, default 60s, 0s turns it off. Read it with LoginCacheTTL. A
	// memory dump taken within that window would let an attacker test
	// guesses at the passwords used at HMAC speed (authz.verifyCache).
	LoginCache *time.Duration `yaml:"login_cache"`
	// LoginFailures limits password guessing; read it with
	// LoginFailureLimits.
	LoginFailures LoginFailures `yaml:"login_failures"`
	// MaxHandshakesPerAddress caps the connections from one address
	// that have not finished logging in (default 64, 0 no cap); read it
	// with HandshakesPerAddress.
	MaxHandshakesPerAddress *int `yaml:"max_handshakes_per_address"`
}

// DefaultMaxHandshakesPerAddress is limits.max_handshakes_per_address
// when the key is absent.
const DefaultMaxHandshakesPerAddress = 64

// LoginFailures is limits.login_failures: at most PerUser failed logins
// of one user name from one address, and PerAddress from one address
// whatever the names, in any Window; spent attempts come back evenly
// over the window. Refused logins are refused before their password is
// checked. 0 is no limit.
type LoginFailures struct {
	PerUser    *int          `yaml:"per_user"`    // default 5
	PerAddress *int          `yaml:"per_address"` // default 50
	Window     time.Duration `yaml:"window"`      // default 5m
}

// Defaults of limits.login_failures.
const (
	DefaultLoginFailuresPerUser    = 5
	DefaultLoginFailuresPerAddress = 50
	DefaultLoginFailuresWindow     = 5 * time.Minute
)

// DefaultLoginCache is limits.login_cache when the key is absent.
const DefaultLoginCache = 60 * time.Second

// maxLoginCache caps limits.login_cache: a longer window would keep
// recently used passwords guessable at HMAC speed from a memory dump for
// longer than a storm of logins needs.
const maxLoginCache = 15 * time.Minute

// Timeouts for client sessions.
type Timeouts struct {
	Handshake time.Duration `yaml:"handshake"`
	Idle      time.Duration `yaml:"idle"`
	Shutdown  time.Duration `yaml:"shutdown"`
}

// Audit settings; the audit log itself is package auditlog.
type Audit struct {
	Path string `yaml:"path"`
	// Sync: always (fsync per record before the statement runs), batch
	// (staged before it runs, written to the log within 50 ms, one
	// fdatasync per SyncInterval; default), none.
	Sync string `yaml:"sync"`
	// SyncInterval is batch mode's fdatasync cadence (default 200ms):
	// what a power loss can cost in records.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// Instance names this proxy's chain; default rrproxy@<hostname>.
	Instance string `yaml:"instance"`
	// RotateMB (default 100) and RotateEvery (default never) start a new file.
	RotateMB    int           `yaml:"rotate_mb"`
	RotateEvery time.Duration `yaml:"rotate_every"`
	// CheckpointKey is an Ed25519 private key (PEM, PKCS#8) that signs a
	// checkpoint every CheckpointEvery records (default 1000) or
	// CheckpointInterval (default 1m), at rotation and at stop.
	// `rrproxy audit keygen` makes one. Without it there are no signed
	// checkpoints, and truncation or wholesale replacement of the log
	// cannot be detected.
	CheckpointKey      string        `yaml:"checkpoint_key"`
	CheckpointEvery    int           `yaml:"checkpoint_every"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// RedactLiterals records statements with literal values replaced by
	// '?' (the digest still groups them).
	RedactLiterals bool `yaml:"redact_literals"`
	// CheckpointCopy is a file in another location that every checkpoint
	// is also appended to (verify -checkpoints FILE).
	CheckpointCopy string `yaml:"checkpoint_copy"`
}

// Metrics is the Prometheus endpoint (GET /metrics); off when Listen is
// empty. Bind it to a management network: it needs no password.
type Metrics struct {
	Listen string `yaml:"listen"`
	// Pprof also serves Go's profiler under /debug/pprof/ on the same
	// listener (CPU, heap, goroutine and mutex profiles), for the
	// benchmark and for diagnosing a slow proxy. Profiles show SQL text
	// in stack arguments no more than the audit log does, but they are
	// more data on an unauthenticated port: off by default.
	Pprof bool `yaml:"pprof"`
}

// SSO is the single sign-on web listener and credential store; off when
// Listen is empty. Which identity providers are trusted, and what their
// users may read, is in policy.yaml (identity_providers).
type SSO struct {
	// Listen is the HTTPS sign-in page's address (it uses tls.cert and
	// tls.key).
	Listen string `yaml:"listen"`
	// PublicURL is how users' browsers reach it; the IdP redirects to
	// PublicURL/callback. Default https://<listen>.
	PublicURL string `yaml:"public_url"`
	// PublicMySQL is host:port of the MySQL listener as users reach it,
	// for the connect snippets. Default: listen.
	PublicMySQL string `yaml:"public_mysql"`
	// Key (64+ hex digits) hashes issued passwords and seals cookies and
	// refresh tokens. Instances that share Store must share it.
	Key SecretSource `yaml:"key"`
	// Store is the credential directory (default sso-credentials next to
	// rrproxy.yaml); share it between instances.
	Store string `yaml:"store"`
	// Grace lets a session run this long after its credential or token
	// expires (revocation ends it at once). Default 0.
	Grace time.Duration `yaml:"grace"`
	// RecheckEvery is how often app passwords are re-checked with the
	// IdP (default 15m).
	RecheckEvery time.Duration `yaml:"recheck_every"`
	// Clients are rrproxy's OAuth clients at the identity providers.
	Clients []SSOClient `yaml:"clients"`
}

// SSOClient is rrproxy's registration at one identity provider.
type SSOClient struct {
	Issuer       string       `yaml:"issuer"`
	ClientID     string       `yaml:"client_id"`
	ClientSecret SecretSource `yaml:"client_secret"`
	Scopes       []string     `yaml:"scopes"`
	// CA is a PEM bundle to trust for this IdP's HTTPS, if not a public CA.
	CA string `yaml:"ca"`
	// DiscoveryURL is where rrproxy fetches the issuer's metadata when
	// it reaches the IdP by another address than browsers do (a
	// container network); the metadata must still name Issuer.
	DiscoveryURL string `yaml:"discovery_url"`
}

// Log is the process log (not the audit log).
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// Load reads, defaults and validates rrproxy.yaml. Every problem is
// returned, joined, each as file:line.
func Load(path string) (*Server, error) {
	var s Server
	doc, err := strictyaml.DecodeFile(path, &s)
	if err != nil {
		return nil, err
	}
	s.File = path
	s.applyDefaults()
	if err := s.validate(doc); err != nil {
		return nil, err
	}
	s.resolvePaths()
	return &s, nil
}

// RequireTLS reports the effective tls.require.
func (s *Server) RequireTLS() bool { return s.TLS.Require == nil || *s.TLS.Require }

// MaxPacket is the client command cap in bytes.
func (s *Server) MaxPacket() int { return s.Limits.MaxPacketMB << 20 }

// ProxyProtocolFrom is proxy_protocol.from as prefixes (an address is
// its own /32 or /128); entries that do not parse are left out
// (validate has refused them).
func (s *Server) ProxyProtocolFrom() []netip.Prefix {
	var out []netip.Prefix
	for _, e := range s.ProxyProtocol.From {
		if p, err := parsePrefix(e); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix reads an address or a prefix, IPv4-mapped IPv6 as IPv4.
func parsePrefix(e string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(e); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(e)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or prefix (10.0.1.7, 10.0.1.0/24, 2001:db8::/64; names are not resolved)", e)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set (did you mean %s?)", e, p.Masked())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// HandshakesPerAddress is the effective
// limits.max_handshakes_per_address; 0 is no cap.
func (s *Server) HandshakesPerAddress() int {
	if n := s.Limits.MaxHandshakesPerAddress; n != nil {
		return *n
	}
	return DefaultMaxHandshakesPerAddress
}

// LoginFailureLimits is the effective limits.login_failures: failed
// logins allowed per user name and address, per address, and the window.
func (s *Server) LoginFailureLimits() (perUser, perAddress int, window time.Duration) {
	perUser, perAddress = DefaultLoginFailuresPerUser, DefaultLoginFailuresPerAddress
	if n := s.Limits.LoginFailures.PerUser; n != nil {
		perUser = *n
	}
	if n := s.Limits.LoginFailures.PerAddress; n != nil {
		perAddress = *n
	}
	return perUser, perAddress, s.Limits.LoginFailures.Window
}

// LoginCacheTTL is the effective limits.login_cache; 0 is off. (A
// pointer, because 0 means off, not "use the default".)
func (s *Server) LoginCacheTTL() time.Duration {
	if s.Limits.LoginCache == nil {
		return DefaultLoginCache
	}
	return *s.Limits.LoginCache
}

// DefaultGCHeapFloorMB is gc_heap_floor_mb when the key is absent.
const DefaultGCHeapFloorMB = 8

// GCHeapFloor is the effective gc_heap_floor_mb in bytes; 0 is off. (A
// pointer, because 0 means off, not "use the default".)
func (s *Server) GCHeapFloor() uint64 {
	mb := DefaultGCHeapFloorMB
	if s.GCHeapFloorMB != nil {
		mb = *s.GCHeapFloorMB
	}
	if mb <= 0 {
		return 0
	}
	return uint64(mb) << 20
}

func (s *Server) applyDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	if s.Listen == "" {
		s.Listen = "127.0.0.1:3307"
	}
	if s.TLS.MinVersion == "" {
		s.TLS.MinVersion = "1.2"
	}
	if s.Upstream.TLS.Mode == "" {
		s.Upstream.TLS.Mode = "verify-full"
	}
	def(&s.Upstream.ConnectTimeout, 5*time.Second)
	defInt(&s.Upstream.Pool.MaxOpen, 64)
	defInt(&s.Upstream.Pool.MaxIdle, 16)
	def(&s.Upstream.Pool.WaitTimeout, 5*time.Second)
	def(&s.Upstream.Pool.MaxLifetime, time.Hour)
	def(&s.Upstream.Pool.IdleTimeout, 5*time.Minute)
	defInt(&s.Limits.MaxConnections, 1000)
	defInt(&s.Limits.MaxPacketMB, 64)
	def(&s.Limits.LoginFailures.Window, DefaultLoginFailuresWindow)
	def(&s.Timeouts.Handshake, 10*time.Second)
	def(&s.Timeouts.Idle, 8*time.Hour)
	def(&s.Timeouts.Shutdown, 30*time.Second)
	if s.Audit.Sync == "" {
		s.Audit.Sync = "batch"
	}
	def(&s.Audit.SyncInterval, 200*time.Millisecond) // auditlog.DefaultSyncInterval
	defInt(&s.Audit.RotateMB, 100)
	defInt(&s.Audit.CheckpointEvery, 1000)
	def(&s.Audit.CheckpointInterval, time.Minute)
	if s.Log.Level == "" {
		s.Log.Level = "info"
	}
	if s.CPUScheduling == "" {
		s.CPUScheduling = "batch"
	}
	if s.SSO.Listen != "" {
		if s.SSO.PublicURL == "" {
			s.SSO.PublicURL = "https://" + s.SSO.Listen
		}
		if s.SSO.PublicMySQL == "" {
			s.SSO.PublicMySQL = s.Listen
		}
		if s.SSO.Store == "" {
			s.SSO.Store = "sso-credentials"
		}
	}
	if s.Log.Format == "" {
		s.Log.Format = "text"
	}
}

func (s *Server) validate(doc *strictyaml.Doc) error {
	var errs []error
	bad := func(path []any, format string, args ...any) {
		errs = append(errs, doc.Errorf(path, format, args...))
	}
	P := strictyaml.P

	if _, _, err := net.SplitHostPort(s.Listen); err != nil {
		bad(P("listen"), "not a host:port address: %v", err)
	}
	if s.TLS.Cert == "" {
		bad(P("tls", "cert"), "is required (path to the server certificate, PEM)")
	}
	if s.TLS.Key == "" {
		bad(P("tls", "key"), "is required (path to the server private key, PEM)")
	}
	if s.TLS.MinVersion != "1.2" && s.TLS.MinVersion != "1.3" {
		bad(P("tls", "min_version"), "must be \"1.2\" or \"1.3\", not %q", s.TLS.MinVersion)
	}

	if s.Upstream.Address == "" {
		bad(P("upstream", "address"), "is required (host:port of the replica)")
	} else if _, _, err := net.SplitHostPort(s.Upstream.Address); err != nil {
		bad(P("upstream", "address"), "not a host:port address: %v", err)
	}
	if err := s.Upstream.User.validate(); err != nil {
		bad(P("upstream", "user"), "%v", err)
	}
	if err := s.Upstream.Password.validate(); err != nil {
		bad(P("upstream", "password"), "%v", err)
	}
	switch s.Upstream.TLS.Mode {
	case "disabled", "required":
	case "verify-ca", "verify-full":
		if s.Upstream.TLS.CA == "" {
			bad(P("upstream", "tls", "ca"), "is required when mode is %s (CA bundle that signed the replica's certificate, e.g. the AWS RDS bundle)", s.Upstream.TLS.Mode)
		}
	default:
		bad(P("upstream", "tls", "mode"), "must be one of disabled, required, verify-ca, verify-full; not %q", s.Upstream.TLS.Mode)
	}
	p := s.Upstream.Pool
	if p.MaxOpen < 1 {
		bad(P("upstream", "pool", "max_open"), "must be at least 1")
	}
	if p.MaxIdle < 0 || p.MaxIdle > p.MaxOpen {
		bad(P("upstream", "pool", "max_idle"), "must be between 0 and max_open (%d)", p.MaxOpen)
	}
	for _, d := range []struct {
		path []any
		v    time.Duration
	}{
		{P("upstream", "connect_timeout"), s.Upstream.ConnectTimeout},
		{P("upstream", "pool", "wait_timeout"), p.WaitTimeout},
		{P("upstream", "pool", "max_lifetime"), p.MaxLifetime},
		{P("upstream", "pool", "idle_timeout"), p.IdleTimeout},
		{P("timeouts", "handshake"), s.Timeouts.Handshake},
		{P("timeouts", "idle"), s.Timeouts.Idle},
		{P("timeouts", "shutdown"), s.Timeouts.Shutdown},
	} {
		if d.v < 0 {
			bad(d.path, "must be positive")
		}
	}
	if s.Limits.MaxConnections < 1 {
		bad(P("limits", "max_connections"), "must be at least 1")
	}
	if s.Limits.MaxPacketMB < 1 || s.Limits.MaxPacketMB > 1024 {
		bad(P("limits", "max_packet_mb"), "must be between 1 and 1024")
	}
	if s.HandshakesPerAddress() < 0 {
		bad(P("limits", "max_handshakes_per_address"), "must be 0 (no cap) or more")
	}
	for i, e := range s.ProxyProtocol.From {
		if _, err := parsePrefix(e); err != nil {
			bad(P("proxy_protocol", "from", i), "%v", err)
		}
	}
	if d := s.LoginCacheTTL(); d < 0 || d > maxLoginCache {
		bad(P("limits", "login_cache"), "must be between 0s (off) and 15m, not %v", d)
	}
	for _, f := range []struct {
		key string
		n   *int
	}{{"per_user", s.Limits.LoginFailures.PerUser}, {"per_address", s.Limits.LoginFailures.PerAddress}} {
		if f.n != nil && (*f.n < 0 || *f.n > 100000) {
			bad(P("limits", "login_failures", f.key), "must be between 0 (no limit) and 100000, not %d", *f.n)
		}
	}
	if d := s.Limits.LoginFailures.Window; d < time.Second || d > 24*time.Hour {
		bad(P("limits", "login_failures", "window"), "must be between 1s and 24h, not %v", d)
	}
	if s.Policy == "" {
		bad(P("policy"), "is required (path to policy.yaml)")
	}
	if s.Audit.Path == "" {
		bad(P("audit", "path"), "is required: rrproxy does not run without an audit log")
	}
	if s.GCHeapFloorMB != nil && (*s.GCHeapFloorMB < 0 || *s.GCHeapFloorMB > 1024) {
		bad(P("gc_heap_floor_mb"), "must be between 0 (off) and 1024, not %d", *s.GCHeapFloorMB)
	}
	switch s.CPUScheduling {
	case "batch", "normal":
	default:
		bad(P("cpu_scheduling"), "must be batch or normal; not %q", s.CPUScheduling)
	}
	switch s.Audit.Sync {
	case "always", "batch", "none":
	default:
		bad(P("audit", "sync"), "must be always, batch or none; not %q", s.Audit.Sync)
	}
	if d := s.Audit.SyncInterval; d < time.Millisecond || d > 10*time.Second {
		bad(P("audit", "sync_interval"), "must be between 1ms and 10s, not %v", d)
	}
	if s.Audit.RotateMB < 0 {
		bad(P("audit", "rotate_mb"), "must be 0 (never) or more")
	}
	if s.Audit.CheckpointEvery < 0 {
		bad(P("audit", "checkpoint_every"), "must be 0 or more")
	}
	if s.Audit.CheckpointCopy != "" && s.Audit.CheckpointKey == "" {
		bad(P("audit", "checkpoint_copy"), "needs checkpoint_key: only signed checkpoints are copied")
	}
	switch s.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad(P("log", "level"), "must be debug, info, warn or error; not %q", s.Log.Level)
	}
	if s.SSO.Listen != "" {
		if _, _, err := net.SplitHostPort(s.SSO.Listen); err != nil {
			bad(P("sso", "listen"), "not a host:port address: %v", err)
		}
		if err := s.SSO.Key.validate(); err != nil {
			bad(P("sso", "key"), "%v", err)
		}
		if len(s.SSO.Clients) == 0 {
			bad(P("sso", "clients"), "list at least one identity provider client (issuer, client_id, client_secret)")
		}
		for i, c := range s.SSO.Clients {
			if c.Issuer == "" {
				bad(P("sso", "clients", i, "issuer"), "is required (must equal an identity_providers issuer in policy.yaml)")
			}
			if c.ClientID == "" {
				bad(P("sso", "clients", i, "client_id"), "is required")
			}
			if err := c.ClientSecret.validate(); err != nil {
				bad(P("sso", "clients", i, "client_secret"), "%v", err)
			}
		}
	}
	if s.Log.Format != "text" && s.Log.Format != "json" {
		bad(P("log", "format"), "must be text or json; not %q", s.Log.Format)
	}
	return errors.Join(errs...)
}

// resolvePaths makes file paths relative to the config file's directory.
func (s *Server) resolvePaths() {
	dir := filepath.Dir(s.File)
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&s.TLS.Cert)
	abs(&s.TLS.Key)
	abs(&s.Upstream.TLS.CA)
	abs(&s.Upstream.User.FromFile)
	abs(&s.Upstream.Password.FromFile)
	abs(&s.Policy)
	abs(&s.Audit.Path)
	abs(&s.Audit.CheckpointKey)
	abs(&s.Audit.CheckpointCopy)
	abs(&s.SSO.Key.FromFile)
	abs(&s.SSO.Store)
	for i := range s.SSO.Clients {
		abs(&s.SSO.Clients[i].ClientSecret.FromFile)
		abs(&s.SSO.Clients[i].CA)
	}
}

// CheckFiles verifies that referenced files exist and are readable, so a
// typo in a path fails at start, not at the first connection.
func (s *Server) CheckFiles() error {
	var errs []error
	for _, f := range []struct{ what, path string }{
		{"tls.cert", s.TLS.Cert}, {"tls.key", s.TLS.Key}, {"upstream.tls.ca", s.Upstream.TLS.CA}, {"policy", s.Policy},
		{"audit.checkpoint_key", s.Audit.CheckpointKey},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", s.File, f.what, err))
		}
	}
	return errors.Join(errs...)
}
