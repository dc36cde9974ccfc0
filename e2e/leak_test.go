package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// A pen tester's battery against the trial schema (world_test.go), run
// as mona, who may read trial.* except what the policy withholds or
// masks. Each statement goes through the text protocol, the binary
// protocol (server-side prepared statements) and the mariadb CLI; every
// value, column title, column metadata, error and warning that comes back
// is searched for the markers and hidden names in leakTokens.

type want int

const (
	anything want = iota // may be answered or refused; either way nothing may leak
	refused              // must be refused: answering would be a leak or an oracle
	answered             // must be answered (text protocol and CLI)
	// empty: refused, or answered with no rows (for oracles whose answer
	// would echo the statement's own marker, so scanning cannot tell).
	empty
)

type probe struct {
	sql  string
	want want
}

var battery = []probe{
	// SELECT * in all its spellings: permitted columns, masked.
	{"SELECT * FROM visits", answered},
	{"SELECT * FROM trial.visits", answered},
	{"SELECT v.* FROM visits v", answered},
	{"SELECT visits.* FROM visits", answered},
	{"SELECT trial.visits.* FROM trial.visits", answered},
	{"SELECT *, visit_id FROM visits", answered},
	{"SELECT * FROM subjects", answered},
	{"SELECT * FROM visits WHERE visit_id < 5 ORDER BY visit_date DESC", answered},
	{"SELECT * FROM visits v JOIN subjects s ON v.subject_id = s.subject_id", answered},
	{"SELECT s.*, v.visit_id FROM subjects s JOIN visits v ON s.subject_id = v.subject_id", answered},
	{"SELECT * FROM visits a JOIN visits b USING (visit_id)", anything},
	{"SELECT * FROM visits NATURAL JOIN subjects", anything},
	{"SELECT * FROM visits UNION ALL SELECT * FROM visits", anything},

	// Derived tables, CTEs (recursive), CTE scoping tricks.
	{"SELECT * FROM (SELECT * FROM visits) d", anything},
	// A derived table or CTE over a table with a pseudonymised column
	// is refused unless the outer query groups or aggregates: its rows
	// would come in the order of the real identifiers (keyScanOrder).
	{"SELECT d.* FROM (SELECT visit_id, visit_name FROM visits) AS d", refused},
	{"SELECT d.visit_name, COUNT(*) FROM (SELECT visit_id, visit_name FROM visits) AS d GROUP BY d.visit_name", answered},
	{"SELECT * FROM (SELECT * FROM subjects) d", anything},
	{"WITH c AS (SELECT * FROM visits) SELECT * FROM c", anything},
	{"WITH c AS (SELECT visit_id, visit_date FROM visits) SELECT * FROM c", refused},
	{"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT r.n, v.* FROM r JOIN visits v ON v.visit_id = r.n", answered},
	{"WITH RECURSIVE r AS (SELECT visit_id, treatment_arm FROM visits WHERE visit_id = 1 UNION ALL SELECT v.visit_id, v.treatment_arm FROM visits v JOIN r ON v.visit_id = r.visit_id + 1 WHERE v.visit_id < 5) SELECT * FROM r", refused},
	{"SELECT * FROM (WITH secret_unblinding AS (SELECT 1 AS a) SELECT a FROM secret_unblinding) d JOIN secret_unblinding s", refused},
	{"WITH a AS (SELECT * FROM secret_unblinding), secret_unblinding AS (SELECT 1 AS z) SELECT * FROM a", refused},
	{"WITH secret_unblinding AS (SELECT * FROM secret_unblinding) SELECT * FROM secret_unblinding", refused},
	{"WITH visits AS (SELECT 1 AS x) SELECT * FROM trial.visits", anything},
	{"WITH v AS (SELECT 1 AS treatment_arm) SELECT treatment_arm FROM v", anything},

	// The withheld columns, named every way there is.
	{"SELECT treatment_arm FROM visits", refused},
	{"SELECT `treatment_arm` FROM visits", refused},
	{"SELECT TREATMENT_ARM FROM visits", refused},
	{"SELECT v.treatment_arm FROM visits v", refused},
	{"SELECT trial.visits.treatment_arm FROM trial.visits", refused},
	{"SELECT visit_id --treatment_arm\nFROM visits", refused},
	{"SELECT visit_id, /*!40000 treatment_arm, */ 1 FROM visits", refused},
	{"SELECT visit_id /*!50700 , treatment_arm */ FROM visits", refused},
	{"SELECT visit_id /*M!100000 , treatment_arm */ FROM visits", refused},
	{`SELECT 'a\\', treatment_arm FROM visits -- '`, refused},
	// A string ending in a backslash inside a statement the proxy
	// rewrites (a mask, CURRENT_USER()): the rewritten text must keep
	// the escape, or the server reads the rest as SQL.
	{`SELECT subject_id, 'x\\' AS a, ', subject_id AS leak FROM subjects -- ' AS b FROM subjects`, anything},
	{`SELECT initials, 'x\\' AS a, ', initials AS leak FROM subjects -- ' AS b FROM subjects`, anything},
	{`SELECT CURRENT_USER() AS u, 'x\\' AS a, ', code FROM secret_unblinding -- ' AS b`, anything},
	// A pseudonym joined to a derived table's or CTE's column named like
	// it: the join compares real values with the user's own.
	{"SELECT d.plain FROM subjects s JOIN (SELECT CONCAT('MRK-SID-', LPAD(seq, 4, '0')) AS subject_id, seq AS plain FROM seq_1_to_50) d ON s.subject_id = d.subject_id", refused},
	{"WITH d AS (SELECT CONCAT('MRK-SID-', LPAD(seq, 4, '0')) AS subject_id, seq AS plain FROM seq_1_to_50) SELECT d.plain FROM subjects s JOIN d ON s.subject_id = d.subject_id", refused},
	{`SELECT CURRENT_USER() AS u, "x\\" AS a, ", (SELECT GROUP_CONCAT(column_name) FROM information_schema.columns WHERE table_name = 'visits') AS leak -- " AS b`, anything},
	{"SELECT `a``b`, treatment_arm FROM visits", refused},
	{"SELECT diagnosis FROM subjects", refused},
	{"SELECT s.diagnosis FROM subjects s", refused},
	{"SELECT visit_id, diagnosis FROM visits JOIN subjects USING (subject_id)", refused},

	// Boolean oracles and every other use of a withheld column.
	{"SELECT COUNT(*) FROM visits WHERE treatment_arm = 'MRK-ARM-7f3a'", refused},
	{"SELECT COUNT(*) FROM visits WHERE treatment_arm <> 'MRK-ARM-7f3a'", refused},
	{"SELECT COUNT(*) FROM visits WHERE treatment_arm LIKE 'MRK%'", refused},
	{"SELECT COUNT(*) FROM visits WHERE visit_id IN (SELECT visit_id FROM visits WHERE treatment_arm = 'MRK-ARM-7f3a')", refused},
	{"SELECT COUNT(*) FROM visits GROUP BY treatment_arm", refused},
	{"SELECT COUNT(*) FROM visits HAVING MAX(treatment_arm) > ''", refused},
	{"SELECT visit_id FROM visits ORDER BY treatment_arm LIMIT 5", refused},
	{"SELECT CASE WHEN treatment_arm = 'MRK-ARM-7f3a' THEN 1 ELSE 0 END FROM visits", refused},
	{"SELECT SUM(treatment_arm = 'MRK-ARM-7f3a') FROM visits", refused},
	{"SELECT CONCAT(visit_id, treatment_arm) FROM visits", refused},
	{"SELECT HEX(treatment_arm), LENGTH(treatment_arm) FROM visits", refused},
	{"SELECT JSON_OBJECT('a', treatment_arm) FROM visits", refused},
	{"SELECT GROUP_CONCAT(treatment_arm) FROM visits", refused},
	{"SELECT visit_id, FIRST_VALUE(treatment_arm) OVER (ORDER BY visit_id) FROM visits", refused},
	{"SELECT visit_id, ROW_NUMBER() OVER (PARTITION BY treatment_arm ORDER BY visit_id) FROM visits", refused},
	{"SELECT visit_id, RANK() OVER w FROM visits WINDOW w AS (ORDER BY treatment_arm)", refused},
	{"SELECT visit_id FROM visits UNION SELECT treatment_arm FROM visits", refused},
	{"SELECT a.visit_id FROM visits a JOIN visits b USING (treatment_arm)", refused},
	{"SELECT COUNT(*) FROM visits NATURAL JOIN (SELECT 'MRK-ARM-7f3a' AS treatment_arm) x", refused},
	{"SELECT COUNT(*) FROM visits v JOIN (SELECT 'MRK-ARM-7f3a' AS a) x ON v.treatment_arm = x.a", refused},
	{"SELECT (SELECT treatment_arm FROM visits LIMIT 1)", refused},
	{"SELECT visit_id FROM visits v WHERE EXISTS (SELECT 1 FROM visits w WHERE w.visit_id = v.visit_id AND w.treatment_arm = 'MRK-ARM-7f3a')", refused},
	{"SELECT visit_id FROM visits WHERE (visit_id, 'MRK-ARM-7f3a') IN (SELECT visit_id, treatment_arm FROM visits)", refused},
	{"SELECT visit_id FROM visits WHERE (1, 'x', 'x', '2025-01-01', 1, 'MRK-ARM-7f3a') IN (SELECT * FROM visits)", refused},
	{"SELECT @x := treatment_arm FROM visits LIMIT 1", refused},
	{"SET @y = (SELECT treatment_arm FROM visits LIMIT 1)", refused},
	{"DO (SELECT COUNT(*) FROM visits WHERE treatment_arm = 'MRK-ARM-7f3a')", refused},
	{"SELECT DEFAULT(treatment_arm) FROM visits LIMIT 1", refused},
	{"SELECT visit_id FROM visits WHERE MATCH (treatment_arm) AGAINST ('x')", refused},
	{"SELECT COUNT(*) FROM subjects WHERE diagnosis = 'MRK-DX-aa11'", refused},

	// Masked columns: their values may be read, masked; nothing else.
	{"SELECT subject_id, initials, birth_year FROM subjects", answered},
	{"SELECT subject_id, initials, birth_year FROM subjects WHERE site_id = 1 ORDER BY sex", answered},
	{"SELECT birth_year FROM subjects UNION SELECT 1", anything},
	{"SELECT initials AS i FROM subjects ORDER BY i", anything},
	{"SELECT x FROM (SELECT birth_year AS x FROM subjects) d WHERE x = 987654321", anything},
	{"SELECT COUNT(*) FROM (SELECT birth_year b FROM subjects GROUP BY b) d", anything},
	{"SELECT DISTINCT subject_id FROM visits", answered},
	{"SELECT subject_id, COUNT(*) FROM visits GROUP BY subject_id", answered},
	{"SELECT COUNT(DISTINCT subject_id) FROM visits", answered},
	{"SELECT s.subject_id, v.visit_id FROM subjects s JOIN visits v ON s.subject_id = v.subject_id", answered},
	{"SELECT COUNT(*) FROM subjects WHERE subject_id IN (SELECT subject_id FROM visits)", anything},
	{"SELECT COUNT(*) FROM subjects WHERE birth_year = 987654321", refused},
	{"SELECT COUNT(*) FROM subjects WHERE birth_year <> 987654321", refused},
	{"SELECT COUNT(*) FROM subjects WHERE birth_year IS NULL", refused},
	{"SELECT COUNT(*) FROM subjects WHERE initials = 'MRK-INI-4b2e'", refused},
	{"SELECT COUNT(*) FROM subjects WHERE subject_id = 'MRK-SID-0003'", refused},
	{"SELECT COUNT(*) FROM subjects WHERE subject_id LIKE 'MRK-SID-%'", refused},
	{"SELECT COUNT(*) FROM subjects GROUP BY birth_year", refused},
	{"SELECT COUNT(*) FROM subjects GROUP BY initials", refused},
	{"SELECT MIN(birth_year), MAX(initials) FROM subjects", refused},
	{"SELECT birth_year + 0 FROM subjects", refused},
	{"SELECT HEX(initials) FROM subjects", refused},
	{"SELECT CONCAT(subject_id, '') FROM subjects", refused},
	{"SELECT LENGTH(subject_id) FROM subjects", refused},
	{"SELECT JSON_OBJECT('k', subject_id) FROM subjects", refused},
	{"SELECT GROUP_CONCAT(subject_id) FROM subjects", refused},
	{"SELECT @x := birth_year FROM subjects LIMIT 1", refused},
	{"SELECT subject_id FROM subjects ORDER BY subject_id", refused},
	{"SELECT subject_id FROM subjects ORDER BY 1", refused},
	{"SELECT subject_id AS k FROM subjects ORDER BY k", refused},
	{"SELECT subject_id AS k FROM subjects HAVING k = 'MRK-SID-0003'", refused},
	{"SELECT s.subject_id FROM subjects s JOIN (SELECT 'MRK-SID-0003' AS g) d ON s.subject_id = d.g", refused},
	{"SELECT s.subject_id FROM subjects s JOIN (SELECT 'MRK-SID-0003' AS subject_id) d USING (subject_id)", refused},
	{"SELECT COUNT(*) FROM subjects s JOIN visits v ON s.subject_id = v.visit_id", refused},
	{"SELECT COUNT(*) FROM subjects s JOIN visits v ON s.subject_id = v.visit_name", refused},
	{"SELECT visit_id, ROW_NUMBER() OVER (PARTITION BY subject_id) FROM visits", refused},
	{"SELECT 987654321 INTERSECT SELECT birth_year FROM subjects", empty},
	{"SELECT 'MRK-INI-4b2e' INTERSECT SELECT initials FROM subjects", empty},
	{"SELECT 'MRK-SID-0003' INTERSECT SELECT subject_id FROM subjects", empty},
	{"SELECT 'MRK-ARM-7f3a' INTERSECT SELECT treatment_arm FROM visits", refused},
	{"SELECT visit_id FROM visits EXCEPT SELECT visit_id FROM visits WHERE treatment_arm = 'MRK-ARM-7f3a'", refused},
	{"SELECT site_id FROM subjects s WHERE (SELECT s.birth_year) = 987654321", empty},
	{"SELECT site_id FROM subjects WHERE 987654321 IN (SELECT birth_year FROM subjects)", empty},
	{"WITH c AS (SELECT birth_year AS b FROM subjects) SELECT b FROM c WHERE b = 987654321", empty},
	{"SELECT site_id FROM subjects s WHERE EXISTS (SELECT 1 FROM (SELECT s.initials AS i) d WHERE d.i = 'MRK-INI-4b2e')", empty},

	// Withheld tables and schemas, and the server's own.
	{"SELECT * FROM secret_unblinding", refused},
	{"SELECT * FROM trial.secret_unblinding", refused},
	{"SELECT code FROM `trial`.`secret_unblinding`", refused},
	{"SELECT COUNT(*) FROM visits v JOIN secret_unblinding u ON u.subject_id = v.subject_id", refused},
	{"SELECT (SELECT COUNT(*) FROM secret_unblinding)", refused},
	{"SELECT * FROM vault_q7x.payroll_k9", refused},
	{"SELECT * FROM ops.site_payments", refused},
	{"SELECT * FROM ops.bank_k3", refused},
	{"SELECT visit_id FROM visits WHERE EXISTS (SELECT 1 FROM ops.bank_k3)", refused},
	{"SELECT * FROM mysql.user", refused},
	{"SELECT * FROM mysql.db", refused},
	{"SELECT * FROM performance_schema.events_statements_history", refused},
	{"SELECT * FROM performance_schema.threads", refused},
	{"SELECT * FROM sys.session", refused},
	{"SELECT * FROM sys.statement_analysis", refused},

	// information_schema: rewritten into filtered derived tables.
	{"SELECT * FROM information_schema.SCHEMATA", answered},
	{"SELECT * FROM information_schema.TABLES", answered},
	{"SELECT * FROM information_schema.COLUMNS", answered},
	{"SELECT * FROM information_schema.STATISTICS", answered},
	{"SELECT * FROM information_schema.KEY_COLUMN_USAGE", answered},
	{"SELECT * FROM information_schema.REFERENTIAL_CONSTRAINTS", answered},
	{"SELECT * FROM information_schema.TABLE_CONSTRAINTS", anything},
	{"SELECT * FROM information_schema.CHECK_CONSTRAINTS", anything},
	{"SELECT * FROM information_schema.VIEWS", answered},
	{"SELECT * FROM information_schema.ROUTINES", answered},
	{"SELECT * FROM information_schema.PARAMETERS", anything},
	{"SELECT * FROM information_schema.PARTITIONS", anything},
	{"SELECT * FROM information_schema.PROCESSLIST", anything},
	{"SELECT * FROM information_schema.TRIGGERS", anything},
	{"SELECT * FROM information_schema.EVENTS", anything},
	{"SELECT * FROM information_schema.INNODB_SYS_TABLES", anything},
	{"SELECT * FROM information_schema.INNODB_SYS_COLUMNS", anything},
	{"SELECT * FROM information_schema.COLUMN_PRIVILEGES", anything},
	{"SELECT * FROM information_schema.TABLE_PRIVILEGES", anything},
	{"SELECT * FROM information_schema.SCHEMA_PRIVILEGES", anything},
	{"SELECT * FROM information_schema.USER_PRIVILEGES", anything},
	{"SELECT * FROM information_schema.APPLICABLE_ROLES", anything},
	{"SELECT * FROM information_schema.TABLE_STATISTICS", anything},
	{"SELECT * FROM information_schema.INDEX_STATISTICS", anything},
	{"SELECT * FROM information_schema.OPTIMIZER_TRACE", anything},
	{"SELECT * FROM information_schema.GLOBAL_VARIABLES", anything},
	{"SELECT * FROM information_schema.SESSION_VARIABLES", anything},
	{"SELECT * FROM information_schema.SESSION_STATUS", anything},
	{"SELECT * FROM information_schema.columns c WHERE c.TABLE_NAME = 'visits'", answered},
	{"SELECT * FROM INFORMATION_SCHEMA.Columns", anything},
	{"SELECT COLUMN_NAME, COLUMN_COMMENT FROM `information_schema`.`COLUMNS` WHERE TABLE_SCHEMA = 'trial'", answered},
	{"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ('vault_q7x', 'ops')", anything},
	{"SELECT * FROM information_schema.COLUMNS WHERE TABLE_NAME IN (SELECT TABLE_NAME FROM information_schema.TABLES)", anything},
	{"SELECT t.TABLE_NAME, c.COLUMN_NAME FROM information_schema.TABLES t JOIN information_schema.COLUMNS c USING (TABLE_SCHEMA, TABLE_NAME)", anything},
	{"SELECT VIEW_DEFINITION FROM information_schema.VIEWS UNION SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS", anything},

	// SHOW, DESCRIBE, EXPLAIN.
	{"SHOW DATABASES", answered},
	{"SHOW SCHEMAS", answered},
	{"SHOW DATABASES LIKE 'vault%'", anything},
	{"SHOW DATABASES WHERE `Database` NOT IN ('information_schema', 'trial')", anything},
	{"SHOW TABLES", answered},
	{"SHOW FULL TABLES", answered},
	{"SHOW TABLES FROM trial", answered},
	{"SHOW TABLES LIKE 'secret%'", anything},
	{"SHOW TABLE STATUS", answered},
	{"SHOW TABLE STATUS FROM trial", answered},
	{"SHOW COLUMNS FROM visits", answered},
	{"SHOW FULL COLUMNS FROM visits", answered},
	{"SHOW FULL COLUMNS FROM subjects", answered},
	{"SHOW FIELDS FROM trial.visits", answered},
	{"SHOW COLUMNS FROM visits LIKE 'treat%'", anything},
	{"SHOW INDEX FROM visits", answered},
	{"SHOW KEYS FROM visits", answered},
	{"SHOW INDEXES FROM subjects", answered},
	{"SHOW INDEX FROM visits WHERE Key_name LIKE 'treat%'", anything},
	{"SHOW CREATE TABLE visits", answered},
	{"SHOW CREATE TABLE subjects", answered},
	{"SHOW CREATE TABLE trial.visits", answered},
	{"SHOW CREATE VIEW visits", anything},
	{"SHOW CREATE DATABASE trial", anything},
	{"SHOW OPEN TABLES", anything},
	{"SHOW PROCEDURE STATUS", anything},
	{"SHOW FUNCTION STATUS", anything},
	{"SHOW GRANTS", anything},
	{"SHOW GRANTS FOR CURRENT_USER", anything},
	{"SHOW GRANTS FOR CURRENT_USER()", anything},
	{"SHOW PROCESSLIST", anything},
	{"SHOW FULL PROCESSLIST", anything},
	{"SHOW TRIGGERS", anything},
	{"SHOW TRIGGERS FROM trial", anything},
	{"SHOW EVENTS", anything},
	{"SHOW VARIABLES", anything},
	{"SHOW STATUS", anything},
	{"SHOW PRIVILEGES", anything},
	{"SHOW ENGINES", anything},
	{"SHOW PLUGINS", anything},
	{"SHOW MASTER STATUS", anything},
	{"SHOW SLAVE STATUS", anything},
	{"SHOW BINARY LOGS", anything},
	{"SHOW ENGINE INNODB STATUS", anything},
	{"SHOW PROFILES", anything},
	{"SHOW CREATE USER CURRENT_USER", anything},
	{"SHOW WARNINGS", anything},
	{"SHOW ERRORS", anything},
	{"SHOW COUNT(*) WARNINGS", anything},
	{"SHOW COLUMNS FROM secret_unblinding", refused},
	{"SHOW CREATE TABLE secret_unblinding", refused},
	{"SHOW INDEX FROM secret_unblinding", refused},
	{"SHOW TABLES FROM vault_q7x", refused},
	{"SHOW TABLE STATUS FROM vault_q7x", refused},
	{"SHOW TABLES FROM ops", refused},
	{"SHOW CREATE DATABASE vault_q7x", refused},
	{"SHOW COLUMNS FROM payroll_k9 FROM vault_q7x", refused},
	{"SHOW TABLES WHERE (SELECT COUNT(*) FROM secret_unblinding) > 0", refused},
	{"DESCRIBE visits", answered},
	{"DESC trial.visits", answered},
	{"EXPLAIN visits", answered},
	{"DESCRIBE subjects", answered},
	{"DESCRIBE visits treatment_arm", anything},
	{"DESCRIBE secret_unblinding", refused},
	{"EXPLAIN SELECT * FROM visits", anything},
	{"DESCRIBE SELECT * FROM visits", anything},
	{"EXPLAIN SELECT visit_id, visit_date FROM visits", anything},
	{"EXPLAIN SELECT COUNT(visit_date) FROM visits", anything},
	{"EXPLAIN FORMAT=JSON SELECT visit_id, visit_date FROM visits", anything},
	{"EXPLAIN EXTENDED SELECT * FROM visits", anything},
	{"EXPLAIN PARTITIONS SELECT * FROM visits", anything},
	{"EXPLAIN SELECT * FROM visits WHERE treatment_arm = 'x'", refused},
	{"EXPLAIN SELECT * FROM secret_unblinding", refused},
	{"ANALYZE SELECT * FROM visits", anything},
	{"ANALYZE FORMAT=JSON SELECT visit_id, visit_date FROM visits", anything},

	// Statements that read around the analyser, or write.
	{"HANDLER visits OPEN", refused},
	{"HANDLER visits READ FIRST", refused},
	{"CHECKSUM TABLE visits", refused},
	{"CHECKSUM TABLE secret_unblinding", refused},
	{"ANALYZE TABLE visits", refused},
	{"SELECT * FROM visits INTO OUTFILE '/tmp/rrproxy-leak.txt'", refused},
	{"SELECT treatment_arm FROM visits INTO DUMPFILE '/tmp/rrproxy-leak.bin'", refused},
	{"SELECT LOAD_FILE('/etc/passwd')", refused},
	{"SELECT visit_id FROM visits LIMIT 1 INTO @v", refused},
	{"SET STATEMENT max_statement_time = 0 FOR SELECT * FROM visits", refused},
	{"EXECUTE IMMEDIATE 'SELECT treatment_arm FROM visits'", refused},
	{"EXECUTE IMMEDIATE CONCAT('SELECT treat', 'ment_arm FROM visits')", refused},
	{"PREPARE p FROM 'SELECT treatment_arm FROM visits'", refused},
	{"EXECUTE p", refused},
	{"SELECT * FROM visits PROCEDURE ANALYSE()", refused},
	{"TABLE visits", anything},
	{"SELECT * FROM visits FOR UPDATE", refused},
	{"LOCK TABLES visits READ", refused},
	{"CALL trial.p()", refused},
	{"SET GLOBAL general_log = 1", refused},
	{"SET optimizer_trace = 'enabled=on'", refused},
	{"SET sql_mode = 'ANSI_QUOTES'", refused},
	{"SET NAMES gbk", refused},
	{"SET max_statement_time = 0", refused},

	// The account behind the proxy.
	{"SELECT CURRENT_USER(), USER(), SESSION_USER(), SYSTEM_USER(), CURRENT_USER", answered},
	{"SELECT CURRENT_ROLE(), @@proxy_user, @@external_user", anything},
	{"SELECT 1 FROM DUAL WHERE CURRENT_USER() LIKE 'rr%'", empty},
	{"status", anything}, // the CLI's status command; SQL for the drivers

	// Several statements in one COM_QUERY (the text battery enables
	// multi-statements; without it they are refused outright).
	{"SELECT 1; SELECT treatment_arm FROM visits", refused},
	{"SELECT 1; SELECT * FROM secret_unblinding", refused},
	{"SET @a = 1; SELECT treatment_arm FROM visits", refused},
	{"USE trial; SELECT * FROM secret_unblinding", refused},
	{"SELECT * FROM visits; SELECT * FROM subjects", anything},
	{"SELECT 1; SHOW TABLES", anything},
	{"SELECT subject_id FROM subjects; SELECT 1", anything},

	// USE of hidden schemas (COM_QUERY here, COM_INIT_DB in the CLI and
	// the raw test).
	{"USE vault_q7x", refused},
	{"USE ops", refused},
	{"USE trial", anything},
}

