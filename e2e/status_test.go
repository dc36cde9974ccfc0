package e2e

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rrproxy/rrproxy/proxy"
	"slices"
	"testing"
	"time"
)

// TestServerStatusIsNotReadable: the server's status variables count
// everyone's activity (Queries, Connections, Threads_connected,
// Access_denied_errors; SHOW SESSION STATUS reports the global-only ones
// too) and describe the service account's pooled connection, not the
// person. COM_STATISTICS is answered by rrproxy about the session; SHOW
// STATUS in every scope, and information_schema's GLOBAL_STATUS and
// SESSION_STATUS, are answered with their columns and no rows (found by
// an adversarial sweep: SHOW GLOBAL STATUS and SESSION_STATUS were
// readable). Straight to MariaDB the same statements return rows, so the
// emptiness is rrproxy's.
func TestServerStatusIsNotReadable(t *testing.T) {
	_, db := monaSession(t)
	direct := directTo(t, "trial")
	for _, q := range []string{
		"SHOW GLOBAL STATUS",
		"SHOW STATUS",
		"SHOW SESSION STATUS LIKE 'Ssl_cipher'",
		"SHOW GLOBAL STATUS LIKE 'Queries'",
		"SELECT * FROM information_schema.GLOBAL_STATUS",
		"SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME IN ('QUERIES', 'CONNECTIONS', 'THREADS_CONNECTED')",
		"SELECT COUNT(*) FROM information_schema.SESSION_STATUS",
	} {
		wantCols, wantRows, err := tryQuery(direct, q)
		if err != nil || len(wantRows) == 0 {
			t.Fatalf("direct %s: %d rows, %v", q, len(wantRows), err)
		}
		cols, rows, err := tryQuery(db, q)
		if err != nil {
			t.Errorf("%s: %v, want an answer with no rows (tools send it at connect)", q, err)
			continue
		}
		if !slices.Equal(cols, wantCols) {
			t.Errorf("%s: columns %v, want the server's %v", q, cols, wantCols)
		}
		if q == "SELECT COUNT(*) FROM information_schema.SESSION_STATUS" {
			if len(rows) != 1 || rows[0][0] != "0" {
				t.Errorf("%s: %v, want 0", q, rows)
			}
			continue
		}
		if len(rows) != 0 {
			t.Errorf("LEAK %s: %d rows through rrproxy (first %v), want none", q, len(rows), rows[0])
		}
	}
}

// TestFoundRowsDoesNotCrossUsers: COM_RESET_CONNECTION, which the pool
// sends before a connection serves another person, leaves FOUND_ROWS()
// as the last query set it: bob's first statement on alice's old
// connection read her last row count (found by an adversarial sweep).
// The reset is followed by a SELECT ... INTO that sets it to 0.
func TestFoundRowsDoesNotCrossUsers(t *testing.T) {
	metrics := proxy.NewMetrics(prometheus.NewRegistry())
	r := startRig(t, rigOpts{requireTLS: true, metrics: metrics})
	alice := r.open("alice", alicePW, "study")
	alice.SetMaxOpenConns(1)
	if _, rows, err := tryQuery(alice, "SELECT visit_id FROM visits WHERE visit_id <= 7"); err != nil || len(rows) != 7 {
		t.Fatalf("alice: %d rows, %v", len(rows), err)
	}
	alice.Close()
	// Her session ends (and hands its connection back to the pool, just
	// before its disconnect record lowers the gauge) after her client has
	// gone: bob must not log in before, or he gets a fresh connection.
	for deadline := time.Now().Add(5 * time.Second); testutil.ToFloat64(metrics.Sessions) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("alice's session did not end within 5 s of her client closing")
		}
	}
	bob := r.open("bob", bobPW, "study")
	bob.SetMaxOpenConns(1)
	_, rows, err := tryQuery(bob, "SELECT FOUND_ROWS()")
	if err != nil || len(rows) != 1 {
		t.Fatalf("bob: %v, %v", rows, err)
	}
	if rows[0][0] == "7" {
		t.Errorf("LEAK bob's FOUND_ROWS() is 7, the row count of alice's last query")
	}
	bob.Close()
	// The test proves something only if bob got alice's connection.
	ups := map[string]float64{}
	for _, rec := range readAuditRecords(t, r) {
		if rec["rrproxy.phase"] == "intent" {
			if u, ok := rec["rrproxy.upstream_connection_id"].(float64); ok {
				ups[rec["user.name"].(string)] = u
			}
		}
	}
	if ups["alice"] == 0 || ups["alice"] != ups["bob"] {
		t.Fatalf("upstream connections: %v; the pool did not give bob alice's connection", ups)
	}
}
