package e2e

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rrproxy/rrproxy/auditlog"
)

// The audit trail is complete when the replica itself, in its general
// query log, never saw the proxy's service account run a statement that
// the audit log did not announce first. This test drives mixed traffic
// through rrproxy from concurrent clients, then holds the two logs
// against each other:
//
//   - upstream → audit: every command the service account ran for a
//     client (general_log command_type Query, Init DB, Field List,
//     Prepare, Execute, Reset stmt) has an audit record with
//     rrproxy.phase "intent" on the same upstream connection
//     (rrproxy.upstream_connection_id = general_log thread_id) carrying
//     the text that was sent (rrproxy.statement, or
//     rrproxy.rewritten_statement when the proxy rewrote it, with the
//     pseudonyms' ordering key replaced by the placeholder the log
//     records in its place; for
//     EXECUTE, the prepared text with the recorded parameter values put
//     in, which must equal what the server logged), and that record's
//     @timestamp is not after the general log's event_time (both have
//     microseconds; the intent is written (with sync batch, staged
//     where a killed process keeps it, and on disk within the sync
//     interval) before the command is sent, so equal is the closest they
//     may be).
//     The database a client names in its login handshake counts as a
//     client's Init DB: the proxy selects it on the client's behalf;
//   - audit → upstream: every intent reached the upstream (it has a
//     general_log row), or its outcome record says the upstream failed.
//     MariaDB 10.11 does not log COM_STMT_FETCH or COM_RESET_CONNECTION:
//     their intents are counted, not confirmed (a FETCH must follow a
//     confirmed EXECUTE of its statement on the same connection);
//   - the audit log verifies (auditlog.Verify).
//
// Matching is one to one and per connection: an intent is used once, by
// the latest command that it precedes. How MariaDB logs some commands
// differs from what was sent: a refused Init DB is logged as the error
// text naming the database, a USE statement the server refuses is
// logged as the Query and then as such an Init DB, and a Field List as
// "<table> <wildcard>".
//
// What the service account runs on its own account, not a client's, is
// recognised by exact text and position and listed, never matched
// loosely:
//
//   - "SELECT CONNECTION_ID(), @@SESSION.sql_mode": the first query of
//     every pooled connection (proxy/upstream.go dial), to learn the id
//     the audit log records and to vet sql_mode;
//   - "SET NAMES utf8mb4, SESSION sql_mode = '<mode>'": after every
//     COM_RESET_CONNECTION, the proxy's or a client's (proxy/upstream.go
//     reset): the reset took the session's variables from the global
//     ones, and the session gets back the sql_mode vetted at dial;
//   - "SELECT NULL INTO @rrproxy_found_rows_reset": right after that, so
//     that FOUND_ROWS() does not carry the previous user's row count;
//   - "SET NAMES <charset>": brings a pooled connection to the client's
//     handshake character set (attach, and after COM_RESET_CONNECTION);
//   - "SET SESSION max_statement_time = <s>": the user's
//     limits.max_execution_time, enforced by the server (limits.go);
//   - "KILL QUERY <id>": the proxy's own timer stopping a statement the
//     server did not stop, from a connection of its own; it must name a
//     connection that has a kill-query audit record;
//   - SELECT ... FROM information_schema.COLUMNS / STATISTICS / VIEWS /
//     ROUTINES with the proxy's exact templates: catalog lookups the
//     authorisation decision needs (catalog.go). They read only catalog
//     metadata, their answers never reach the client, and the decision
//     they feed is itself audited;
//   - "Reset connection" not announced by a client's reset_connection
//     intent: the proxy cleaning a connection before the pool hands it
//     to the next person (session close), at most once per session that
//     held the connection.
//
// Commands matched to no intent record, by design, and why they are not
// statements (Ping, Statistics, Close stmt and Long Data each have a
// `command` record written before they are forwarded, which this test
// does not pair; audit_commands_test.go and longdata_test.go check
// those):
//
//   - Connect, Quit: the pool's own connections opening and closing;
//   - Ping (COM_PING, client's or the pool's liveness check): no data;
//   - Statistics (COM_STATISTICS): not expected any more, since rrproxy
//     answers it itself (proxy/session.go statistics); kept here so that
//     the pool's own use of it would not be counted against the log;
//   - Close stmt (COM_STMT_CLOSE): frees a prepared statement, reads
//     nothing, has no reply;
//   - Long Data (COM_STMT_SEND_LONG_DATA): a parameter value for a later
//     Execute, which is itself announced.
//
// Anything else in the general log fails the test.
//
// The service account here is a copy of rr_service with the same grants
// and password under another name, so that rows of other rigs (other
// tests, other packages, other developers on the same server) cannot be
// mistaken for this rig's.

const glUser = "rr_gl_audit"

// rounds is how often each client repeats its statements.
const rounds = 4

