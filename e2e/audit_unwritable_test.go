package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/internal/testtool"
	"github.com/rrproxy/rrproxy/proxy"
)

// TestAuditLogTurnsUnwritable: the audit log's file and directory stop
// accepting writes under a running proxy, as when its filesystem is
// remounted read-only after an I/O error. The kernel does the refusing
// (the immutable flag, chattr +i, which stops root too and needs no
// mount): no fake writer is involved. While the log cannot be written,
// statements are refused with a clear error and never reach MariaDB
// (its general query log is the witness), the failure is logged with its
// cause and counted in the metric; once the log is writable again the
// service resumes by itself, every statement that was answered has its
// intent in the log, and the chain verifies.
func TestAuditLogTurnsUnwritable(t *testing.T) {
	root := direct(t)
	const upUser = "rr_ro_unwritable"
	copyServiceAccount(t, root, upUser)
	since := generalLogOn(t, root)
	metrics := proxy.NewMetrics(prometheus.NewRegistry())
	r := startRig(t, rigOpts{requireTLS: true, metrics: metrics, upstreamUser: upUser, upstreamPassword: svcPassword})
	db := r.open("alice", alicePW, "study")
	db.SetMaxOpenConns(1)
	// Each statement carries a tag of its own, to be found in both logs.
	query := func(tag string) error {
		var n int
		var got string
		return db.QueryRow(fmt.Sprintf("SELECT COUNT(*), '%s' FROM subjects", tag)).Scan(&n, &got)
	}
	answered := []string{"before"}
	if err := query("before"); err != nil {
		t.Fatal(err)
	}

	writable := testtool.Unwritable(t, filepath.Dir(r.path), r.path)
	// Statements staged before the flusher's write fails are answered;
	// from the failure on, every statement is refused.
	var refusal error
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; refusal == nil; i++ {
		if time.Now().After(deadline) {
			t.Fatal("statements still run 5 s after the audit log became unwritable")
		}
		tag := fmt.Sprintf("during-%d", i)
		if refusal = query(tag); refusal == nil {
			answered = append(answered, tag)
			time.Sleep(5 * time.Millisecond)
		}
	}
	mysqlErr(t, refusal, 1105, "the audit log cannot be written, so no statement can run")
	refused := []string{"refused-1", "refused-2"}
	for _, tag := range refused {
		mysqlErr(t, query(tag), 1105, "the audit log cannot be written")
	}
	if n := testutil.ToFloat64(metrics.AuditFailures); n < 1 {
		t.Errorf("rrproxy_audit_write_failures_total = %v while the log is unwritable", n)
	}
	if logs := r.logText(); !strings.Contains(logs, "audit write failed") || !strings.Contains(logs, "operation not permitted") {
		t.Errorf("the proxy's log does not say the audit write failed and why:\n%s", logs)
	}

	writable()
	deadline = time.Now().Add(5 * time.Second)
	for {
		err := query("after")
		if err == nil {
			answered = append(answered, "after")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the log became writable again, statements are still refused: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	r.endSessions(t)
	intents := map[string]bool{}
	for _, rec := range readAuditRecords(t, r) { // closes the writer
		if rec["rrproxy.phase"] == "intent" {
			if stmt, _ := rec["rrproxy.statement"].(string); stmt != "" {
				intents[stmt] = true
			}
		}
	}
	sum, err := auditlog.Verify([]string{r.path}, auditlog.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d statements answered, %d refused; audit verify: %s", len(answered), len(refused)+1, sum)
	ran := map[string]bool{}
	for _, row := range readGeneralLog(t, root, upUser, since) {
		if row.cmd == "Query" {
			ran[row.arg] = true
		}
	}
	for _, tag := range answered {
		stmt := fmt.Sprintf("SELECT COUNT(*), '%s' FROM subjects", tag)
		if !intents[stmt] {
			t.Errorf("answered statement %q has no intent record", stmt)
		}
		if !ran[stmt] {
			t.Errorf("answered statement %q is not in MariaDB's general log", stmt)
		}
	}
	for _, tag := range append(refused, fmt.Sprintf("during-%d", len(answered)-2)) {
		stmt := fmt.Sprintf("SELECT COUNT(*), '%s' FROM subjects", tag)
		if intents[stmt] {
			t.Errorf("refused statement %q has an intent record", stmt)
		}
		if ran[stmt] {
			t.Errorf("refused statement %q reached MariaDB", stmt)
		}
	}
}
