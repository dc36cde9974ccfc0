package sqlscope

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testHooks masks study.visits.arm (NULL), study.subjects.code
// (pseudonym) and study.subjects.initials ('XX'); stars over
// study.visits and study.subjects expand; information_schema.tables is
// filtered to the study schema.
type testHooks struct{}

var testCatalog = map[Table][]string{
	{"study", "visits"}:   {"visit_id", "subject_id", "arm", "visit_date"},
	{"study", "subjects"}: {"subject_id", "code", "initials", "site_id"},
}

func (testHooks) Column(c Column, use Use) (ColumnAction, error) {
	var act ColumnAction
	switch {
	case c.Name == "arm" && (c.Table == "visits" || c.Table == ""):
		act = ColumnAction{Do: MaskNull}
	case c.Name == "initials" && (c.Table == "subjects" || c.Table == ""):
		act = ColumnAction{Do: MaskFixed, Value: "XX"}
	case c.Name == "code" && (c.Table == "subjects" || c.Table == ""):
		act = ColumnAction{Do: Pseudonym}
		if use == UseOutput || use == UseGroupBy || use == UseCountDistinct || use == UseJoinEq {
			return act, nil
		}
		return act, fmt.Errorf("%w: code at %s", errRewrite, use)
	default:
		return act, nil
	}
	if use != UseOutput && use != UseSelect {
		return act, fmt.Errorf("%w: %s at %s", errRewrite, c.Name, use)
	}
	return act, nil
}

func (testHooks) Star(t Table) ([]string, bool, error) {
	cols, ok := testCatalog[t]
	return cols, ok, nil
}

func (testHooks) Catalog(name string) (string, error) {
	if name == "tables" || name == "columns" {
		return "TABLE_SCHEMA = 'study'", nil
	}
	return "", nil
}

func (testHooks) Function(name string) (string, bool) {
	return "alice@rrproxy", name == "current_user"
}

