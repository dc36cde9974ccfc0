package authz

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rrproxy/rrproxy/internal/strictyaml"
)

// TestSuite is a policy regression file (`rrproxy policy test FILE`):
// administrators keep the cases that matter to them next to policy.yaml
// and run them before every change.
type TestSuite struct {
	// Catalog lists the columns of tables that SELECT * reads, as the
	// replica has them: "schema.table": [col, ...].
	Catalog map[string][]string `yaml:"catalog"`
	Tests   []TestCase          `yaml:"tests"`
	doc     *strictyaml.Doc
	file    string
}

// TestCase is one statement and what the policy must decide.
type TestCase struct {
	Name   string   `yaml:"name"`
	User   string   `yaml:"user"`
	Groups []string `yaml:"groups"` // for SSO users not listed in policy.yaml
	DB     string   `yaml:"db"`
	SQL    string   `yaml:"sql"`
	// Expect is allow (runs as written), mask (runs rewritten: masks,
	// pseudonyms, SELECT * narrowed, catalog filtered), deny (refused with
	// a rule id) or hidden (answered as if the object did not exist).
	Expect string `yaml:"expect"`
	Rule   string `yaml:"rule"`
	// SentContains / SentExcludes check the text sent upstream.
	SentContains []string `yaml:"sent_contains"`
	SentExcludes []string `yaml:"sent_excludes"`
}

// TestResult is one case's outcome; Problem is empty when it passed.
type TestResult struct {
	Case    TestCase
	Line    int
	Problem string
}

// LoadTests reads a policy test file, strictly (unknown keys are errors).
func LoadTests(file string) (*TestSuite, error) {
	var s TestSuite
	doc, err := strictyaml.DecodeFile(file, &s)
	if err != nil {
		return nil, err
	}
	s.doc, s.file = doc, file
	var errs []error
	for i, c := range s.Tests {
		at := strictyaml.P("tests", i)
		if c.SQL == "" || c.User == "" {
			errs = append(errs, doc.Errorf(at, "each test needs user and sql"))
		}
		switch c.Expect {
		case "allow", "mask", "deny", "hidden":
		default:
			errs = append(errs, doc.Errorf(append(at, "expect"), "expect %q: write allow, mask, deny or hidden", c.Expect))
		}
	}
	if len(s.Tests) == 0 {
		errs = append(errs, fmt.Errorf("%s: no tests", file))
	}
	return &s, errors.Join(errs...)
}

type suiteCatalog map[string][]string

func (c suiteCatalog) Columns(schema, table string) ([]string, error) {
	cols, ok := c[schema+"."+table]
	if !ok {
		return nil, fmt.Errorf("the test file's catalog has no columns for %s.%s", schema, table)
	}
	return cols, nil
}

// RunTests runs every case of s against p.
func (p *Policy) RunTests(s *TestSuite) []TestResult {
	cat := suiteCatalog{}
	for k, v := range s.Catalog {
		cat[strings.ToLower(k)] = v
	}
	var out []TestResult
	for i, c := range s.Tests {
		r := TestResult{Case: c, Line: s.doc.Line("tests", i)}
		id, ok := p.IdentityOf(c.User)
		if len(c.Groups) > 0 || !ok {
			// Someone with these groups: a listed user keeps their own
			// rules; anyone else is an SSO user known only by groups.
			id = &Identity{User: c.User, Groups: c.Groups, Source: "test"}
			if ok {
				id.Account = c.User
			}
		}
		d := p.CheckQuery(id, Session{DB: c.DB, Catalog: cat, MultiStatements: true}, c.SQL)
		r.Problem = judge(c, d)
		out = append(out, r)
	}
	return out
}

func judge(c TestCase, d Decision) string {
	var de *DeniedError
	denied := errors.As(d.Err, &de)
	got := "allow"
	switch {
	case d.Err != nil && !denied:
		got = "error"
	case denied && de.Hidden:
		got = "hidden"
	case denied:
		got = "deny"
	case d.SQL != "" || len(d.Pseudonyms) > 0:
		got = "mask"
	}
	if got != c.Expect {
		if d.Err != nil {
			return fmt.Sprintf("want %s, got %s: %v", c.Expect, got, d.Err)
		}
		return fmt.Sprintf("want %s, got %s (sent as: %s)", c.Expect, got, d.SQL)
	}
	if c.Rule != "" && (!denied || de.Rule != c.Rule) {
		rule := ""
		if denied {
			rule = de.Rule
		}
		return fmt.Sprintf("want rule %s, got rule %q", c.Rule, rule)
	}
	sent := d.SQL
	if sent == "" {
		sent = c.SQL
	}
	for _, s := range c.SentContains {
		if !strings.Contains(sent, s) {
			return fmt.Sprintf("sent text %q lacks %q", sent, s)
		}
	}
	for _, s := range c.SentExcludes {
		if strings.Contains(sent, s) {
			return fmt.Sprintf("sent text %q contains %q", sent, s)
		}
	}
	return ""
}

// LoadCatalog reads the catalog: section of a policy test file, for
// `rrproxy policy explain -catalog` (a SELECT * rewrite needs the
// replica's column lists).
func LoadCatalog(file string) (Catalog, error) {
	s, err := LoadTests(file)
	if err != nil {
		return nil, err
	}
	cat := suiteCatalog{}
	for k, v := range s.Catalog {
		cat[strings.ToLower(k)] = v
	}
	return cat, nil
}
