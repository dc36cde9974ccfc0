package e2e

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/proxy"
)

// failingRecorder fails every write while broken is set, like a full disk.
type failingRecorder struct{ broken atomic.Bool }

func (f *failingRecorder) Record(ev *auditlog.Event) (uint64, error) {
	if f.broken.Load() {
		return 0, errors.New("no space left on device")
	}
	return 1, nil
}

func TestNoAuditNoQuery(t *testing.T) {
	rec := &failingRecorder{}
	metrics := proxy.NewMetrics(prometheus.NewRegistry())
	r := startRig(t, rigOpts{requireTLS: true, recorder: rec, metrics: metrics})
	db := r.open("alice", alicePW, "study")
	db.SetMaxOpenConns(1)
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n); err != nil {
		t.Fatal(err)
	}
	// Allowed and denied statements are counted, each under its label.
	if _, err := db.Exec("DELETE FROM subjects"); err == nil {
		t.Fatal("DELETE through the proxy succeeded")
	}
	if a := testutil.ToFloat64(metrics.Statements.WithLabelValues("allowed")); a < 1 {
		t.Errorf(`rrproxy_statements_total{decision="allowed"} = %v after an allowed SELECT`, a)
	}
	if d := testutil.ToFloat64(metrics.Statements.WithLabelValues("denied")); d != 1 {
		t.Errorf(`rrproxy_statements_total{decision="denied"} = %v after one denied DELETE`, d)
	}
	rec.broken.Store(true)
	_, err := db.Query("SELECT COUNT(*) FROM subjects")
	mysqlErr(t, err, 1105, "audit log cannot be written")
	// The failure is exported for alerting.
	if n := testutil.ToFloat64(metrics.AuditFailures); n < 1 {
		t.Errorf("rrproxy_audit_write_failures_total = %v after a failed write", n)
	}
	// Service resumes by itself once writing works again.
	rec.broken.Store(false)
	if err := db.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n); err != nil || n != 120 {
		t.Fatalf("after recovery: %d, %v", n, err)
	}
}

// loginFailingRecorder keeps every record except a successful login's,
// which it refuses while broken is set: the one record a session must
// have before its client may send anything.
type loginFailingRecorder struct {
	broken atomic.Bool
	mu     sync.Mutex
	kept   []auditlog.Event
}

func (f *loginFailingRecorder) Record(ev *auditlog.Event) (uint64, error) {
	if f.broken.Load() && ev.Action == "login" && ev.Outcome == "success" {
		return 0, errors.New("no space left on device")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kept = append(f.kept, *ev)
	return uint64(len(f.kept)), nil
}

// A login is recorded before the client is told it succeeded; a login
// that cannot be recorded is refused, and nothing of the session runs.
func TestLoginNotRecordedIsRefused(t *testing.T) {
	rec := &loginFailingRecorder{}
	rec.broken.Store(true)
	metrics := proxy.NewMetrics(prometheus.NewRegistry())
	r := startRig(t, rigOpts{requireTLS: true, recorder: rec, metrics: metrics})
	db := r.open("alice", alicePW, "study")
	db.SetMaxOpenConns(1)
	err := db.Ping()
	mysqlErr(t, err, 1105, "no login is accepted")
	if n := testutil.ToFloat64(metrics.AuditFailures); n < 1 {
		t.Errorf("rrproxy_audit_write_failures_total = %v after a login that could not be recorded", n)
	}
	// Its records: the connection, the database it named at login
	// (selected before the login's outcome, as part of it), and its end;
	// no login success and no statement of its own.
	rec.mu.Lock()
	for _, ev := range rec.kept {
		if (ev.Action == "statement" && ev.Command != "init_db") || (ev.Action == "login" && ev.Outcome == "success") {
			t.Errorf("a session whose login was not recorded has a %s record (%s, session %d, %q)", ev.Action, ev.Outcome, ev.SessionID, ev.Statement)
		}
	}
	rec.mu.Unlock()
	// Logins resume by themselves once the log can be written.
	rec.broken.Store(false)
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n); err != nil || n != 120 {
		t.Fatalf("after recovery: %d, %v", n, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var login, stmt int
	for i, ev := range rec.kept {
		switch {
		case ev.Action == "login" && ev.Outcome == "success":
			login = i
		case ev.Action == "statement" && ev.Command == "query" && stmt == 0:
			stmt = i
		}
	}
	if login == 0 || stmt == 0 || stmt < login {
		t.Errorf("after recovery: login record at %d, first statement intent at %d; want the login first", login, stmt)
	}
}
