package e2e

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rrproxy/rrproxy/authz"
)

// Rows carry information in their order, not only in their values. A
// statement that names nothing withheld must not come back sorted by a
// withheld or pseudonymised value: the order alone would tell the user
// what the policy hides.

// TestRowOrderRevealsNoWithheldColumn: MariaDB answers a covering query
// from the smallest index that holds its columns. visits has an index
// led by the withheld treatment_arm (KEY (treatment_arm, visit_date)),
// so "SELECT visit_id, visit_date FROM visits" is read from it and comes
// back grouped by arm: every visit of one arm, then every visit of the
// other. That is the randomisation, unblinded, by a query that names
// nothing withheld. FORCE INDEX makes it explicit.
func TestRowOrderRevealsNoWithheldColumn(t *testing.T) {
	_, db := monaSession(t)
	armOf := map[string]string{}
	for _, row := range table(t, directTo(t, "trial"), "SELECT visit_id, treatment_arm FROM visits") {
		armOf[row[0]] = row[1]
	}
	for _, q := range []string{
		"SELECT visit_id, visit_date FROM visits",
		"SELECT visit_id FROM visits FORCE INDEX (treatment_arm)",
	} {
		_, rows, err := tryQuery(db, q)
		if err != nil {
			continue // refusing the statement is one way to close this
		}
		runs := 0
		for i, row := range rows {
			if i == 0 || armOf[row[0]] != armOf[rows[i-1][0]] {
				runs++
			}
		}
		if runs <= 2 {
			t.Errorf("LEAK %s\n\treturns the %d visits grouped by the withheld treatment_arm (%d runs): the order unblinds the trial", q, len(rows), runs)
		}
	}
}

// TestPseudonymOrderRevealsNothing: the proxy replaces values, not
// their order. Rows read in primary-key order, or grouped by a
// pseudonymised column (GROUP BY sorts), arrive sorted by the real
// value; subject numbers are sequential, so the n-th pseudonym is the
// n-th subject, and the pseudonyms are undone without the key.
func TestPseudonymOrderRevealsNothing(t *testing.T) {
	pol, db := monaSession(t)
	ref := directTo(t, "trial")
	for _, c := range []struct{ proxied, real string }{
		{"SELECT subject_id FROM subjects", "SELECT subject_id FROM subjects ORDER BY subject_id"},
		{"SELECT subject_id, COUNT(*) FROM visits GROUP BY subject_id", "SELECT DISTINCT subject_id FROM visits ORDER BY subject_id"},
		{"SELECT DISTINCT subject_id FROM visits", "SELECT DISTINCT subject_id FROM visits ORDER BY subject_id"},
	} {
		_, rows, err := tryQuery(db, c.proxied)
		if err != nil {
			continue
		}
		var got, sortedByReal []string
		for _, row := range rows {
			got = append(got, row[0])
		}
		for _, row := range table(t, ref, c.real) {
			sortedByReal = append(sortedByReal, string(pol.Pseudonym([]byte(row[0]))))
		}
		if slices.Equal(got, sortedByReal) {
			t.Errorf("LEAK %s\n\treturns its %d pseudonyms in the order of the real subject ids: the i-th pseudonym is the i-th subject", c.proxied, len(got))
		}
	}
}

