package authz

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/rrproxy/rrproxy/authz/sqlscope"
)

// grants is what the policy gives one identity: the rules that apply to
// it, flattened. Built once per identity and policy, then shared by
// every statement of every session of that identity.
type grants struct {
	allow    []ruleTable
	deny     []ruleTable
	denyCols []ruleColumn
	masks    []ruleMask
	kinds    map[sqlscope.Kind]bool
	limits   Limits
	policy   *Policy
	// hiddenBy, set by unhidden, is the grants whose hidden objects this
	// one reads as ordinary, missing ones.
	hiddenBy *grants
}

type ruleTable struct {
	tablePattern
	rule string
}

type ruleColumn struct {
	columnPattern
	rule string
}

type ruleMask struct {
	maskDef
	rule string
}

// defaultKinds are granted when neither the user nor any of their groups
// lists statement kinds: what BI tools and drivers need.
var defaultKinds = []string{"select", "show", "describe", "explain", "use", "set", "transaction", "do", "help"}

func identityKey(id *Identity) string {
	return id.Source + "\x00" + id.Account + "\x00" + id.User + "\x00" + strings.Join(id.Groups, "\x00")
}

// grantsFor flattens the rules applying to id. With shadow, rules in
// shadow mode count too (what the policy would do if enforced).
func (p *Policy) grantsFor(id *Identity, shadow bool) *grants {
	key := identityKey(id)
	if shadow {
		key = "shadow\x00" + key
	}
	if g, ok := p.grantsCache.Load(key); ok {
		return g.(*grants)
	}
	g := &grants{policy: p, kinds: map[sqlscope.Kind]bool{}}
	anyShadow := false
	for _, r := range p.rules {
		if !r.appliesTo(id) {
			continue
		}
		if !r.enforce {
			anyShadow = true
			if !shadow {
				continue
			}
		}
		for _, a := range r.allow {
			g.allow = append(g.allow, ruleTable{a, r.id})
		}
		for _, d := range r.deny {
			g.deny = append(g.deny, ruleTable{d, r.id})
		}
		for _, c := range r.denyColumns {
			g.denyCols = append(g.denyCols, ruleColumn{c, r.id})
		}
		for _, m := range r.masks {
			g.masks = append(g.masks, ruleMask{m, r.id})
		}
	}
	if shadow && !anyShadow {
		// No shadow rule applies: the shadow view is the enforced one.
		return p.grantsFor(id, false)
	}
	var kinds []string
	var userLimits *limitDef
	if a := p.users[id.Account]; a != nil {
		kinds = append(kinds, a.kinds...)
		userLimits = a.limits
	}
	for _, name := range id.Groups {
		if gd := p.groups[name]; gd != nil {
			kinds = append(kinds, gd.kinds...)
		}
	}
	if len(kinds) == 0 {
		kinds = defaultKinds
	}
	for _, k := range kinds {
		for _, sk := range grantableKinds[k] {
			g.kinds[sk] = true
		}
	}
	g.limits = p.effectiveLimits(id, userLimits)
	actual, _ := p.grantsCache.LoadOrStore(key, g)
	return actual.(*grants)
}

// effectiveLimits: a limit set on the user (u, nil if none) wins;
// otherwise the most generous of the user's groups that set it (grants
// add up, as with tables); a limit set nowhere is no limit. Networks: the
// user's, else those of all their groups.
func (p *Policy) effectiveLimits(id *Identity, u *limitDef) Limits {
	var groups []*limitDef
	for _, name := range id.Groups {
		if gd := p.groups[name]; gd != nil && gd.limits != nil {
			groups = append(groups, gd.limits)
		}
	}
	// Limits are never negative, so a group that leaves one unset (0)
	// does not take part in the maximum.
	pick := func(get func(*limitDef) int64) int64 {
		if u != nil && get(u) != 0 {
			return get(u)
		}
		var best int64
		for _, g := range groups {
			best = max(best, get(g))
		}
		return best
	}
	l := Limits{
		MaxRows:          pick(func(d *limitDef) int64 { return d.maxRows }),
		MaxExecutionTime: time.Duration(pick(func(d *limitDef) int64 { return int64(d.maxTime) })),
		MaxSessions:      int(pick(func(d *limitDef) int64 { return int64(d.maxSessions) })),
	}
	if u != nil && len(u.networks) > 0 {
		l.Networks = u.networks
	} else {
		for _, g := range groups {
			l.Networks = append(l.Networks, g.networks...)
		}
	}
	return l
}

