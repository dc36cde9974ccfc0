package e2e

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

// A stored function runs with its definer's rights: called through
// rrproxy as f(), it would read whatever its body reads, whatever the
// caller's grants. rrproxy grants no routines, so calls of stored
// functions are refused, qualified or not, while builtins work.
func TestStoredFunctionsAreRefused(t *testing.T) {
	root := direct(t)
	paymentsTotal(t, root)

	// The service account can run it directly: the danger is real.
	var total string
	if err := root.QueryRow("SELECT study.payments_total()").Scan(&total); err != nil || total == "" {
		t.Fatalf("precondition: the function returns a total: %q, %v", total, err)
	}

	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("bob", bobPW, "study")
	for _, q := range []string{
		"SELECT payments_total()",
		"SELECT PAYMENTS_TOTAL() AS t",
		"SELECT subject_id FROM subjects WHERE payments_total() > 0",
	} {
		_, err := db.Query(q)
		mysqlErr(t, err, 1227, "payments_total() is a stored function")
	}
	_, err := db.Query("SELECT study.payments_total()")
	mysqlErr(t, err, 1227, "read-only")
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM subjects WHERE UPPER(sex) = 'F' AND LENGTH(subject_id) > 0").Scan(&n); err != nil || n == 0 {
		t.Fatalf("builtins after refusals: %d, %v", n, err)
	}
}

// TestNoInheritedDatabase: a reset upstream connection keeps the
// database its last session selected, and the proxy checks an
// unqualified f() against the current database's stored functions. A
// session that asked for no database must therefore never be given such
// a connection, however many the pool holds: otherwise DATABASE() names
// another user's database and payments_total() runs unchecked, with its
// definer's rights.
func TestNoInheritedDatabase(t *testing.T) {
	root := direct(t)
	paymentsTotal(t, root)

	const held = 6 // more than attach's three tries of the idle pool
	r := startRig(t, rigOpts{requireTLS: true, maxOpen: held + 2})
	ctx := context.Background()
	// held sessions in study at once, then all closed: their upstream
	// connections go back to the pool, each with study selected.
	db := r.open("bob", bobPW, "study")
	var conns []*sql.Conn
	for range held {
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	db.Close()
	var idleInStudy int
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := root.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND DB = 'study' AND COMMAND = 'Sleep'",
			svcUser).Scan(&idleInStudy)
		if err != nil {
			t.Fatal(err)
		}
		if idleInStudy >= held || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if idleInStudy < held {
		t.Fatalf("precondition: %d idle upstream connections in study, want %d", idleInStudy, held)
	}

	nodb := r.open("bob", bobPW, "")
	nodb.SetMaxOpenConns(1)
	var cur sql.NullString
	if err := nodb.QueryRow("SELECT DATABASE()").Scan(&cur); err != nil {
		t.Fatal(err)
	}
	if cur.Valid {
		t.Fatalf("a session without a database got an upstream connection in %q", cur.String)
	}
	_, err := nodb.Query("SELECT payments_total()")
	// With no database, the server knows no payments_total().
	mysqlErr(t, err, 1305, "FUNCTION payments_total does not exist")
}

// paymentsTotal creates study.payments_total(), a definer-rights stored
// function over ops.site_payments, which no test policy grants, and
// lets the service account execute it.
func paymentsTotal(t *testing.T, root *sql.DB) {
	t.Helper()
	execAll(t, root,
		"DROP FUNCTION IF EXISTS study.payments_total",
		"CREATE FUNCTION study.payments_total() RETURNS DECIMAL(12,2) READS SQL DATA SQL SECURITY DEFINER RETURN (SELECT SUM(amount_eur) FROM ops.site_payments)",
		"GRANT EXECUTE ON study.* TO "+svcUser,
	)
	t.Cleanup(func() { _, _ = root.Exec("DROP FUNCTION IF EXISTS study.payments_total") })
}
