package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/rrproxy/rrproxy/authz"
)

// The leak tests attack a schema of their own, "trial", in which every
// cell a restricted user must not read holds a marker value that occurs
// nowhere else, and every object they must not know about has a name
// that occurs nowhere else. A marker or name showing up in anything the
// proxy sends back (a value, a column title, an error, a warning) is a
// leak.
//
//	trial.subjects      subject_id  pseudonymised   'MRK-SID-0001'...
//	                    initials    fixed "XX"      'MRK-INI-4b2e'
//	                    birth_year  NULL            987654321
//	                    diagnosis   withheld        'MRK-DX-aa11'
//	trial.visits        subject_id  pseudonymised
//	                    treatment_arm withheld      'MRK-ARM-7f3a' / 'MRK-ARM-9c1d',
//	                                comment 'MRK-CMT-c0de', a column CHECK and
//	                                an index, both auto-named after it
//	trial.secret_unblinding  denied table in a granted schema ('MRK-UNB-5e5e')
//	vault_q7x.payroll_k9     a schema nobody is granted ('MRK-VLT-0b0b')
//	ops.bank_k3              the harness's ungranted schema ('MRK-OPS-3c3c')
//	trialv.*                 views over all of the above, readable by vera
//	trial_noacc.notes        granted to vera, not to the service account
//
// The service account can read all of it: the proxy is the only barrier.

const (
	monaPW  = "mona-test-password"
	rowanPW = "rowan-test-password"
	solPW   = "sol-test-password"
	remoPW  = "remo-test-password"
	timPW   = "tim-test-password"
	veraPW  = "vera-test-password"

	subjectCount       = 40
	subjectsWithVisits = 37 // visits cycle through the first 37 subjects
	visitCount         = 300
	birthYearMarker    = "987654321"
)

// leakTokens must never reach a restricted user unless the user's own
// statement contains them (an error may quote what was typed).
var leakTokens = []string{
	// Values of withheld and masked cells.
	"MRK-ARM", "MRK-CMT-c0de", "MRK-SID-", "MRK-INI-4b2e", birthYearMarker, "MRK-DX-aa11",
	"MRK-UNB-5e5e", "MRK-VLT-0b0b", "MRK-OPS-3c3c",
	// Names of withheld objects.
	"treatment_arm", "diagnosis", "secret_unblinding", "vault_q7x", "payroll_k9",
	"site_payments", "bank_k3",
	// The upstream service account.
	svcUser,
}

var (
	worldOnce   sync.Once
	worldPolicy *authz.Policy
	worldErr    error
)

