//go:build !nodemo

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"golang.org/x/sys/unix"

	"github.com/rrproxy/rrproxy/internal/cpusched"
	"github.com/rrproxy/rrproxy/internal/gcfloor"
	"github.com/rrproxy/rrproxy/sandbox"
)

// TestDemo runs the README's main command in-process: sandbox upstream,
// dev certificates, the repository's policy.yaml, real config loading,
// and checks the README's two example statements with go-sql-driver.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	addr, errc := startDemo(t, ctx, dir, &out, "demo")
	open := func(user, pw string) *sql.DB {
		db, err := sql.Open("mysql", user+":"+pw+"@tcp("+addr.String()+")/?tls=demo")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	var n int
	if err := open("alice", "alice-demo-password").QueryRow("SELECT COUNT(*) FROM study.subjects").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := sandbox.SampleCounts()["study.subjects"]; n != want {
		t.Fatalf("subjects = %d, want %d", n, want)
	}
	// bob may not read ops: the answer is the one for a schema that does
	// not exist, so he cannot tell.
	bob := open("bob", "bob-demo-password")
	_, err := bob.Query("SELECT * FROM ops.site_payments")
	_, missing := bob.Query("SELECT * FROM nosuch.site_payments")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || missing == nil || err.Error() != strings.ReplaceAll(missing.Error(), "nosuch", "ops") {
		t.Fatalf("bob reading ops: got %v; for a missing schema: %v", err, missing)
	}
	if err := open("carol", "carol-demo-password").Ping(); !errors.As(err, &me) || me.Number != 1045 {
		t.Fatalf("disabled carol: want 1045, got %v", err)
	}
	for _, want := range []string{"mariadb -h127.0.0.1", "jdbc:mariadb://127.0.0.1", "pymysql.connect", "alice-demo-password"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q", want)
		}
	}
	stopDemo(t, cancel, errc)
	audit, err := os.ReadFile(filepath.Join(dir, "audit", "rrproxy-audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"event.action":"proxy-start"`, `"rule.id":"default-deny"`, `"event.action":"proxy-stop"`} {
		if !bytes.Contains(audit, []byte(want)) {
			t.Errorf("audit log lacks %s", want)
		}
	}
	// Start and stop both name the version, the configuration (the
	// SHA-256 of the rrproxy.yaml the demo wrote and loaded) and the
	// policy in force.
	yaml, err := os.ReadFile(filepath.Join(dir, "rrproxy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(yaml)
	for _, line := range bytes.Split(bytes.TrimSpace(audit), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatal(err)
		}
		if a := rec["event.action"]; a == "proxy-start" || a == "proxy-stop" {
			if rec["rrproxy.config_sha256"] != hex.EncodeToString(sum[:]) || !strings.HasPrefix(fmt.Sprint(rec["event.reason"]), "version ") ||
				rec["rrproxy.policy_version"] == nil {
				t.Errorf("%s record: %v; want the config's SHA-256 %x, the version and the policy version", a, rec, sum)
			}
		}
	}
}

// startDemo runs the demo in-process in dir, its banner going to out,
// and returns its address once it is ready, with a go-sql-driver TLS
// configuration named tlsName that trusts the demo's CA, and the channel
// the demo's result arrives on after ctx ends.
func startDemo(t *testing.T, ctx context.Context, dir string, out io.Writer, tlsName string) (net.Addr, <-chan error) {
	t.Helper()
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() { errc <- runDemo(ctx, "127.0.0.1:0", dir, out, func(a net.Addr) { addrc <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("demo stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("demo did not become ready")
	}
	pem, err := os.ReadFile(filepath.Join(dir, "certs", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	if err := mysql.RegisterTLSConfig(tlsName, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig(tlsName) })
	return addr, errc
}

// stopDemo cancels a demo started by startDemo and waits for it to end
// cleanly.
func stopDemo(t *testing.T, cancel context.CancelFunc, errc <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("demo did not stop cleanly: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop after cancel")
	}
}

func TestDemoRefusesNonLoopback(t *testing.T) {
	err := runDemo(context.Background(), "0.0.0.0:3307", t.TempDir(), &bytes.Buffer{}, nil)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("want loopback refusal, got %v", err)
	}
}

// TestServeRunsUnderBatchScheduling: with cpu_scheduling at its default,
// the server's threads, those that existed before it started and those
// started since, are under SCHED_BATCH once it serves.
func TestServeRunsUnderBatchScheduling(t *testing.T) {
	// Start from the normal policy: other tests in this process may have
	// run a server already.
	before, err := cpusched.Policies()
	if err != nil {
		t.Fatal(err)
	}
	for tid := range before {
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			continue // exited
		}
		attr.Policy = unix.SCHED_NORMAL
		if err := unix.SchedSetAttr(tid, attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, errc := startDemo(t, ctx, dir, io.Discard, "batch-demo")
	after, err := cpusched.Policies()
	if err != nil {
		t.Fatal(err)
	}
	for tid, p := range after {
		if p != unix.SCHED_BATCH {
			t.Errorf("thread %d has policy %d while serving, want SCHED_BATCH", tid, p)
		}
	}
	if !gcfloor.Running() {
		t.Error("no gc_heap_floor_mb floor while serving with the default config")
	}
	stopDemo(t, cancel, errc)
	if gcfloor.Running() {
		t.Error("the heap floor outlived the server")
	}
}
