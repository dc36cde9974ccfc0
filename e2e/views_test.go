package e2e

import (
	"context"
	"testing"
)

// Views in a schema the user may read, over objects she may not. vera
// reads trial.* like mona (the arm withheld, birth_year masked, and so
// on) and also trialv.*, whose views the replica's owner defined over
// trial and vault_q7x. A view runs with its definer's rights, so the
// service account reads through it whatever the view reads. The policy
// withholds trial.visits.treatment_arm and trial.secret_unblinding from
// everyone; reading them through a view is reading them.
func TestLeakThroughViews(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	ctx := context.Background()
	db := r.open("vera", veraPW, "trialv")
	db.SetMaxOpenConns(1)

	for _, p := range []probe{
		// The control: a view over permitted columns only.
		{"SELECT * FROM visit_dates", answered},
		{"SELECT * FROM arm_by_visit", refused},
		{"SELECT visit_id FROM arm_by_visit WHERE arm = 'MRK-ARM-7f3a'", refused},
		{"SELECT COUNT(*) FROM active_visits", refused},
		{"SELECT * FROM unblinding", refused},
		{"SELECT * FROM payroll", refused},
		{"SELECT * FROM birth_years", refused},
		{"SELECT COUNT(*) FROM birth_years WHERE birth_year = 987654321", refused},
		{"SELECT * FROM information_schema.VIEWS", anything},
		{"SHOW CREATE VIEW arm_by_visit", anything},
		{"SHOW CREATE TABLE unblinding", anything},
		{"SHOW COLUMNS FROM arm_by_visit", anything},
	} {
		o := observeDriver(ctx, t, db, p.sql, false)
		o.check(t, "view", p, true)
	}
}