// LimitsFor returns id's effective limits.
func (p *Policy) LimitsFor(id *Identity) Limits { return p.grantsFor(id, false).limits }

// CheckNetwork refuses a login from outside id's allowed networks. The
// proxy answers it like a wrong password, so the network rule cannot be
// used to learn which accounts exist.
func (p *Policy) CheckNetwork(id *Identity, addr netip.Addr) error {
	l := p.LimitsFor(id)
	if len(l.Networks) == 0 {
		return nil
	}
	addr = addr.Unmap()
	for _, n := range l.Networks {
		if n.Contains(addr) {
			return nil
		}
	}
	return &DeniedError{Rule: RuleLimits, Class: ClassStatement, Msg: fmt.Sprintf("login from %s is outside the networks allowed for user '%s'", addr, id.User)}
}

// Pseudonym is the keyed, deterministic replacement for a pseudonymised
// value: equal values give equal pseudonyms (so dashboards can count and
// join), and without the key nobody can go back or test a guess.
func (p *Policy) Pseudonym(v []byte) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write(v)
	sum := m.Sum(nil)
	out := make([]byte, 0, 4+24)
	out = append(out, "psn-"...)
	return hex.AppendEncode(out, sum[:12])
}

func (g *grants) checkSchema(id *Identity, schema string) error {
	if schema == "" {
		// "SHOW TABLES" with no current database: a glob like "*" would
		// match the empty name, so refuse before matching.
		return fmt.Errorf("%w: name the database or USE one first", ErrNoDatabase)
	}
	if g.schemaVisible(schema) {
		return nil
	}
	rid := RuleDefaultDeny
	if systemSchemas[schema] {
		rid = RuleSystemSchemas
	}
	for _, d := range g.deny {
		if d.table == "*" && match(d.schema, schema) {
			rid = d.rule
		}
	}
	return &DeniedError{Rule: rid, Class: ClassSchema, Hidden: true, Object: schema,
		Msg: fmt.Sprintf("unknown database %s", schema)}
}

// schemaVisible: some allowed table pattern can match in it, and no deny
// takes the whole schema away.
func (g *grants) schemaVisible(schema string) bool {
	if schema == "information_schema" {
		return true
	}
	for _, d := range g.deny {
		if d.table == "*" && match(d.schema, schema) {
			return false
		}
	}
	for _, a := range g.allow {
		if systemSchemas[schema] && a.schema != schema {
			continue
		}
		if match(a.schema, schema) {
			return true
		}
	}
	return false
}

// unhidden is g with every schema, table and column readable (system
// schemas included) and the same masks, kinds and limits: what g would
// decide if each hidden object a statement names were a missing one that
// g may read. A readable table with withheld columns still needs its
// stars rewritten; a hidden table, like a missing one, does not. Its
// decisions are only ever used for their refusals; see checkQuery.
func (g *grants) unhidden() *grants {
	u := *g
	u.deny, u.hiddenBy = nil, g
	u.allow = []ruleTable{{tablePattern{"*", "*"}, RuleDefaultDeny}}
	for s := range systemSchemas {
		u.allow = append(u.allow, ruleTable{tablePattern{s, "*"}, RuleSystemSchemas})
	}
	return &u
}

// tableRule returns "" when t is readable, else the rule refusing it.
func (g *grants) tableRule(t sqlscope.Table) string {
	if t.Schema == "information_schema" {
		if _, ok := catalogColumns[t.Name]; ok {
			return "" // filtered by the rewrite
		}
		if publicCatalog[t.Name] || emptiedCatalog[t.Name] {
			return "" // emptiedCatalog: read as empty by the rewrite
		}
		return RuleSystemSchemas
	}
	for _, d := range g.deny {
		if match(d.schema, t.Schema) && match(d.table, t.Name) {
			return d.rule
		}
	}
	for _, a := range g.allow {
		// A system schema is reachable only through a rule that names
		// it literally, never through a glob like "*.*".
		if systemSchemas[t.Schema] && a.schema != t.Schema {
			continue
		}
		if match(a.schema, t.Schema) && match(a.table, t.Name) {
			return ""
		}
	}
	if systemSchemas[t.Schema] {
		return RuleSystemSchemas
	}
	return RuleDefaultDeny
}

