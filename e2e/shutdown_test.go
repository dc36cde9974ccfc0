package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// TestForcedShutdownStopsLongQueries: at the shutdown deadline, a session
// waiting for a long query's result is cut too. It is blocked reading
// from the replica, not from the client, so closing the client's socket
// alone left Shutdown waiting for the query (found with mycli, whose
// cancelled queries ran on).
func TestForcedShutdownStopsLongQueries(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	// The replica runs the query on after its client is gone; stop it so
	// that it does not slow the tests after this one.
	t.Cleanup(func() {
		root, err := sql.Open("mysql", rootDSN)
		if err != nil {
			return
		}
		defer root.Close()
		rows, err := root.Query("SELECT id FROM information_schema.PROCESSLIST WHERE info LIKE 'SELECT COUNT(*) FROM visits a, visits b%'")
		if err != nil {
			return
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		rows.Close()
		for _, id := range ids {
			_, _ = root.Exec(fmt.Sprintf("KILL QUERY %d", id))
		}
	})
	db := r.open("alice", alicePW, "study")
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		close(started)
		// Minutes of work for MariaDB, no row until the end.
		var n int64
		_ = db.QueryRow("SELECT COUNT(*) FROM visits a, visits b, visits c, visits d WHERE a.systolic_bp + b.systolic_bp > c.systolic_bp - d.systolic_bp").Scan(&n)
	}()
	<-started
	time.Sleep(500 * time.Millisecond) // the query is running upstream
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		forced, _ := r.srv.Shutdown(ctx)
		done <- forced
	}()
	select {
	case forced := <-done:
		if forced != 1 {
			t.Errorf("Shutdown cut %d sessions, want 1", forced)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown is still waiting 30 s after its deadline: the session blocked on the replica was not cut")
	}
}