func TestAuditCompleteAgainstGeneralLog(t *testing.T) {
	pol := leakWorld(t) // trial schema: masks, probes, views, a time limit
	root := direct(t)
	copyServiceAccount(t, root, glUser)
	since := generalLogOn(t, root)

	r := startRig(t, rigOpts{requireTLS: true, policy: pol, maxOpen: 12, upstreamUser: glUser, upstreamPassword: svcPassword})
	driveMixedTraffic(t, r)

	// Every session ends (its reset and disconnect record included) and
	// the pool closes before the logs are compared.
	r.endSessions(t)
	if err := r.audit.Close(); err != nil {
		t.Fatal(err)
	}
	rows := readGeneralLog(t, root, glUser, since)
	recs := readAuditTrail(t, r.path)
	res := compareLogs(rows, recs)
	t.Logf("general log: %d rows from %d upstream connections; audit log: %d records, %d intents", len(rows), res.threads, len(recs), res.intents)
	t.Logf("matched to an intent: %v", res.matched)
	t.Logf("proxy-internal: %v", res.internal)
	t.Logf("forwarded without a statement record (not statements): %v", res.excluded)
	t.Logf("intents of commands MariaDB does not log: %v", res.unobservable)
	t.Logf("denied (never sent): %d, probes (sent in the hidden object's place): %d, rewritten: %d, multi-statement: %d, upstream errors: %d",
		res.denied, res.probes, res.rewritten, res.multi, res.upstreamErrors)

	// The traffic must have exercised what the comparison is about, or a
	// pass would mean nothing.
	for _, cmd := range []string{"Query", "Init DB", "Field List", "Prepare", "Execute", "Reset stmt"} {
		if res.matched[cmd] == 0 {
			t.Errorf("no %s from a client reached the upstream: the traffic does not cover it", cmd)
		}
	}
	for _, cmd := range []string{"stmt_fetch", "reset_connection"} {
		if res.unobservable[cmd] == 0 {
			t.Errorf("no %s intent: the traffic does not cover it", cmd)
		}
	}
	for _, kind := range []string{"pool probe", "reset restore", "SET NAMES", "max_statement_time", "catalog"} {
		if res.internal[kind] == 0 {
			t.Errorf("no proxy-internal %s seen: the traffic does not cover it", kind)
		}
	}
	if res.denied < 20 || res.probes < 10 || res.rewritten == 0 || res.multi < 2*rounds || res.upstreamErrors == 0 {
		t.Error("traffic too narrow")
	}

	t.Run("every upstream statement has an intent", func(t *testing.T) {
		for _, m := range res.unmatched {
			t.Error(m)
		}
	})
	t.Run("every intent precedes its upstream statement", func(t *testing.T) {
		for _, m := range res.late {
			t.Error(m)
		}
	})
	t.Run("every intent reached the upstream or failed there", func(t *testing.T) {
		for _, m := range res.unsent {
			t.Error(m)
		}
	})
	t.Run("every EXECUTE record names the values that ran", func(t *testing.T) {
		for _, m := range res.params {
			t.Error(m)
		}
	})
	// The comparison itself must notice a missing or late intent.
	t.Run("the comparison notices a missing or late intent", func(t *testing.T) {
		var victim *auditRec
		for _, a := range recs {
			if a.phase == "intent" && a.command == "query" && a.rewritten == "" && strings.HasPrefix(a.stmt, "SHOW COLUMNS") {
				victim = a
				break
			}
		}
		if victim == nil {
			t.Fatal("no SHOW COLUMNS intent in the log")
		}
		var without []*auditRec
		for _, a := range recs {
			if a != victim {
				without = append(without, a)
			}
		}
		if got := compareLogs(rows, without); len(got.unmatched) != len(res.unmatched)+1 {
			t.Errorf("with intent %d removed: %d unmatched statements, want %d", victim.seq, len(got.unmatched), len(res.unmatched)+1)
		}
		moved := *victim
		for _, r := range rows {
			if r.thread == victim.upstream && r.cmd == "Query" && r.arg == victim.stmt && r.at >= victim.at {
				moved.at = r.at + 1
				break
			}
		}
		if got := compareLogs(rows, append(without, &moved)); len(got.late) != len(res.late)+1 {
			t.Errorf("with intent %d written 1µs after its statement ran: %d late, want %d", victim.seq, len(got.late), len(res.late)+1)
		}
	})
	t.Run("the audit log verifies", func(t *testing.T) {
		sum, err := auditlog.Verify([]string{r.path}, auditlog.VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := sum.Chains[0]; len(sum.Chains) != 1 || !c.Stopped || c.Records != len(recs) {
			t.Fatalf("summary: %s", sum)
		}
	})
}

// copyServiceAccount creates name with rr_service's password and grants,
// dropped again when the test ends.
func copyServiceAccount(t *testing.T, root *sql.DB, name string) {
	t.Helper()
	grants, err := root.Query(fmt.Sprintf("SHOW GRANTS FOR '%s'@'%%'", svcUser))
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for grants.Next() {
		var g string
		if err := grants.Scan(&g); err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, strings.ReplaceAll(g, "`"+svcUser+"`@", "`"+name+"`@"))
	}
	if err := grants.Err(); err != nil {
		t.Fatal(err)
	}
	drop := fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name)
	stmts = append([]string{drop, fmt.Sprintf("CREATE USER '%s'@'%%'", name)}, stmts...)
	for _, s := range stmts {
		if _, err := root.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() { root.Exec(drop) })
}