func (g *grants) checkTable(id *Identity, t sqlscope.Table) error {
	if t.Schema == "" {
		return fmt.Errorf("%w: name the database (db.table) or USE one first", ErrNoDatabase)
	}
	rid := g.tableRule(t)
	if rid == "" {
		return nil
	}
	return &DeniedError{Rule: rid, Class: ClassTable, Hidden: true, Object: t.Schema + "." + t.Name,
		Msg: fmt.Sprintf("unknown table %s.%s", t.Schema, t.Name)}
}

// columnDenied returns the rule withholding column name of t, or "".
func (g *grants) columnDenied(t sqlscope.Table, name string) string {
	if g.hiddenBy != nil {
		return ""
	}
	for _, c := range g.denyCols {
		if c.column == name && match(c.schema, t.Schema) && match(c.table, t.Name) {
			return c.rule
		}
	}
	return ""
}

func (g *grants) maskOf(t sqlscope.Table, name string) *ruleMask {
	for i := range g.masks {
		m := &g.masks[i]
		if m.col.column == name && match(m.col.schema, t.Schema) && match(m.col.table, t.Name) {
			return m
		}
	}
	return nil
}

// candidates lists the tables a column reference may belong to: its own
// table when the analyser resolved it, else every table of the
// statement (never guess in the user's favour).
func candidates(st *sqlscope.Statement, c sqlscope.Column) []sqlscope.Table {
	if c.Table != "" && c.Schema != "" {
		return []sqlscope.Table{{Schema: c.Schema, Name: c.Table}}
	}
	var out []sqlscope.Table
	for _, t := range st.Tables {
		if c.Table == "" || t.Name == c.Table {
			out = append(out, t)
		}
	}
	return out
}

func (g *grants) columnDeniedAny(st *sqlscope.Statement, c sqlscope.Column) string {
	for _, t := range candidates(st, c) {
		if rid := g.columnDenied(t, c.Name); rid != "" {
			return rid
		}
	}
	return ""
}

func (g *grants) columnMask(st *sqlscope.Statement, c sqlscope.Column) *ruleMask {
	for _, t := range candidates(st, c) {
		if g.columnDenied(t, c.Name) != "" {
			continue
		}
		if m := g.maskOf(t, c.Name); m != nil {
			return m
		}
	}
	return nil
}

// restricted: t has a withheld or masked column, so a star over it must
// be rewritten.
func (g *grants) restricted(t sqlscope.Table) bool { return g.restrictedBy(t) != "" }

// restrictedBy returns the first rule withholding or masking a column of
// t, or "".
func (g *grants) restrictedBy(t sqlscope.Table) string {
	if g.hiddenBy != nil && g.hiddenBy.tableRule(t) != "" {
		return ""
	}
	for _, c := range g.denyCols {
		if match(c.schema, t.Schema) && match(c.table, t.Name) {
			return c.rule
		}
	}
	for _, m := range g.masks {
		if match(m.col.schema, t.Schema) && match(m.col.table, t.Name) {
			return m.rule
		}
	}
	return ""
}

// hooks answers sqlscope.Rewrite for one identity.
type hooks struct {
	g           *grants
	id          *Identity
	catalog     Catalog
	all         *sqlscope.Statement // every table of the text, for unresolved columns
	usedCatalog bool
	lastRule    string
}

func (h *hooks) rule() string {
	if h.lastRule != "" {
		return h.lastRule
	}
	return RuleDefaultDeny
}

// allTables gathers the tables of every statement of a text: a column
// the analyser could not tie to a table may belong to any of them (a
// rewrite walks the statements in turn, and over-approximating only
// refuses more).
func allTables(stmts []sqlscope.Statement) *sqlscope.Statement {
	all := &sqlscope.Statement{}
	for i := range stmts {
		all.Tables = append(all.Tables, stmts[i].Tables...)
	}
	return all
}

