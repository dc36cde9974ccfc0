package e2e

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
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

// TestShutdownWakesSessionInsideTLSHandshake: a client that has switched
// to TLS but not yet sent its login is idle, and Shutdown wakes it at
// once. The session had replaced its connection with the TLS one while
// Shutdown read it from another goroutine: a data race (found by the
// race detector in TestDemo), which this test makes certain to happen
// under -race. The session now keeps its socket in a field set once.
func TestShutdownWakesSessionInsideTLSHandshake(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The server's greeting: one packet.
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, c, int64(hdr[0])|int64(hdr[1])<<8|int64(hdr[2])<<16); err != nil {
		t.Fatal(err)
	}
	// SSLRequest (sequence 1): capabilities, max packet, charset, filler.
	req := make([]byte, 4+32)
	req[0], req[3] = 32, 1
	binary.LittleEndian.PutUint32(req[4:], mysql.CLIENT_PROTOCOL_41|mysql.CLIENT_SECURE_CONNECTION|mysql.CLIENT_SSL|mysql.CLIENT_PLUGIN_AUTH)
	binary.LittleEndian.PutUint32(req[8:], 1<<24)
	req[12] = 45
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	// No login follows. The session waits for it inside TLS.
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begun := time.Now()
	forced, err := r.srv.Shutdown(ctx)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	if forced != 0 {
		t.Errorf("Shutdown had to cut %d sessions after %v: the one waiting inside the TLS handshake was not woken", forced, time.Since(begun))
	}
	// The client sees its connection end.
	_ = tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := tc.Read(make([]byte, 1)); err == nil {
		t.Error("the connection is still open after Shutdown")
	}
}
