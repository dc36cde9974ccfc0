package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rrproxy/rrproxy/auditlog"
)

// readAuditRecords returns the rig's audit records, after closing the
// writer so that everything is on disk.
func readAuditRecords(t *testing.T, r *rig) []map[string]any {
	t.Helper()
	r.audit.Close()
	return readAuditFile(t, r.path)
}

// readAuditFile returns the records of the audit file at path, whose
// writer is closed.
func readAuditFile(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// Every statement's intent record says who (with identity source and groups),
// from where (IP and port), over what (TLS version and cipher), on which
// host, what (statement, digest, tables, kinds) and under which policy;
// and the log verifies.
func TestAuditRecordFields(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("alice", alicePW, "study")
	for _, q := range []string{"SELECT COUNT(*) FROM subjects WHERE sex = 'F'", "SELECT COUNT(*) FROM subjects WHERE sex = 'M'"} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	// Every session ends, its disconnect record written, before the log
	// is read.
	r.endSessions(t)
	var intents []map[string]any
	outcomes := map[float64]map[string]any{} // by intent sequence
	records := readAuditRecords(t, r)
	for _, m := range records {
		if m["event.action"] == "statement" && m["rrproxy.phase"] == "intent" && strings.Contains(m["rrproxy.statement"].(string), "sex =") {
			intents = append(intents, m)
		}
		if m["rrproxy.phase"] == "outcome" {
			outcomes[m["rrproxy.intent_sequence"].(float64)] = m
		}
	}
	if len(intents) != 2 {
		t.Fatalf("%d intent records for the two statements", len(intents))
	}
	// The outcome names its intent, says who and which session, how it
	// ended and what came back; where from is in the intent alone.
	o := outcomes[intents[0]["event.sequence"].(float64)]
	if o == nil {
		t.Fatalf("no outcome record names intent %v", intents[0]["event.sequence"])
	}
	if o["user.name"] != "alice" || o["rrproxy.session_id"] != intents[0]["rrproxy.session_id"] || o["event.outcome"] != "success" ||
		o["rrproxy.rows"] != float64(1) || o["rrproxy.bytes"] == nil || o["event.duration"] == nil || o["rrproxy.command"] != "query" {
		t.Errorf("outcome record: %v", o)
	}
	for _, key := range []string{"source.ip", "source.address", "tls.version", "user_agent.name", "user.roles", "rrproxy.statement", "rrproxy.upstream_connection_id"} {
		if o[key] != nil {
			t.Errorf("outcome record repeats its intent's %s: %v", key, o)
		}
	}
	m := intents[0]
	// What was read, for search and the report's tables read.
	if fmt.Sprint(m["rrproxy.tables"]) != "[study.subjects]" || fmt.Sprint(m["rrproxy.statement_kinds"]) != "[select]" {
		t.Errorf("intent record: tables %v, kinds %v; want [study.subjects] and [select]", m["rrproxy.tables"], m["rrproxy.statement_kinds"])
	}
	for key, want := range map[string]string{
		"user.name": "alice", "rrproxy.identity_source": "local", "source.ip": "127.0.0.1",
		"tls.version": "TLS 1.3", "rrproxy.database": "study",
	} {
		if m[key] != want {
			t.Errorf("%s = %v, want %q", key, m[key], want)
		}
	}
	for _, key := range []string{"source.port", "tls.cipher", "host.name", "rrproxy.policy_version", "rrproxy.statement_digest", "rrproxy.session_id", "rrproxy.upstream_connection_id", "@timestamp", "rrproxy.chain.hash"} {
		if m[key] == nil || m[key] == "" {
			t.Errorf("intent record lacks %s: %v", key, m)
		}
	}
	if roles, _ := m["user.roles"].([]any); len(roles) != 1 || roles[0] != "data-managers" {
		t.Errorf("user.roles = %v", m["user.roles"])
	}
	// Statements that differ only in literals share a digest.
	if intents[0]["rrproxy.statement_digest"] != intents[1]["rrproxy.statement_digest"] {
		t.Errorf("digests differ: %v / %v", intents[0]["rrproxy.statement_digest"], intents[1]["rrproxy.statement_digest"])
	}
	// The columns it names, tied to their table.
	if fmt.Sprint(m["rrproxy.columns"]) != "[study.subjects.sex]" {
		t.Errorf("rrproxy.columns = %v, want [study.subjects.sex]", m["rrproxy.columns"])
	}
	// The session's disconnect record sums it up: its statements, rows
	// and bytes are those of its outcome records.
	session := m["rrproxy.session_id"]
	var stmts, rows, bytes float64
	var disconnect map[string]any
	for _, rec := range records {
		if rec["rrproxy.session_id"] != session {
			continue
		}
		switch {
		case rec["rrproxy.phase"] == "outcome":
			stmts++
			r, _ := rec["rrproxy.rows"].(float64)
			b, _ := rec["rrproxy.bytes"].(float64)
			rows, bytes = rows+r, bytes+b
		case rec["event.action"] == "disconnect":
			disconnect = rec
		}
	}
	if disconnect == nil {
		t.Fatalf("session %v has no disconnect record", session)
	}
	if stmts < 2 || disconnect["rrproxy.statements"] != stmts || disconnect["rrproxy.rows"] != rows || disconnect["rrproxy.bytes"] != bytes ||
		disconnect["event.duration"] == nil {
		t.Errorf("disconnect record %v; the session's outcome records count %v statements, %v rows, %v bytes", disconnect, stmts, rows, bytes)
	}
	if _, err := auditlog.Verify([]string{r.path}, auditlog.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// An EXECUTE's record carries the prepared text and the bound values.
func TestAuditRecordsBoundParameters(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("alice", alicePW, "study", "interpolateParams=false")
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM visits WHERE visit_name = ? AND systolic_bp > ? AND visit_date > ? AND (? IS NULL OR 1)",
		"Week 4", 120, "2025-01-01", nil).Scan(&n); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, m := range readAuditRecords(t, r) {
		if m["rrproxy.command"] != "stmt_execute" || m["rrproxy.phase"] != "intent" {
			continue
		}
		got, _ := json.Marshal(m["rrproxy.parameters"])
		if string(got) != `["'Week 4'","120","'2025-01-01'","NULL"]` {
			t.Fatalf("parameters = %s", got)
		}
		if !strings.Contains(m["rrproxy.statement"].(string), "visit_name = ?") {
			t.Fatalf("statement = %v", m["rrproxy.statement"])
		}
		return
	}
	t.Fatal("no stmt_execute intent record")
}

// TestPasswordsNotRecorded: statements that set or create a password are
// refused, and recorded, but never with the password: whatever
// redact_literals says, their record holds the normalised shape. Neither
// the audit log nor the proxy's own log contains the secret.
func TestPasswordsNotRecorded(t *testing.T) {
	const secret = "Tr1al-S3cret-9f8e"
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("alice", alicePW, "study")
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		"ALTER USER alice IDENTIFIED BY '" + secret + "'",
		"SET PASSWORD = PASSWORD('" + secret + "')",
		"set password for bob = '" + secret + "'",
		"CREATE USER mallory IDENTIFIED BY '" + secret + "'",
		"GRANT SELECT ON study.* TO mallory IDENTIFIED BY \"" + secret + "\"",
		"ALTER USER alice IDENTIFIED VIA ed25519 USING PASSWORD('" + secret + "')",
	} {
		if _, err := db.Exec(q); err == nil {
			t.Fatalf("%s: ran", q)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("the error echoes the password: %v", err)
		}
	}
	db.Close()
	records := readAuditRecords(t, r) // closes the writer: everything is in the file
	raw, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), secret) {
		t.Error("the audit log holds the password")
	}
	if strings.Contains(r.logText(), secret) {
		t.Error("the proxy's log holds the password")
	}
	var shapes []string
	for _, m := range records {
		if m["rrproxy.phase"] == "denied" {
			shapes = append(shapes, m["rrproxy.statement"].(string))
		}
	}
	if len(shapes) != 6 || !slices.Contains(shapes, "alter user `alice` identified by ?") {
		t.Errorf("denied records: %q", shapes)
	}
}

