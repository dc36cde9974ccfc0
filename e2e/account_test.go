package e2e

import (
	"context"
	"testing"
)

// TestServiceAccountNeverNamed: an upstream error carries the service
// account's name ("SELECT command denied to user 'rr_service'@..."). The
// proxy rewrites the error it relays, but MariaDB keeps the original in
// the session's diagnostics area, which SHOW WARNINGS and SHOW ERRORS
// (and the CLI's --show-warnings) read back.
func TestServiceAccountNeverNamed(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	ctx := context.Background()
	db := r.open("vera", veraPW, "")
	db.SetMaxOpenConns(1)
	probes := []probe{
		{"SELECT * FROM trial_noacc.notes", refused},
		{"SHOW ERRORS", anything},
		{"SELECT note FROM trial_noacc.notes WHERE id = 1", refused},
		{"SHOW WARNINGS", anything},
	}
	for _, p := range probes {
		observeDriver(ctx, t, db, p.sql, false).check(t, "text", p, true)
	}
	stmts := []string{probes[0].sql, probes[2].sql}
	for i, o := range observeCLI(t, r, "vera", veraPW, "trial", stmts) {
		o.check(t, "cli", probe{sql: stmts[i], want: refused}, true)
	}
}
