package e2e

import "testing"

// TestCommandsOnRecord: commands that read no table data (COM_PING,
// COM_STMT_CLOSE; COM_STATISTICS, which rrproxy answers itself, goes the
// same way) are on record too, one "command" record each, written before
// they are forwarded.
func TestCommandsOnRecord(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("alice", alicePW, "study")
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	st, err := db.Prepare("SELECT visit_name FROM visits WHERE visit_id = ?")
	if err != nil {
		t.Fatal(err)
	}
	var name string
	if err := st.QueryRow(7).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil { // after the close, so the close was sent
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range readAuditRecords(t, r) {
		if m["event.action"] == "command" && m["event.reason"] == "forwarded" {
			seen[m["rrproxy.command"].(string)]++
		}
	}
	if seen["ping"] < 2 || seen["stmt_close"] != 1 {
		t.Fatalf("command records: %v; want at least 2 ping and 1 stmt_close", seen)
	}
}