// Every EXECUTE of a prepared statement is recorded with what its
// PREPARE was decided to read (tables, kinds, digest, policy version), so
// that a search for a table finds each execution, and with the values it
// was run with; with audit.redact_literals, with the statement's shape
// and no values.
func TestExecuteRecordsCarryThePrepare(t *testing.T) {
	for _, redact := range []bool{false, true} {
		t.Run(fmt.Sprintf("redact_literals=%v", redact), func(t *testing.T) {
			r := startRig(t, rigOpts{requireTLS: true, redactLiterals: redact})
			db := r.open("alice", alicePW, "study")
			db.SetMaxOpenConns(1)
			stmt, err := db.Prepare("SELECT visit_name FROM visits WHERE visit_id = ? AND visit_name <> 'x-unlisted'")
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []int{3, 4} {
				var name string
				if err := stmt.QueryRow(id).Scan(&name); err != nil {
					t.Fatal(err)
				}
			}
			stmt.Close()
			var text string
			if err := db.QueryRow("SELECT visit_name FROM visits WHERE visit_id = 5").Scan(&text); err != nil {
				t.Fatal(err)
			}
			db.Close()
			var prepare map[string]any
			var executes []map[string]any
			var query map[string]any
			for _, m := range readAuditRecords(t, r) {
				if m["event.action"] != "statement" || m["rrproxy.phase"] != "intent" {
					continue
				}
				switch m["rrproxy.command"] {
				case "prepare":
					prepare = m
				case "stmt_execute":
					executes = append(executes, m)
				case "query":
					if strings.Contains(fmt.Sprint(m["rrproxy.statement"]), "visits") {
						query = m
					}
				}
			}
			if prepare == nil || len(executes) != 2 || query == nil {
				t.Fatalf("prepare %v, %d executes, query %v", prepare, len(executes), query)
			}
			for i, e := range executes {
				for _, key := range []string{"rrproxy.tables", "rrproxy.columns", "rrproxy.statement_kinds", "rrproxy.statement_digest", "rrproxy.policy_version"} {
					if e[key] == nil || fmt.Sprint(e[key]) != fmt.Sprint(prepare[key]) {
						t.Errorf("execute %d: %s = %v, want the prepare's %v", i, key, e[key], prepare[key])
					}
				}
				if fmt.Sprint(e["rrproxy.tables"]) != "[study.visits]" || fmt.Sprint(e["rrproxy.columns"]) != "[study.visits.visit_name study.visits.visit_id]" {
					t.Errorf("execute %d: tables %v, columns %v; want [study.visits] and its visit_name and visit_id", i, e["rrproxy.tables"], e["rrproxy.columns"])
				}
				stmtText, params := fmt.Sprint(e["rrproxy.statement"]), fmt.Sprint(e["rrproxy.parameters"])
				if !redact {
					if !strings.Contains(stmtText, "'x-unlisted'") || !strings.Contains(params, fmt.Sprint(3+i)) {
						t.Errorf("execute %d: statement %q, parameters %s; want the text and the value %d", i, stmtText, params, 3+i)
					}
					continue
				}
				if strings.Contains(stmtText, "x-unlisted") || e["rrproxy.parameters"] != nil || !strings.HasPrefix(stmtText, "statement ") {
					t.Errorf("execute %d with redact_literals: statement %q, parameters %v; want the labelled shape and no values", i, stmtText, e["rrproxy.parameters"])
				}
			}
			q := fmt.Sprint(query["rrproxy.statement"])
			if redact == strings.Contains(q, "= 5") {
				t.Errorf("query with redact_literals=%v recorded as %q", redact, q)
			}
			if redact && (strings.Contains(fmt.Sprint(prepare["rrproxy.statement"]), "x-unlisted")) {
				t.Errorf("prepare with redact_literals recorded as %q", prepare["rrproxy.statement"])
			}
		})
	}
}

