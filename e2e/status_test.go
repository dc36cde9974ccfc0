package e2e

import (
	"slices"
	"testing"
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
