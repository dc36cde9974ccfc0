package authz

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rrproxy/rrproxy/authz/sqlscope"
)

// withOtherLiterals returns sql with every literal Shape replaces given
// another value of the same class, or "" if sql has no shape.
func withOtherLiterals(sql string) string {
	_, at, ok := sqlscope.Shape(sql)
	if !ok || len(at) == 0 {
		return ""
	}
	var b strings.Builder
	last := 0
	for _, i := range at {
		b.WriteString(sql[last:i])
		switch c := sql[i]; {
		case c == '\'':
			j := i + 1
			for ; j < len(sql); j++ {
				if sql[j] == '\'' {
					if j+1 < len(sql) && sql[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			b.WriteString("'zz" + strconv.Itoa(i) + "'")
			last = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(sql) && (sql[j] >= '0' && sql[j] <= '9' || sql[j] == '.') {
				j++
			}
			if strings.Contains(sql[i:j], ".") {
				b.WriteString("7.25")
			} else {
				n, _ := strconv.Atoi(sql[i:j])
				b.WriteString(strconv.Itoa(n%5 + 2))
			}
			last = j
		default: // NULL, TRUE, FALSE: kept
			last = i
		}
	}
	b.WriteString(sql[last:])
	return b.String()
}

// comparable strips what may legitimately differ between two answers
// to the same statement: whether it came from the cache, and function
// values (compared by presence), and the random names of probes.
func comparable(d Decision) string {
	return probePlaceholder.ReplaceAllString(fmt.Sprintf("err=%v sql=%q kinds=%v tables=%v columns=%v maxrows=%d psn=%v rows=%v hide=%v diag=%v probe=%v names=%v use=%q shadow=%q digest=%s norm=%q ver=%s",
		d.Err, d.SQL, d.Kinds, d.Tables, d.Columns, d.MaxRows, d.Pseudonyms, d.Rows != nil, d.HideColumn != nil, d.Diagnostics,
		d.Probe, d.ProbeNames, d.UseDB, d.Shadow, d.Digest, d.Normalized, d.PolicyVersion), "rrproxy_missing_N")
}

// probeName: probes name missing objects with random placeholders.
var probePlaceholder = regexp.MustCompile(`rrproxy_missing_[0-9a-f]+`)

// TestShapeCacheAgreesWithFreshDecisions: every statement of the
// decision table is decided, then decided again with other literal
// values, once by the policy that has just cached the first decision
// and once by a fresh policy. The answers must be the same whether or
// not the shape cache served it: the shape cache never changes a
// decision, it only skips the parse.
func TestShapeCacheAgreesWithFreshDecisions(t *testing.T) {
	warm := decisionsPolicy(t)
	served, variants := 0, 0
	for _, cat := range decisionTable {
		for _, c := range cat.cases {
			other := withOtherLiterals(c.sql)
			if other == "" || other == c.sql {
				continue
			}
			variants++
			id := who(t, warm, c.user)
			warm.CheckQuery(id, c.sess(), c.sql)
			got := warm.CheckQuery(id, c.sess(), other)
			fresh := decisionsPolicy(t)
			want := fresh.CheckQuery(who(t, fresh, c.user), c.sess(), other)
			if got.Cached {
				served++
			}
			if comparable(got) != comparable(want) {
				t.Errorf("%s: %q after %q\n  served (cached=%v): %s\n  fresh:               %s", cat.name, other, c.sql, got.Cached, comparable(got), comparable(want))
			}
		}
	}
	t.Logf("%d statements with literals, %d variants answered from the shape cache", variants, served)
	if served == 0 || variants < 50 {
		t.Fatalf("the comparison exercised too little: %d variants, %d from the shape cache", variants, served)
	}
}

func TestShapeCacheServesOnlyValueFreeDecisions(t *testing.T) {
	p := decisionsPolicy(t)
	study := Session{DB: "study", Catalog: decisionsCatalog}
	alice, bob := who(t, p, "alice"), who(t, p, "bob")

	if d := p.CheckQuery(alice, study, "SELECT visit_name FROM visits WHERE visit_id = 1"); d.Cached || d.Err != nil {
		t.Fatalf("first lookup: cached=%v err=%v", d.Cached, d.Err)
	}
	d := p.CheckQuery(alice, study, "SELECT visit_name FROM visits WHERE visit_id = 2")
	if !d.Cached || d.Err != nil || d.SQL != "" {
		t.Fatalf("same shape, other id: cached=%v err=%v sql=%q; want the shared decision", d.Cached, d.Err, d.SQL)
	}
	// Another person, or another current database, is another key.
	if d := p.CheckQuery(bob, study, "SELECT visit_name FROM visits WHERE visit_id = 3"); d.Cached {
		t.Error("a decision shared across users")
	}
	if d := p.CheckQuery(alice, Session{DB: "ops", Catalog: decisionsCatalog}, "SELECT visit_name FROM study.visits WHERE visit_id = 3"); d.Cached {
		t.Error("a decision shared across current databases")
	}

	// Text the small lexer does not vouch for is never served from a
	// shape: MariaDB executes /*M! ... */, and a comment can hide a column.
	for _, q := range []string{
		"SELECT visit_name /*M! , treatment_arm */ FROM visits WHERE visit_id = 4",
		"SELECT visit_name FROM visits WHERE visit_id = 5 -- trailing",
		"SELECT visit_name FROM visits WHERE visit_id = 6 # trailing",
		"SELECT visit_name FROM visits WHERE visit_id = \"7\"",
		"SELECT visit_name FROM visits WHERE visit_id = '8\\' OR 1'",
		"SELECT visit_name FROM visits WHERE visit_id = x'09'",
	} {
		if d := p.CheckQuery(alice, study, q); d.Cached {
			t.Errorf("%q answered from a shape", q)
		}
	}

	// A rewritten statement holds its literals in d.SQL: never shared.
	p.CheckQuery(bob, study, "SELECT birth_year FROM subjects WHERE subject_id = 'S-001'")
	d = p.CheckQuery(bob, study, "SELECT birth_year FROM subjects WHERE subject_id = 'S-002'")
	if d.Cached || !strings.Contains(d.SQL, "S-002") {
		t.Errorf("masked column: cached=%v sql=%q; want a fresh rewrite carrying S-002", d.Cached, d.SQL)
	}
	// Denials are not shared either.
	p.CheckQuery(alice, study, "SELECT treatment_arm FROM visits WHERE visit_id = 1")
	if d := p.CheckQuery(alice, study, "SELECT treatment_arm FROM visits WHERE visit_id = 2"); d.Cached || d.Err == nil {
		t.Errorf("denial: cached=%v err=%v", d.Cached, d.Err)
	}
	// Where the parser's values are not exactly the shape's literals
	// (ORDER BY 1 is a position, not a value), nothing is shared.
	p.CheckQuery(alice, study, "SELECT visit_name, visit_id FROM visits ORDER BY 1")
	if d := p.CheckQuery(alice, study, "SELECT visit_name, visit_id FROM visits ORDER BY 2"); d.Cached {
		t.Error("ORDER BY position shared")
	}
	// Statements other than SELECT (SET carries its value) are not shared.
	p.CheckQuery(alice, study, "SET max_statement_time = 10")
	if d := p.CheckQuery(alice, study, "SET max_statement_time = 20"); d.Cached {
		t.Error("SET shared")
	}
}

func TestShapeCacheEntries(t *testing.T) {
	p := decisionsPolicy(t)
	study := Session{DB: "study", Catalog: decisionsCatalog}
	alice := who(t, p, "alice")
	for i := range 1000 {
		if d := p.CheckQuery(alice, study, fmt.Sprintf("SELECT visit_name FROM visits WHERE visit_id = %d", i)); d.Err != nil {
			t.Fatal(d.Err)
		}
	}
	p.decisions.mu.RLock()
	n := len(p.decisions.m)
	p.decisions.mu.RUnlock()
	if n != 1 {
		t.Errorf("1000 lookups of one shape left %d cache entries, want 1", n)
	}
}

// TestDecisionColumns: a decision names, for the audit log, each column
// the statement reads or names, tied to its base table where the
// analyser could, once each, and a table read whole as table.*; a
// decision served from the shape cache names the same.
func TestDecisionColumns(t *testing.T) {
	p := decisionsPolicy(t)
	alice := who(t, p, "alice")
	sess := Session{DB: "study", Catalog: decisionsCatalog}
	for i, c := range []struct{ sql, want string }{
		{"SELECT visit_id FROM study.visits", "[study.visits.visit_id]"},
		{"SELECT v.visit_name FROM visits v WHERE visit_id = 3", "[study.visits.visit_name study.visits.visit_id]"},
		{"SELECT v.visit_name FROM visits v WHERE visit_id = 5", "[study.visits.visit_name study.visits.visit_id]"},
		{"SELECT * FROM visits", "[study.visits.*]"},
		{"SELECT x FROM (SELECT visit_name AS x FROM visits) d", "[x study.visits.visit_name]"},
	} {
		d := p.CheckQuery(alice, sess, c.sql)
		if d.Err != nil {
			t.Errorf("%s: %v", c.sql, d.Err)
			continue
		}
		if got := fmt.Sprint(d.Columns); got != c.want {
			t.Errorf("%s (cached=%v): columns %s, want %s", c.sql, d.Cached, got, c.want)
		}
		if i == 2 && !d.Cached {
			t.Errorf("%s: not served from the shape cache, so the cached case is untested", c.sql)
		}
	}
}