// leakWorld creates the trial schema (once per test binary) and returns
// the policy the leak tests run under.
func leakWorld(t *testing.T) *authz.Policy {
	t.Helper()
	worldOnce.Do(func() { worldPolicy, worldErr = buildLeakWorld() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return worldPolicy
}

func buildLeakWorld() (*authz.Policy, error) {
	db, err := sql.Open("mysql", rootDSN)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	stmts := []string{
		"DROP DATABASE IF EXISTS trial", "DROP DATABASE IF EXISTS vault_q7x",
		"CREATE DATABASE trial", "CREATE DATABASE vault_q7x",
		`CREATE TABLE trial.subjects (subject_id VARCHAR(24) PRIMARY KEY, site_id INT NOT NULL,
		   initials VARCHAR(24), birth_year INT, diagnosis VARCHAR(32), sex CHAR(1))`,
		fmt.Sprintf(`INSERT INTO trial.subjects SELECT CONCAT('MRK-SID-', LPAD(seq, 4, '0')), 1 + seq %% 4,
		   'MRK-INI-4b2e', %s, 'MRK-DX-aa11', IF(seq %% 2, 'F', 'M') FROM trial.seq_1_to_%d`, birthYearMarker, subjectCount),
		`CREATE TABLE trial.secret_unblinding (subject_id VARCHAR(24) PRIMARY KEY, arm VARCHAR(32), code VARCHAR(32))`,
		`INSERT INTO trial.secret_unblinding SELECT subject_id, 'MRK-ARM-7f3a', 'MRK-UNB-5e5e' FROM trial.subjects`,
		// MariaDB names a column CHECK and an unnamed index after their
		// first column: the withheld name lives on in metadata.
		`CREATE TABLE trial.visits (visit_id INT PRIMARY KEY, subject_id VARCHAR(24) NOT NULL,
		   visit_name VARCHAR(32), visit_date DATE, systolic_bp INT,
		   treatment_arm VARCHAR(32) COMMENT 'MRK-CMT-c0de' CHECK (treatment_arm LIKE 'MRK-ARM-%'),
		   KEY (treatment_arm, visit_date),
		   FOREIGN KEY (subject_id) REFERENCES trial.secret_unblinding (subject_id))`,
		fmt.Sprintf(`INSERT INTO trial.visits SELECT seq, CONCAT('MRK-SID-', LPAD(1 + seq %% %d, 4, '0')),
		   ELT(1 + seq %% 4, 'Screening', 'Baseline', 'Week 4', 'Week 8'), DATE_ADD('2025-01-06', INTERVAL seq DAY),
		   110 + seq %% 40, IF(seq %% 2, 'MRK-ARM-7f3a', 'MRK-ARM-9c1d') FROM trial.seq_1_to_%d`, subjectsWithVisits, visitCount),
		`CREATE TABLE vault_q7x.payroll_k9 (id INT PRIMARY KEY, v VARCHAR(32))`,
		`INSERT INTO vault_q7x.payroll_k9 VALUES (1, 'MRK-VLT-0b0b')`,
		"DROP TABLE IF EXISTS ops.bank_k3",
		`CREATE TABLE ops.bank_k3 (id INT PRIMARY KEY, v VARCHAR(32))`,
		`INSERT INTO ops.bank_k3 VALUES (1, 'MRK-OPS-3c3c')`,
		"ANALYZE TABLE trial.subjects, trial.visits",
		// Views in a schema vera may read, over what she may not.
		"DROP DATABASE IF EXISTS trialv", "CREATE DATABASE trialv",
		"CREATE VIEW trialv.visit_dates AS SELECT visit_id, visit_date FROM trial.visits",
		"CREATE VIEW trialv.arm_by_visit AS SELECT visit_id, treatment_arm AS arm FROM trial.visits",
		"CREATE VIEW trialv.active_visits AS SELECT visit_id, visit_date FROM trial.visits WHERE treatment_arm = 'MRK-ARM-7f3a'",
		"CREATE VIEW trialv.unblinding AS SELECT subject_id, code FROM trial.secret_unblinding",
		"CREATE VIEW trialv.payroll AS SELECT * FROM vault_q7x.payroll_k9",
		"CREATE VIEW trialv.birth_years AS SELECT subject_id, birth_year FROM trial.subjects",
		"GRANT SELECT, SHOW VIEW ON trialv.* TO " + svcUser,
		// Granted to vera by the policy, but not to the service account:
		// the replica refuses it, naming the account.
		"DROP DATABASE IF EXISTS trial_noacc", "CREATE DATABASE trial_noacc",
		"CREATE TABLE trial_noacc.notes (id INT PRIMARY KEY, note VARCHAR(32))",
		"GRANT SELECT, SHOW VIEW ON trial.* TO " + svcUser,
		"GRANT SELECT, SHOW VIEW ON vault_q7x.* TO " + svcUser,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			return nil, fmt.Errorf("leak world: %s: %w", s, err)
		}
	}

	dir, err := os.MkdirTemp("", "rrproxy-leak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir) // the key is read at Parse
	if err := os.WriteFile(filepath.Join(dir, "pseudonym.key"), []byte("leak-test-key-0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		return nil, err
	}
	hash := func(pw string) string {
		h, err := authz.HashPassword(pw)
		if err != nil {
			panic(err)
		}
		return h
	}
	text := fmt.Sprintf(`
pseudonym_key: {from_file: pseudonym.key}
users:
  mona: {password: %q, groups: [monitors]}
  rowan: {password: %q, groups: [monitors], limits: {max_rows: 50}}
  sol: {password: %q, groups: [monitors], limits: {max_sessions: 2}}
  remo: {password: %q, groups: [monitors], limits: {networks: [10.0.0.0/8]}}
  tim: {password: %q, groups: [monitors], limits: {max_execution_time: 1s}}
  vera: {password: %q, groups: [monitors, view-readers]}
groups:
  monitors: {}
  view-readers: {}
rules:
  - id: trial-monitoring
    to: [group:monitors]
    allow: [trial.*]
    mask_columns:
      - {column: trial.subjects.subject_id, with: pseudonym}
      - {column: trial.visits.subject_id, with: pseudonym}
      - {column: trial.subjects.initials, with: fixed, value: "XX"}
      - {column: trial.subjects.birth_year, with: null}
  - id: trial-blinding
    to: ["*"]
    deny: [trial.secret_unblinding]
    deny_columns: [trial.visits.treatment_arm, trial.subjects.diagnosis]
  - id: trial-views
    to: [group:view-readers]
    allow: [trialv.*, trial_noacc.*]
`, hash(monaPW), hash(rowanPW), hash(solPW), hash(remoPW), hash(timPW), hash(veraPW))
	return authz.Parse(filepath.Join(dir, "leak-policy.yaml"), []byte(text))
}
