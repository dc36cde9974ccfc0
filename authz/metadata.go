package authz

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/rrproxy/rrproxy/authz/sqlscope"
)

// Metadata that matches the grants. BI navigators list databases,
// tables and columns through SHOW statements and information_schema; a
// user must see there exactly what they may read, and nothing that
// would name an object outside their grants.
//
// information_schema tables are rewritten into derived tables filtered by
// the grants (sqlscope.Rewrite keeps every column and its order, since
// drivers read catalog results by position). SHOW results are filtered
// row by row as they stream (RowFilter).

// catalogColumns maps the information_schema tables that describe
// objects to the columns naming them: schema, table, column, and the
// schema and table a foreign key references.
// names lists columns holding names the server may derive from a
// column's name (MariaDB names an index or CHECK after its first
// column), or text that quotes column names (a CHECK clause).
var catalogColumns = map[string]struct {
	schema, table, column, refSchema, refTable, refColumn string
	names                                                 []string
}{
	"schemata":                {schema: "SCHEMA_NAME"},
	"tables":                  {schema: "TABLE_SCHEMA", table: "TABLE_NAME"},
	"views":                   {schema: "TABLE_SCHEMA", table: "TABLE_NAME"},
	"columns":                 {schema: "TABLE_SCHEMA", table: "TABLE_NAME", column: "COLUMN_NAME"},
	"statistics":              {schema: "TABLE_SCHEMA", table: "TABLE_NAME", column: "COLUMN_NAME", names: []string{"INDEX_NAME"}},
	"table_constraints":       {schema: "TABLE_SCHEMA", table: "TABLE_NAME", names: []string{"CONSTRAINT_NAME"}},
	"check_constraints":       {schema: "CONSTRAINT_SCHEMA", table: "TABLE_NAME", names: []string{"CONSTRAINT_NAME", "CHECK_CLAUSE"}},
	"partitions":              {schema: "TABLE_SCHEMA", table: "TABLE_NAME"},
	"key_column_usage":        {schema: "TABLE_SCHEMA", table: "TABLE_NAME", column: "COLUMN_NAME", refSchema: "REFERENCED_TABLE_SCHEMA", refTable: "REFERENCED_TABLE_NAME", refColumn: "REFERENCED_COLUMN_NAME", names: []string{"CONSTRAINT_NAME"}},
	"referential_constraints": {schema: "CONSTRAINT_SCHEMA", table: "TABLE_NAME", refSchema: "UNIQUE_CONSTRAINT_SCHEMA", refTable: "REFERENCED_TABLE_NAME", names: []string{"CONSTRAINT_NAME"}},
	"routines":                {schema: "ROUTINE_SCHEMA"},
	"parameters":              {schema: "SPECIFIC_SCHEMA"},
}

// publicCatalog are information_schema tables about the server's
// vocabulary, not its objects or sessions: nothing to filter.
var publicCatalog = map[string]bool{
	"character_sets": true, "collations": true, "collation_character_set_applicability": true,
	"engines": true, "keywords": true, "sql_functions": true, "session_variables": true,
}

// emptiedCatalog are information_schema tables read as empty, for the
// reason SHOW STATUS rows are all dropped (statusRows).
var emptiedCatalog = map[string]bool{"global_status": true, "session_status": true}