// A statement the server refuses has an outcome record with the
// server's error code and message (ECS error.code, error.message), as
// the client received it.
func TestOutcomeRecordsTheServerError(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("alice", alicePW, "study")
	_, err := db.Exec("SELECT visit_name FROM visits WHERE visit_id = (SELECT visit_id FROM visits)")
	mysqlErr(t, err, 1242, "Subquery returns more than 1 row")
	db.Close()
	// The outcome is recorded after the client has its answer: the
	// session ends before the log is read.
	r.endSessions(t)
	var found bool
	for _, m := range readAuditRecords(t, r) {
		if m["rrproxy.phase"] != "outcome" || m["event.outcome"] != "failure" {
			continue
		}
		found = true
		if m["error.code"] != float64(1242) || m["error.message"] != "Subquery returns more than 1 row" {
			t.Errorf("outcome record of a refused statement: %v", m)
		}
	}
	if !found {
		t.Fatal("no failed outcome record")
	}
}

// A statement naming a hidden table is refused and recorded with that
// table; the probe sent in its place (the hidden names replaced by
// missing ones) is recorded as reading no table, so neither search nor
// the report counts the hidden table as read.
func TestProbeRecordNamesNoHiddenTable(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("bob", bobPW, "study")
	if _, err := db.Exec("SELECT * FROM ops.site_payments"); err == nil {
		t.Fatal("bob read ops.site_payments")
	}
	db.Close()
	var denied, probe map[string]any
	for _, m := range readAuditRecords(t, r) {
		switch {
		case m["rrproxy.phase"] == "denied":
			denied = m
		case m["rrproxy.phase"] == "intent" && fmt.Sprint(m["rrproxy.statement_kinds"]) == "[probe]":
			probe = m
		}
	}
	if denied == nil || probe == nil {
		t.Fatalf("denied record %v, probe intent %v", denied, probe)
	}
	if fmt.Sprint(denied["rrproxy.tables"]) != "[ops.site_payments]" {
		t.Errorf("denied record's tables: %v", denied["rrproxy.tables"])
	}
	if probe["rrproxy.tables"] != nil || probe["rrproxy.columns"] != nil || strings.Contains(fmt.Sprint(probe["rrproxy.statement"]), "ops.") {
		t.Errorf("probe intent names what it does not read: %v", probe)
	}
}