// TestRollupOverPseudonymIsRefusedClearly: WITH ROLLUP over a
// pseudonymised column cannot be given the keyed order (MariaDB allows
// no ORDER BY with ROLLUP), so it is refused with that reason; MariaDB's
// own answer spoke of an ORDER BY the user had not written. ROLLUP over
// a column that is not pseudonymised runs as before.
func TestRollupOverPseudonymIsRefusedClearly(t *testing.T) {
	_, db := monaSession(t)
	for _, q := range []string{
		"SELECT subject_id, COUNT(*) FROM visits GROUP BY subject_id WITH ROLLUP",
		"SELECT COUNT(*) FROM visits GROUP BY subject_id WITH ROLLUP",
	} {
		_, _, err := tryQuery(db, q)
		if err == nil || !strings.Contains(err.Error(), "WITH ROLLUP cannot be used with the pseudonymised column subject_id") || strings.Contains(err.Error(), "1221") {
			t.Errorf("%s: %v, want rrproxy's refusal naming ROLLUP and subject_id", q, err)
		}
	}
	_, rows, err := tryQuery(db, "SELECT site_id, COUNT(*) FROM subjects GROUP BY site_id WITH ROLLUP")
	if err != nil || len(rows) < 2 {
		t.Fatalf("ROLLUP over site_id: %d rows, %v", len(rows), err)
	}
	if last := rows[len(rows)-1]; last[0] != "NULL" && last[0] != "" {
		t.Errorf("ROLLUP over site_id: last row %v, want the super-aggregate (NULL site)", last)
	}
}

// TestRowNumbersRevealNoPseudonymOrder: MariaDB computes window
// functions and @x := assignments over the rows as it produces them,
// grouped (or scanned) in the order of the real values, before the keyed
// ORDER BY the proxy adds. ROW_NUMBER() OVER () beside GROUP BY
// subject_id numbered every pseudonym with the rank of its real subject
// id, re-identifying all of them (found by an adversarial sweep). Such
// statements are refused with the reason.
func TestRowNumbersRevealNoPseudonymOrder(t *testing.T) {
	pol, db := monaSession(t)
	realOf := map[string]string{}
	for _, row := range table(t, directTo(t, "trial"), "SELECT subject_id FROM subjects") {
		realOf[string(pol.Pseudonym([]byte(row[0])))] = row[0]
	}
	for _, q := range []string{
		"SELECT subject_id, site_id, ROW_NUMBER() OVER () AS r FROM subjects GROUP BY subject_id, site_id",
		"SELECT subject_id, COUNT(*) OVER (ROWS UNBOUNDED PRECEDING) AS r FROM subjects GROUP BY subject_id",
		"SELECT subject_id, SUM(COUNT(*)) OVER (ROWS UNBOUNDED PRECEDING) AS r FROM visits GROUP BY subject_id",
		"SELECT subject_id, ROW_NUMBER() OVER () AS r FROM subjects",
		"SELECT subject_id, @r := @r + 1 AS r FROM subjects, (SELECT @r := 0) z GROUP BY subject_id",
		"SELECT subject_id, @r := @r + 1 AS r FROM subjects",
		"SELECT subject_id, ROWNUM() AS r FROM subjects",
		"SELECT subject_id, MAX(LAST_INSERT_ID(LAST_INSERT_ID() + 1)) AS r FROM subjects GROUP BY subject_id",
		"SELECT subject_id, MAX(UUID_SHORT()) AS r FROM subjects GROUP BY subject_id",
	} {
		_, rows, err := tryQuery(db, q)
		if err != nil {
			if !strings.Contains(err.Error(), "cannot be used in a query with the pseudonymised column subject_id") {
				t.Errorf("%s: %v, want rrproxy's refusal naming the row-ordered construct", q, err)
			}
			continue
		}
		// Allowed: the numbers must not follow the real ids.
		byNumber := slices.Clone(rows)
		slices.SortFunc(byNumber, func(a, b []string) int {
			return strings.Compare(fmt.Sprintf("%09s", a[len(a)-1]), fmt.Sprintf("%09s", b[len(b)-1]))
		})
		var reals []string
		for _, row := range byNumber {
			reals = append(reals, realOf[row[0]])
		}
		if slices.IsSorted(reals) {
			t.Errorf("LEAK %s\n\tnumbers its %d pseudonyms in the order of the real subject ids", q, len(rows))
		} else {
			t.Errorf("%s: allowed; want it refused (its numbers did not follow the real ids this time)", q)
		}
	}
	// Without a table that has a pseudonymised column, window functions
	// work (mona's trial tables all have one).
	_, rows, err := tryQuery(db, "SELECT x, ROW_NUMBER() OVER (ORDER BY x) AS r FROM (SELECT 5 AS x UNION ALL SELECT 7 UNION ALL SELECT 9) t ORDER BY x")
	if err != nil || len(rows) != 3 || rows[2][1] != "3" {
		t.Errorf("ROW_NUMBER() over three literals: %v, %v", rows, err)
	}
}

