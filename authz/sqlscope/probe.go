package sqlscope

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Hiding objects the way the server hides missing ones.
//
// A user must not be able to tell a schema, table or column they may not
// see from one that does not exist. Rather than imitate the server's
// error texts (which differ between MySQL and MariaDB versions, name the
// clause, keep the user's spelling and report the first unknown name
// the server happens to meet), the proxy can send the statement with
// every hidden name replaced by a placeholder that exists nowhere, and
// relay the server's own answer with the user's spelling put back.

// Hider, when a Rewrite's hooks implement it, chooses the names to
// replace by placeholders. Names are lower-case; a column's Table is
// empty when the reference could belong to several tables.
type Hider interface {
	HideSchema(schema string) bool
	HideTable(t Table) bool
	HideColumn(c Column) bool
}

// placeholder returns a name that exists in no schema, and records what
// the user wrote in its place.
func (w *walker) placeholder(original string) string {
	if w.renamed == nil {
		w.renamed = map[string]string{}
		var b [6]byte
		_, _ = rand.Read(b[:])
		w.salt = hex.EncodeToString(b[:])
	}
	name := fmt.Sprintf("rrproxy_missing_%s_%d", w.salt, len(w.renamed))
	w.renamed[name] = original
	w.changed = true
	return name
}

// hideTableName renames a table reference that names a hidden schema or
// table.
func (w *walker) hideTableName(n *ast.TableName, t Table) {
	h, ok := w.hooks.(Hider)
	if !ok {
		return
	}
	switch {
	case n.Schema.O != "" && h.HideSchema(t.Schema):
		n.Schema = ast.NewCIStr(w.placeholder(n.Schema.O))
	case h.HideTable(t):
		n.Name = ast.NewCIStr(w.placeholder(n.Name.O))
	}
	if ih, ok := w.hooks.(IndexHider); ok {
		for _, hint := range n.IndexHints {
			for i, idx := range hint.IndexNames {
				if ih.HideIndex(t, idx.L) {
					hint.IndexNames[i] = ast.NewCIStr(w.placeholder(idx.O))
				}
			}
		}
	}
}

// IndexHider, implemented by hooks that are also a Hider, hides index
// names in index hints (an index named after a withheld column).
type IndexHider interface {
	HideIndex(t Table, index string) bool
}

// IndexIgnorer, when the hooks implement it, lists indexes the server
// must not use to read t: an index on a withheld or masked column
// returns rows in the order of its values, which is an oracle.
type IndexIgnorer interface {
	IgnoreIndexes(t Table) ([]string, error)
}

// ignoreIndexes adds IGNORE INDEX (...) for what the hooks list.
func (w *walker) ignoreIndexes(n *ast.TableName, t Table) {
	ig, ok := w.hooks.(IndexIgnorer)
	if !ok {
		return
	}
	names, err := ig.IgnoreIndexes(t)
	if err != nil {
		w.fail(err)
		return
	}
	if len(names) == 0 {
		return
	}
	hint := &ast.IndexHint{HintType: ast.HintIgnore, HintScope: ast.HintForScan}
	for _, name := range names {
		hint.IndexNames = append(hint.IndexNames, ast.NewCIStr(name))
	}
	n.IndexHints = append(n.IndexHints, hint)
	w.changed = true
}

// hideColumnName renames a column reference to a hidden column.
func (w *walker) hideColumnName(n *ast.ColumnName, c Column) bool {
	h, ok := w.hooks.(Hider)
	if !ok || n == nil || !h.HideColumn(c) {
		return false
	}
	n.Name = ast.NewCIStr(w.placeholder(n.Name.O))
	return true
}

// hideSchemaName renames a schema named on its own (USE, SHOW ... FROM).
func (w *walker) hideSchemaName(name string) (string, bool) {
	h, ok := w.hooks.(Hider)
	if !ok || name == "" || !h.HideSchema(strings.ToLower(name)) {
		return name, false
	}
	return w.placeholder(name), true
}

// hideOnce renames a column reference once; a USING column is checked
// against each table it joins.
func (w *walker) hideOnce(n *ast.ColumnName, c Column) bool {
	if w.renamedNodes[n] {
		return true
	}
	if !w.hideColumnName(n, c) {
		return false
	}
	if w.renamedNodes == nil {
		w.renamedNodes = map[*ast.ColumnName]bool{}
	}
	w.renamedNodes[n] = true
	return true
}
