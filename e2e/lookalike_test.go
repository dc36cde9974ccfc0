package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"
)

// A withheld object must answer exactly as an object that does not
// exist: same error code, SQLSTATE and message, byte for byte, or the
// same (empty) result. Anything else is an oracle: a user who compares
// the answers for a guessed name and a made-up one learns the guess is
// right. The reference is MariaDB itself, asked directly by the service
// account (whose privileges decide what the server says about a missing
// name) about a name of the same shape that really does not exist, with
// the account's name replaced by the user's, as the proxy does.

type lookalike struct {
	sql     string // names a withheld object
	hidden  string // the withheld name as written in sql
	missing string // a name of the same shape that exists nowhere
	binary  bool   // also compare as server-side prepared statements
}

var lookalikes = []lookalike{
	// Withheld columns, in every clause MariaDB names in its message.
	{"SELECT treatment_arm FROM visits", "treatment_arm", "treatment_arx", true},
	{"SELECT `treatment_arm` FROM visits", "treatment_arm", "treatment_arx", true},
	{"SELECT TREATMENT_ARM FROM visits", "TREATMENT_ARM", "TREATMENT_ARX", true},
	{"SELECT v.treatment_arm FROM visits v", "treatment_arm", "treatment_arx", true},
	{"SELECT trial.visits.treatment_arm FROM trial.visits", "treatment_arm", "treatment_arx", true},
	{"SELECT visit_id FROM visits WHERE treatment_arm = 'x'", "treatment_arm", "treatment_arx", true},
	{"SELECT visit_id FROM visits ORDER BY treatment_arm", "treatment_arm", "treatment_arx", false},
	{"SELECT COUNT(*) FROM visits GROUP BY treatment_arm", "treatment_arm", "treatment_arx", false},
	{"SELECT COUNT(*) FROM visits HAVING MAX(treatment_arm) > ''", "treatment_arm", "treatment_arx", false},
	{"SELECT 1 FROM visits a JOIN visits b ON a.treatment_arm = b.visit_name", "treatment_arm", "treatment_arx", false},
	{"SELECT 1 FROM visits a JOIN visits b USING (treatment_arm)", "treatment_arm", "treatment_arx", false},
	{"SELECT visit_id FROM visits WHERE visit_id IN (SELECT visit_id FROM visits WHERE treatment_arm = 'x')", "treatment_arm", "treatment_arx", false},
	{"SELECT (SELECT MAX(treatment_arm) FROM visits)", "treatment_arm", "treatment_arx", false},
	{"SELECT MAX(visit_id) FROM visits GROUP BY subject_id, treatment_arm", "treatment_arm", "treatment_arx", false},
	{"SELECT nosuch_col, treatment_arm FROM visits", "treatment_arm", "treatment_arx", false},
	{"SELECT DEFAULT(treatment_arm) FROM visits", "treatment_arm", "treatment_arx", false},
	{"SELECT diagnosis FROM subjects", "diagnosis", "diagnosix", true},
	{"DESCRIBE visits treatment_arm", "treatment_arm", "treatment_arx", false},
	{"SHOW COLUMNS FROM visits LIKE 'treatment_arm'", "treatment_arm", "treatment_arx", false},
	{"SELECT COUNT(*) FROM information_schema.COLUMNS WHERE COLUMN_NAME = 'treatment_arm'", "treatment_arm", "treatment_arx", true},
	// MariaDB names a column CHECK and an unnamed index after the column.
	{"SELECT COUNT(*) FROM information_schema.STATISTICS WHERE INDEX_NAME = 'treatment_arm'", "treatment_arm", "treatment_arx", true},
	{"SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_NAME = 'treatment_arm'", "treatment_arm", "treatment_arx", false},
	{"SHOW INDEX FROM visits WHERE Key_name = 'treatment_arm'", "treatment_arm", "treatment_arx", false},
	{"SELECT visit_id FROM visits FORCE INDEX (treatment_arm) WHERE visit_id = 1", "treatment_arm", "treatment_arx", true},

	// A withheld table in a granted schema.
	{"SELECT * FROM secret_unblinding", "secret_unblinding", "secret_unblindinx", true},
	{"SELECT * FROM trial.secret_unblinding", "secret_unblinding", "secret_unblindinx", true},
	{"SELECT * FROM trial.SECRET_UNBLINDING", "SECRET_UNBLINDING", "SECRET_UNBLINDINX", true},
	{"SELECT * FROM `trial`.`secret_unblinding`", "secret_unblinding", "secret_unblindinx", false},
	{"SELECT COUNT(*) FROM visits v JOIN secret_unblinding u ON u.code = v.visit_name", "secret_unblinding", "secret_unblindinx", false},
	{"SHOW COLUMNS FROM secret_unblinding", "secret_unblinding", "secret_unblindinx", false},
	{"SHOW CREATE TABLE secret_unblinding", "secret_unblinding", "secret_unblindinx", false},
	{"SHOW INDEX FROM secret_unblinding", "secret_unblinding", "secret_unblindinx", false},
	{"DESCRIBE secret_unblinding", "secret_unblinding", "secret_unblindinx", false},
	{"SHOW TABLE STATUS LIKE 'secret_unblinding'", "secret_unblinding", "secret_unblindinx", false},
	{"SHOW TABLES LIKE 'secret_unblinding'", "secret_unblinding", "secret_unblindinx", false},
	{"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'secret_unblinding'", "secret_unblinding", "secret_unblindinx", true},

	// A schema nobody is granted, and the harness's ops.
	{"USE vault_q7x", "vault_q7x", "vault_q7y", false},
	{"SELECT * FROM vault_q7x.payroll_k9", "vault_q7x", "vault_q7y", true},
	{"SELECT * FROM VAULT_Q7X.payroll_k9", "VAULT_Q7X", "VAULT_Q7Y", false},
	{"SHOW TABLES FROM vault_q7x", "vault_q7x", "vault_q7y", false},
	{"SHOW CREATE DATABASE vault_q7x", "vault_q7x", "vault_q7y", false},
	{"SHOW DATABASES LIKE 'vault_q7x'", "vault_q7x", "vault_q7y", false},
	{"SHOW COLUMNS FROM payroll_k9 FROM vault_q7x", "vault_q7x", "vault_q7y", false},
	{"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'vault_q7x'", "vault_q7x", "vault_q7y", true},
	{"SELECT * FROM ops.site_payments", "ops", "opz", true},
	{"USE ops", "ops", "opz", false},
	{"SHOW TABLES FROM ops", "ops", "opz", false},
}