func (h *hooks) Column(c sqlscope.Column, use sqlscope.Use) (sqlscope.ColumnAction, error) {
	st := h.all
	if rid := h.g.columnDeniedAny(st, c); rid != "" {
		h.lastRule = rid
		return sqlscope.ColumnAction{}, &DeniedError{Rule: rid, Class: ClassColumn, Hidden: true, Object: c.Name, Msg: "unknown column " + c.Name}
	}
	m := h.g.columnMask(st, c)
	if m == nil {
		return sqlscope.ColumnAction{}, nil
	}
	h.lastRule = m.rule
	switch m.with {
	case MaskNull:
		if use == sqlscope.UseOutput || use == sqlscope.UseSelect {
			return sqlscope.ColumnAction{Do: sqlscope.MaskNull}, nil
		}
	case MaskFixed:
		if use == sqlscope.UseOutput || use == sqlscope.UseSelect {
			return sqlscope.ColumnAction{Do: sqlscope.MaskFixed, Value: m.value}, nil
		}
	case MaskPseudonym:
		switch use {
		case sqlscope.UseOutput, sqlscope.UseGroupBy, sqlscope.UseCountDistinct, sqlscope.UseJoinEq:
			return sqlscope.ColumnAction{Do: sqlscope.Pseudonym}, nil
		}
		return sqlscope.ColumnAction{}, &DeniedError{Rule: m.rule, Class: ClassColumn,
			Msg: fmt.Sprintf("column %s is pseudonymised: select it in the outer query, GROUP BY it, COUNT(DISTINCT it) or join on it with =; other uses (%s) could reveal real values", c.Name, use)}
	}
	return sqlscope.ColumnAction{}, &DeniedError{Rule: m.rule, Class: ClassColumn,
		Msg: fmt.Sprintf("column %s is masked: it can only be selected, not used in %s", c.Name, useWords(use))}
}

func (h *hooks) Star(t sqlscope.Table) ([]string, bool, error) {
	rid := h.g.restrictedBy(t)
	if rid == "" {
		return nil, false, nil
	}
	// A star that cannot be rewritten (NATURAL JOIN, USING) is refused
	// in the name of the rule that restricts the table.
	h.lastRule = rid
	// Whatever the catalog answers, or fails to, is no decision to cache.
	h.usedCatalog = true
	if h.catalog == nil {
		return nil, false, fmt.Errorf("%w: no catalog to expand SELECT * over %s", ErrCatalog, t)
	}
	cols, err := h.catalog.Columns(t.Schema, t.Name)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrCatalog, err)
	}
	if len(cols) == 0 {
		return nil, false, &DeniedError{Rule: RuleDefaultDeny, Class: ClassTable, Hidden: true, Object: t.String(), Msg: "unknown table " + t.String()}
	}
	out := make([]string, 0, len(cols))
	for _, c := range cols {
		if h.g.columnDenied(t, strings.ToLower(c)) == "" {
			out = append(out, c)
		}
	}
	return out, true, nil
}

func (h *hooks) Catalog(name string) (string, error) {
	return h.g.catalogCond(name)
}

func (h *hooks) Function(name string) (string, bool) {
	if accountFunctions[name] {
		return h.id.User + "@rrproxy", true
	}
	return "", false
}

// Summary describes, for `rrproxy policy check`, what each user may read.
func (p *Policy) Summary() string {
	var b strings.Builder
	names := make([]string, 0, len(p.users))
	for n := range p.users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := p.users[n]
		id := &Identity{User: n, Groups: a.groups, Account: n}
		g := p.grantsFor(id, false)
		state := ""
		if a.disabled {
			state = " (disabled)"
		}
		fmt.Fprintf(&b, "%s%s groups=%v\n", n, state, a.groups)
		for _, x := range g.allow {
			fmt.Fprintf(&b, "  read   %s.%s  [rule %s]\n", x.schema, x.table, x.rule)
		}
		for _, x := range g.deny {
			fmt.Fprintf(&b, "  hidden %s.%s  [rule %s]\n", x.schema, x.table, x.rule)
		}
		for _, x := range g.denyCols {
			fmt.Fprintf(&b, "  hidden column %s.%s.%s  [rule %s]\n", x.schema, x.table, x.column, x.rule)
		}
		for _, x := range g.masks {
			how := x.with
			if how == MaskFixed {
				how = fmt.Sprintf("fixed %q", x.value)
			}
			fmt.Fprintf(&b, "  masked column %s.%s.%s as %s  [rule %s]\n", x.col.schema, x.col.table, x.col.column, how, x.rule)
		}
		if len(g.allow) == 0 {
			b.WriteString("  reads nothing (no rule grants a table)\n")
		}
		var kinds []string
		for k := range g.kinds {
			kinds = append(kinds, string(k))
		}
		sort.Strings(kinds)
		fmt.Fprintf(&b, "  statements: %s\n", strings.Join(kinds, ", "))
		l := g.limits
		if l.MaxRows != 0 || l.MaxExecutionTime != 0 || l.MaxSessions != 0 || len(l.Networks) != 0 {
			fmt.Fprintf(&b, "  limits: max_rows=%d max_execution_time=%s max_sessions=%d networks=%v\n", l.MaxRows, l.MaxExecutionTime, l.MaxSessions, l.Networks)
		}
	}
	for _, r := range p.rules {
		if !r.enforce {
			fmt.Fprintf(&b, "rule %s is in shadow mode (enforce: false): logged, not enforced\n", r.id)
		}
	}
	return b.String()
}

