package sqlscope

import (
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// source is one entry of a FROM clause (or of an UPDATE, DELETE, INSERT
// or LOAD DATA target list) as seen by column references.
type source struct {
	alias   string // the name columns are qualified with: alias, else table name
	table   Table  // the base table, when !derived
	derived bool   // derived table or CTE: its columns are not a base table's
	// qual is the qualifier as written (original case), for rewrites
	// that name this source's columns: [schema.]table or the alias.
	qual []string
}

// scope holds the sources visible to column references of one query
// block. Scopes nest: a subquery sees its own sources first, then those
// of every enclosing block (correlated references).
type scope struct {
	owner   ast.Node
	sources []source
	// opaque marks a set operation (UNION, EXCEPT, INTERSECT): its ORDER BY
	// names result columns, which belong to no single table.
	opaque bool
	// hides is the scope this one cannot see although it is nested in it:
	// a derived table (unless LATERAL) or CTE body cannot refer to the
	// FROM clause it is part of, only to blocks further out.
	hides *scope
}

// cteFrame holds the CTE names a WITH clause has made visible so far.
type cteFrame struct {
	owner ast.Node
	names []string
}

// cteVisible reports whether an unqualified table name refers to a CTE.
// extra is the WITH clause of a query block whose scope is being built
// before the walk has reached that clause; all its CTEs are visible to
// the block's body.
//
// Getting this wrong one way (calling a base table a CTE) would hide a
// table, so a name counts as a CTE only where MySQL and MariaDB both say
// so: earlier CTEs of the same WITH, the CTE itself under RECURSIVE, and
// CTEs of enclosing blocks. Forward references (MariaDB's mutual
// recursion) are reported as tables, which at worst denies a query.
func (w *walker) cteVisible(name string, extra *ast.WithClause) bool {
	if extra != nil {
		for _, c := range extra.CTEs {
			if c.Name.L == name {
				return true
			}
		}
	}
	for i := len(w.ctes) - 1; i >= 0; i-- {
		for _, n := range w.ctes[i].names {
			if n == name {
				return true
			}
		}
	}
	return false
}

// sourcesOf lists the sources of a FROM clause or join tree.
func (w *walker) sourcesOf(rs ast.ResultSetNode, with *ast.WithClause, out []source) []source {
	switch x := rs.(type) {
	case nil:
	case *ast.Join:
		out = w.sourcesOf(x.Left, with, out)
		out = w.sourcesOf(x.Right, with, out)
	case *ast.TableSource:
		switch s := x.Source.(type) {
		case *ast.TableName:
			src := w.tableSource(s, with)
			if x.AsName.L != "" {
				src.alias = x.AsName.L
				src.qual = []string{x.AsName.O}
			}
			out = append(out, src)
		case *ast.Join:
			out = w.sourcesOf(s, with, out)
		default: // *ast.SelectStmt, *ast.SetOprStmt: a derived table
			out = append(out, source{alias: x.AsName.L, derived: true, qual: []string{x.AsName.O}})
		}
	case *ast.TableName:
		out = append(out, w.tableSource(x, with))
	default:
		// Not a shape the parser produces today. The walker reports the
		// node as unknown when it reaches it; until then, a derived
		// source with no name keeps unqualified columns ambiguous.
		out = append(out, source{derived: true})
	}
	return out
}

func (w *walker) tableSource(t *ast.TableName, with *ast.WithClause) source {
	if t.Schema.L == "" && w.cteVisible(t.Name.L, with) {
		return source{alias: t.Name.L, derived: true, qual: []string{t.Name.O}}
	}
	qual := []string{t.Name.O}
	if t.Schema.O != "" {
		qual = []string{t.Schema.O, t.Name.O}
	}
	return source{alias: t.Name.L, table: w.qualify(t.Schema.L, t.Name.L), qual: qual}
}

func (w *walker) tableRefs(c *ast.TableRefsClause) ast.ResultSetNode {
	if c == nil || c.TableRefs == nil {
		return nil
	}
	return c.TableRefs
}

func (w *walker) pushScope(owner ast.Node, srcs []source, opaque bool, hides *scope) {
	w.scopes = append(w.scopes, &scope{owner: owner, sources: srcs, opaque: opaque, hides: hides})
}

func (w *walker) topScope() *scope {
	if len(w.scopes) == 0 {
		return nil
	}
	return w.scopes[len(w.scopes)-1]
}

// visible lists the scopes a column reference in the innermost block can
// see, innermost first.
func (w *walker) visible() []*scope {
	out := make([]*scope, 0, len(w.scopes))
	var hidden []*scope
	for i := len(w.scopes) - 1; i >= 0; i-- {
		sc := w.scopes[i]
		isHidden := false
		for _, h := range hidden {
			if h == sc {
				isHidden = true
				break
			}
		}
		if !isHidden {
			out = append(out, sc)
		}
		if sc.hides != nil {
			hidden = append(hidden, sc.hides)
		}
	}
	return out
}

// qualify fills in the current database for an unqualified name. With no
// current database the schema stays empty; MySQL rejects such a
// statement, and authz should deny an empty schema.
func (w *walker) qualify(schema, name string) Table {
	if schema == "" {
		schema = w.db
	}
	return Table{Schema: schema, Name: name}
}

// lookup finds the source a qualifier names: "t" matches an alias (or an
// unaliased table's name), "db.t" a base table. The innermost scope
// with a match wins, as in MySQL. ok is false when nothing matches, or
// when the winning scope has more than one match (MySQL rejects that;
// treating it as ambiguous is the safe reading).
func (w *walker) lookup(schema, name string) (src source, ok bool) {
	for _, sc := range w.visible() {
		n := 0
		for _, s := range sc.sources {
			var match bool
			if schema == "" {
				match = s.alias == name
			} else {
				match = !s.derived && s.table == Table{Schema: schema, Name: name}
			}
			if match {
				src = s
				n++
			}
		}
		if n == 1 {
			return src, true
		}
		if n > 1 {
			return source{}, false
		}
	}
	return source{}, false
}

// resolve turns a column reference into a Column.
func (w *walker) resolve(c *ast.ColumnName) Column {
	col := Column{Name: c.Name.L}
	if c.Table.L != "" {
		if src, ok := w.lookup(c.Schema.L, c.Table.L); ok {
			if !src.derived {
				col.Schema, col.Table = src.table.Schema, src.table.Name
			}
			return col
		}
		if c.Schema.L != "" {
			// db.t.c with db.t not in scope: MySQL rejects it, but the
			// text names the table unambiguously.
			col.Schema, col.Table = c.Schema.L, c.Table.L
		}
		return col
	}
	// Unqualified: MySQL searches the innermost block first and then
	// every enclosing one, so the name is pinned to a table only if
	// exactly one base table is visible at all.
	if top := w.topScope(); top == nil || top.opaque {
		return col
	}
	var only *source
	n := 0
	for _, sc := range w.visible() {
		if sc.opaque {
			continue
		}
		for i := range sc.sources {
			only = &sc.sources[i]
			n++
		}
	}
	if n == 1 && !only.derived {
		col.Schema, col.Table = only.table.Schema, only.table.Name
	}
	return col
}

// baseTables lists the base tables of a join tree (for USING and NATURAL
// joins) and whether any source of it is derived.
func (w *walker) baseTables(rs ast.ResultSetNode) (tables []Table, derived bool) {
	for _, s := range w.sourcesOf(rs, nil, nil) {
		if s.derived {
			derived = true
		} else {
			tables = append(tables, s.table)
		}
	}
	return tables, derived
}