// catalogCond is the WHERE condition restricting an information_schema
// table to what g may read; "" for tables that need no filter.
func (g *grants) catalogCond(name string) (string, error) {
	cc, ok := catalogColumns[name]
	if !ok {
		if publicCatalog[name] {
			return "", nil
		}
		if emptiedCatalog[name] {
			return "FALSE", nil
		}
		return "", &DeniedError{Rule: RuleSystemSchemas, Class: ClassTable, Hidden: true,
			Object: "information_schema." + name, Msg: "unknown table information_schema." + name}
	}
	var conds []string
	if cc.table == "" {
		conds = append(conds, g.schemaCond(cc.schema))
	} else {
		conds = append(conds, g.tableCond(cc.schema, cc.table))
	}
	if cc.column != "" {
		conds = append(conds, g.columnCond(cc.schema, cc.table, cc.column))
	}
	if len(cc.names) > 0 {
		conds = append(conds, g.namesCond(cc.schema, cc.table, cc.names))
	}
	if name == "statistics" && len(g.denyCols) > 0 {
		// Every part of an index that includes a withheld column.
		conds = append(conds, "(TABLE_SCHEMA, TABLE_NAME, INDEX_NAME) NOT IN (SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS WHERE NOT "+
			g.columnCond("TABLE_SCHEMA", "TABLE_NAME", "COLUMN_NAME")+")")
	}
	if cc.refTable != "" {
		// A foreign key pointing outside the grants is hidden whole.
		ref := fmt.Sprintf("(%s IS NULL OR %s)", cc.refTable, g.tableCond(cc.refSchema, cc.refTable))
		conds = append(conds, ref)
		if cc.refColumn != "" {
			conds = append(conds, fmt.Sprintf("(%s IS NULL OR %s)", cc.refColumn, g.columnCond(cc.refSchema, cc.refTable, cc.refColumn)))
		}
	}
	return strings.Join(conds, " AND "), nil
}