func TestLeakBattery(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	ctx := context.Background()

	t.Run("text", func(t *testing.T) {
		db := r.open("mona", monaPW, "trial", "multiStatements=true")
		db.SetMaxOpenConns(1)
		for _, p := range battery {
			o := observeDriver(ctx, t, db, p.sql, false)
			o.check(t, "text", p, true)
		}
	})
	t.Run("binary", func(t *testing.T) {
		db := r.open("mona", monaPW, "trial", "interpolateParams=false")
		db.SetMaxOpenConns(1)
		for _, p := range battery {
			o := observeDriver(ctx, t, db, p.sql, true)
			o.check(t, "binary", p, false)
		}
	})
	t.Run("mariadb-cli", func(t *testing.T) {
		stmts := make([]string, len(battery))
		for i, p := range battery {
			stmts[i] = p.sql
		}
		obs := observeCLI(t, r, "mona", monaPW, "trial", stmts)
		for i, p := range battery {
			obs[i].check(t, "cli", p, true)
		}
	})
}

// observation is one thing that reached the client, and where.
type observation struct{ where, text string }

// observed is everything one statement sent back.
type observed struct {
	failed bool
	rows   int // data rows received (drivers only)
	parts  []observation
}

func (o *observed) add(where, text string) { o.parts = append(o.parts, observation{where, text}) }

