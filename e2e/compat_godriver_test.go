package e2e

import (
	"bytes"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Client compatibility: the checks every client row of the matrix makes,
// as data shared by the go-sql-driver test here and the node mysql2 test
// (compat_node_test.go, which hands them to compat/node/compat.js), so
// both clients are held to the same expectations, computed from a direct
// connection to MariaDB wherever the data decides the answer.

// compatListings are the catalog listings checked for alice and bob; cols
// is how many leading columns are compared (SHOW COLUMNS also reports
// types and keys, which are MariaDB's business).
var compatListings = []struct {
	q    string
	cols int
}{
	{"SHOW DATABASES", 1},
	{"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1", 1},
	{"SHOW TABLES FROM study", 1},
	{"SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') ORDER BY 1, 2", 2},
	{"SHOW COLUMNS FROM study.visits", 1},
	{"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'study' AND TABLE_NAME = 'visits' ORDER BY ORDINAL_POSITION", 1},
	{"SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.COLUMNS WHERE COLUMN_NAME = 'treatment_arm'", 2},
}

// compatStarFields names the column list of SELECT * FROM study.visits as
// the client reports it (a pseudo-listing: the result set's fields).
const compatStarFields = "fields of SELECT * FROM study.visits"

// compatVisibleVisits: the study.visits columns, blinded arm withheld.
const compatVisibleVisits = "SELECT visit_id, subject_id, visit_name, visit_date, systolic_bp FROM study.visits ORDER BY visit_id"

// compatRowQueries are read through the proxy (text and binary protocol)
// and compared with the same query, or its compatDirectFor entry, run
// directly as root.
var compatRowQueries = []string{
	"SELECT subject_id, site_id, sex, birth_year FROM study.subjects ORDER BY subject_id",
	compatVisibleVisits,
	// The star expands to the columns alice may see, in table order.
	"SELECT * FROM study.visits ORDER BY visit_id",
}

var compatDirectFor = map[string]string{"SELECT * FROM study.visits ORDER BY visit_id": compatVisibleVisits}

// compatPrepared is run with each of compatPreparedArgs as a prepared
// statement with bound values.
const compatPrepared = "SELECT visit_id, subject_id, visit_date, systolic_bp FROM study.visits WHERE visit_name = ? AND systolic_bp > ? ORDER BY visit_id"

var compatPreparedArgs = [][]any{{"Week 4", 120}, {"Baseline", 130}}

// compatRefused are statements alice may not run, with the answer rrproxy
// gives: what MariaDB says for a missing table or column, and the
// read-only refusal.
var compatRefused = []struct {
	q    string
	code uint16
	msg  string
}{
	{"SELECT * FROM ops.site_payments", 1142, "SELECT command denied to user 'alice'@'localhost' for table `ops`.`site_payments`"},
	{"SELECT visit_id, treatment_arm FROM study.visits", 1054, "Unknown column 'treatment_arm'"},
	{"DELETE FROM study.visits", 1227, "read-only"},
}

// The large result: 300 x 300 visits, 2,500 bytes each, 225,000,000 bytes
// of values in 90,000 rows; each visit_id appears 300 times.
const (
	compatLargeQuery = "SELECT v.visit_id, REPEAT('x', 2500) FROM study.visits v CROSS JOIN study.visits w"
	compatLargeWidth = 2500
	compatLargeRows  = 300 * 300
	compatLargeIDSum = 300 * (300 * 301 / 2)
)

const compatWrongPassword = "Access denied for user 'alice'@'127.0.0.1' (using password: YES)"

// compatListingWant returns, per user and listing, the rows (leading
// columns joined by ".") the user must see, derived from what the
// database holds: alice's rule grants study.*, bob's study.subjects and
// study.visits, and nobody ops or the blinded column.
func compatListingWant(t *testing.T) map[string]map[string][]string {
	t.Helper()
	ref := direct(t)
	var studyTables, visitCols []string
	for _, row := range table(t, ref, "SHOW TABLES FROM study") {
		studyTables = append(studyTables, row[0])
	}
	for _, row := range table(t, ref, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'study' AND TABLE_NAME = 'visits' ORDER BY ORDINAL_POSITION") {
		if row[0] != "treatment_arm" {
			visitCols = append(visitCols, row[0])
		}
	}
	if len(visitCols) != 5 || !slices.Contains(studyTables, "docs") {
		t.Fatalf("direct: study tables %v, visible visit columns %v", studyTables, visitCols)
	}
	want := map[string]map[string][]string{}
	for user, tables := range map[string][]string{"alice": studyTables, "bob": {"subjects", "visits"}} {
		var qualified []string
		for _, tb := range tables {
			qualified = append(qualified, "study."+tb)
		}
		want[user] = map[string][]string{
			compatListings[0].q: {"information_schema", "study"},
			compatListings[1].q: {"information_schema", "study"},
			compatListings[2].q: tables,
			compatListings[3].q: qualified,
			compatListings[4].q: visitCols,
			compatListings[5].q: visitCols,
			compatListings[6].q: nil,
			compatStarFields:    visitCols,
		}
	}
	return want
}

// compatCheckListings compares one user's listings (full rows as the
// client returned them) with want.
func compatCheckListings(t *testing.T, user string, got map[string][][]string, want map[string][]string) {
	t.Helper()
	cols := map[string]int{compatStarFields: 1}
	for _, l := range compatListings {
		cols[l.q] = l.cols
	}
	for q, w := range want {
		rows, ok := got[q]
		if !ok {
			t.Errorf("%s: %s was not listed", user, q)
			continue
		}
		var g []string
		for _, row := range rows {
			n := min(cols[q], len(row))
			g = append(g, strings.Join(row[:n], "."))
		}
		if !slices.Equal(g, w) {
			t.Errorf("%s: %s lists %q, want %q", user, q, g, w)
		}
	}
}

// compatDirectRows returns the direct answer for each row query and for
// each argument list of the prepared statement.
func compatDirectRows(t *testing.T) (rows map[string][][]string, prepared map[string][][]string) {
	t.Helper()
	ref := direct(t)
	rows = map[string][][]string{}
	for _, q := range compatRowQueries {
		dq := q
		if d, ok := compatDirectFor[q]; ok {
			dq = d
		}
		rows[q] = table(t, ref, dq)
		if len(rows[q]) < 100 {
			t.Fatalf("direct %s: %d rows", dq, len(rows[q]))
		}
	}
	prepared = map[string][][]string{}
	for _, args := range compatPreparedArgs {
		got, err := compatArgRows(ref, compatPrepared, args...)
		if err != nil || len(got) == 0 {
			t.Fatalf("direct %s %v: %d rows, %v", compatPrepared, args, len(got), err)
		}
		prepared[compatArgsKey(args)] = got
	}
	return rows, prepared
}

func compatArgsKey(args []any) string {
	b, _ := json.Marshal(args)
	return string(b)
}

// compatArgRows runs q with args and returns the rows as text, NULL as "NULL".
func compatArgRows(db *sql.DB, q string, args ...any) ([][]string, error) {
	rows, err := db.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out [][]string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v != nil {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// compatAuditAgents returns the user_agent.name of alice's successful logins.
func compatAuditAgents(recs []map[string]any) []string {
	var out []string
	for _, m := range recs {
		if m["event.action"] == "login" && m["event.outcome"] == "success" && m["user.name"] == "alice" {
			ua, _ := m["user_agent.name"].(string)
			out = append(out, ua)
		}
	}
	return out
}

// compatSessionsOf returns the session ids whose login named client agent.
func compatSessionsOf(recs []map[string]any, agent string) map[float64]bool {
	out := map[float64]bool{}
	for _, m := range recs {
		if m["event.action"] == "login" && m["user_agent.name"] == agent {
			id, _ := m["rrproxy.session_id"].(float64)
			out[id] = true
		}
	}
	return out
}

// compatStatementRecords returns the intent (or outcome) records of command in
// the given sessions.
func compatStatementRecords(recs []map[string]any, sessions map[float64]bool, command, phase string) []map[string]any {
	var out []map[string]any
	for _, m := range recs {
		id, _ := m["rrproxy.session_id"].(float64)
		if sessions[id] && m["rrproxy.command"] == command && m["rrproxy.phase"] == phase {
			out = append(out, m)
		}
	}
	return out
}

// compatCheckLargeOutcome finds the outcome record of the large statement (run
// as command in one of sessions) and checks rrproxy counted every row and
// byte of it. An outcome names its intent by sequence number; an
// EXECUTE's intent names the prepared text as "statement N: text".
func compatCheckLargeOutcome(t *testing.T, recs []map[string]any, sessions map[float64]bool, command string) {
	t.Helper()
	intents := map[float64]bool{}
	for _, m := range compatStatementRecords(recs, sessions, command, "intent") {
		if s, _ := m["rrproxy.statement"].(string); strings.HasSuffix(s, compatLargeQuery) {
			seq, _ := m["event.sequence"].(float64)
			intents[seq] = true
		}
	}
	for _, m := range compatStatementRecords(recs, sessions, command, "outcome") {
		if seq, _ := m["rrproxy.intent_sequence"].(float64); !intents[seq] {
			continue
		}
		rows, _ := m["rrproxy.rows"].(float64)
		byts, _ := m["rrproxy.bytes"].(float64)
		if rows != compatLargeRows || byts < compatLargeRows*compatLargeWidth || m["event.outcome"] != "success" {
			t.Errorf("audit outcome of the large %s: %v rows, %v bytes, %v", command, rows, byts, m["event.outcome"])
		}
		return
	}
	t.Errorf("no %s outcome record for the large result (%d intents)", command, len(intents))
}

// compatGoDriverVersion is the go-sql-driver/mysql version this module builds
// with, from go.mod (test binaries carry no dependency build info).
func compatGoDriverVersion(t *testing.T) string {
	t.Helper()
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "github.com/go-sql-driver/mysql" {
			return f[1]
		}
	}
	t.Fatal("go.mod does not require github.com/go-sql-driver/mysql")
	return ""
}

// compatOpen opens a go-sql-driver pool through the proxy that is closed
// when t ends: each rrproxy session holds an upstream connection, so
// subtests give theirs back rather than wait for the whole test.
func compatOpen(t *testing.T, r *rig, user, pw, db string, params ...string) *sql.DB {
	t.Helper()
	return compatOpenDSN(t, r.dsn(user, pw, db, params...))
}

func TestCompatGoDriver(t *testing.T) {
	start := time.Now()
	version := compatGoDriverVersion(t)
	r := startRig(t, rigOpts{requireTLS: true})
	listWant := compatListingWant(t)
	rowWant, preparedWant := compatDirectRows(t)
	// The matrix row claims every check below: with -run selecting only
	// some, no row is reported.
	ran := map[string]bool{}
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			ran[name] = true
			f(t)
		})
	}

	// TLS verifying rrproxy's certificate against the test CA (tls=rrproxy
	// in every DSN of r.open); the same certificate is refused without
	// that CA and under a name it does not carry, so the check is real.
	// The driver answers the greeting's plugin, caching_sha2_password,
	// whose full authentication then sends the password inside TLS.
	run("tls", func(t *testing.T) {
		var one int
		if err := compatOpen(t, r, "alice", alicePW, "").QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("TLS with the test CA: %d, %v", one, err)
		}
		var uerr x509.UnknownAuthorityError
		if err := compatOpenDSN(t, "alice:"+alicePW+"@tcp("+r.addr+")/?tls=true").Ping(); !errors.As(err, &uerr) {
			t.Errorf("tls=true (system roots): %v, want an unknown-authority error", err)
		}
		if err := mysql.RegisterTLSConfig("rrproxy-wrong-name", &tls.Config{RootCAs: caPool, ServerName: "not-rrproxy.invalid"}); err != nil {
			t.Fatal(err)
		}
		var herr x509.HostnameError
		if err := compatOpenDSN(t, "alice:"+alicePW+"@tcp("+r.addr+")/?tls=rrproxy-wrong-name").Ping(); !errors.As(err, &herr) {
			t.Errorf("wrong server name: %v, want a name mismatch", err)
		}
	})

	run("metadata", func(t *testing.T) {
		for _, user := range []string{"alice", "bob"} {
			pw := map[string]string{"alice": alicePW, "bob": bobPW}[user]
			db := compatOpen(t, r, user, pw, "")
			got := map[string][][]string{}
			for _, l := range compatListings {
				got[l.q] = table(t, db, l.q)
			}
			cols, _ := query(t, db, "SELECT * FROM study.visits LIMIT 1", false)
			for _, c := range cols {
				got[compatStarFields] = append(got[compatStarFields], []string{c})
			}
			compatCheckListings(t, user, got, listWant[user])
			db.Close()
		}
	})

	// Rows through the proxy equal the direct ones, in the text protocol
	// and in the binary one (a server-side prepared statement).
	run("rows", func(t *testing.T) {
		db := compatOpen(t, r, "alice", alicePW, "", "interpolateParams=false")
		for _, q := range compatRowQueries {
			for _, binary := range []bool{false, true} {
				if _, got := query(t, db, q, binary); !slices.EqualFunc(got, rowWant[q], slices.Equal) {
					t.Errorf("binary=%v: %s: %d rows differ from the direct %d", binary, q, len(got), len(rowWant[q]))
				}
			}
		}
	})

	// Bound values: interpolateParams=false prepares on the server
	// (COM_STMT_PREPARE/EXECUTE, values bound in the binary protocol);
	// interpolateParams=true has the driver inline them as literals into a
	// plain query. The audit log tells the two apart; a program_name per
	// mode tells the sessions apart.
	run("prepared", func(t *testing.T) {
		for _, mode := range []string{"false", "true"} {
			db := compatOpen(t, r, "alice", alicePW, "", "interpolateParams="+mode, "connectionAttributes=program_name:compat-interpolate-"+mode)
			for _, args := range compatPreparedArgs {
				got, err := compatArgRows(db, compatPrepared, args...)
				if err != nil || !slices.EqualFunc(got, preparedWant[compatArgsKey(args)], slices.Equal) {
					t.Errorf("interpolateParams=%s %v: %d rows, %v; differ from direct", mode, args, len(got), err)
				}
			}
			// One statement prepared once and executed per site.
			st, err := db.Prepare("SELECT COUNT(*) FROM study.subjects WHERE site_id = ?")
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for site := 1; site <= 8; site++ {
				var n int
				if err := st.QueryRow(site).Scan(&n); err != nil {
					t.Fatal(err)
				}
				total += n
			}
			st.Close()
			if total != 120 {
				t.Errorf("interpolateParams=%s: subjects summed over sites = %d, want 120", mode, total)
			}
			db.Close()
		}
	})

	run("errors", func(t *testing.T) {
		for _, mode := range []string{"interpolateParams=false", "interpolateParams=true"} {
			db := compatOpen(t, r, "alice", alicePW, "", mode)
			db.SetMaxOpenConns(1) // one session: it goes on after each refusal
			for _, c := range compatRefused {
				_, err := db.Exec(c.q)
				mysqlErr(t, err, c.code, c.msg)
			}
			// Preparing a refused statement is refused at PREPARE, in
			// both modes (Prepare always goes to the server).
			_, err := db.Prepare("SELECT amount_eur FROM ops.site_payments WHERE site_id = ?")
			mysqlErr(t, err, compatRefused[0].code, compatRefused[0].msg)
			// Bound into a refused statement: refused, whichever side
			// binds.
			_, err = db.Query("SELECT visit_id, treatment_arm FROM study.visits WHERE visit_id = ?", 1)
			mysqlErr(t, err, compatRefused[1].code, compatRefused[1].msg)
			var s string
			if err := db.QueryRow("SELECT 'still here'").Scan(&s); err != nil || s != "still here" {
				t.Errorf("%s: after refusals: %q, %v", mode, s, err)
			}
			db.Close()
		}
		mysqlErr(t, compatOpen(t, r, "alice", "not-"+alicePW, "").Ping(), 1045, compatWrongPassword)
	})

	run("multiStatements", func(t *testing.T) {
		db := compatOpen(t, r, "alice", alicePW, "study", "multiStatements=true")
		db.SetMaxOpenConns(1)
		ref := compatOpenDSN(t, rootDSN+"study?multiStatements=true")
		got, err := compatResultSets(db, "SELECT COUNT(*) FROM subjects; SELECT COUNT(*), SUM(systolic_bp) FROM visits")
		want, werr := compatResultSets(ref, "SELECT COUNT(*) FROM subjects; SELECT COUNT(*), SUM(systolic_bp) FROM visits")
		if err != nil || werr != nil || len(got) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("two SELECTs: %v, %v; direct %v, %v", got, err, want, werr)
		}
		// A batch with a statement the policy refuses (a write) is
		// refused as a whole, before anything of it runs: no first
		// result, the error at once.
		got, err = compatResultSets(db, "SELECT COUNT(*) FROM subjects; DELETE FROM visits")
		if len(got) != 0 {
			t.Errorf("batch with a DELETE: results %v arrived before the refusal", got)
		}
		mysqlErr(t, err, 1227, "read-only")
		// A batch naming a column or table alice may not see is answered
		// as MariaDB answers one naming a missing column or table: the
		// statements before it run, then the error, and nothing after it.
		// (rrproxy's design: a hidden object must be indistinguishable
		// from a missing one, so it cannot refuse such a batch up front.)
		for _, c := range []struct {
			batch, missing string
			code           uint16
			msg            string
		}{
			{"SELECT COUNT(*) FROM subjects; SELECT visit_id, treatment_arm FROM visits; SELECT 'after'",
				"SELECT COUNT(*) FROM subjects; SELECT visit_id, no_such_column FROM visits; SELECT 'after'",
				1054, "Unknown column 'treatment_arm'"},
			{"SELECT COUNT(*) FROM subjects; SELECT * FROM ops.site_payments; SELECT 'after'",
				"SELECT COUNT(*) FROM subjects; SELECT * FROM no_such_table; SELECT 'after'",
				1142, "SELECT command denied to user 'alice'@'localhost' for table `ops`.`site_payments`"},
		} {
			got, err := compatResultSets(db, c.batch)
			want, werr := compatResultSets(ref, c.missing)
			if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(got) != "[[[120]]]" || werr == nil {
				t.Errorf("%s: results %v; direct with a missing object: %v then %v", c.batch, got, want, werr)
			}
			mysqlErr(t, err, c.code, c.msg)
		}
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM visits").Scan(&n); err != nil || n != 300 {
			t.Errorf("after refused batches: %d, %v", n, err)
		}
	})

	// Large packets: a 20 MiB string literal in a statement and a 20 MiB
	// bound value, checked by MD5 on the server, under maxAllowedPacket
	// settings that make the driver send them differently.
	run("largePackets", func(t *testing.T) {
		val := strings.Repeat("0123456789abcdef", 20<<20/16) + "tail"
		sum := md5.Sum([]byte(val))
		want := hex.EncodeToString(sum[:])
		// A 20 MiB statement text takes about ten seconds under -race
		// (rrproxy parses and audits all of it), so the literal is sent
		// once; where it exceeds the driver's maxAllowedPacket, the
		// driver refuses it without sending anything.
		const (
			skip = iota
			send
			tooLarge
		)
		for _, c := range []struct {
			name    string // also the session's program_name, for the audit subtest
			params  []string
			literal int
		}{
			// The driver's default maxAllowedPacket, 64 MiB: each in one
			// logical packet of two frames (16 MiB and the rest), the
			// value bound in COM_STMT_EXECUTE.
			{"packet-64MiB-server", []string{"interpolateParams=false"}, send},
			// 0: the driver asks the server for @@max_allowed_packet,
			// through the proxy, on every connection.
			{"packet-0-server", []string{"interpolateParams=false", "maxAllowedPacket=0"}, skip},
			// Interpolated: the bound value becomes a 20 MiB literal in
			// a plain query.
			{"packet-64MiB-interpolate", []string{"interpolateParams=true", "maxAllowedPacket=67108864"}, skip},
			// 4 MiB: the bound value goes in COM_STMT_SEND_LONG_DATA
			// chunks; interpolation gives way to a server-side prepare.
			{"packet-4MiB-server", []string{"interpolateParams=false", "maxAllowedPacket=4194304"}, tooLarge},
			{"packet-4MiB-interpolate", []string{"interpolateParams=true", "maxAllowedPacket=4194304"}, tooLarge},
		} {
			t0 := time.Now()
			db := compatOpen(t, r, "alice", alicePW, "", append(c.params, "connectionAttributes=program_name:"+c.name)...)
			db.SetMaxOpenConns(1)
			var got string
			switch c.literal {
			case send:
				if err := db.QueryRow("SELECT MD5('" + val + "')").Scan(&got); err != nil || got != want {
					t.Errorf("%s: 20 MiB literal: %q, %v", c.name, got, err)
				}
			case tooLarge:
				if err := db.QueryRow("SELECT MD5('" + val + "')").Scan(&got); !errors.Is(err, mysql.ErrPktTooLarge) {
					t.Errorf("%s: 20 MiB literal over maxAllowedPacket: %v, want the driver's ErrPktTooLarge", c.name, err)
				}
			}
			if err := db.QueryRow("SELECT MD5(?) AS bound", val).Scan(&got); err != nil || got != want {
				t.Errorf("%s: 20 MiB bound value: %q, %v", c.name, got, err)
			}
			var s string
			if err := db.QueryRow("SELECT 'still here'").Scan(&s); err != nil {
				t.Errorf("%s: after the large statements: %v", c.name, err)
			}
			db.Close()
			t.Logf("%s: %v", c.name, time.Since(t0).Round(time.Millisecond))
		}

		// With maxAllowedPacket=0 the driver learns the upstream's
		// max_allowed_packet (rrproxy relays SELECT @@max_allowed_packet),
		// but rrproxy has its own, lower limit (limits.max_packet_mb, 64
		// MiB in this rig): a statement over it that MariaDB would run is
		// refused by rrproxy, unrun, with ER_NET_PACKET_TOO_LARGE, and the
		// session goes on. (Just over the limit: 64 MiB and 64 KiB.)
		db := compatOpen(t, r, "alice", alicePW, "", "maxAllowedPacket=0")
		db.SetMaxOpenConns(1)
		var maxPacket int
		if err := db.QueryRow("SELECT @@max_allowed_packet").Scan(&maxPacket); err != nil {
			t.Fatal(err)
		}
		t.Logf("@@max_allowed_packet through rrproxy: %d; rrproxy's limit in this rig: %d", maxPacket, 64<<20)
		const over = 64<<20 + 64<<10
		if maxPacket <= over+1<<10 {
			t.Fatalf("the test MariaDB's max_allowed_packet is %d; scripts/test.sh sets 256M", maxPacket)
		}
		t0 := time.Now()
		huge := "SELECT LENGTH('" + strings.Repeat("z", over) + "')"
		_, err := db.Exec(huge)
		mysqlErr(t, err, 1153, "limits.max_packet_mb")
		var s string
		if err := db.QueryRow("SELECT 'still here'").Scan(&s); err != nil {
			t.Errorf("after the refused statement: %v", err)
		}
		var n int
		if err := compatOpenDSN(t, rootDSN+"?maxAllowedPacket=0").QueryRow(huge).Scan(&n); err != nil || n != over {
			t.Errorf("the same statement directly: %d, %v", n, err)
		}
		t.Logf("over the limit, through rrproxy and directly: %v", time.Since(t0).Round(time.Millisecond))
	})

	// A 225 MB result read with rows.Next, in the text protocol and in
	// the binary one, each row checked as it passes.
	var largeText, largeBinary time.Duration
	run("large", func(t *testing.T) {
		db := compatOpen(t, r, "alice", alicePW, "", "interpolateParams=false", "connectionAttributes=program_name:compat-large")
		db.SetMaxOpenConns(1)
		for _, binary := range []bool{false, true} {
			t0 := time.Now()
			var rows *sql.Rows
			var err error
			if binary {
				st, perr := db.Prepare(compatLargeQuery)
				if perr != nil {
					t.Fatal(perr)
				}
				defer st.Close()
				rows, err = st.Query()
			} else {
				rows, err = db.Query(compatLargeQuery)
			}
			if err != nil {
				t.Fatal(err)
			}
			filler := bytes.Repeat([]byte("x"), compatLargeWidth)
			var n, idSum, bad, total int
			for rows.Next() {
				var id int
				var v sql.RawBytes
				if err := rows.Scan(&id, &v); err != nil {
					t.Fatal(err)
				}
				n++
				idSum += id
				total += len(v)
				if !bytes.Equal(v, filler) {
					bad++
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("binary=%v: after %d rows: %v", binary, n, err)
			}
			rows.Close()
			d := time.Since(t0)
			if binary {
				largeBinary = d
			} else {
				largeText = d
			}
			t.Logf("binary=%v: %d rows, %d MB of values in %v", binary, n, total/1e6, d.Round(time.Millisecond))
			if n != compatLargeRows || idSum != compatLargeIDSum || bad != 0 || total != compatLargeRows*compatLargeWidth {
				t.Errorf("binary=%v: %d rows, id sum %d, %d bad values, %d bytes; want %d rows, id sum %d", binary, n, idSum, bad, total, compatLargeRows, compatLargeIDSum)
			}
		}
	})

	// The audit trail: the client's identity from its connection
	// attributes, the mode of each prepared statement, the size of the
	// large results. Read last: reading closes the audit writer.
	run("audit", func(t *testing.T) {
		named := compatOpen(t, r, "alice", alicePW, "", "connectionAttributes=program_name:rrproxy-compat-go")
		if err := named.Ping(); err != nil {
			t.Fatal(err)
		}
		named.Close()
		recs := readAuditRecords(t, r)
		agents := compatAuditAgents(recs)
		for _, want := range []string{"Go-MySQL-Driver", "rrproxy-compat-go (Go-MySQL-Driver)"} {
			if !slices.Contains(agents, want) {
				t.Errorf("no login of alice with user_agent.name %q; have %q", want, agents)
			}
		}
		server := compatSessionsOf(recs, "compat-interpolate-false (Go-MySQL-Driver)")
		client := compatSessionsOf(recs, "compat-interpolate-true (Go-MySQL-Driver)")
		var sawExec bool
		for _, m := range compatStatementRecords(recs, server, "stmt_execute", "intent") {
			ps, _ := json.Marshal(m["rrproxy.parameters"])
			if st, _ := m["rrproxy.statement"].(string); execLabel.MatchString(st) && strings.HasSuffix(st, ": "+compatPrepared) && string(ps) == `["'Week 4'","120"]` {
				sawExec = true
			}
		}
		if !sawExec {
			t.Errorf("interpolateParams=false: no stmt_execute of %q with 'Week 4', 120 in the audit log", compatPrepared)
		}
		prepares := func(sessions map[float64]bool) (n int) {
			for _, m := range compatStatementRecords(recs, sessions, "prepare", "intent") {
				if m["rrproxy.statement"] == compatPrepared {
					n++
				}
			}
			return n
		}
		if n, m := prepares(server), prepares(client); n == 0 || m != 0 {
			t.Errorf("prepare records of %q: %d with interpolateParams=false, %d with =true; want some, none", compatPrepared, n, m)
		}
		var sawLiteral bool
		for _, m := range compatStatementRecords(recs, client, "query", "intent") {
			if s, _ := m["rrproxy.statement"].(string); strings.Contains(s, "visit_name = 'Week 4' AND systolic_bp > 120") {
				sawLiteral = true
			}
		}
		if !sawLiteral {
			t.Errorf("interpolateParams=true: no query record with the values inlined")
		}
		// How the 20 MiB values travelled: under a 4 MiB maxAllowedPacket
		// in COM_STMT_SEND_LONG_DATA (even with interpolateParams=true,
		// where the literal would not fit); under 64 MiB inside the
		// EXECUTE, or inlined when interpolating.
		// A value sent in pieces is recorded like any other, and a cut one
		// says how it came.
		const longData = "sent with COM_STMT_SEND_LONG_DATA)"
		for name, want := range map[string]string{
			"packet-64MiB-server": "execute", "packet-0-server": "execute", "packet-64MiB-interpolate": "inline",
			"packet-4MiB-server": "long data", "packet-4MiB-interpolate": "long data",
		} {
			sessions := compatSessionsOf(recs, name+" (Go-MySQL-Driver)")
			got := "none"
			for _, m := range compatStatementRecords(recs, sessions, "stmt_execute", "intent") {
				if st, _ := m["rrproxy.statement"].(string); !strings.HasSuffix(st, ": SELECT MD5(?) AS bound") {
					continue
				}
				ps, _ := m["rrproxy.parameters"].([]any)
				if len(ps) != 1 {
					continue
				}
				if p, _ := ps[0].(string); strings.HasSuffix(p, longData) {
					got = "long data"
				} else {
					got = "execute"
				}
			}
			for _, m := range compatStatementRecords(recs, sessions, "query", "intent") {
				if st, _ := m["rrproxy.statement"].(string); strings.HasPrefix(st, "SELECT MD5('0123456789abcdef") && strings.HasSuffix(st, "tail') AS bound") {
					got = "inline"
				}
			}
			if got != want {
				t.Errorf("%s: the bound 20 MiB value went %s, want %s", name, got, want)
			}
		}

		large := compatSessionsOf(recs, "compat-large (Go-MySQL-Driver)")
		compatCheckLargeOutcome(t, recs, large, "query")
		compatCheckLargeOutcome(t, recs, large, "stmt_execute")
	})

	t.Logf("go-sql-driver/mysql %s: %v in all; 225 MB text %v, binary %v", version, time.Since(start).Round(time.Millisecond),
		largeText.Round(time.Millisecond), largeBinary.Round(time.Millisecond))
	if len(ran) != 9 {
		t.Logf("only %d of the 9 checks ran: no compatibility matrix row", len(ran))
		return
	}
	reportCompat(t, compatRow{
		Client: "go-sql-driver/mysql", Version: version, TLS: true, Plugin: "caching_sha2_password",
		Prepared: true, Metadata: true, Large: true,
		Notes: "interpolateParams=false and =true; multiStatements=true: a batch with a write is refused whole, one naming a hidden object " +
			"runs up to it as with a missing one; 20 MiB literals and bound values with maxAllowedPacket 4 MiB, 64 MiB and 0; " +
			"maxAllowedPacket=0 takes the upstream's max_allowed_packet, above rrproxy's limits.max_packet_mb (statements over it: error 1153)",
	})
}

func compatOpenDSN(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// compatResultSets reads every result set of a batch: rows as text.
func compatResultSets(db *sql.DB, q string) ([][][]string, error) {
	rows, err := db.Query(q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][][]string
	for {
		cols, _ := rows.Columns()
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var set [][]string
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return out, err
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				row[i] = string(v)
			}
			set = append(set, row)
		}
		if err := rows.Err(); err != nil {
			return out, err
		}
		out = append(out, set)
		if !rows.NextResultSet() {
			break
		}
	}
	return out, rows.Err()
}

// execLabel is how the audit log names an EXECUTE: "statement <id>: <sql>".
var execLabel = regexp.MustCompile(`^statement [1-9][0-9]*: `)
