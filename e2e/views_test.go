package e2e

import (
	"context"
	"fmt"
	"testing"

	"github.com/rrproxy/rrproxy/authz"
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
	probeAsVera(t, pol, []probe{
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
	})
}

// TestViewCheckIgnoresSessionCharset: the catalog queries behind the
// view check run on the user's own upstream session, and their answers
// are cached for everyone, so the session's character sets must not
// change them. With character_set_results = ascii, a view definition's
// non-ASCII names came back as '?': the withheld column numéro_aléatoire
// read as num?ro_al?atoire, matched no rule, and the view was allowed
// (and cached as harmless for every session for a minute).
func TestViewCheckIgnoresSessionCharset(t *testing.T) {
	root := direct(t)
	execAll(t, root,
		"DROP DATABASE IF EXISTS trialc", "CREATE DATABASE trialc",
		"CREATE TABLE trialc.sujets (id INT PRIMARY KEY, `numéro_aléatoire` VARCHAR(32), site VARCHAR(8))",
		"INSERT INTO trialc.sujets VALUES (1, 'MRK-RND-e1e1', 'FR-01')",
		"CREATE VIEW trialc.codes AS SELECT id, `numéro_aléatoire` AS r FROM trialc.sujets",
		"CREATE VIEW trialc.`sites_vérifiés` AS SELECT id, `numéro_aléatoire` AS r FROM trialc.sujets",
		"CREATE VIEW trialc.sites AS SELECT id, site FROM trialc.sujets",
		"GRANT SELECT, SHOW VIEW ON trialc.* TO "+svcUser,
	)
	t.Cleanup(func() { _, _ = root.Exec("DROP DATABASE IF EXISTS trialc") })
	h, err := authz.HashPassword(veraPW)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := authz.Parse("charset-policy.yaml", []byte(fmt.Sprintf(`
users:
  vera: {password: %q, groups: [monitors]}
groups:
  monitors: {}
rules:
  - id: sites
    to: [group:monitors]
    allow: [trialc.*]
  - id: randomisation-blinding
    to: ["*"]
    deny_columns: [trialc.sujets.numéro_aléatoire]
`, h)))
	if err != nil {
		t.Fatal(err)
	}
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	ctx := context.Background()
	for _, set := range []string{
		"SET character_set_results = ascii",
		"SET NAMES latin1",
		"SET character_set_connection = latin1",
		"SET character_set_results = NULL",
		"", // and the default, after all of them have filled the cache
	} {
		db := r.open("vera", veraPW, "trialc")
		db.SetMaxOpenConns(1)
		if set != "" {
			if _, err := db.Exec(set); err != nil {
				t.Fatalf("%s: %v", set, err)
			}
		}
		for _, p := range []probe{
			{"SELECT * FROM codes", refused},
			{"SELECT r FROM codes WHERE id = 1", refused},
			{"SELECT * FROM `sites_vérifiés`", refused},
			{"SELECT * FROM sites", answered}, // the control
		} {
			o := observeDriver(ctx, t, db, p.sql, false)
			o.check(t, "view under "+set, p, true)
		}
		db.Close()
	}
}

// TestViewsThatRunMore: a view runs with its definer's rights, and so
// does everything it calls. A view that calls a stored function (which
// reads the withheld unblinding table) or reads information_schema
// (which names withheld objects, and cannot be filtered inside a view)
// is refused like the function or the catalog read itself.
func TestViewsThatRunMore(t *testing.T) {
	pol := leakWorld(t)
	root := direct(t)
	execAll(t, root,
		"DROP FUNCTION IF EXISTS trial.unblind_code",
		"CREATE FUNCTION trial.unblind_code() RETURNS VARCHAR(32) READS SQL DATA SQL SECURITY DEFINER RETURN (SELECT code FROM trial.secret_unblinding LIMIT 1)",
		"GRANT EXECUTE ON trial.* TO "+svcUser,
		"CREATE OR REPLACE VIEW trialv.codes_by_function AS SELECT trial.unblind_code() AS x",
		"CREATE OR REPLACE VIEW trialv.catalog_names AS SELECT table_name, column_name FROM information_schema.COLUMNS WHERE table_schema = 'trial'",
		"CREATE OR REPLACE VIEW trialv.sleepy AS SELECT SLEEP(0) AS s, visit_id FROM trial.visits",
	)
	t.Cleanup(func() {
		for _, q := range []string{"DROP VIEW IF EXISTS trialv.codes_by_function, trialv.catalog_names, trialv.sleepy", "DROP FUNCTION IF EXISTS trial.unblind_code"} {
			_, _ = root.Exec(q)
		}
	})
	// The danger is real: the service account reads the code through it.
	var code string
	if err := root.QueryRow("SELECT x FROM trialv.codes_by_function").Scan(&code); err != nil || code != "MRK-UNB-5e5e" {
		t.Fatalf("precondition: the view returns the unblinding code: %q, %v", code, err)
	}
	probeAsVera(t, pol, []probe{
		{"SELECT x FROM codes_by_function", refused},
		{"SELECT * FROM catalog_names", refused},
		{"SELECT visit_id FROM sleepy", refused},
		{"SELECT * FROM visit_dates", answered}, // the control
	})
}

// TestMixedCaseViews: the analyser compares names in lower case, but a
// server with lower_case_table_names=0 (the default on Linux, and
// Aurora's) stores ArmByVisit as it was written. The view check must
// still find the view and read its definition: it had looked for
// armbyvisit, found nothing, and let the view through as a table.
func TestMixedCaseViews(t *testing.T) {
	pol := leakWorld(t)
	root := direct(t)
	var lctn int
	if err := root.QueryRow("SELECT @@lower_case_table_names").Scan(&lctn); err != nil {
		t.Fatal(err)
	}
	if lctn != 0 {
		t.Fatalf("this test needs a server with lower_case_table_names=0 (the test MariaDB's default); it has %d", lctn)
	}
	execAll(t, root,
		"CREATE OR REPLACE VIEW trialv.ArmByVisit AS SELECT visit_id, treatment_arm AS arm FROM trial.visits",
		"CREATE OR REPLACE VIEW trialv.VisitDates AS SELECT visit_id, visit_date FROM trial.visits",
		// Two views whose names differ only in case: the analyser
		// cannot tell which one the server reads.
		"CREATE OR REPLACE VIEW trialv.TwinDates AS SELECT visit_id, visit_date FROM trial.visits",
		"CREATE OR REPLACE VIEW trialv.TWINDATES AS SELECT visit_id, visit_date FROM trial.visits",
	)
	t.Cleanup(func() {
		_, _ = root.Exec("DROP VIEW IF EXISTS trialv.ArmByVisit, trialv.VisitDates, trialv.TwinDates, trialv.TWINDATES")
	})
	probeAsVera(t, pol, []probe{
		{"SELECT * FROM ArmByVisit", refused},
		{"SELECT arm FROM trialv.ArmByVisit", refused},
		{"SELECT * FROM VisitDates", answered}, // a mixed-case view over permitted columns
		{"SELECT * FROM TwinDates", refused},
	})
}

// probeAsVera runs each probe as vera (who reads trial.* and trialv.*)
// in trialv, through a rig under pol, text protocol.
func probeAsVera(t *testing.T, pol *authz.Policy, probes []probe) {
	t.Helper()
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	ctx := context.Background()
	db := r.open("vera", veraPW, "trialv")
	db.SetMaxOpenConns(1)
	for _, p := range probes {
		o := observeDriver(ctx, t, db, p.sql, false)
		o.check(t, "view", p, true)
	}
}
