package e2e

import "testing"

// A stored function runs with its definer's rights: called through
// rrproxy as f(), it would read whatever its body reads, whatever the
// caller's grants. rrproxy grants no routines, so calls of stored
// functions are refused, qualified or not, while builtins work.
func TestStoredFunctionsAreRefused(t *testing.T) {
	root := direct(t)
	for _, q := range []string{
		"DROP FUNCTION IF EXISTS study.payments_total",
		"CREATE FUNCTION study.payments_total() RETURNS DECIMAL(12,2) READS SQL DATA SQL SECURITY DEFINER RETURN (SELECT SUM(amount_eur) FROM ops.site_payments)",
		"GRANT EXECUTE ON study.* TO " + svcUser,
	} {
		if _, err := root.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { _, _ = root.Exec("DROP FUNCTION IF EXISTS study.payments_total") })

	// The service account can run it directly: the danger is real.
	var total string
	if err := root.QueryRow("SELECT study.payments_total()").Scan(&total); err != nil || total == "" {
		t.Fatalf("precondition: the function returns a total: %q, %v", total, err)
	}

	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("bob", bobPW, "study")
	for _, q := range []string{
		"SELECT payments_total()",
		"SELECT PAYMENTS_TOTAL() AS t",
		"SELECT subject_id FROM subjects WHERE payments_total() > 0",
	} {
		_, err := db.Query(q)
		mysqlErr(t, err, 1227, "payments_total() is a stored function")
	}
	_, err := db.Query("SELECT study.payments_total()")
	mysqlErr(t, err, 1227, "read-only")
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM subjects WHERE UPPER(sex) = 'F' AND LENGTH(subject_id) > 0").Scan(&n); err != nil || n == 0 {
		t.Fatalf("builtins after refusals: %d, %v", n, err)
	}
}
