package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// longCount runs for minutes upstream and returns no row until the end.
const longCount = "SELECT COUNT(*) FROM visits a, visits b, visits c, visits d WHERE a.visit_id + b.visit_id > c.visit_id - d.visit_id"

// TestKillOwnQuery: cancelling works as clients do it (JDBC
// Statement.cancel(), mycli's Ctrl-C): a second connection sends KILL
// [QUERY] with the id CONNECTION_ID() returned. rrproxy stops the
// statement for the same person's sessions only; anyone else's id is
// answered like one that does not exist.
func TestKillOwnQuery(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	ctx := context.Background()
	run := func() (*sql.Conn, uint64, chan error) {
		t.Helper()
		c, err := r.open("alice", alicePW, "study").Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var id uint64
		if err := c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			var n int64
			done <- c.QueryRowContext(ctx, longCount).Scan(&n)
		}()
		time.Sleep(300 * time.Millisecond) // running upstream
		return c, id, done
	}
	wait := func(done chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("the query was not stopped within 30 s")
			return nil
		}
	}

	c, id, done := run()
	// Another person, and an id that does not exist: the same answer.
	_, err := r.open("bob", bobPW, "study").Exec(fmt.Sprintf("KILL QUERY %d", id))
	mysqlErr(t, err, 1094, fmt.Sprintf("Unknown thread id: %d", id))
	_, err = r.open("alice", alicePW, "study").Exec("KILL QUERY 4000000000")
	mysqlErr(t, err, 1094, "Unknown thread id: 4000000000")
	// The owner, from a second connection: the statement stops with the
	// server's "interrupted", and the session goes on.
	if _, err := r.open("alice", alicePW, "study").Exec(fmt.Sprintf("KILL QUERY %d", id)); err != nil {
		t.Fatalf("KILL QUERY of her own statement: %v", err)
	}
	err = wait(done)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1317 {
		t.Fatalf("the killed statement returned %v, want 1317 (query execution was interrupted)", err)
	}
	var one int
	if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("the session after KILL QUERY: %v", err)
	}
	c.Close()

	// KILL [CONNECTION] stops the statement and ends that session.
	c, id, done = run()
	if _, err := r.open("alice", alicePW, "study").Exec(fmt.Sprintf("KILL %d", id)); err != nil {
		t.Fatalf("KILL of her own connection: %v", err)
	}
	if err := wait(done); err == nil {
		t.Fatal("the killed connection's statement succeeded")
	}
	if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err == nil {
		t.Fatal("the killed connection still answers")
	}
	c.Close()

	// Both are in the audit log, and bob's attempt as a denial.
	var kills, denied int
	for _, m := range readAuditRecords(t, r) {
		if ks, _ := m["rrproxy.statement_kinds"].([]any); len(ks) == 1 && ks[0] == "kill" {
			switch m["rrproxy.phase"] {
			case "intent":
				kills++
			case "denied":
				denied++
			}
		}
	}
	if kills != 2 || denied != 2 {
		t.Errorf("audit: %d KILL intents, %d denials; want 2 and 2", kills, denied)
	}
}
