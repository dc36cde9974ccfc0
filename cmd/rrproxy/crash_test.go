package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
	"github.com/rrproxy/rrproxy/devcert"
	"github.com/rrproxy/rrproxy/internal/testtool"
)

// The kill -9 test of issue 5 against the real thing: the rrproxy binary,
// built from this package and started with `rrproxy serve -config FILE`
// in front of the test MariaDB, serving SQL from several clients when it
// is killed. auditlog's TestKilledUnderLoadRecovers kills a process that
// calls the writer directly; this one kills the proxy that writes an
// intent record before it forwards each statement.

const (
	crashDB        = "rrproxy_crash"
	crashSvcUser   = "rr_crash_svc"
	crashSvcPW     = "crash-svc-0123456789-abcdefghij-0123456789"
	crashUser      = "crash_alice"
	crashUserPW    = "crash-alice-test-password"
	crashWorkers   = 8
	crashMinAnswer = 500             // statements answered before the kill, at least
	crashMinLoad   = 2 * time.Second // and this long under load
)

// TestServeKilledUnderLoadRecovers: SIGKILL `rrproxy serve` while eight
// clients run point selects through it (sync batch, rotation and signed
// checkpoints on). The log as the killed process left it verifies (a
// last line cut in half by the kill is the only failure accepted); a
// restart on the same config continues the chain with an audit-restart
// record saying the previous run ended without audit-stop; after one
// more query and a clean stop the whole chain verifies, signatures and
// checkpoint copy included, and every statement a client got an answer
// for before the kill has its intent record, written by the killed run
// or recovered from its staging file before the restart record.
func TestServeKilledUnderLoadRecovers(t *testing.T) {
	dsn, ca := os.Getenv("RRPROXY_TEST_MARIADB"), os.Getenv("RRPROXY_TEST_MARIADB_CA")
	if dsn == "" || ca == "" {
		t.Fatal("RRPROXY_TEST_MARIADB and RRPROXY_TEST_MARIADB_CA must be set; run ./scripts/test.sh")
	}
	root, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	testtool.ServerLock(t, dsn, false) // the proxy's pool vets the server's sql_mode
	crashUpstreamSetup(t, dsn)

	dir := t.TempDir()
	bin := buildRRProxy(t, dir)
	certs, err := devcert.Generate(filepath.Join(dir, "certs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pemCA, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemCA)
	if err := mysql.RegisterTLSConfig("crash", &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig("crash") })
	keyPath, pubPath := filepath.Join(dir, "checkpoint.key"), filepath.Join(dir, "checkpoint.pub")
	if err := auditlog.GenerateKeyFiles(keyPath, pubPath); err != nil {
		t.Fatal(err)
	}
	pub, err := auditlog.LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := authz.HashPassword(crashUserPW)
	if err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`users:
  %s: {password: %q, groups: [crash-readers]}
groups:
  crash-readers: {}
rules:
  - id: crash-read
    to: [group:crash-readers]
    allow: [%s.*]
`, crashUser, hash, crashDB)
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	auditDir := filepath.Join(dir, "audit")
	copyFile := filepath.Join(dir, "copy", "checkpoints.jsonl") // not in auditDir: ExpandPaths reads its *.jsonl
	if err := os.MkdirAll(filepath.Dir(copyFile), 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "rrproxy.yaml")
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
tls: {cert: %q, key: %q, require: true}
upstream:
  address: %q
  user: {from_env: RRPROXY_CRASH_SVC_USER}
  password: {from_env: RRPROXY_CRASH_SVC_PASSWORD}
  tls: {mode: verify-full, ca: %q}
  pool: {max_open: 16, max_idle: 16}
timeouts: {shutdown: 10s}
policy: policy.yaml
audit:
  path: audit/rrproxy-audit.jsonl
  sync: batch
  instance: rrproxy-crash-test
  rotate_mb: 1
  checkpoint_key: checkpoint.key
  checkpoint_every: 250
  checkpoint_copy: %q
log: {level: info}
`, certs.Cert, certs.Key, root.Addr, ca, copyFile)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	vo := auditlog.VerifyOptions{PublicKey: pub, Checkpoints: copyFile}

	// First run: load, then SIGKILL.
	p := startServe(t, bin, cfgPath)
	db := crashClient(t, p.addr)
	answered, loadTime := crashLoad(t, db, p)
	t.Logf("killed rrproxy after %v of load: %d statements answered", loadTime.Round(time.Millisecond), len(answered))

	// The log as the killed process left it.
	sum, err := auditlog.Verify(crashFiles(t, auditDir), vo)
	if err != nil {
		if !strings.Contains(err.Error(), "incomplete last line") {
			t.Fatalf("the log as the killed rrproxy left it does not verify: %v", err)
		}
		t.Logf("killed mid-record: %v", err)
	} else {
		if len(sum.Chains) != 1 {
			t.Fatalf("the killed run's log holds %d chains, want 1: %s", len(sum.Chains), sum)
		}
		if c := sum.Chains[0]; c.Stopped {
			t.Fatal("rrproxy was killed, yet its log ends with audit-stop")
		}
		t.Logf("the killed run's log: %s", strings.TrimSpace(sum.String()))
	}

	// Second run on the same config: one query, then a clean stop.
	p2 := startServe(t, bin, cfgPath)
	db2 := crashClient(t, p2.addr)
	after := fmt.Sprintf("SELECT %d AS q, v FROM %s.t WHERE id = 1", 1<<40, crashDB)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	var q int64
	var v string
	err = db2.QueryRowContext(ctx, after).Scan(&q, &v)
	cancel()
	if err != nil {
		t.Fatalf("query after the restart: %v\n%s", err, p2.stderr())
	}
	db2.Close()
	p2.stop(t)

	// The whole chain, both runs.
	files := crashFiles(t, auditDir)
	sum, err = auditlog.Verify(files, vo)
	if err != nil {
		t.Fatalf("after the restart and a clean stop the chain does not verify: %v", err)
	}
	if len(sum.Chains) != 1 || !sum.Chains[0].Stopped || !sum.Chains[0].Signed || sum.Chains[0].Staged != 0 {
		t.Fatalf("after the restart and a clean stop: %s(want one signed chain ending with audit-stop, nothing staged)", sum)
	}
	t.Logf("the whole chain: %s", sum)

	var restarts []auditRec
	intents := map[string]uint64{} // statement text -> sequence of its intent record
	var actions []string
	err = auditlog.ReadRecords(files, func(file string, line int, rec map[string]any) error {
		r := auditRec{seq: uint64(auditlog.Int(rec, "event.sequence")), action: auditlog.Str(rec, "event.action"), reason: auditlog.Str(rec, "event.reason")}
		switch r.action {
		case "audit-restart":
			restarts = append(restarts, r)
		case "statement":
			if auditlog.Str(rec, "rrproxy.phase") == "intent" {
				if _, dup := intents[auditlog.Str(rec, "rrproxy.statement")]; !dup {
					intents[auditlog.Str(rec, "rrproxy.statement")] = r.seq
				}
			}
		}
		if r.action != "statement" && r.action != "checkpoint" && r.action != "audit-file-start" {
			actions = append(actions, r.action)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(restarts) != 1 || !strings.Contains(restarts[0].reason, "previous run ended without audit-stop") {
		t.Fatalf("audit-restart records: %+v; want one saying the previous run ended without audit-stop", restarts)
	}
	t.Logf("audit-restart at %d: %s", restarts[0].seq, restarts[0].reason)
	// Connections and disconnects come and go; the runs' frame is fixed.
	var frame []string
	for _, a := range actions {
		if a == "audit-start" || a == "audit-restart" || a == "audit-stop" || a == "proxy-start" || a == "proxy-stop" {
			frame = append(frame, a)
		}
	}
	if want := "audit-start proxy-start audit-restart proxy-start proxy-stop audit-stop"; strings.Join(frame, " ") != want {
		t.Errorf("the runs in the log: %q, want %q", strings.Join(frame, " "), want)
	}
	missing := 0
	for stmt := range answered {
		seq, ok := intents[stmt]
		switch {
		case !ok:
			if missing++; missing <= 5 {
				t.Errorf("answered before the kill, no intent record: %s", stmt)
			}
		case seq > restarts[0].seq:
			t.Errorf("answered before the kill, yet its intent %d follows the restart record %d: %s", seq, restarts[0].seq, stmt)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d statements answered before the kill have no intent record", missing, len(answered))
	}
	if seq, ok := intents[after]; !ok || seq < restarts[0].seq {
		t.Errorf("the query after the restart: intent at %d (found %v), want after the restart record %d", seq, ok, restarts[0].seq)
	}
}

type auditRec struct {
	seq    uint64
	action string
	reason string
}

// crashFiles lists the audit files of dir in chain order.
func crashFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := auditlog.ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no audit files in %s", dir)
	}
	return files
}

// crashUpstreamSetup creates the test's own database and service account
// (no other test uses them), so that it does not depend on e2e's data.
func crashUpstreamSetup(t *testing.T, dsn string) {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{
		"CREATE DATABASE IF NOT EXISTS " + crashDB,
		"CREATE TABLE IF NOT EXISTS " + crashDB + ".t (id INT PRIMARY KEY, v VARCHAR(32) NOT NULL)",
		"INSERT IGNORE INTO " + crashDB + ".t SELECT seq, CONCAT('row-', seq) FROM " + crashDB + ".seq_1_to_1000",
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	// At localhost too: a fresh MariaDB's anonymous ''@'localhost' would
	// otherwise shadow '%' for connections from this host.
	for _, host := range []string{"%", "localhost"} {
		acct := "'" + crashSvcUser + "'@'" + host + "'"
		for _, s := range []string{
			"CREATE USER IF NOT EXISTS " + acct + " IDENTIFIED VIA mysql_native_password USING PASSWORD('" + crashSvcPW + "')",
			"ALTER USER " + acct + " IDENTIFIED VIA mysql_native_password USING PASSWORD('" + crashSvcPW + "')",
			"GRANT SELECT ON " + crashDB + ".* TO " + acct,
		} {
			if _, err := db.Exec(s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
	}
}

// buildRRProxy builds this package's binary into dir, with the race
// detector when the test itself runs under it.
func buildRRProxy(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "rrproxy")
	args := []string{"build", "-o", bin}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				args = append(args, "-race")
			}
		}
	}
	start := time.Now()
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("go %s .: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return bin
}

// serveProc is a running `rrproxy serve`.
type serveProc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs strings.Builder // its stderr
	done chan struct{}   // closed when Wait has returned
	err  error           // Wait's result, once done
}

func (p *serveProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

var listeningRE = regexp.MustCompile(`msg="rrproxy listening" addr=(\S+)`)

// startServe runs `bin serve -config cfg` and waits until it listens.
func startServe(t *testing.T, bin, cfg string) *serveProc {
	t.Helper()
	p := &serveProc{cmd: exec.Command(bin, "serve", "-config", cfg), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "RRPROXY_CRASH_SVC_USER="+crashSvcUser, "RRPROXY_CRASH_SVC_PASSWORD="+crashSvcPW)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case ready <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.addr = <-ready:
	case <-p.done:
		t.Fatalf("rrproxy serve exited before listening: %v\n%s", p.err, p.stderr())
	case <-time.After(60 * time.Second):
		t.Fatalf("rrproxy serve not listening after 60s\n%s", p.stderr())
	}
	return p
}

// kill sends SIGKILL and waits for the process to die of it.
func (p *serveProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-p.done
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("rrproxy ended with %v, not SIGKILL\n%s", p.err, p.stderr())
	}
	// A -race build reports a race at exit too, but a killed one never exits.
	if strings.Contains(p.stderr(), "WARNING: DATA RACE") {
		t.Fatalf("rrproxy (built with -race) reported a data race before it was killed\n%s", p.stderr())
	}
}

// stop sends SIGTERM, as a service manager does, and waits for a clean
// exit.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("rrproxy did not stop within 30s of SIGTERM\n%s", p.stderr())
	}
	if p.err != nil {
		t.Fatalf("rrproxy stopped with %v\n%s", p.err, p.stderr())
	}
}

func crashClient(t *testing.T, addr string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", crashUser+":"+crashUserPW+"@tcp("+addr+")/?tls=crash&timeout=10s&readTimeout=30s&writeTimeout=30s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// crashLoad runs point selects from crashWorkers connections, each with
// a literal no other statement has, and kills p once at least
// crashMinAnswer have been answered and crashMinLoad has passed. It
// returns the texts of the statements that were answered (all before the
// kill: a dead process answers nothing).
func crashLoad(t *testing.T, db *sql.DB, p *serveProc) (map[string]bool, time.Duration) {
	t.Helper()
	db.SetMaxOpenConns(crashWorkers)
	db.SetMaxIdleConns(crashWorkers)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conns := make([]*sql.Conn, crashWorkers)
	for i := range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatalf("connection %d: %v\n%s", i, err, p.stderr())
		}
		conns[i] = c
	}
	var (
		next     atomic.Int64
		answers  atomic.Int64
		killed   atomic.Bool
		mu       sync.Mutex
		answered = map[string]bool{}
		loadErr  error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for ctx.Err() == nil {
				n := next.Add(1)
				stmt := fmt.Sprintf("SELECT %d AS q, v FROM %s.t WHERE id = %d", n, crashDB, 1+n%1000)
				var q int64
				var v string
				if err := c.QueryRowContext(ctx, stmt).Scan(&q, &v); err != nil {
					if !killed.Load() {
						mu.Lock()
						loadErr = firstErr(loadErr, fmt.Errorf("%s: %w", stmt, err))
						mu.Unlock()
						cancel()
					}
					return
				}
				if q != n || v != fmt.Sprintf("row-%d", 1+n%1000) {
					mu.Lock()
					loadErr = firstErr(loadErr, fmt.Errorf("%s: answered q=%d v=%q", stmt, q, v))
					mu.Unlock()
					cancel()
					return
				}
				mu.Lock()
				answered[stmt] = true
				mu.Unlock()
				answers.Add(1)
			}
		}()
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var loadTime time.Duration
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("load ended before the kill after %d answers: %v\n%s", answers.Load(), loadErr, p.stderr())
		case <-tick.C:
		}
		if answers.Load() >= crashMinAnswer && time.Since(start) >= crashMinLoad {
			loadTime = time.Since(start)
			killed.Store(true)
			p.kill(t) // while the workers keep sending
			break
		}
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if loadErr != nil {
		t.Fatalf("load: %v", loadErr)
	}
	return answered, loadTime
}

// firstErr keeps the first error.
func firstErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}