// indexHidden returns the rule hiding an index of t, or "": MariaDB
// names an index or a CHECK after its first column, so an index whose
// name contains a withheld column's name is treated as that column.
func (g *grants) indexHidden(t sqlscope.Table, index string) string {
	for _, c := range g.denyCols {
		if match(c.schema, t.Schema) && match(c.table, t.Name) && strings.Contains(strings.ToLower(index), c.column) {
			return c.rule
		}
	}
	return ""
}

// IgnoreIndexes lists the indexes of t that contain a withheld or masked
// column (sqlscope.IndexIgnorer).
func (h *hooks) IgnoreIndexes(t sqlscope.Table) ([]string, error) {
	ic, ok := h.catalog.(IndexCatalog)
	if !ok || !h.g.restricted(t) {
		return nil, nil
	}
	h.usedCatalog = true
	idx, err := ic.Indexes(t.Schema, t.Name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCatalog, err)
	}
	var out []string
	for name, cols := range idx {
		if name == "primary" {
			continue // the clustered order; pseudonyms are re-ordered instead
		}
		for _, c := range cols {
			if h.g.columnDenied(t, c) != "" || h.g.maskOf(t, c) != nil {
				out = append(out, name)
				break
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// OrderSalt keys the order in which pseudonymised rows are returned
// (sqlscope.OrderSalter): without it the server would return them in the
// order of the real values.
func (h *hooks) OrderSalt() string { return h.g.policy.orderKey }

// PseudonymColumns names t's pseudonymised columns for this user
// (sqlscope.PseudonymTables): reads of t are put in their keyed order.
func (h *hooks) PseudonymColumns(t sqlscope.Table) []string {
	cols, rule := h.g.pseudonymColumns(t)
	if len(cols) > 0 {
		h.lastRule = rule // a refusal keyScanOrder makes is in its name
	}
	return cols
}

// pseudonymColumns lists the pseudonymised columns of t and the rule of
// the first. Only rules that name the table literally count: a glob could
// name a column the table does not have, and ordering by it would fail.
func (g *grants) pseudonymColumns(t sqlscope.Table) (cols []string, rule string) {
	if g.hiddenBy != nil {
		return nil, ""
	}
	for i := range g.masks {
		m := &g.masks[i]
		if m.with == MaskPseudonym && m.col.schema == t.Schema && m.col.table == t.Name && g.columnDenied(t, m.col.column) == "" {
			if cols == nil {
				rule = m.rule
			}
			cols = append(cols, m.col.column)
		}
	}
	return cols, rule
}

// orderKeyOf derives the ordering key from the pseudonym key: a secret
// of its own, so that it tells nothing about the pseudonyms themselves.
func orderKeyOf(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("rrproxy pseudonym order"))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// orderKeyRecorded is what the audit log records in place of the
// ordering secret (RecordedSQL).
const orderKeyRecorded = "'<rrproxy pseudonym order key>'"

// RecordedSQL is a rewritten statement as the audit log keeps it: with
// the pseudonyms' ordering secret replaced. Whoever holds that secret
// can order candidate subject numbers as the proxy does and match them
// to the pseudonyms a user was shown, and the audit log is read by
// people (reviewers, a SIEM's operators) who are not meant to hold it.
func (p *Policy) RecordedSQL(sql string) string {
	if p.orderKey == "" || !strings.Contains(sql, "SHA2(CONCAT(") {
		return sql
	}
	return strings.ReplaceAll(sql, "'"+p.orderKey+"'", orderKeyRecorded)
}

// useWords names where a column was used, for a refusal.
func useWords(u sqlscope.Use) string {
	switch u {
	case sqlscope.UseGroupBy:
		return "GROUP BY"
	case sqlscope.UseCountDistinct:
		return "COUNT(DISTINCT ...)"
	case sqlscope.UseJoinEq:
		return "a join condition"
	case sqlscope.UseSelect:
		return "the select list of a subquery, derived table or CTE"
	}
	return "an expression, condition, ordering or function argument"
}