// monaSession starts a rig with the leak world's policy and opens one
// session of mona's in trial (one connection, so session state holds).
func monaSession(t *testing.T) (*authz.Policy, *sql.DB) {
	t.Helper()
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	db := r.open("mona", monaPW, "trial")
	db.SetMaxOpenConns(1)
	return pol, db
}

// TestScanOrderRevealsNoPseudonym: subjects is clustered by its
// pseudonymised primary key, so a query that does not return the
// pseudonym still came back in the order of the real identifiers, and
// the same columns selected with the pseudonym (in keyed order) lined up
// with it row for row: every subject re-identified (found by an
// adversarial sweep). Rows read from such a table are put in the keyed
// order, and what would list or pick them in read order is refused.
func TestScanOrderRevealsNoPseudonym(t *testing.T) {
	_, db := monaSession(t)
	ref := directTo(t, "trial")
	inRealOrder := func(q string) string {
		var b strings.Builder
		for _, row := range table(t, ref, q) {
			fmt.Fprintln(&b, row)
		}
		return b.String()
	}
	for _, c := range []struct{ proxied, real string }{
		{"SELECT site_id, sex FROM subjects", "SELECT site_id, sex FROM subjects ORDER BY subject_id"},
		{"SELECT s.site_id, s.sex FROM trial.subjects s", "SELECT site_id, sex FROM subjects ORDER BY subject_id"},
		{"SELECT DISTINCT site_id, sex FROM subjects", "SELECT DISTINCT site_id, sex FROM subjects ORDER BY subject_id"},
		{"SELECT v.visit_name FROM visits v JOIN subjects s ON s.subject_id = v.subject_id WHERE v.visit_id <= 40",
			"SELECT v.visit_name FROM visits v JOIN subjects s ON s.subject_id = v.subject_id WHERE v.visit_id <= 40 ORDER BY s.subject_id, v.visit_id"},
	} {
		_, rows, err := tryQuery(db, c.proxied)
		if err != nil {
			t.Errorf("%s: %v, want rows in keyed order", c.proxied, err)
			continue
		}
		var b strings.Builder
		for _, row := range rows {
			fmt.Fprintln(&b, row)
		}
		if b.String() == inRealOrder(c.real) {
			t.Errorf("LEAK %s\n\treturns its %d rows in the order of the real subject ids", c.proxied, len(rows))
		}
	}
	for _, q := range []string{
		"SELECT site_id, GROUP_CONCAT(sex) FROM subjects GROUP BY site_id",
		"SELECT JSON_ARRAYAGG(sex) FROM subjects",
		"SELECT * FROM (SELECT site_id, sex FROM subjects) d",
		"SELECT sex FROM subjects UNION ALL SELECT 'x'",
		"SELECT (SELECT sex FROM subjects LIMIT 1)",
		"SELECT sex, ROW_NUMBER() OVER (ORDER BY site_id) FROM subjects",
	} {
		if _, _, err := tryQuery(db, q); err == nil || !strings.Contains(err.Error(), "which has pseudonymised columns") {
			t.Errorf("%s: %v, want rrproxy's refusal (it would list or pick rows in the order of the real ids)", q, err)
		}
	}
	// Grouped and aggregated reads are unchanged.
	if _, rows, err := tryQuery(db, "SELECT site_id, COUNT(*) FROM subjects GROUP BY site_id"); err != nil || len(rows) != 4 {
		t.Errorf("GROUP BY site_id: %v, %v", rows, err)
	}
	// A join written in WHERE, as Crystal Reports writes it, is a join.
	if _, rows, err := tryQuery(db, "SELECT v.visit_name FROM visits v, subjects s WHERE s.subject_id = v.subject_id AND v.visit_id <= 5"); err != nil || len(rows) != 5 {
		t.Errorf("join in WHERE: %d rows, %v; want 5", len(rows), err)
	}
}