// TestHiddenSystemViewsAnswerLikeMissingTables: the server's own schemas
// do not exist for users. mysql.user is a view over a system table and
// sys.processlist one that calls stored functions; with a service account
// that may read them (SELECT and SHOW VIEW on every schema, as a
// replica's read-only account often has), what the hidden view reads
// turned "doesn't exist" into "the view reads data outside your grants",
// telling a view from a missing table (found by an adversarial sweep).
func TestHiddenSystemViewsAnswerLikeMissingTables(t *testing.T) {
	pol := leakWorld(t)
	root := direct(t)
	execAll(t, root, "GRANT SELECT, SHOW VIEW ON mysql.* TO "+svcUser, "GRANT SELECT, SHOW VIEW, EXECUTE ON sys.* TO "+svcUser)
	t.Cleanup(func() {
		execAll(t, root, "REVOKE SELECT, SHOW VIEW ON mysql.* FROM "+svcUser, "REVOKE SELECT, SHOW VIEW, EXECUTE ON sys.* FROM "+svcUser)
	})
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	ctx := context.Background()
	proxied := r.open("mona", monaPW, "trial", "interpolateParams=false")
	proxied.SetMaxOpenConns(1)
	ref := directTo(t, "trial")
	if got := answer(ctx, t, ref, "SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA IN ('mysql', 'sys') AND TABLE_NAME IN ('user', 'processlist')", false); got != "[COUNT(*)] [2] " {
		t.Fatalf("the service account does not see the two views: %s", got)
	}
	for _, c := range []struct{ sql, hidden, missing string }{
		{"SELECT * FROM mysql.user", "user", "usex"},
		{"SELECT User FROM mysql.user", "user", "usex"},
		{"SELECT * FROM sys.processlist", "processlist", "processlisx"},
		{"SELECT * FROM mysql.db", "db", "dx"},
	} {
		for _, binary := range []bool{false, true} {
			// Both through rrproxy: for mona the schema itself does not
			// exist, so a made-up table in it is answered as one in a
			// missing schema, and so must the view be.
			want := strings.ReplaceAll(answer(ctx, t, proxied, strings.ReplaceAll(c.sql, c.hidden, c.missing), binary), c.missing, c.hidden)
			if got := answer(ctx, t, proxied, c.sql, binary); got != want {
				t.Errorf("ORACLE [binary %v] %s\n\tproxy answers:  %s\n\ta missing name: %s", binary, c.sql, got, want)
			}
		}
	}
}

