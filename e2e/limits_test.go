package e2e

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gosql "github.com/go-sql-driver/mysql"
)

// Per-person limits from policy.yaml, end to end: rowan max_rows 50, sol
// max_sessions 2, remo only from 10.0.0.0/8, tim max_execution_time 1s.

func TestMaxRows(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	db := r.open("rowan", rowanPW, "trial", "interpolateParams=false")
	db.SetMaxOpenConns(1)

	for _, binary := range []bool{false, true} {
		n, err := countRows(db, "SELECT visit_id FROM visits", binary)
		// A result over the limit is an error, never a silently short
		// answer.
		var me *gosql.MySQLError
		if !errors.As(err, &me) || me.Number != mysql.ER_UNKNOWN_ERROR || !strings.Contains(me.Message, "limit of 50 rows") {
			t.Errorf("binary=%v: 300 visits with max_rows 50: %d rows then %v; want an error naming the limit", binary, n, err)
		}
		if n > 50 {
			t.Errorf("binary=%v: %d rows arrived past max_rows 50", binary, n)
		}
		if n, err := countRows(db, "SELECT visit_id FROM visits ORDER BY visit_id LIMIT 50", binary); err != nil || n != 50 {
			t.Errorf("binary=%v: LIMIT 50 under max_rows 50: %d rows, %v", binary, n, err)
		}
	}
	// The limit covers the whole statement, whatever the packets: a
	// cursor fetched 20 rows at a time is still one statement.
	c := rawConn(t, r, "rowan", rowanPW, "trial")
	id, errPkt := rawPrepare(t, c, "SELECT visit_id FROM visits")
	if errPkt != nil {
		t.Fatalf("prepare: %q", errPkt)
	}
	rows, refused := 0, false
	for _, p := range cursorFetchAll(t, c, id, 20) {
		switch {
		case p[0] == mysql.ERR_HEADER:
			refused = true
		case p[0] == 0 && len(p) > 3: // a binary row
			rows++
		}
	}
	if rows > 50 || !refused {
		t.Errorf("cursor fetched 20 at a time: %d rows arrived (refused=%v); want at most 50 and then an error", rows, refused)
	}
	// The session goes on.
	if n, err := countRows(db, "SELECT 1", false); err != nil || n != 1 {
		t.Errorf("after max_rows: %d, %v", n, err)
	}
}

func countRows(db *sql.DB, q string, binary bool) (int, error) {
	var rows *sql.Rows
	var err error
	if binary {
		var st *sql.Stmt
		if st, err = db.Prepare(q); err != nil {
			return 0, err
		}
		defer st.Close()
		rows, err = st.Query()
	} else {
		rows, err = db.Query(q)
	}
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}

func TestMaxSessions(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	ctx := context.Background()
	session := func() (*sql.Conn, error) {
		db := r.open("sol", solPW, "trial")
		c, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		return c, c.PingContext(ctx)
	}
	first, err := session()
	if err != nil {
		t.Fatal(err)
	}
	second, err := session()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		_, err := session()
		mysqlErr(t, err, mysql.ER_TOO_MANY_USER_CONNECTIONS, "already has 2 sessions")
	}
	// Another person is not affected.
	if err := r.open("mona", monaPW, "trial").Ping(); err != nil {
		t.Fatal(err)
	}
	// The sessions that were admitted still work.
	for _, c := range []*sql.Conn{first, second} {
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

func TestNetworks(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	// remo may log in only from 10.0.0.0/8: from loopback he gets exactly
	// what a wrong password gets.
	err := r.open("remo", remoPW, "trial").Ping()
	mysqlErr(t, err, mysql.ER_ACCESS_DENIED_ERROR, "Access denied for user 'remo'@'127.0.0.1' (using password: YES)")
	wrong := r.open("remo", "not-his-password", "trial").Ping()
	if errText(err) != errText(wrong) {
		t.Errorf("network refusal %q differs from a wrong password %q", errText(err), errText(wrong))
	}
}

func TestMaxExecutionTime(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	db := r.open("tim", timPW, "trial", "interpolateParams=false")
	db.SetMaxOpenConns(1)
	const slow = "SELECT COUNT(*) FROM seq_1_to_100000 a JOIN seq_1_to_100000 b ON a.seq + b.seq = 3"
	for _, binary := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		var err error
		if binary {
			var st *sql.Stmt
			if st, err = db.PrepareContext(ctx, slow); err == nil {
				var n int
				err = st.QueryRowContext(ctx).Scan(&n)
				st.Close()
			}
		} else {
			var n int
			err = db.QueryRowContext(ctx, slow).Scan(&n)
		}
		cancel()
		var me *gosql.MySQLError
		if !errors.As(err, &me) {
			t.Fatalf("binary=%v: slow query under a 1s limit: want a MySQL error, got %v after %v", binary, err, time.Since(start))
		}
		t.Logf("binary=%v: stopped after %v: %d %s", binary, time.Since(start).Round(time.Millisecond), me.Number, me.Message)
		var one int
		if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("session unusable after the time limit: %v", err)
		}
	}
	// Neither SLEEP nor lifting the limit is open to him.
	_, err := db.Exec("SELECT SLEEP(3)")
	mysqlErr(t, err, mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR, "sleep")
	for _, q := range []string{"SET max_statement_time = 0", "SET SESSION max_statement_time = 100", "SET @@max_statement_time = 0"} {
		_, err := db.Exec(q)
		mysqlErr(t, err, mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR, "max_statement_time")
	}
	var limit float64
	if err := db.QueryRow("SELECT @@max_statement_time").Scan(&limit); err != nil || limit != 1 {
		t.Errorf("@@max_statement_time = %v, %v; want 1", limit, err)
	}
}