// check reports every leak token in o that the statement itself does not
// contain, and a refusal or an answer that the probe says must not be.
func (o observed) check(t *testing.T, mode string, p probe, enforceAnswered bool) {
	t.Helper()
	reported := map[string]bool{}
	for _, part := range o.parts {
		for _, tok := range leakTokens {
			if containsFold(p.sql, tok) || !containsFold(part.text, tok) || reported[tok+part.where] {
				continue
			}
			reported[tok+part.where] = true
			t.Errorf("LEAK [%s] %s\n\t%q reached the client in %s: %s", mode, p.sql, tok, part.where, excerpt(part.text, tok))
		}
	}
	switch {
	case p.want == refused && !o.failed:
		t.Errorf("ANSWERED [%s] %s\n\tmust be refused: answering it reads withheld data or probes it", mode, p.sql)
	case p.want == answered && enforceAnswered && o.failed:
		t.Errorf("REFUSED [%s] %s\n\tmust be answered (masked): %s", mode, p.sql, o.firstError())
	case p.want == empty && !o.failed && o.rows > 0:
		t.Errorf("ANSWERED [%s] %s\n\treturned %d rows: the oracle matched the real, withheld value", mode, p.sql, o.rows)
	}
}

func (o observed) firstError() string {
	for _, p := range o.parts {
		if p.where == "error" {
			return p.text
		}
	}
	return ""
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func excerpt(s, tok string) string {
	i := strings.Index(strings.ToLower(s), strings.ToLower(tok))
	lo, hi := max(0, i-60), min(len(s), i+len(tok)+60)
	return strconv.Quote(s[lo:hi])
}

// errText renders an error as the client sees it: code, SQLSTATE, message.
func errText(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return fmt.Sprintf("%d (%s): %s", me.Number, string(me.SQLState[:]), me.Message)
	}
	return err.Error()
}