func TestHiddenObjectsAnswerLikeMissingOnes(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	ctx := context.Background()
	proxied := r.open("mona", monaPW, "trial", "interpolateParams=false")
	proxied.SetMaxOpenConns(1)
	ref := directTo(t, "trial")
	ref.SetMaxOpenConns(1)

	for _, c := range lookalikes {
		missingSQL := strings.ReplaceAll(c.sql, c.hidden, c.missing)
		modes := []bool{false}
		if c.binary {
			modes = append(modes, true)
		}
		for _, binary := range modes {
			mode := "text"
			if binary {
				mode = "binary"
			}
			// What MariaDB says about the made-up name, with the hidden
			// name put back: what the proxy must say about the hidden one.
			want := strings.ReplaceAll(answer(ctx, t, ref, missingSQL, binary), c.missing, c.hidden)
			want = strings.ReplaceAll(want, svcUser, "mona")
			if got := answer(ctx, t, proxied, c.sql, binary); got != want {
				t.Errorf("ORACLE [%s] %s\n\tproxy answers:  %s\n\ta missing name: %s", mode, c.sql, got, want)
			}
		}
	}
}

// answer runs q on one session of db and renders the outcome: the error
// as code (SQLSTATE): message, or the result's titles and rows.
func answer(ctx context.Context, t *testing.T, db *sql.DB, q string, binary bool) string {
	t.Helper()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
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
		return "ERROR " + errText(err)
	}
	var o observed
	readRows(rows, &o)
	var b strings.Builder
	for _, p := range o.parts {
		fmt.Fprintf(&b, "[%s] ", p.text)
	}
	if b.Len() == 0 {
		return "(empty)"
	}
	return b.String()
}

// directTo is a service-account connection to MariaDB with db as current database.
func directTo(t *testing.T, db string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = svcUser, svcPassword
	cfg.DBName = db
	d, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestHiddenObjectsAnswerLikeMissingOnesRaw covers the protocol commands
// that name objects outside SQL: COM_INIT_DB, COM_FIELD_LIST and the
// database named at login.
func TestHiddenObjectsAnswerLikeMissingOnesRaw(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	cfg, err := mysql.ParseDSN(rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	// The service account's answers are the reference (see above).
	rootConn := func(t *testing.T) *client.Conn {
		c, err := client.Connect(cfg.Addr, svcUser, svcPassword, "trial")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	errOf := func(err error) string {
		if me, ok := err.(*gomysql.MyError); ok {
			return fmt.Sprintf("%d (%s): %s", me.Code, me.State, me.Message)
		}
		if err == nil {
			return "no error"
		}
		return err.Error()
	}

	for _, db := range [][2]string{{"vault_q7x", "vault_q7y"}, {"ops", "opz"}} {
		want := strings.ReplaceAll(errOf(rootConn(t).UseDB(db[1])), db[1], db[0])
		want = strings.ReplaceAll(want, svcUser, "mona")
		if got := errOf(rawConn(t, r, "mona", monaPW, "trial").UseDB(db[0])); got != want {
			t.Errorf("ORACLE COM_INIT_DB %s\n\tproxy answers:  %s\n\ta missing name: %s", db[0], got, want)
		}
	}

	for _, tbl := range [][2]string{{"secret_unblinding", "secret_unblindinx"}} {
		_, rerr := rootConn(t).FieldList(tbl[1], "")
		want := strings.ReplaceAll(strings.ReplaceAll(errOf(rerr), tbl[1], tbl[0]), svcUser, "mona")
		_, perr := rawConn(t, r, "mona", monaPW, "trial").FieldList(tbl[0], "")
		if got := errOf(perr); got != want {
			t.Errorf("ORACLE COM_FIELD_LIST %s\n\tproxy answers:  %s\n\ta missing name: %s", tbl[0], got, want)
		}
	}

	// The database named in the handshake.
	ref := directTo(t, "vault_q7y")
	want := strings.ReplaceAll(strings.ReplaceAll(errText(ref.Ping()), "vault_q7y", "vault_q7x"), svcUser, "mona")
	if got := errText(r.open("mona", monaPW, "vault_q7x").Ping()); got != want {
		t.Errorf("ORACLE login with database vault_q7x\n\tproxy answers:  %s\n\ta missing name: %s", got, want)
	}
}
