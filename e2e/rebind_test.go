package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	text := strings.Replace(policyText, "allow: [study.*]", "allow: [study.visits, study.sites]", 1)
	if text == policyText {
		t.Fatal("test policy changed shape; update this test")
	}
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.Reload(file); err != nil {
		t.Fatal(err)
	}

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
	text := strings.Replace(policyText, "alice: {password: ", "alice: {disabled: true, password: ", 1)
	if text == policyText {
		t.Fatal("test policy changed shape; update this test")
	}
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.store.Reload(file); err != nil {
		t.Fatal(err)
	}
	err := db.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n)
	mysqlErr(t, err, 1227, "has been disabled")
}
