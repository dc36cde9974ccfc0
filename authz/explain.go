package authz

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/rrproxy/rrproxy/authz/sqlscope"
)

// IdentityOf returns the identity of a local user of the policy, with
// the groups policy.yaml gives them. SSO users are not in the file:
// build their Identity from the groups their IdP asserts.
func (p *Policy) IdentityOf(user string) (*Identity, bool) {
	a, ok := p.users[user]
	if !ok {
		return nil, false
	}
	id := a.identity()
	if a.sso != "" {
		// A listed SSO user, as a sign-in without further IdP groups
		// would make them.
		id.Source, id.Provider = "", a.sso
		for _, pr := range p.providers {
			if pr.name == a.sso {
				id.Source = pr.issuer
			}
		}
	}
	return id, true
}

// Explain is the administrator's view of one decision: what the
// statement touches, what was decided and by which rule, and what would
// be sent upstream.
func (p *Policy) Explain(id *Identity, sess Session, sql string) string {
	var b strings.Builder
	d := p.CheckQuery(id, sess, sql)
	fmt.Fprintf(&b, "user:     %s (groups: %s)\n", id.User, strings.Join(id.Groups, ", "))
	if sess.DB != "" {
		fmt.Fprintf(&b, "database: %s\n", sess.DB)
	}
	fmt.Fprintf(&b, "policy:   %s (version %s)\n", p.File, p.Version)
	if res, err := sqlscope.AnalyzeMode(sql, sess.DB, sess.SQLMode); err == nil {
		for i, st := range res.Statements {
			fmt.Fprintf(&b, "statement %d: %s\n", i+1, strings.ToUpper(string(st.Kind)))
			list := func(label string, items []string) {
				if len(items) > 0 {
					sort.Strings(items)
					fmt.Fprintf(&b, "  %-9s %s\n", label+":", strings.Join(items, ", "))
				}
			}
			var tables, stars, cols []string
			for _, t := range st.Tables {
				tables = append(tables, t.String())
			}
			for _, t := range st.Stars {
				stars = append(stars, t.String())
			}
			for _, c := range st.Columns {
				cols = append(cols, c.String())
			}
			list("tables", tables)
			list("columns", cols)
			list("all of", stars)
			list("functions", st.Functions)
		}
	}
	switch {
	case d.Allowed():
		b.WriteString("decision: ALLOW\n")
	default:
		b.WriteString("decision: DENY\n")
		var de *DeniedError
		if errors.As(d.Err, &de) {
			fmt.Fprintf(&b, "rule:     %s\n", de.Rule)
			if de.Hidden {
				fmt.Fprintf(&b, "answer:   as if %s %s did not exist\n", de.Class, de.Object)
			}
		}
		fmt.Fprintf(&b, "reason:   %v\n", d.Err)
	}
	if d.SQL != "" {
		fmt.Fprintf(&b, "sent as:  %s\n", d.SQL)
	}
	if len(d.Pseudonyms) > 0 {
		fmt.Fprintf(&b, "pseudonymised result columns: %v (0-based)\n", d.Pseudonyms)
	}
	if d.Rows != nil {
		b.WriteString("result rows: filtered to the user's grants\n")
	}
	if d.MaxRows > 0 {
		fmt.Fprintf(&b, "row limit: %d\n", d.MaxRows)
	}
	if d.Shadow != "" {
		fmt.Fprintf(&b, "shadow:   %s\n", d.Shadow)
	}
	return b.String()
}
