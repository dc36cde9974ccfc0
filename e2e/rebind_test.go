package e2e

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// A prepared statement is checked at PREPARE, and again at EXECUTE once
// the policy has been reloaded: revoking a grant takes effect on the next
// execution, not when the client happens to prepare again.
func TestPreparedStatementRecheckedAfterReload(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("alice", alicePW, "study", "interpolateParams=false")
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	subjects, err := conn.PrepareContext(ctx, "SELECT COUNT(*) FROM subjects WHERE sex = ?")
	if err != nil {
		t.Fatal(err)
	}
	visits, err := conn.PrepareContext(ctx, "SELECT COUNT(*) FROM visits WHERE visit_name = ?")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := subjects.QueryRow("F").Scan(&n); err != nil || n == 0 {
		t.Fatalf("before the reload: %d, %v", n, err)
	}

	// Data managers lose study.subjects.
	r.reloadWith(t, "allow: [study.*]", "allow: [study.visits, study.sites]")

	err = subjects.QueryRow("F").Scan(&n)
	mysqlErr(t, err, 1146, "Table 'study.subjects' doesn't exist")
	// A statement the new policy still allows keeps working.
	if err := visits.QueryRow("Baseline").Scan(&n); err != nil || n == 0 {
		t.Fatalf("an allowed statement after the reload: %d, %v", n, err)
	}
	// New statements of the same session get the new policy too.
	err = conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM subjects").Scan(&n)
	mysqlErr(t, err, 1146, "Table 'study.subjects' doesn't exist")
}

// Disabling an account in a reloaded policy ends what its open sessions
// can do at their next statement.
func TestDisabledAccountLosesOpenSession(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("alice", alicePW, "study")
	db.SetMaxOpenConns(1)
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n); err != nil {
		t.Fatal(err)
	}
	r.reloadWith(t, "alice: {password: ", "alice: {disabled: true, password: ")
	err := db.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n)
	mysqlErr(t, err, 1227, "has been disabled")
}

// A cursor opened by an EXECUTE is fetched from later: each FETCH is
// checked against the policy in force, so a reload that disables the
// account (or revokes the table) stops the rows still to come.
func TestCursorFetchRecheckedAfterReload(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	c := rawConn(t, r, "alice", alicePW, "study")
	id, _ := openCursor(t, c, "SELECT seq FROM seq_1_to_10")
	fetch := func() []byte {
		pkt := []byte{mysql.COM_STMT_FETCH, 0, 0, 0, 0, 2, 0, 0, 0}
		binary.LittleEndian.PutUint32(pkt[1:5], id)
		command(t, c, pkt...)
		for {
			if p := read(t, c); p[0] == 0xff || (p[0] == 0xfe && len(p) < 9) {
				return p
			}
		}
	}
	if p := fetch(); p[0] != 0xfe {
		t.Fatalf("first fetch: % x", p)
	}
	r.reloadWith(t, "alice: {password: ", "alice: {disabled: true, password: ")
	if p := fetch(); p[0] != 0xff {
		t.Fatalf("a FETCH after the account was disabled returned rows: % x", p)
	} else {
		expectErr(t, p, mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR, "disabled")
	}
}