func TestRewrite(t *testing.T) {
	cases := []struct {
		sql, want string
		pseudo    []int
		err       bool
	}{
		{sql: "SELECT visit_id FROM study.visits", want: "SELECT visit_id FROM study.visits"},
		{sql: "SELECT arm FROM study.visits", want: "SELECT NULL AS `arm` FROM `study`.`visits`"},
		{sql: "SELECT v.arm AS a, v.visit_id FROM study.visits v", want: "SELECT NULL AS `a`,`v`.`visit_id` FROM `study`.`visits` AS `v`"},
		{sql: "SELECT * FROM study.visits", want: "SELECT `study`.`visits`.`visit_id`,`study`.`visits`.`subject_id`,NULL AS `arm`,`study`.`visits`.`visit_date` FROM `study`.`visits`"},
		{sql: "SELECT v.*, s.* FROM visits v JOIN subjects s ON s.subject_id = v.subject_id", want: "SELECT `v`.`visit_id`,`v`.`subject_id`,NULL AS `arm`,`v`.`visit_date`,`s`.`subject_id`,CONCAT(`s`.`code`) AS `code`,'XX' AS `initials`,`s`.`site_id` FROM `visits` AS `v` JOIN `subjects` AS `s` ON `s`.`subject_id`=`v`.`subject_id`", pseudo: []int{5}},
		{sql: "SELECT code, COUNT(*) FROM subjects GROUP BY code", want: "SELECT CONCAT(`code`) AS `code`,COUNT(1) AS `COUNT(*)` FROM `subjects` GROUP BY `code`", pseudo: []int{0}},
		{sql: "SELECT COUNT(DISTINCT code) FROM subjects", want: "SELECT COUNT(DISTINCT code) FROM subjects"},
		{sql: "SELECT * FROM (SELECT arm FROM visits) d", want: "SELECT * FROM (SELECT NULL AS `arm` FROM `visits`) AS `d`"},
		{sql: "SELECT * FROM information_schema.TABLES t WHERE t.TABLE_NAME LIKE 'v%'", want: "SELECT * FROM (SELECT * FROM `information_schema`.`TABLES` WHERE `TABLE_SCHEMA`='study') AS `t` WHERE `t`.`TABLE_NAME` LIKE 'v%'"},
		{sql: "SELECT visit_id FROM visits WHERE arm = 'A'", err: true},
		{sql: "SELECT visit_id FROM visits ORDER BY arm", err: true},
		{sql: "SELECT code FROM subjects ORDER BY code", err: true},
		{sql: "SELECT * FROM subjects WHERE code LIKE 'S-1%'", err: true},
		{sql: "SELECT * FROM visits NATURAL JOIN subjects", err: true},
		{sql: "SELECT * FROM visits JOIN subjects USING (subject_id)", err: true},
		{sql: "SELECT (SELECT code FROM subjects LIMIT 1)", err: true},
		{sql: "SELECT x FROM (SELECT code AS x FROM subjects) d", err: true},
		{sql: "SELECT code FROM subjects UNION SELECT 1", err: true},
		{sql: "SELECT a.code FROM subjects a JOIN subjects b ON a.code = b.code", want: "SELECT CONCAT(`a`.`code`) AS `code` FROM `subjects` AS `a` JOIN `subjects` AS `b` ON `a`.`code`=`b`.`code`", pseudo: []int{0}},
		{sql: "SELECT 1 FROM subjects a JOIN subjects b ON a.code = b.code OR 1", err: true},
		// A pseudonym joined with = to anything but another pseudonym, or
		// reached through its output name or position, tests real values.
		{sql: "SELECT 1 FROM subjects a JOIN (SELECT 'S-1' AS x) k ON a.code = k.x", err: true},
		{sql: "SELECT 1 FROM subjects a JOIN visits v ON a.code = v.visit_id", err: true},
		{sql: "SELECT 1 FROM subjects a JOIN (SELECT 'S-1' AS code) k USING (code)", err: true},
		{sql: "SELECT 1 FROM subjects a JOIN subjects b USING (code)", want: "SELECT 1 FROM subjects a JOIN subjects b USING (code)"},
		// ... and a derived table's or CTE's column is the user's own,
		// whatever it is called.
		{sql: "SELECT d.plain FROM subjects s JOIN (SELECT 'S-1' AS code, 'S-1' AS plain) d ON s.code = d.code", err: true},
		{sql: "WITH d AS (SELECT 'S-1' AS code) SELECT 1 FROM subjects s JOIN d ON s.code = d.code", err: true},
		{sql: "SELECT 1 FROM subjects s JOIN (SELECT 'S-1' AS code) d ON d.code = s.code", err: true},
		// A string ending in a backslash keeps its escape in the rewritten
		// text: written as 'x\' it ended the string early, and the server
		// ran the rest of the "string" as SQL.
		{sql: `SELECT initials, 'x\\' AS a, ', initials AS leak FROM subjects -- ' AS b FROM subjects`,
			want: "SELECT 'XX' AS `initials`,'x\\\\' AS `a`,', initials AS leak FROM subjects -- ' AS `b` FROM `subjects`"},
		{sql: `SELECT CURRENT_USER() AS u, "a\\b\\'c" AS s`, want: "SELECT 'alice@rrproxy' AS `u`,'a\\\\b\\\\''c' AS `s`"},
		{sql: "SELECT code AS c FROM subjects HAVING c = 'S-1'", err: true},
		{sql: "SELECT code AS c FROM subjects ORDER BY c", err: true},
		{sql: "SELECT code AS c, (SELECT c = 'S-1') FROM subjects", err: true},
		{sql: "SELECT site_id, code FROM subjects ORDER BY 2", err: true},
		{sql: "SELECT site_id, code FROM subjects ORDER BY 1", want: "SELECT `site_id`,CONCAT(`code`) AS `code` FROM `subjects` ORDER BY 1", pseudo: []int{1}},
		{sql: "SELECT code AS c, COUNT(*) FROM subjects GROUP BY c", want: "SELECT CONCAT(`code`) AS `c`,COUNT(1) AS `COUNT(*)` FROM `subjects` GROUP BY `c`", pseudo: []int{0}},
		{sql: "SELECT MATCH(arm) AGAINST ('x') FROM visits", err: true},
		{sql: "SELECT CURRENT_USER(), 1", want: "SELECT 'alice@rrproxy' AS `CURRENT_USER()`,1 AS `1`"},
		{sql: "SELECT count( * ) , CURRENT_USER FROM visits", want: "SELECT COUNT(1) AS `count( * )`,'alice@rrproxy' AS `CURRENT_USER` FROM `visits`"},
	}
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			out, err := Rewrite(c.sql, "study", "", testHooks{})
			if c.err {
				if err == nil {
					t.Fatalf("want error, got %q", out.SQL)
				}
				if !errors.Is(err, ErrRewrite) && !errors.Is(err, ErrUnparseable) {
					t.Fatalf("error %v wraps neither ErrRewrite nor ErrUnparseable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.SQL != c.want {
				t.Errorf("got  %s\nwant %s", out.SQL, c.want)
			}
			if fmt.Sprint(out.Pseudonyms[0]) != fmt.Sprint(c.pseudo) && !(len(c.pseudo) == 0 && len(out.Pseudonyms[0]) == 0) {
				t.Errorf("pseudonyms %v, want %v", out.Pseudonyms[0], c.pseudo)
			}
			if out.Changed {
				// The rewritten text must itself analyse cleanly.
				if _, err := Analyze(out.SQL, "study"); err != nil {
					t.Errorf("rewritten text does not analyse: %v", err)
				}
				if strings.Contains(out.SQL, "/*") {
					t.Errorf("rewritten text carries a comment: %s", out.SQL)
				}
			}
		})
	}
}