// generalLogOn turns MariaDB's general query log on, into the
// mysql.general_log table, until the test ends, and returns the server's
// clock at that moment (µs since the epoch): rows of earlier runs are
// older.
func generalLogOn(t *testing.T, root *sql.DB) int64 {
	t.Helper()
	var on int
	var output string
	if err := root.QueryRow("SELECT @@GLOBAL.general_log, @@GLOBAL.log_output").Scan(&on, &output); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := root.Exec(fmt.Sprintf("SET GLOBAL general_log = %d", on)); err != nil {
			t.Errorf("restore general_log: %v", err)
		}
		if _, err := root.Exec("SET GLOBAL log_output = ?", output); err != nil {
			t.Errorf("restore log_output: %v", err)
		}
	})
	// TABLE in addition to whatever was configured, so a server that
	// logs to a file keeps doing so.
	want := "TABLE"
	if output != "" && !strings.Contains(output, "TABLE") && output != "NONE" {
		want = output + ",TABLE"
	}
	if _, err := root.Exec("SET GLOBAL log_output = ?", want); err != nil {
		t.Fatal(err)
	}
	var since string
	if err := root.QueryRow("SELECT UNIX_TIMESTAMP(NOW(6))").Scan(&since); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Exec("SET GLOBAL general_log = 1"); err != nil {
		t.Fatal(err)
	}
	return microsOf(t, since)
}

func microsOf(t *testing.T, unix string) int64 {
	sec, frac, _ := strings.Cut(unix, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	frac = (frac + "000000")[:6]
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("timestamp %q", unix)
	}
	return s*1e6 + f
}

type glRow struct {
	n      int   // position in the log
	idx    int   // position among its connection's rows
	at     int64 // event_time, µs since the epoch
	thread uint32
	cmd    string
	arg    string
}