// observeDriver runs q on one session of db, as a plain query or a
// server-side prepared statement, then reads SHOW WARNINGS on the same
// session.
func observeDriver(ctx context.Context, t *testing.T, db *sql.DB, q string, binary bool) observed {
	t.Helper()
	var o observed
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close()
	var rows *sql.Rows
	if binary {
		var st *sql.Stmt
		if st, err = c.PrepareContext(ctx, q); err == nil {
			defer st.Close()
			rows, err = st.QueryContext(ctx)
		}
	} else {
		rows, err = c.QueryContext(ctx, q)
	}
	if err != nil {
		o.failed = true
		o.add("error", errText(err))
	} else {
		readRows(rows, &o)
	}
	w, err := c.QueryContext(ctx, "SHOW WARNINGS")
	if err != nil {
		o.add("error of SHOW WARNINGS", errText(err))
		return o
	}
	defer w.Close()
	for w.Next() {
		var level, msg string
		var code int
		if err := w.Scan(&level, &code, &msg); err != nil {
			t.Fatal(err)
		}
		o.add("SHOW WARNINGS", fmt.Sprintf("%s %d %s", level, code, msg))
	}
	return o
}

func readRows(rows *sql.Rows, o *observed) {
	defer rows.Close()
	for {
		cols, err := rows.Columns()
		if err != nil {
			o.failed = true
			o.add("error", errText(err))
			return
		}
		for _, c := range cols {
			o.add("a column title", c)
		}
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				o.failed = true
				o.add("error", errText(err))
				return
			}
			o.rows++
			for i, v := range vals {
				if v != nil {
					o.add("a value of column "+cols[i], string(v))
				}
			}
		}
		if err := rows.Err(); err != nil {
			o.failed = true
			o.add("error", errText(err))
			return
		}
		if !rows.NextResultSet() {
			if err := rows.Err(); err != nil {
				o.failed = true
				o.add("error", errText(err))
			}
			return
		}
	}
}