// saltedHooks are testHooks that key the order of pseudonymised rows.
type saltedHooks struct{ testHooks }

func (saltedHooks) OrderSalt() string { return "k3y" }

// TestPseudonymOrderIsKeyed: unordered, the server returns rows in the
// order of the real values (the primary key, or the grouping), and the
// n-th pseudonym would be the n-th subject. Rows that carry a pseudonym,
// or are grouped by one, are put in an order keyed by a secret, after
// the statement's own ORDER BY.
func TestPseudonymOrderIsKeyed(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT code FROM subjects":                           "SELECT CONCAT(`code`) AS `code` FROM `subjects` ORDER BY SHA2(CONCAT('k3y', `code`), 256)",
		"SELECT site_id, code FROM subjects ORDER BY site_id": "SELECT `site_id`,CONCAT(`code`) AS `code` FROM `subjects` ORDER BY `site_id`,SHA2(CONCAT('k3y', `code`), 256)",
		// Grouped by a pseudonym, with none in the output: the groups
		// came back sorted by the real value.
		"SELECT COUNT(*) FROM subjects GROUP BY code": "SELECT COUNT(1) AS `COUNT(*)` FROM `subjects` GROUP BY `code` ORDER BY SHA2(CONCAT('k3y', `code`), 256)",
	} {
		out, err := Rewrite(sql, "study", "", saltedHooks{})
		if err != nil {
			t.Errorf("%s: %v", sql, err)
			continue
		}
		if out.SQL != want {
			t.Errorf("%s\ngot  %s\nwant %s", sql, out.SQL, want)
		}
	}
}

