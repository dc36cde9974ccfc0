package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
	"github.com/rrproxy/rrproxy/devcert"
	"github.com/rrproxy/rrproxy/proxy"
)

const (
	svcUser     = "rr_service"
	svcPassword = "svc-0123456789-abcdefghij-0123456789-abcdefghij"
	// Test accounts' passwords; hashed into the test policy at start.
	alicePW  = "alice-test-password"
	bobPW    = "bob-test-password"
	legacyPW = "legacy-test-password"
)

var (
	rootDSN  string
	certs    devcert.Paths
	caPool   *x509.CertPool
	policyMu sync.Mutex
	policy   *authz.Policy
)

func TestMain(m *testing.M) {
	rootDSN = os.Getenv("RRPROXY_TEST_MARIADB")
	if rootDSN == "" {
		if isShort() {
			fmt.Println("e2e: -short and no RRPROXY_TEST_MARIADB: end-to-end tests not run")
			os.Exit(0)
		}
		fmt.Println("e2e: RRPROXY_TEST_MARIADB is not set; run ./scripts/test.sh, which starts MariaDB")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "rrproxy-e2e-")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := setup(dir); err != nil {
			fmt.Println("e2e setup:", err)
			return 1
		}
		code := m.Run()
		if err := writeCompatMatrix(); err != nil {
			fmt.Println("e2e: compatibility matrix:", err)
			return 1
		}
		return code
	}()
	os.Exit(code)
}

func isShort() bool {
	for _, a := range os.Args {
		if a == "-test.short" || a == "-test.short=true" {
			return true
		}
	}
	return false
}