var sepRE = regexp.MustCompile(`LEAKSEP-(\d+)`)

// observeCLI runs stmts through one mariadb CLI session (--force, so it
// goes on after errors), with column metadata and warnings shown, and
// splits its output per statement.
func observeCLI(t *testing.T, r *rig, user, pw, db string, stmts []string) []observed {
	t.Helper()
	var in strings.Builder
	for i, s := range stmts {
		// The terminator on a line of its own: a statement may end in a
		// comment.
		fmt.Fprintf(&in, "SELECT 'LEAKSEP-%d' AS leaksep;\n%s\n;\n", i, s)
	}
	fmt.Fprintf(&in, "SELECT 'LEAKSEP-%d' AS leaksep;\n", len(stmts))
	host, port, _ := strings.Cut(r.addr, ":")
	cmd := exec.Command("mariadb", "--no-defaults", "-h"+host, "-P"+port, "-u"+user, "-p"+pw, "--ssl", "--ssl-ca="+certs.CA,
		"--table", "--force", "--unbuffered", "--show-warnings", "--column-type-info", db)
	cmd.Stdin = strings.NewReader(in.String())
	out, _ := cmd.CombinedOutput() // exits 1: some statements fail
	obs := make([]observed, len(stmts))
	cur := -1
	for _, line := range strings.Split(string(out), "\n") {
		if m := sepRE.FindStringSubmatch(line); m != nil {
			cur, _ = strconv.Atoi(m[1])
			continue
		}
		if cur < 0 || cur >= len(stmts) {
			if strings.HasPrefix(line, "ERROR") {
				t.Fatalf("mariadb CLI: %s", line)
			}
			continue
		}
		where := "CLI output"
		if strings.HasPrefix(line, "ERROR") {
			obs[cur].failed = true
			where = "error"
		}
		obs[cur].add(where, line)
	}
	if cur != len(stmts) {
		t.Fatalf("mariadb CLI stopped after statement %d of %d:\n%s", cur, len(stmts), tail(string(out), 2000))
	}
	return obs
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