// TestRewriteAcrossPacketBoundary: a statement that fits one packet
// (under 16 MiB) and that the rewrite (CONCAT, the keyed ORDER BY) makes
// longer than one is sent upstream in two; the reply's sequence ids must
// still continue from the client's one packet. They continued from the
// upstream's two, and go-sql-driver gave up with "commands out of sync"
// (found by an adversarial sweep).
func TestRewriteAcrossPacketBoundary(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	db := r.open("mona", monaPW, "trial", "maxAllowedPacket=67108864")
	db.SetMaxOpenConns(1)
	prefix := "SELECT subject_id FROM subjects WHERE sex = '"
	filler := strings.Repeat("A", 0xffffff-1-len(prefix)-1-60)
	q := prefix + filler + "'"
	if len(q)+1 >= 0xffffff {
		t.Fatalf("the statement (%d bytes) does not fit one packet", len(q))
	}
	_, rows, err := tryQuery(db, q)
	if err != nil || len(rows) != 0 {
		t.Fatalf("%d-byte statement rewritten past one packet: %d rows, %v", len(q), len(rows), err)
	}
	if _, rows, err := tryQuery(db, "SELECT COUNT(*) FROM subjects"); err != nil || len(rows) != 1 {
		t.Fatalf("the session after it: %v, %v", rows, err)
	}
}

// TestGroupFirstRowRevealsNoPseudonym: without ONLY_FULL_GROUP_BY a
// column neither grouped nor aggregated is answered with the first row
// MariaDB reads for the group, in the order of the real identifiers:
// "SELECT site_id, subject_id FROM subjects GROUP BY site_id" gave each
// site's lowest real subject, and repeating it while excluding those
// found re-identified all of them; a view over subjects without
// subject_id came back in real-id order with nothing to key it by (third
// adversarial sweep). Both are refused with the reason.
func TestGroupFirstRowRevealsNoPseudonym(t *testing.T) {
	_, db := monaSession(t)
	root := direct(t)
	execAll(t, root, "CREATE OR REPLACE VIEW trial.v_site_sex AS SELECT site_id, sex FROM trial.subjects")
	t.Cleanup(func() { execAll(t, root, "DROP VIEW IF EXISTS trial.v_site_sex") })
	for q, want := range map[string]string{
		"SELECT site_id, subject_id FROM subjects GROUP BY site_id":     "the column subject_id, neither grouped nor aggregated",
		"SELECT subject_id, COUNT(*) FROM subjects":                     "the column subject_id, neither grouped nor aggregated",
		"SELECT COUNT(*), sex FROM subjects":                            "the column sex, neither grouped nor aggregated",
		"SELECT visit_name, subject_id FROM visits GROUP BY visit_name": "the column subject_id, neither grouped nor aggregated",
		"SELECT site_id, sex FROM v_site_sex":                           "reads trial.subjects, which has the pseudonymised column subject_id",
	} {
		if _, rows, err := tryQuery(db, q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %d rows, %v; want rrproxy's refusal (%s)", q, len(rows), err, want)
		}
	}
	for _, q := range []string{
		"SELECT site_id, COUNT(*) AS n FROM subjects GROUP BY site_id HAVING n > 1 ORDER BY n",
		"SELECT subject_id, COUNT(*) AS n FROM visits GROUP BY subject_id ORDER BY n DESC",
		"SELECT sex, site_id, COUNT(*) FROM subjects GROUP BY 2, sex",
	} {
		if _, rows, err := tryQuery(db, q); err != nil || len(rows) == 0 {
			t.Errorf("%s: %d rows, %v; want it answered", q, len(rows), err)
		}
	}
}