// TestRollupOverPseudonymRefused: MariaDB allows no ORDER BY with WITH
// ROLLUP, so the keyed order cannot be added; the statement is refused
// with that reason, not sent to fail with MariaDB's words about an ORDER
// BY the user never wrote. ROLLUP over other columns is untouched.
func TestRollupOverPseudonymRefused(t *testing.T) {
	for _, sql := range []string{
		"SELECT code, COUNT(*) FROM subjects GROUP BY code WITH ROLLUP",
		"SELECT COUNT(*) FROM subjects GROUP BY code WITH ROLLUP",
		"SELECT site_id, code FROM subjects GROUP BY site_id, code WITH ROLLUP",
	} {
		_, err := Rewrite(sql, "study", "", saltedHooks{})
		if !errors.Is(err, ErrRewrite) || !strings.Contains(err.Error(), "WITH ROLLUP cannot be used with the pseudonymised column code") {
			t.Errorf("%s: %v, want the ROLLUP refusal", sql, err)
		}
	}
	out, err := Rewrite("SELECT site_id, COUNT(*) FROM subjects GROUP BY site_id WITH ROLLUP", "study", "", saltedHooks{})
	if err != nil || out.Changed {
		t.Errorf("ROLLUP over a plain column: %+v, %v; want it unchanged", out, err)
	}
}

// TestRowOrderedOverPseudonymRefused: window functions and @x :=
// assignments are evaluated over rows in the order of the real values
// (the grouping, the primary key), before the keyed order: beside a
// pseudonym anywhere in the statement they would rank the real values.
func TestRowOrderedOverPseudonymRefused(t *testing.T) {
	for sql, what := range map[string]string{
		"SELECT code, site_id, ROW_NUMBER() OVER () AS r FROM subjects GROUP BY code, site_id":        "ROW_NUMBER() OVER",
		"SELECT code, COUNT(*) OVER (ROWS UNBOUNDED PRECEDING) FROM subjects GROUP BY code":           "COUNT() OVER",
		"SELECT code, SUM(COUNT(*)) OVER (ROWS UNBOUNDED PRECEDING) FROM subjects GROUP BY code":      "SUM() OVER",
		"SELECT code, RANK() OVER (ORDER BY site_id) FROM subjects":                                   "RANK() OVER",
		"SELECT COUNT(*), ROW_NUMBER() OVER () FROM subjects GROUP BY code":                           "ROW_NUMBER() OVER",
		"SELECT code, @r := @r + 1 FROM subjects GROUP BY code":                                       "@r :=",
		"SELECT s.site_id, LAG(s.site_id) OVER () FROM subjects s JOIN subjects t ON s.code = t.code": "LAG() OVER",
		"SELECT code, ROWNUM() FROM subjects":                                                         "ROWNUM()",
		"SELECT code FROM subjects WHERE ROWNUM() <= 3":                                               "ROWNUM()",
		"SELECT code, MAX(LAST_INSERT_ID(LAST_INSERT_ID() + 1)) FROM subjects GROUP BY code":          "LAST_INSERT_ID()",
		"SELECT code, MAX(UUID_SHORT()) FROM subjects GROUP BY code":                                  "UUID_SHORT()",
		"SELECT code, MAX(UUID()) FROM subjects GROUP BY code":                                        "UUID()",
		"SELECT code, MAX(SYSDATE(6)) FROM subjects GROUP BY code":                                    "SYSDATE()",
		"SELECT code, MAX(RAND(1)) FROM subjects GROUP BY code":                                       "RAND()",
	} {
		_, err := Rewrite(sql, "study", "", saltedHooks{})
		if !errors.Is(err, ErrRewrite) || !strings.Contains(err.Error(), what) ||
			!strings.Contains(err.Error(), "cannot be used in a query with the pseudonymised column code") {
			t.Errorf("%s: %v, want the refusal naming %s", sql, err, what)
		}
	}
	for _, sql := range []string{
		"SELECT site_id, ROW_NUMBER() OVER (ORDER BY site_id) FROM subjects",
		"SELECT visit_id, @r := @r + 1 FROM visits",
		"SELECT code FROM subjects",
		"SELECT code, LAST_INSERT_ID() FROM subjects",
		"SELECT site_id, ROWNUM(), RAND() FROM subjects",
	} {
		if _, err := Rewrite(sql, "study", "", saltedHooks{}); err != nil {
			t.Errorf("%s: %v, want it allowed (no pseudonym, or no row order)", sql, err)
		}
	}
}