// setup loads clinical sample data and the service account into MariaDB,
// writes dev certificates, and builds the test policy.
func setup(dir string) error {
	db, err := sql.Open("mysql", rootDSN+"?multiStatements=true")
	if err != nil {
		return err
	}
	defer db.Close()
	stmts := []string{
		"DROP DATABASE IF EXISTS study", "DROP DATABASE IF EXISTS ops",
		"CREATE DATABASE study", "CREATE DATABASE ops",
		`CREATE TABLE study.subjects (subject_id VARCHAR(16) PRIMARY KEY, site_id INT NOT NULL, sex CHAR(1), birth_year INT)`,
		`CREATE TABLE study.visits (visit_id INT PRIMARY KEY, subject_id VARCHAR(16) NOT NULL, visit_name VARCHAR(32),
		   visit_date DATE, systolic_bp INT, treatment_arm VARCHAR(8) COMMENT 'blinded')`,
		`CREATE TABLE study.docs (doc_id INT PRIMARY KEY, body LONGBLOB)`,
		`CREATE TABLE ops.site_payments (payment_id INT PRIMARY KEY, site_id INT, amount_eur DECIMAL(10,2))`,
		`INSERT INTO study.subjects SELECT CONCAT('S-', LPAD(seq, 4, '0')), 1 + seq % 8, IF(seq % 2, 'F', 'M'), 1950 + seq % 50 FROM study.seq_1_to_120`,
		`INSERT INTO study.visits SELECT seq, CONCAT('S-', LPAD(1 + seq % 120, 4, '0')), ELT(1 + seq % 4, 'Screening', 'Baseline', 'Week 4', 'Week 8'),
		   DATE_ADD('2025-01-06', INTERVAL seq DAY), 110 + seq % 40, IF(seq % 2, 'ACTIVE', 'PLACEBO') FROM study.seq_1_to_300`,
		`INSERT INTO ops.site_payments SELECT seq, 1 + seq % 8, 1000 + seq * 12.5 FROM ops.seq_1_to_30`,
		// A fresh MariaDB has anonymous users that would shadow the
		// service account for local connections.
		"DROP USER IF EXISTS ''@'localhost'",
		"DROP USER IF EXISTS " + svcUser,
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD('%s')", svcUser, svcPassword),
		"GRANT SELECT, SHOW VIEW ON study.* TO " + svcUser,
		"GRANT SELECT ON ops.* TO " + svcUser,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	if certs, err = devcert.Generate(filepath.Join(dir, "certs"), nil); err != nil {
		return err
	}
	pem, err := os.ReadFile(certs.CA)
	if err != nil {
		return err
	}
	caPool = x509.NewCertPool()
	caPool.AppendCertsFromPEM(pem)
	if err := mysql.RegisterTLSConfig("rrproxy", &tls.Config{RootCAs: caPool, ServerName: "127.0.0.1"}); err != nil {
		return err
	}
	hash := func(pw string) string {
		h, err := authz.HashPassword(pw)
		if err != nil {
			panic(err)
		}
		return h
	}
	text := fmt.Sprintf(`
users:
  alice: {password: %q, groups: [data-managers]}
  bob: {password: %q, groups: [site-monitors]}
  legacy: {password: %q, native_password: %q, groups: [data-managers]}
  carol: {password: %q, groups: [data-managers], disabled: true}
groups:
  data-managers: {}
  site-monitors: {}
rules:
  - id: study-data-management
    to: [group:data-managers]
    allow: [study.*]
  - id: site-monitoring
    to: [group:site-monitors]
    allow: [study.subjects, study.visits]
  - id: treatment-blinding
    to: ["*"]
    deny_columns: [study.visits.treatment_arm]
`, hash(alicePW), hash(bobPW), hash(legacyPW), authz.NativeHash(legacyPW), hash("carol-test-password"))
	policyText = text
	policy, err = authz.Parse("e2e-policy.yaml", []byte(text))
	return err
}

// policyText is the shared test policy's YAML, for tests that reload a
// variant of it.
var policyText string

// rig is one proxy instance in front of the test MariaDB.
type rig struct {
	t     testing.TB
	srv   *proxy.Server
	addr  string
	audit *auditlog.Writer
	path  string
	logs  *strings.Builder // written by the proxy under logw's lock
	logw  *lockedWriter
	store *authz.Store // the policy in force; tests may Reload it
}

type rigOpts struct {
	requireTLS bool
	maxOpen    int
	recorder   proxy.Recorder
	handshake  time.Duration
	policy     *authz.Policy // nil: the shared test policy built in setup
	metrics    *proxy.Metrics
	// auditSync is the audit log's sync mode ("": auditlog.SyncBatch).
	auditSync string
	// upstreamUser and upstreamPassword replace the service account
	// ("": rr_service), for tests that must tell this rig's upstream
	// connections from every other's.
	upstreamUser, upstreamPassword string
	// sso checks single sign-on passwords (nil: local accounts only).
	sso proxy.SSOAuth
	// loginFailures limits failed logins (zero: no limit, so that tests
	// of failed logins are not throttled by each other).
	loginFailures proxy.LoginLimits
	// proxyFrom are the load balancers that must send a PROXY header.
	proxyFrom []netip.Prefix
	// handshakesPerAddress caps logins in progress per address (0: no cap).
	handshakesPerAddress int
	// redactLiterals is audit.redact_literals.
	redactLiterals bool
}

func startRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	if o.maxOpen == 0 {
		o.maxOpen = 8
	}
	if o.handshake == 0 {
		o.handshake = 5 * time.Second
	}
	if o.auditSync == "" {
		o.auditSync = auditlog.SyncBatch
	}
	if o.upstreamUser == "" {
		o.upstreamUser, o.upstreamPassword = svcUser, svcPassword
	}
	cert, err := tls.LoadX509KeyPair(certs.Cert, certs.Key)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := mysql.ParseDSN(rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, path: filepath.Join(t.TempDir(), "audit.jsonl"), logs: &strings.Builder{}}
	if r.audit, err = auditlog.Open(r.path, o.auditSync); err != nil {
		t.Fatal(err)
	}
	rec := o.recorder
	if rec == nil {
		rec = r.audit
	}
	pol := policy
	if o.policy != nil {
		pol = o.policy
	}
	r.store = authz.NewStore(pol)
	r.logw = &lockedWriter{w: r.logs}
	log := slog.New(slog.NewTextHandler(r.logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pool := proxy.NewPool(proxy.UpstreamConfig{
		Addr: cfg.Addr, User: o.upstreamUser, Password: o.upstreamPassword, ConnectTimeout: 5 * time.Second,
		MaxOpen: o.maxOpen, MaxIdle: o.maxOpen, WaitTimeout: 3 * time.Second, MaxLifetime: time.Hour, IdleTimeout: time.Hour,
		CheckSQLMode: authz.CheckUpstreamSQLMode,
	}, log)
	r.srv, err = proxy.New(proxy.Config{
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, RequireTLS: o.requireTLS,
		HandshakeTimeout: o.handshake, IdleTimeout: time.Hour, MaxConnections: 100, MaxPacket: 64 << 20, Metrics: o.metrics,
		SSO: o.sso, LoginFailures: o.loginFailures, ProxyProtocolFrom: o.proxyFrom,
		HandshakesPerAddress: o.handshakesPerAddress, RedactLiterals: o.redactLiterals,
	}, r.store, rec, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Warm(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, r.logs)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- r.srv.Serve(context.Background(), ln, ready) }()
	<-ready
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := r.srv.Shutdown(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		r.audit.Close()
		if t.Failed() {
			t.Logf("proxy log:\n%s", r.logText())
		}
	})
	return r
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// logText is what the proxy has logged so far; the proxy may still be
// writing.
func (r *rig) logText() string {
	r.logw.mu.Lock()
	defer r.logw.mu.Unlock()
	return r.logs.String()
}

// dsn is a go-sql-driver DSN for user through the proxy with TLS.
func (r *rig) dsn(user, pw, db string, params ...string) string {
	p := append([]string{"tls=rrproxy"}, params...)
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?%s", user, pw, r.addr, db, strings.Join(p, "&"))
}

func (r *rig) open(user, pw, db string, params ...string) *sql.DB {
	r.t.Helper()
	db_, err := sql.Open("mysql", r.dsn(user, pw, db, params...))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { db_.Close() })
	return db_
}

// mysqlErr asserts err is a MySQL error with code and a message
// containing want.
// endSessions stops the proxy and waits until every session has ended,
// none cut off: records written after a client has its answer (an
// outcome, a failed login, a disconnect) are then in the log, which a
// test reads next.
func (r *rig) endSessions(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if forced, err := r.srv.Shutdown(ctx); err != nil || forced != 0 {
		t.Fatalf("shutdown: %d sessions forced, %v", forced, err)
	}
}

func mysqlErr(t *testing.T, err error, code uint16, want string) {
	t.Helper()
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("want MySQL error %d, got %v", code, err)
	}
	if me.Number != code || !strings.Contains(me.Message, want) {
		t.Fatalf("want error %d containing %q, got %d: %s", code, want, me.Number, me.Message)
	}
}

func direct(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// execAll runs each statement on db (the test's own root connection,
// for the world a test needs), failing the test at the first error.
func execAll(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// reloadWith reloads the rig's policy with the shared test policy's
// text where old is replaced by new, as an administrator editing
// policy.yaml would.
func (r *rig) reloadWith(t *testing.T, old, new string) {
	t.Helper()
	text := strings.Replace(policyText, old, new, 1)
	if text == policyText {
		t.Fatalf("the test policy has no %q any more; update this test", old)
	}
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.Reload(file); err != nil {
		t.Fatal(err)
	}
}