// likeString quotes a policy glob as a SQL LIKE pattern literal: * and ?
// become % and _, LIKE's own wildcards and quotes are escaped.
func likeString(glob string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range glob {
		switch r {
		case '*':
			b.WriteByte('%')
		case '?':
			b.WriteByte('_')
		case '%', '_':
			b.WriteString(`\\`)
			b.WriteRune(r)
		case '\\':
			b.WriteString(`\\\\`)
		case '\'':
			b.WriteString(`''`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func sqlString(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func (g *grants) schemaCond(col string) string {
	var allow, deny []string
	for _, a := range g.allow {
		allow = append(allow, g.schemaMatch(col, a.schema))
	}
	for _, d := range g.deny {
		if d.table == "*" {
			deny = append(deny, fmt.Sprintf("%s LIKE %s", col, likeString(d.schema)))
		}
	}
	allow = append(allow, col+" = 'information_schema'")
	return combine(allow, deny)
}

// schemaMatch keeps system schemas out of glob grants, as tableRule does.
func (g *grants) schemaMatch(col, pattern string) string {
	if systemSchemas[pattern] {
		return fmt.Sprintf("%s = %s", col, sqlString(pattern))
	}
	return fmt.Sprintf("(%s LIKE %s AND %s NOT IN ('mysql', 'performance_schema', 'sys'))", col, likeString(pattern), col)
}

func (g *grants) tableCond(scol, tcol string) string {
	var allow, deny []string
	for _, a := range g.allow {
		allow = append(allow, fmt.Sprintf("(%s AND %s LIKE %s)", g.schemaMatch(scol, a.schema), tcol, likeString(a.table)))
	}
	for _, d := range g.deny {
		deny = append(deny, fmt.Sprintf("(%s LIKE %s AND %s LIKE %s)", scol, likeString(d.schema), tcol, likeString(d.table)))
	}
	return combine(allow, deny)
}

func (g *grants) columnCond(scol, tcol, ccol string) string {
	var deny []string
	for _, c := range g.denyCols {
		deny = append(deny, fmt.Sprintf("(%s LIKE %s AND %s LIKE %s AND %s = %s)", scol, likeString(c.schema), tcol, likeString(c.table), ccol, sqlString(c.column)))
	}
	if len(deny) == 0 {
		return "TRUE"
	}
	return "NOT (" + strings.Join(deny, " OR ") + ")"
}

// namesCond excludes rows whose name columns contain a withheld
// column's name, on that column's table.
func (g *grants) namesCond(scol, tcol string, names []string) string {
	var deny []string
	for _, c := range g.denyCols {
		var any []string
		for _, n := range names {
			any = append(any, fmt.Sprintf("%s LIKE %s", n, likeContains(c.column)))
		}
		deny = append(deny, fmt.Sprintf("(%s LIKE %s AND %s LIKE %s AND (%s))", scol, likeString(c.schema), tcol, likeString(c.table), strings.Join(any, " OR ")))
	}
	if len(deny) == 0 {
		return "TRUE"
	}
	return "NOT (" + strings.Join(deny, " OR ") + ")"
}

// likeContains is a LIKE pattern literal matching text that contains s.
func likeContains(s string) string {
	lit := likeString(strings.NewReplacer("*", "", "?", "").Replace(s))
	return "'%" + lit[1:len(lit)-1] + "%'"
}

func combine(allow, deny []string) string {
	a := "FALSE"
	if len(allow) > 0 {
		a = "(" + strings.Join(allow, " OR ") + ")"
	}
	if len(deny) == 0 {
		return a
	}
	return "(" + a + " AND NOT (" + strings.Join(deny, " OR ") + "))"
}

// showFilter returns the row filter for a SHOW statement whose result
// names objects, or nil when the result needs none.
func (g *grants) showFilter(db string, st *sqlscope.Statement) RowFilter {
	schemaOf := func() string {
		if len(st.Schemas) > 0 {
			return st.Schemas[0]
		}
		return strings.ToLower(db)
	}
	col := func(vals [][]byte, i int) string {
		if i >= len(vals) || vals[i] == nil {
			return ""
		}
		return strings.ToLower(string(vals[i]))
	}
	switch st.ShowWhat {
	case "status":
		return statusRows
	case "databases":
		return func(vals [][]byte) ([][]byte, bool) { return vals, g.schemaVisible(col(vals, 0)) }
	case "tables", "table status":
		s := schemaOf()
		return func(vals [][]byte) ([][]byte, bool) {
			return vals, g.tableRule(sqlscope.Table{Schema: s, Name: col(vals, 0)}) == ""
		}
	case "open tables":
		return func(vals [][]byte) ([][]byte, bool) {
			return vals, g.tableRule(sqlscope.Table{Schema: col(vals, 0), Name: col(vals, 1)}) == ""
		}
	case "procedure status", "function status":
		return func(vals [][]byte) ([][]byte, bool) { return vals, g.schemaVisible(col(vals, 0)) }
	case "columns":
		if len(st.Tables) == 0 {
			return nil
		}
		t := st.Tables[0]
		return func(vals [][]byte) ([][]byte, bool) { return vals, g.columnDenied(t, col(vals, 0)) == "" }
	case "index":
		if len(st.Tables) == 0 {
			return nil
		}
		t := st.Tables[0]
		return func(vals [][]byte) ([][]byte, bool) {
			return vals, g.columnDenied(t, col(vals, 4)) == "" && g.indexHidden(t, col(vals, 2)) == ""
		}
	case "create table":
		if len(st.Tables) == 0 {
			return nil
		}
		t := st.Tables[0]
		return func(vals [][]byte) ([][]byte, bool) {
			if len(vals) >= 2 && vals[1] != nil {
				if isTableDDL(vals[1]) {
					vals[1] = g.filterCreateTable(t, vals[1])
				} else if !g.viewReadable(t.Schema, vals[1]) {
					// SHOW CREATE TABLE of a view answers like SHOW
					// CREATE VIEW, and gets the same check.
					vals[1] = []byte(withheldView)
				}
			}
			return vals, true
		}
	case "create view":
		if len(st.Tables) == 0 {
			return nil
		}
		t := st.Tables[0]
		return func(vals [][]byte) ([][]byte, bool) {
			if len(vals) >= 2 && vals[1] != nil && !g.viewReadable(t.Schema, vals[1]) {
				// The definition names what the view reads; if that is
				// outside the grants, say so instead of showing it.
				vals[1] = []byte(withheldView)
			}
			return vals, true
		}
	}
	return nil
}

// statusRows drops every row of SHOW [GLOBAL|SESSION] STATUS. The
// server's status variables describe the server and the service
// account's pooled connection, not the person: Queries, Connections,
// Threads_connected, Com_select and Access_denied_errors count everyone's
// activity (even SHOW SESSION STATUS reports global-only variables), and
// Ssl_cipher is the upstream link's. The statement is answered, with its
// columns and no rows, because tools send it at connect (MySQL Workbench:
// SHOW SESSION STATUS LIKE 'Ssl_cipher'). COM_STATISTICS is answered by
// the proxy about the session (proxy/session.go).
func statusRows([][]byte) ([][]byte, bool) { return nil, false }

const withheldView = "-- rrproxy: the definition of this view reads objects outside your grants and is withheld"

// isTableDDL reports whether SHOW CREATE TABLE answered with a table's
// definition rather than a view's (or anything else), one line per
// column.
func isTableDDL(ddl []byte) bool {
	u := bytes.ToUpper(ddl[:min(len(ddl), 32)])
	return bytes.HasPrefix(u, []byte("CREATE TABLE ")) || bytes.HasPrefix(u, []byte("CREATE TEMPORARY TABLE "))
}

var identRE = regexp.MustCompile("`((?:[^`]|``)*)`")

// filterCreateTable drops, from SHOW CREATE TABLE output, every line that
// names a withheld column of t (its definition, indexes, checks and
// generated columns using it) and every foreign key that references a
// table outside the grants.
func (g *grants) filterCreateTable(t sqlscope.Table, ddl []byte) []byte {
	lines := bytes.Split(ddl, []byte("\n"))
	if len(lines) < 2 {
		return ddl
	}
	var body [][]byte
	var tail [][]byte
	head := lines[0]
	for i, l := range lines[1:] {
		if bytes.HasPrefix(l, []byte(")")) {
			tail = lines[1+i:]
			break
		}
		body = append(body, l)
	}
	kept := body[:0]
	for _, l := range body {
		if g.ddlLineHidden(t, l) {
			continue
		}
		kept = append(kept, bytes.TrimSuffix(bytes.TrimRight(l, " "), []byte(",")))
	}
	var out bytes.Buffer
	out.Write(head)
	out.WriteByte('\n')
	for i, l := range kept {
		out.Write(l)
		if i < len(kept)-1 {
			out.WriteByte(',')
		}
		out.WriteByte('\n')
	}
	out.Write(bytes.Join(tail, []byte("\n")))
	return out.Bytes()
}

func (g *grants) ddlLineHidden(t sqlscope.Table, line []byte) bool {
	ids := identRE.FindAllSubmatch(line, -1)
	for _, m := range ids {
		name := strings.ToLower(strings.ReplaceAll(string(m[1]), "``", "`"))
		if g.columnDenied(t, name) != "" {
			return true
		}
	}
	if i := bytes.Index(line, []byte("REFERENCES ")); i >= 0 {
		refs := identRE.FindAllSubmatch(line[i:], -1)
		ref := sqlscope.Table{Schema: t.Schema}
		switch {
		case len(refs) >= 2 && bytes.Contains(line[i:], []byte("`.`")):
			ref.Schema, ref.Name = strings.ToLower(string(refs[0][1])), strings.ToLower(string(refs[1][1]))
		case len(refs) >= 1:
			ref.Name = strings.ToLower(string(refs[0][1]))
		}
		if ref.Name == "" || g.tableRule(ref) != "" {
			return true
		}
		// Referenced columns withheld on the other table hide the key too.
		for _, m := range refs {
			if g.columnDenied(ref, strings.ToLower(string(m[1]))) != "" {
				return true
			}
		}
	}
	return false
}

// viewReadable reports whether a view definition reads only what g
// allows.
func (g *grants) viewReadable(db string, def []byte) bool {
	text := string(def)
	i := strings.Index(strings.ToUpper(text), " AS SELECT")
	if i < 0 {
		i = strings.Index(strings.ToUpper(text), " AS WITH")
	}
	if i < 0 {
		return false
	}
	res, err := sqlscope.Analyze(text[i+4:], db)
	if err != nil {
		return false
	}
	for _, st := range res.Statements {
		for _, t := range st.Tables {
			if g.tableRule(t) != "" {
				return false
			}
		}
		for _, c := range st.Columns {
			if g.columnDeniedAny(&st, c) != "" || g.columnMask(&st, c) != nil {
				return false
			}
		}
		for _, t := range st.Stars {
			if g.restricted(t) {
				return false
			}
		}
	}
	return true
}