func readGeneralLog(t *testing.T, root *sql.DB, user string, since int64) []glRow {
	t.Helper()
	// The CSV table returns rows in the order they were logged.
	rows, err := root.Query(`SELECT UNIX_TIMESTAMP(event_time), thread_id, command_type, CAST(argument AS BINARY)
		FROM mysql.general_log WHERE user_host LIKE ?`, user+"[%")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []glRow
	for n := 0; rows.Next(); n++ {
		var ts string
		var row glRow
		var arg []byte
		if err := rows.Scan(&ts, &row.thread, &row.cmd, &arg); err != nil {
			t.Fatal(err)
		}
		// The audit log records the pseudonyms' ordering key as a
		// placeholder (authz.Policy.RecordedSQL; docs/audit-format.md):
		// the server's copy gets the same substitution, and nothing else.
		text := orderKeyRE.ReplaceAllString(string(arg), "SHA2(CONCAT('<rrproxy pseudonym order key>'")
		row.n, row.at, row.arg = n, microsOf(t, ts), text
		if row.at >= since {
			out = append(out, row)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("the general log has no rows of the proxy's service account")
	}
	return out
}

type auditRec struct {
	seq                      uint64
	at                       int64 // @timestamp, µs since the epoch
	action, phase, command   string
	stmt, rewritten, outcome string
	kinds, params            []string
	upstream, session        uint32
	intentSeq                uint64
	errCode                  int64
	database                 string
}

// sent is the text the proxy sent upstream for an intent.
func (a *auditRec) sent() string {
	if a.rewritten != "" {
		return a.rewritten
	}
	return a.stmt
}

func (a *auditRec) String() string {
	return fmt.Sprintf("audit seq %d (%s %s %s, session %d, upstream %d, %s) %q", a.seq, a.action, a.phase, a.command,
		a.session, a.upstream, time.UnixMicro(a.at).UTC().Format("15:04:05.000000"), a.sent())
}

func readAuditTrail(t *testing.T, path string) []*auditRec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*auditRec
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		str := func(k string) string { s, _ := m[k].(string); return s }
		num := func(k string) int64 { n, _ := m[k].(json.Number); v, _ := n.Int64(); return v }
		ts, err := time.Parse(time.RFC3339Nano, str("@timestamp"))
		if err != nil {
			t.Fatalf("record %d: @timestamp: %v", num("event.sequence"), err)
		}
		a := &auditRec{seq: uint64(num("event.sequence")), at: ts.UnixMicro(), action: str("event.action"),
			phase: str("rrproxy.phase"), command: str("rrproxy.command"), stmt: str("rrproxy.statement"),
			rewritten: str("rrproxy.rewritten_statement"), outcome: str("event.outcome"),
			upstream: uint32(num("rrproxy.upstream_connection_id")), session: uint32(num("rrproxy.session_id")),
			intentSeq: uint64(num("rrproxy.intent_sequence")), errCode: num("error.code"),
			database: str("rrproxy.database")}
		strs := func(k string) []string {
			var out []string
			vs, _ := m[k].([]any)
			for _, v := range vs {
				s, _ := v.(string)
				out = append(out, s)
			}
			return out
		}
		a.kinds, a.params = strs("rrproxy.statement_kinds"), strs("rrproxy.parameters")
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// hexName is a name as catalog.go sends it: a utf8mb4 hex literal.
const hexName = `_utf8mb4 X'(?:[0-9a-f]{2})*'`

// The proxy's own statements, by exact template.
var (
	poolProbe     = "SELECT CONNECTION_ID(), @@SESSION.sql_mode"
	foundRowsNull = "SELECT NULL INTO @rrproxy_found_rows_reset"
	resetRestore  = regexp.MustCompile(`^SET NAMES utf8mb4, SESSION sql_mode = '[A-Z0-9_,]*'$`)
	setNamesRE    = regexp.MustCompile(`^SET NAMES [a-z0-9]+$`)
	timeLimitRE   = regexp.MustCompile(`^SET SESSION max_statement_time = [0-9]+\.[0-9]{3}$`)
	killQueryRE   = regexp.MustCompile(`^KILL QUERY ([0-9]+)$`)
	catalogLookup = regexp.MustCompile(`^SELECT (CAST\(COLUMN_NAME AS BINARY\) FROM information_schema\.COLUMNS WHERE TABLE_SCHEMA = ` + hexName + ` AND TABLE_NAME = ` + hexName + ` ORDER BY ORDINAL_POSITION LIMIT 4096` +
		`|CAST\(INDEX_NAME AS BINARY\), CAST\(COLUMN_NAME AS BINARY\) FROM information_schema\.STATISTICS WHERE TABLE_SCHEMA = ` + hexName + ` AND TABLE_NAME = ` + hexName + ` ORDER BY INDEX_NAME, SEQ_IN_INDEX LIMIT 4096` +
		`|CAST\(VIEW_DEFINITION AS BINARY\) FROM information_schema\.VIEWS WHERE TABLE_SCHEMA = ` + hexName + ` AND TABLE_NAME = ` + hexName + ` LIMIT 1` +
		`|CAST\(ROUTINE_NAME AS BINARY\) FROM information_schema\.ROUTINES WHERE ROUTINE_SCHEMA = ` + hexName + ` AND ROUTINE_NAME = ` + hexName + ` AND ROUTINE_TYPE = 'FUNCTION' LIMIT 1` +
		// The same lookups with names compared in lower case, when the
		// exact name found nothing (proxy/catalog.go cachedFold).
		`|CAST\(TABLE_SCHEMA AS BINARY\), CAST\(TABLE_NAME AS BINARY\), (CAST\(COLUMN_NAME AS BINARY\) FROM information_schema\.COLUMNS|CAST\(INDEX_NAME AS BINARY\), CAST\(COLUMN_NAME AS BINARY\) FROM information_schema\.STATISTICS|CAST\(VIEW_DEFINITION AS BINARY\) FROM information_schema\.VIEWS)` +
		` WHERE LOWER\(TABLE_SCHEMA\) = ` + hexName + ` AND LOWER\(TABLE_NAME\) = ` + hexName + ` ORDER BY TABLE_SCHEMA, TABLE_NAME(, ORDINAL_POSITION|, INDEX_NAME, SEQ_IN_INDEX)? LIMIT [0-9]+)$`)
)

type comparison struct {
	threads, intents                 int
	matched, internal, excluded      map[string]int
	unobservable                     map[string]int // intents of commands MariaDB does not log
	denied, probes, rewritten, multi int
	upstreamErrors                   int
	unmatched, late, unsent, params  []string
}

// deniedInitDB is how MariaDB logs a COM_INIT_DB it refuses: the error
// in place of the database name.
var deniedInitDB = regexp.MustCompile(`^Access denied for user '[^']*'@'[^']*' to database '(.*)'$`)

func compareLogs(rows []glRow, recs []*auditRec) *comparison {
	res := &comparison{matched: map[string]int{}, internal: map[string]int{}, excluded: map[string]int{}, unobservable: map[string]int{}}
	intents := map[uint32][]*auditRec{} // per upstream connection, in sequence order
	used := map[uint64]bool{}
	outcomes := map[uint64]*auditRec{}
	killed := map[uint32]bool{}
	sessionsOn := map[uint32]map[uint32]bool{} // upstream -> sessions that held it
	logins := map[uint32][]*auditRec{}
	for _, a := range recs {
		if a.upstream != 0 {
			if sessionsOn[a.upstream] == nil {
				sessionsOn[a.upstream] = map[uint32]bool{}
			}
			sessionsOn[a.upstream][a.session] = true
		}
		switch {
		case a.phase == "intent":
			res.intents++
			intents[a.upstream] = append(intents[a.upstream], a)
			if a.rewritten != "" {
				res.rewritten++
			}
			if len(a.kinds) == 1 && a.kinds[0] == "probe" {
				res.probes++
			}
			if a.command == "query" && strings.Contains(a.sent(), ";") {
				res.multi++
			}
		case a.phase == "outcome":
			outcomes[a.intentSeq] = a
			if a.errCode != 0 {
				res.upstreamErrors++
			}
		case a.phase == "denied":
			res.denied++
		case a.action == "kill-query":
			killed[a.upstream] = true
		case a.action == "login" && a.outcome == "success":
			logins[a.upstream] = append(logins[a.upstream], a)
		}
	}
	// preparedText is what the proxy prepared upstream for the statement
	// an EXECUTE or FETCH record names ("statement N: <client's SQL>"):
	// the sent text of that session's latest PREPARE intent of that SQL.
	preparedText := func(a *auditRec) (string, bool) {
		_, sql, ok := strings.Cut(a.stmt, ": ")
		if !ok {
			return "", false
		}
		text, found := "", false
		for _, p := range intents[a.upstream] {
			if p.seq < a.seq && p.session == a.session && p.command == "prepare" && p.stmt == sql && used[p.seq] {
				text, found = p.sent(), true
			}
		}
		return text, found
	}
	executed := map[uint32]map[string]uint64{} // upstream -> "statement N" -> seq of its matched EXECUTE intent

	byThread := map[uint32][]glRow{}
	for _, r := range rows {
		r.idx = len(byThread[r.thread])
		byThread[r.thread] = append(byThread[r.thread], r)
	}
	res.threads = len(byThread)
	threads := make([]uint32, 0, len(byThread))
	for th := range byThread {
		threads = append(threads, th)
	}
	sort.Slice(threads, func(i, j int) bool { return threads[i] < threads[j] })
	at := func(us int64) string { return time.UnixMicro(us).UTC().Format("15:04:05.000000") }

	for _, th := range threads {
		var (
			queries     int    // Query rows so far on this connection
			lastSeq     uint64 // the intent matched to the previous client command
			lastMatched *auditRec
			resets      int // the proxy's own resets
		)
		// take finds the intent of a command the server logged: the
		// latest unused intent on this connection of that command, whose
		// text is what the server ran, written before the server logged
		// it. An intent written only afterwards is reported as late.
		take := func(r glRow, command string, ok func(*auditRec) bool) *auditRec {
			var best *auditRec
			for _, a := range intents[th] {
				if a.at <= r.at && !used[a.seq] && a.command == command && ok(a) {
					best = a
				}
			}
			if best == nil {
				// A late intent is still written before the connection's
				// next command: commands on one connection are serial.
				next := int64(1<<63 - 1)
				if i := r.idx + 1; i < len(byThread[th]) {
					next = byThread[th][i].at
				}
				for _, a := range intents[th] {
					if a.at > r.at && a.at < next && !used[a.seq] && a.command == command && ok(a) {
						used[a.seq] = true
						res.late = append(res.late, fmt.Sprintf("%s was written %dµs after the upstream ran it (%s %q at %s)",
							a, a.at-r.at, r.cmd, r.arg, at(r.at)))
						return a
					}
				}
				return nil
			}
			used[best.seq] = true
			res.matched[r.cmd]++
			if best.seq < lastSeq {
				res.late = append(res.late, fmt.Sprintf("%s matched out of order on upstream %d (after seq %d)", best, th, lastSeq))
			}
			lastSeq, lastMatched = best.seq, best
			return best
		}
		sentIs := func(text string) func(*auditRec) bool {
			return func(a *auditRec) bool { return a.sent() == text }
		}
		unmatched := func(r glRow, why string) {
			res.unmatched = append(res.unmatched, fmt.Sprintf("upstream %d ran %s %q at %s with no intent record: %s",
				th, r.cmd, r.arg, at(r.at), why))
		}
		for i, r := range byThread[th] {
			// prev is the intent matched by the connection's previous
			// command, if any.
			prev := lastMatched
			lastMatched = nil
			switch r.cmd {
			case "Connect":
				if i != 0 {
					unmatched(r, "a second Connect on one connection")
				}
				res.excluded[r.cmd]++
			case "Quit", "Ping", "Statistics", "Close stmt", "Long Data":
				res.excluded[r.cmd]++
			case "Query":
				queries++
				switch {
				case queries == 1 && r.arg == poolProbe:
					res.internal["pool probe"]++
				case take(r, "query", sentIs(r.arg)) != nil:
				case setNamesRE.MatchString(r.arg):
					res.internal["SET NAMES"]++
				case (resetRestore.MatchString(r.arg) || r.arg == foundRowsNull) && queries > 1:
					res.internal["reset restore"]++
				case timeLimitRE.MatchString(r.arg):
					res.internal["max_statement_time"]++
				case catalogLookup.MatchString(r.arg):
					res.internal["catalog"]++
				case killQueryRE.MatchString(r.arg):
					id, _ := strconv.ParseUint(killQueryRE.FindStringSubmatch(r.arg)[1], 10, 32)
					if !killed[uint32(id)] {
						unmatched(r, "a KILL QUERY with no kill-query record for that connection")
					}
					res.internal["KILL QUERY"]++
				default:
					unmatched(r, "no query intent with this text on this connection")
				}
			case "Init DB":
				db := r.arg
				m := deniedInitDB.FindStringSubmatch(r.arg)
				if m != nil {
					db = m[1]
				}
				if take(r, "init_db", sentIs(db)) != nil {
					continue
				}
				// A USE statement the server refuses is logged twice: as
				// the Query, then as this Init DB with the error.
				if m != nil && prev != nil && prev.command == "query" && useOf(prev.sent()) == db {
					res.matched["Init DB (a refused USE)"]++
					continue
				}
				why := "no init_db intent with this database on this connection"
				for _, l := range logins[th] {
					if l.database == db && l.at >= r.at {
						why = fmt.Sprintf("the database was asked for in the login handshake; the proxy sent COM_INIT_DB before writing "+
							"any record of it, and only the login record (seq %d, %dµs later) names it", l.seq, l.at-r.at)
						break
					}
				}
				unmatched(r, why)
			case "Field List":
				// MariaDB logs "<table> <wildcard>"; the intent is the
				// table, or a probe's placeholder, NUL, the wildcard.
				if take(r, "field_list", func(a *auditRec) bool {
					name, _, _ := strings.Cut(a.sent(), "\x00")
					return r.arg == name || strings.HasPrefix(r.arg, name+" ")
				}) == nil {
					unmatched(r, "no field_list intent for this table on this connection")
				}
			case "Prepare":
				if take(r, "prepare", sentIs(r.arg)) == nil {
					unmatched(r, "no prepare intent with this text on this connection")
				}
			case "Execute":
				// The server logs the prepared text with the values
				// inlined; the intent names the statement and its values.
				a := take(r, "stmt_execute", func(a *auditRec) bool {
					p, ok := preparedText(a)
					return ok && instanceOf(r.arg, p)
				})
				if a == nil {
					unmatched(r, "no stmt_execute intent on this connection for a statement prepared with this text")
					continue
				}
				label, _, _ := strings.Cut(a.stmt, ": ")
				if executed[th] == nil {
					executed[th] = map[string]uint64{}
				}
				executed[th][label] = a.seq
				p, _ := preparedText(a)
				// Values sent with COM_STMT_SEND_LONG_DATA are in the record
				// too, and compared like any other.
				if want := inline(p, a.params); want != r.arg {
					res.params = append(res.params, fmt.Sprintf("%s with parameters %q: the upstream ran %q", a, a.params, r.arg))
				}
			case "Fetch":
				if take(r, "stmt_fetch", func(*auditRec) bool { return true }) == nil {
					unmatched(r, "no stmt_fetch intent on this connection")
				}
			case "Reset stmt":
				if take(r, "stmt_reset", func(*auditRec) bool { return true }) == nil {
					unmatched(r, "no stmt_reset intent on this connection")
				}
			case "Reset connection":
				if take(r, "reset_connection", func(*auditRec) bool { return true }) != nil {
					continue
				}
				// The proxy's own reset when a session ends, before the
				// pool reuses the connection: one per session that held it.
				resets++
				res.internal["pool reset"]++
				if resets > len(sessionsOn[th]) {
					unmatched(r, fmt.Sprintf("more resets (%d) than sessions that held this connection (%d)", resets, len(sessionsOn[th])))
				}
			default:
				unmatched(r, "a command this test does not know")
			}
		}
	}
	// Every intent reached the upstream: it has its general_log row, or
	// the upstream answered it with an error (its outcome says so). Two
	// commands never appear in MariaDB 10.11's general log, so the log
	// cannot confirm them; they are counted, not assumed:
	// COM_STMT_FETCH, which must then fetch from a cursor that an
	// earlier, confirmed EXECUTE of the same statement opened on the same
	// connection, and COM_RESET_CONNECTION.
	for _, as := range intents {
		for _, a := range as {
			if used[a.seq] {
				continue
			}
			switch a.command {
			case "stmt_fetch":
				label, _, _ := strings.Cut(a.stmt, ": ")
				if e, ok := executed[a.upstream][label]; ok && e < a.seq {
					res.unobservable[a.command]++
					continue
				}
			case "reset_connection":
				res.unobservable[a.command]++
				continue
			}
			if o := outcomes[a.seq]; o != nil && o.errCode != 0 {
				continue
			}
			o := "no outcome record"
			if oc := outcomes[a.seq]; oc != nil {
				o = fmt.Sprintf("outcome seq %d: %s", oc.seq, oc.outcome)
			}
			res.unsent = append(res.unsent, fmt.Sprintf("%s has no general_log row and %s", a, o))
		}
	}
	sort.Strings(res.unsent)
	return res
}

var useRE = regexp.MustCompile("(?i)^\\s*USE\\s+`?([^`]*)`?\\s*;?\\s*$")

// useOf returns the database a USE statement names, or "".
func useOf(stmt string) string {
	if m := useRE.FindStringSubmatch(stmt); m != nil {
		return m[1]
	}
	return ""
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// instanceOf reports whether executed is prepared with its ?
// placeholders replaced by values.
func instanceOf(executed, prepared string) bool {
	parts := strings.Split(prepared, "?")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile(`^(?s:` + strings.Join(parts, `.*?`) + `)$`).MatchString(executed)
}

// inline puts params in place of prepared's ? placeholders, as the
// server does for its log.
func inline(prepared string, params []string) string {
	var b strings.Builder
	parts := strings.Split(prepared, "?")
	for i, p := range parts {
		b.WriteString(p)
		if i < len(parts)-1 {
			if i < len(params) {
				b.WriteString(params[i])
			} else {
				b.WriteString("?")
			}
		}
	}
	return b.String()
}

// driveMixedTraffic runs several clients at once: go-sql-driver in text
// and binary protocol, multi-statements, the mariadb CLI, raw protocol
// commands (COM_INIT_DB, COM_FIELD_LIST, cursors, COM_STMT_RESET,
// COM_RESET_CONNECTION, COM_STATISTICS, long data), denied statements
// and probes for hidden objects.
func driveMixedTraffic(t *testing.T, r *rig) {
	var wg sync.WaitGroup
	defer wg.Wait()
	client := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	// Text protocol: plain, rewritten (SELECT * expanded, masks), SHOW.
	client("mona text", func() error {
		db := r.open("mona", monaPW, "trial")
		db.SetMaxOpenConns(1)
		for i := 0; i < rounds; i++ {
			for _, q := range []string{
				fmt.Sprintf("SELECT visit_id, visit_name FROM visits WHERE visit_id = %d", 3+i),
				fmt.Sprintf("SELECT * FROM visits WHERE visit_id < %d", 5+i),
				"SELECT subject_id, initials, birth_year FROM subjects WHERE site_id = 2",
				"SHOW TABLES", "SHOW COLUMNS FROM visits", "SHOW DATABASES",
			} {
				if err := drain(db.Query(q)); err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
		}
		return nil
	})
	// Binary protocol through go-sql-driver: PREPARE, EXECUTE, CLOSE.
	client("mona prepared", func() error {
		db := r.open("mona", monaPW, "trial", "interpolateParams=false")
		db.SetMaxOpenConns(1)
		st, err := db.Prepare("SELECT visit_name, systolic_bp FROM visits WHERE visit_id = ?")
		if err != nil {
			return err
		}
		defer st.Close()
		for i := 0; i < rounds; i++ {
			if err := drain(st.Query(10 + i)); err != nil {
				return err
			}
			if err := drain(db.Query("SELECT * FROM subjects WHERE site_id = ? AND sex = ?", 1+i, "F")); err != nil {
				return err
			}
		}
		return nil
	})
	// Refused statements and probes for hidden objects; an upstream error.
	client("mona denied", func() error {
		db := r.open("mona", monaPW, "trial")
		db.SetMaxOpenConns(1)
		for i := 0; i < rounds; i++ {
			for _, q := range []string{
				"SELECT treatment_arm FROM visits",          // withheld column: probe
				"SELECT * FROM secret_unblinding",           // withheld table: probe
				"SELECT * FROM vault_q7x.payroll_k9",        // ungranted schema: probe
				"DELETE FROM visits WHERE visit_id = 1",     // not a read
				"SELEC visit_id FROM visits",                // does not parse
				"SELECT SLEEP(1)",                           // refused function
				"PREPARE s1 FROM 'SELECT 1'",                // dynamic SQL
				"SELECT visit_id FROM visits; DROP TABLE x", // multi-statements off
				"SELECT no_such_col FROM visits",            // unknown column
				"SELECT visit_id FROM no_such_table",        // unknown table
			} {
				_ = drain(db.Query(q)) // refused or answered like a missing object
			}
		}
		return nil
	})
	client("mona multi", func() error {
		db := r.open("mona", monaPW, "trial", "multiStatements=true")
		db.SetMaxOpenConns(1)
		for i := 0; i < rounds; i++ {
			for _, q := range []string{
				"SELECT COUNT(*) FROM visits; SELECT COUNT(*) FROM subjects WHERE site_id = 3",
				"SELECT visit_name FROM visits WHERE visit_id = 9; SELECT visit_date FROM visits WHERE visit_id = 10",
				"USE trial; SELECT 1", // refused: USE must be a statement of its own
				"USE vault_q7x",       // probe
			} {
				rows, err := db.Query(q)
				if err == nil {
					for {
						for rows.Next() {
						}
						if !rows.NextResultSet() {
							break
						}
					}
					err = rows.Close()
				}
				if err != nil && !strings.HasPrefix(q, "USE") {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
		}
		return nil
	})
	// Views (catalog lookups of view definitions), and a statement the
	// service account may not run: the upstream refuses it.
	client("vera views", func() error {
		db := r.open("vera", veraPW, "trialv")
		db.SetMaxOpenConns(1)
		for i := 0; i < rounds; i++ {
			if err := drain(db.Query("SELECT * FROM visit_dates WHERE visit_id < 4")); err != nil {
				return err
			}
			_ = drain(db.Query("SELECT * FROM unblinding"))               // view over a denied table
			_ = drain(db.Query("SELECT COUNT(*) FROM trial_noacc.notes")) // upstream says no
		}
		return nil
	})
	// A user with a time limit: SET SESSION max_statement_time at attach,
	// and a statement the server stops.
	client("tim limited", func() error {
		db := r.open("tim", timPW, "trial")
		db.SetMaxOpenConns(1)
		if err := drain(db.Query("SELECT COUNT(*) FROM visits")); err != nil {
			return err
		}
		_ = drain(db.Query("SELECT COUNT(*) FROM seq_1_to_100000 a JOIN seq_1_to_100000 b ON a.seq + b.seq = 3"))
		return nil
	})
	// The mariadb CLI with the database in the handshake and --force.
	client("mariadb CLI", func() error {
		script := strings.Join([]string{
			"SELECT COUNT(*) FROM visits;", "SHOW TABLES;", "SELECT * FROM secret_unblinding;", "USE trial;",
			"SELECT visit_name FROM visits WHERE visit_id = 7;", "SELEC 1;", "SELECT * FROM subjects LIMIT 2;",
		}, "\n")
		for i := 0; i < 2; i++ {
			host, port, _ := strings.Cut(r.addr, ":")
			cmd := exec.Command("mariadb", "--no-defaults", "-h"+host, "-P"+port, "-umona", "-p"+monaPW, "--ssl", "--ssl-ca="+certs.CA,
				"--batch", "--force", "trial")
			cmd.Stdin = strings.NewReader(script)
			out, _ := cmd.CombinedOutput() // exits 1: two statements fail
			if !strings.Contains(string(out), "Week 8") {
				return fmt.Errorf("CLI output:\n%s", out)
			}
		}
		return nil
	})
	rawCommands(t, r)
}

// drain reads a result to its end.
func drain(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return rows.Close()
}

// rawCommands sends, on one raw connection, the commands drivers rarely
// use. It runs on the test goroutine (the raw helpers call t.Fatal).
func rawCommands(t *testing.T, r *rig) {
	c := rawConn(t, r, "mona", monaPW, "")
	for i := 0; i < 2; i++ {
		if err := c.UseDB("trial"); err != nil {
			t.Fatal(err)
		}
		if err := c.UseDB("vault_q7x"); err == nil {
			t.Fatal("COM_INIT_DB of an ungranted schema succeeded")
		}
		if _, err := c.FieldList("visits", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := c.FieldList("secret_unblinding", ""); err == nil {
			t.Fatal("COM_FIELD_LIST of a withheld table succeeded")
		}
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		command(t, c, mysql.COM_STATISTICS)
		read(t, c)
		// A cursor: EXECUTE with CURSOR_TYPE_READ_ONLY, FETCHes, RESET.
		id := mustPrepare(t, c, "SELECT visit_id, subject_id FROM visits WHERE visit_id < 30")
		if len(cursorFetchAll(t, c, id, 7)) < 30 {
			t.Fatal("cursor returned too little")
		}
		reset := []byte{mysql.COM_STMT_RESET, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(reset[1:], id)
		command(t, c, reset...)
		if p := read(t, c); p[0] != mysql.OK_HEADER {
			t.Fatalf("stmt reset: % x", p)
		}
		// A parameter sent as long data.
		lid := mustPrepare(t, c, "SELECT LENGTH(?)")
		ld := []byte{mysql.COM_STMT_SEND_LONG_DATA, 0, 0, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(ld[1:5], lid)
		command(t, c, append(ld, "long-data-value"...)...)
		exec := []byte{mysql.COM_STMT_EXECUTE, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0 /* null bitmap */, 1, mysql.MYSQL_TYPE_BLOB, 0}
		binary.LittleEndian.PutUint32(exec[1:5], lid)
		command(t, c, exec...)
		if p := readUntilEOF(t, c); p[0][0] == mysql.ERR_HEADER {
			t.Fatalf("long data execute: %q", p[0])
		} else {
			readUntilEOF(t, c) // the row, EOF
		}
		for _, id := range []uint32{id, lid} {
			cl := []byte{mysql.COM_STMT_CLOSE, 0, 0, 0, 0}
			binary.LittleEndian.PutUint32(cl[1:], id)
			command(t, c, cl...)
		}
		command(t, c, mysql.COM_RESET_CONNECTION)
		if p := read(t, c); p[0] != mysql.OK_HEADER {
			t.Fatalf("reset connection: % x", p)
		}
	}
}

func mustPrepare(t *testing.T, c *client.Conn, q string) uint32 {
	t.Helper()
	id, errPkt := rawPrepare(t, c, q)
	if errPkt != nil {
		t.Fatalf("prepare %s: %q", q, errPkt)
	}
	return id
}
