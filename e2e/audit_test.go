package e2e

import (
	"errors"
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
