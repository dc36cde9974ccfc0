package sqlscope

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/test_driver"
)

// walker is the ast.Visitor that describes one statement. Every node
// type it does not list in enter makes the statement KindOther; after the
// walk, unvisited checks by reflection that the walk entered every node
// of the tree, so a child that a parser Accept method forgets to visit
// cannot hide a table.
type walker struct {
	db string
	st Statement
	// writeKind allows node types that only appear in statements that
	// are never read-only (DDL column definitions, GRANT privileges...).
	writeKind bool
	// seen holds every node entered, shared with the walker of an
	// EXPLAIN's inner statement.
	seen   map[ast.Node]bool
	stack  []ast.Node
	scopes []*scope
	ctes   []*cteFrame
	// setTxn is true inside SET [GLOBAL|SESSION] TRANSACTION.
	setTxn bool
	dedup  map[string]struct{}

	// Rewrite state (see rewrite.go); hooks is nil for plain analysis.
	hooks   Hooks
	mode    mysql.SQLMode
	top     *ast.SelectStmt // the statement's outermost SELECT, if any
	replace map[ast.Node]ast.Node
	outputs []int
	changed bool
	err     error
	// psnNames are the output names of pseudonymised columns; bareRefs
	// the unqualified names referenced other than in the select list or
	// GROUP BY; orderPositions the ORDER BY n of the outermost SELECT.
	// renamed maps placeholders to the names they replace (probe.go).
	renamed      map[string]string
	salt         string
	renamedNodes map[*ast.ColumnName]bool
	psnExprs     []*ast.ColumnNameExpr // pseudonymised columns the rows are ordered by (orderPseudonyms)
	// psnUsed names the first pseudonymised column used anywhere, and
	// rowOrdered the first construct whose value depends on the order
	// rows are produced in (a window function, an @x := assignment);
	// see orderDependentOverPseudonym.
	psnUsed, rowOrdered string
	// orderedAgg names the first aggregate that lists values in the
	// order rows are read (GROUP_CONCAT, JSON_ARRAYAGG, JSON_OBJECTAGG);
	// innerLimit is set by a LIMIT outside the outermost SELECT; psnRead
	// names a table read that has pseudonymised columns. See
	// keyScanOrder.
	orderedAgg     string
	innerLimit     bool
	psnRead        string
	psnNames       map[string]bool
	bareRefs       []string
	orderPositions []int
}

func newWalker(db string) *walker {
	return &walker{db: db, seen: make(map[ast.Node]bool), dedup: make(map[string]struct{})}
}

// run classifies and walks s and returns its description.
func (w *walker) run(s ast.StmtNode) Statement {
	w.st.Kind, w.st.ReadOnly = classify(s)
	w.writeKind = !w.st.ReadOnly && w.st.Kind != KindOther && w.st.Kind != KindExplain
	s.Accept(w)
	if missing := unvisited(s, w.seen); missing != "" {
		w.unknown("node not visited: " + missing)
	}
	if len(w.st.Unknown) > 0 {
		w.st.Kind, w.st.ReadOnly = KindOther, false
	}
	return w.st
}

func (w *walker) unknown(what string) {
	w.st.Unknown = appendUnique(w.st.Unknown, what)
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// Enter implements ast.Visitor.
func (w *walker) Enter(n ast.Node) (ast.Node, bool) {
	w.seen[n] = false
	w.stack = append(w.stack, n)
	return n, w.enter(n)
}

// Leave implements ast.Visitor.
func (w *walker) Leave(n ast.Node) (ast.Node, bool) {
	w.stack = w.stack[:len(w.stack)-1]
	if r, ok := w.replace[n]; ok {
		// A rewrite swaps the node for its replacement; the parent's
		// Accept stores what Leave returns.
		defer delete(w.replace, n)
		n = r
	}
	if cte, ok := n.(*ast.CommonTableExpression); ok && len(w.ctes) > 0 {
		// A non-recursive CTE becomes visible after its own body.
		w.ctes[len(w.ctes)-1].addName(cte.Name.L)
	}
	for len(w.scopes) > 0 && w.scopes[len(w.scopes)-1].owner == n {
		w.scopes = w.scopes[:len(w.scopes)-1]
	}
	for len(w.ctes) > 0 && w.ctes[len(w.ctes)-1].owner == n {
		w.ctes = w.ctes[:len(w.ctes)-1]
	}
	return n, true
}

func (f *cteFrame) addName(name string) {
	for _, n := range f.names {
		if n == name {
			return
		}
	}
	f.names = append(f.names, name)
}

// parent is the node whose child is being entered.
func (w *walker) parent() ast.Node {
	if len(w.stack) < 2 {
		return nil
	}
	return w.stack[len(w.stack)-2]
}

func (w *walker) grandparent() ast.Node {
	if len(w.stack) < 3 {
		return nil
	}
	return w.stack[len(w.stack)-3]
}

// enter records what n contributes and reports whether its children
// are to be skipped (only EXPLAIN's, which get their own walker).
func (w *walker) enter(n ast.Node) bool {
	switch n := n.(type) {
	// Query blocks and other statements that open a name scope.
	case *ast.SelectStmt:
		w.enterSelect(n)
	case *ast.SetOprStmt:
		w.pushScope(n, nil, true, w.derivedHides())
	case *ast.SetOprSelectList:
		w.pushScope(n, nil, true, nil)
	case *ast.InsertStmt:
		w.pushScope(n, w.sourcesOf(w.tableRefs(n.Table), nil, nil), false, nil)
	case *ast.UpdateStmt:
		w.pushScope(n, w.sourcesOf(w.tableRefs(n.TableRefs), n.With, nil), false, nil)
	case *ast.DeleteStmt:
		w.pushScope(n, w.sourcesOf(w.tableRefs(n.TableRefs), n.With, nil), false, nil)
	case *ast.LoadDataStmt:
		if n.Table != nil {
			w.pushScope(n, w.sourcesOf(n.Table, nil, nil), false, nil)
		}

	case *ast.WithClause:
		w.ctes = append(w.ctes, &cteFrame{owner: w.parent()})
	case *ast.CommonTableExpression:
		if wc, ok := w.parent().(*ast.WithClause); ok && (wc.IsRecursive || n.IsRecursive) && len(w.ctes) > 0 {
			// Under RECURSIVE a CTE may refer to itself.
			w.ctes[len(w.ctes)-1].addName(n.Name.L)
		}

	case *ast.TableName:
		w.enterTableName(n)
	case *ast.ColumnNameExpr:
		w.enterColumnNameExpr(n)
	case *ast.ColumnName:
		w.enterColumnName(n)
	case *ast.SelectField:
		if n.WildCard != nil {
			// SelectField.Accept does not visit WildCard.
			w.seen[n.WildCard] = false
			w.star(n.WildCard)
		}
	case *ast.WildCardField:
		w.star(n)
	case *ast.Join:
		w.enterJoin(n)

	case *ast.FuncCallExpr:
		if _, ok := w.parent().(*ast.CallStmt); ok {
			w.st.Routines = w.addTable(w.st.Routines, w.qualify(n.Schema.L, n.FnName.L))
			break
		}
		name := n.FnName.L
		if n.Schema.L != "" {
			// db.f() is always a stored function: it can write.
			name = n.Schema.L + "." + name
			w.st.ReadOnly = false
		} else if w.hooks != nil {
			w.functionHook(n)
		}
		w.addFunc(name)
		if rowOrderedFunctions[name] && !(name == "last_insert_id" && len(n.Args) == 0) && w.rowOrdered == "" {
			w.rowOrdered = "the function " + strings.ToUpper(name) + "()"
		}
	case *ast.AggregateFuncExpr:
		w.addFunc(strings.ToLower(n.F))
		switch f := strings.ToLower(n.F); f {
		case "group_concat", "json_arrayagg", "json_objectagg":
			if w.orderedAgg == "" {
				w.orderedAgg = strings.ToUpper(f) + "()"
			}
		}
	case *ast.Limit:
		if sel, ok := w.parent().(*ast.SelectStmt); !ok || sel != w.top {
			w.innerLimit = true
		}
	case *ast.WindowFuncExpr:
		w.addFunc(strings.ToLower(n.Name))
		if w.rowOrdered == "" {
			w.rowOrdered = "the window function " + strings.ToUpper(n.Name) + "() OVER"
		}
	case *ast.FuncCastExpr:
		switch n.FunctionType {
		case ast.CastConvertFunction:
			w.addFunc("convert")
		case ast.CastBinaryOperator:
			w.addFunc("binary")
		default:
			w.addFunc("cast")
		}
	case *ast.MatchAgainst:
		w.addFunc("match")
	case *ast.ValuesExpr:
		w.addFunc("values")
	case *ast.DefaultExpr:
		if n.Name != nil {
			// DEFAULT(col) reads col's definition. DefaultExpr.Accept
			// does not visit Name.
			w.seen[n.Name] = false
			if col := w.resolve(n.Name); w.hooks != nil && w.hideOnce(n.Name, col) {
				w.addColumn(col)
			} else {
				w.plainColumn(col, UseOther)
			}
			w.addFunc("default")
		}
	case *ast.PositionExpr:
		if w.hooks != nil {
			w.positionRef(n)
		}
	case *ast.VariableExpr:
		if n.IsSystem {
			w.st.SystemVars = w.addString(w.st.SystemVars, "sysvar", strings.ToLower(n.Name))
		}
		if !n.IsSystem && n.Value != nil && w.rowOrdered == "" {
			w.rowOrdered = "the assignment @" + n.Name + " :="
		}

	// Expression and clause nodes that need nothing beyond their children.
	case *ast.BetweenExpr, *ast.BinaryOperationExpr, *ast.CaseExpr, *ast.WhenClause,
		*ast.SubqueryExpr, *ast.CompareSubqueryExpr, *ast.ExistsSubqueryExpr,
		*ast.IsNullExpr, *ast.IsTruthExpr, *ast.ParenthesesExpr, *ast.PatternInExpr,
		*ast.PatternLikeOrIlikeExpr, *ast.PatternRegexpExpr,
		*ast.RowExpr, *ast.UnaryOperationExpr, *ast.SetCollationExpr, *ast.TimeUnitExpr,
		*ast.GetFormatSelectorExpr, *ast.TrimDirectionExpr, *ast.TableNameExpr,
		*test_driver.ValueExpr, *test_driver.ParamMarkerExpr,
		*ast.FieldList, *ast.TableRefsClause, *ast.TableSource, *ast.OnCondition,
		*ast.GroupByClause, *ast.HavingClause, *ast.OrderByClause, *ast.ByItem,
		*ast.WindowSpec, *ast.PartitionByClause, *ast.FrameClause,
		*ast.FrameBound, *ast.TableOptimizerHint:

	// Statements.
	case *ast.ExplainStmt:
		return w.enterExplain(n)
	case *ast.ShowStmt:
		w.enterShow(n)
	case *ast.SetStmt:
		w.setTxn = isSetTransaction(n.Text())
	case *ast.VariableAssignment:
		w.enterAssignment(n)
	case *ast.UseStmt:
		w.st.Schemas = w.addString(w.st.Schemas, "schema", strings.ToLower(n.DBName))
		if w.hooks != nil {
			n.DBName, _ = w.hideSchemaName(n.DBName)
		}
	case *ast.KillStmt:
		w.st.KillID, w.st.KillQuery = n.ConnectionID, n.Query
		if n.TiDBExtension {
			w.unknown("KILL TIDB")
		}
	case *ast.BeginStmt:
		if n.Mode != "" || n.CausalConsistencyOnly {
			w.unknown("TiDB transaction mode")
		}
		if n.AsOf != nil {
			w.unknown("START TRANSACTION AS OF")
		}
	case *ast.CommitStmt, *ast.RollbackStmt, *ast.SavepointStmt, *ast.ReleaseSavepointStmt,
		*ast.DoStmt, *ast.HelpStmt, *ast.UnlockTablesStmt, *ast.DeallocateStmt,
		*ast.PrepareStmt, *ast.ExecuteStmt, *ast.CallStmt, *ast.SetPwdStmt,
		*ast.SetRoleStmt, *ast.SetDefaultRoleStmt, *ast.ShutdownStmt:
	case *ast.CreateDatabaseStmt:
		w.st.Schemas = w.addString(w.st.Schemas, "schema", n.Name.L)
	case *ast.DropDatabaseStmt:
		w.st.Schemas = w.addString(w.st.Schemas, "schema", n.Name.L)
	case *ast.AlterDatabaseStmt:
		if n.AlterDefaultDatabase {
			w.st.Schemas = w.addString(w.st.Schemas, "schema", w.db)
		} else {
			w.st.Schemas = w.addString(w.st.Schemas, "schema", n.Name.L)
		}
	case *ast.GrantStmt:
		w.grantLevel(n.Level)
	case *ast.RevokeStmt:
		w.grantLevel(n.Level)

	default:
		if w.writeKind && writeNode(n) {
			break
		}
		w.unknown(fmt.Sprintf("%T", n))
	}
	return false
}

// writeNode lists node types that appear only inside statements that
// are never read-only. They are accepted there so that such statements
// keep their precise Kind; anywhere else they make the statement other.
func writeNode(n ast.Node) bool {
	switch n.(type) {
	case *ast.Assignment, *ast.DeleteTableList, *ast.ColumnNameOrUserVar,
		*ast.CreateTableStmt, *ast.DropTableStmt, *ast.AlterTableStmt, *ast.TruncateTableStmt,
		*ast.CreateIndexStmt, *ast.DropIndexStmt, *ast.CreateViewStmt, *ast.RenameTableStmt,
		*ast.CreateUserStmt, *ast.AlterUserStmt, *ast.DropUserStmt, *ast.RenameUserStmt,
		*ast.CreateSequenceStmt, *ast.DropSequenceStmt, *ast.AlterSequenceStmt,
		*ast.DropProcedureStmt, *ast.AlterInstanceStmt,
		*ast.GrantRoleStmt, *ast.RevokeRoleStmt, *ast.GrantProxyStmt,
		*ast.LockTablesStmt, *ast.FlushStmt, *ast.AnalyzeTableStmt,
		*ast.ColumnDef, *ast.ColumnOption, *ast.Constraint, *ast.IndexPartSpecification,
		*ast.ReferenceDef, *ast.OnDeleteOpt, *ast.OnUpdateOpt, *ast.ColumnPosition,
		*ast.AlterTableSpec, *ast.IndexOption, *ast.IndexLockAndAlgorithm, *ast.PrivElem,
		*ast.TableToTable, *ast.UserToUser, *ast.TableOption, *ast.PartitionOptions,
		*ast.MaxValueExpr:
		return true
	}
	return false
}

func (w *walker) enterSelect(n *ast.SelectStmt) {
	w.pushScope(n, w.sourcesOf(w.tableRefs(n.From), n.With, nil), false, w.derivedHides())
	if w.hooks != nil {
		w.expandStars(n)
	}
	if n.SelectIntoOpt != nil {
		// SelectStmt.Accept does not visit the INTO clause.
		w.seen[n.SelectIntoOpt] = false
		w.st.Into = true
		if n.SelectIntoOpt.Tp != ast.SelectIntoVars {
			w.st.IntoFile = true
			w.st.ReadOnly = false
		}
	}
	if n.LockInfo != nil && n.LockInfo.LockType != ast.SelectLockNone {
		// Row locks held by a replica session can stall replication.
		w.st.Locking = true
		w.st.ReadOnly = false
	}
	if n.Kind == ast.SelectStmtKindTable {
		// TABLE t reads every column of t.
		for _, s := range w.topScope().sources {
			if !s.derived {
				w.st.Stars = w.addTable(w.st.Stars, s.table)
			}
		}
	}
}

// derivedHides returns the enclosing scope that a query block about to be
// entered cannot see: that of the FROM clause it is a derived table of,
// or that of the block whose WITH clause defines it.
func (w *walker) derivedHides() *scope {
	switch p := w.parent().(type) {
	case *ast.TableSource:
		if !p.Lateral {
			return w.topScope()
		}
	case *ast.SubqueryExpr:
		if _, ok := w.grandparent().(*ast.CommonTableExpression); ok {
			return w.topScope()
		}
	}
	return nil
}

func (w *walker) enterTableName(n *ast.TableName) {
	switch p := w.parent().(type) {
	case *ast.TableSource, *ast.Join:
		if n.Schema.L == "" && w.cteVisible(n.Name.L, nil) {
			return // a CTE: its body has been walked already
		}
		t := w.qualify(n.Schema.L, n.Name.L)
		w.st.Tables = w.addTable(w.st.Tables, t)
		for _, h := range n.IndexHints {
			for _, idx := range h.IndexNames {
				w.st.IndexHints = append(w.st.IndexHints, IndexRef{Table: t, Index: idx.L})
			}
		}
		if w.hooks != nil {
			w.hideTableName(n, t)
			if _, ok := p.(*ast.TableSource); ok {
				w.ignoreIndexes(n, t)
			}
		}
		if ts, ok := p.(*ast.TableSource); ok && w.hooks != nil && t.Schema == "information_schema" {
			w.catalogHook(ts, n)
		} else if w.hooks != nil && t.Schema == "information_schema" {
			w.catalogElsewhere(n)
		}
	case *ast.DeleteTableList, *ast.SelectStmt:
		// DELETE t1 FROM ..., SELECT ... FOR UPDATE OF t1: t1 names an
		// entry of the FROM clause, by alias or by name.
		if src, ok := w.lookup(n.Schema.L, n.Name.L); ok {
			if !src.derived {
				w.st.Tables = w.addTable(w.st.Tables, src.table)
			}
			return
		}
		w.st.Tables = w.addTable(w.st.Tables, w.qualify(n.Schema.L, n.Name.L))
		if w.hooks != nil && w.qualify(n.Schema.L, n.Name.L).Schema == "information_schema" {
			w.catalogElsewhere(n)
		}
	case *ast.ShowStmt:
		// SHOW COLUMNS FROM t FROM db: MySQL lets the FROM db clause win;
		// report both when they disagree.
		schema := n.Schema.L
		if db := strings.ToLower(p.DBName); db != "" {
			if schema != "" && schema != db {
				w.st.Tables = w.addTable(w.st.Tables, Table{Schema: schema, Name: n.Name.L})
			}
			schema = db
		}
		w.st.Tables = w.addTable(w.st.Tables, w.qualify(schema, n.Name.L))
		if w.hooks != nil {
			w.hideTableName(n, w.qualify(schema, n.Name.L))
		}
	default:
		w.st.Tables = w.addTable(w.st.Tables, w.qualify(n.Schema.L, n.Name.L))
		if w.hooks != nil {
			w.hideTableName(n, w.qualify(n.Schema.L, n.Name.L))
		}
		if w.hooks != nil && w.qualify(n.Schema.L, n.Name.L).Schema == "information_schema" {
			w.catalogElsewhere(n)
		}
	}
}

func (w *walker) enterColumnNameExpr(n *ast.ColumnNameExpr) {
	if va, ok := w.parent().(*ast.VariableAssignment); ok && va.IsSystem && n.Name.Table.L == "" {
		// SET sql_mode = ANSI_QUOTES: a bare word, not a column.
		return
	}
	col := w.resolve(n.Name)
	w.addColumn(col)
	if w.hooks != nil {
		w.columnHook(n, col)
	}
}

func (w *walker) enterColumnName(n *ast.ColumnName) {
	switch p := w.parent().(type) {
	case *ast.ColumnNameExpr, *ast.Join:
		// Recorded by the parent.
	case *ast.ShowStmt:
		// DESCRIBE t col
		if p.Table != nil {
			schema := p.Table.Schema.L
			if db := strings.ToLower(p.DBName); db != "" {
				schema = db
			}
			t := w.qualify(schema, p.Table.Name.L)
			col := Column{Schema: t.Schema, Table: t.Name, Name: n.Name.L}
			if w.hooks != nil && w.hideOnce(n, col) {
				w.addColumn(col)
				return
			}
			w.plainColumn(col, UseOther)
			return
		}
		w.plainColumn(Column{Name: n.Name.L}, UseOther)
	default:
		// INSERT column lists, UPDATE SET targets, MATCH (cols), DDL.
		col := w.resolve(n)
		if w.hooks != nil && w.hideOnce(n, col) {
			w.addColumn(col)
			return
		}
		w.plainColumn(col, UseOther)
	}
}

// star records the tables that * or t.* expands.
func (w *walker) star(n *ast.WildCardField) {
	if n.Table.L == "" {
		top := w.topScope()
		if top == nil {
			return
		}
		for _, s := range top.sources {
			if !s.derived {
				w.st.Stars = w.addTable(w.st.Stars, s.table)
			}
		}
		return
	}
	if src, ok := w.lookup(n.Schema.L, n.Table.L); ok {
		if !src.derived {
			w.st.Stars = w.addTable(w.st.Stars, src.table)
		}
		return
	}
	// Nothing in scope by that name: MySQL rejects the query, but report
	// the table the text names.
	w.st.Stars = w.addTable(w.st.Stars, w.qualify(n.Schema.L, n.Table.L))
}

func (w *walker) enterJoin(n *ast.Join) {
	if !n.NaturalJoin && len(n.Using) == 0 {
		return
	}
	tables, derived := w.baseTables(n.Left)
	rt, rd := w.baseTables(n.Right)
	tables, derived = append(tables, rt...), derived || rd
	if n.NaturalJoin {
		// NATURAL JOIN compares every column the two sides share: which
		// ones is not in the text, so treat both sides as fully read.
		for _, t := range tables {
			w.st.Stars = w.addTable(w.st.Stars, t)
			if w.hooks == nil {
				continue
			}
			if _, restricted, err := w.hooks.Star(t); err != nil || restricted {
				// It could compare withheld or masked columns.
				w.fail(fmt.Errorf("%w: NATURAL JOIN over a table with withheld or masked columns; join with ON", errRewrite))
				break // the first such table names the rule
			}
		}
	}
	use := UseOther
	if w.top != nil && w.block() == w.top {
		use = UseJoinEq
	}
	for _, c := range n.Using {
		psn, plain := 0, 0
		hidden := false
		for _, t := range tables {
			if w.hooks != nil && w.hideOnce(c, Column{Schema: t.Schema, Table: t.Name, Name: c.Name.L}) {
				hidden = true
			}
		}
		if hidden {
			continue
		}
		for _, t := range tables {
			if w.plainColumn(Column{Schema: t.Schema, Table: t.Name, Name: c.Name.L}, use) == Pseudonym {
				psn++
			} else {
				plain++
			}
		}
		if derived || len(tables) == 0 {
			w.plainColumn(Column{Name: c.Name.L}, use)
			plain++
		}
		if psn > 0 && plain > 0 {
			// USING compares the real values: against a derived table
			// or a column that is not pseudonymised, that is a probe.
			w.fail(fmt.Errorf("%w: USING (%s) joins a pseudonymised column with one that is not; join pseudonymised columns with each other", errRewrite, c.Name.O))
		}
	}
}

func (w *walker) enterExplain(n *ast.ExplainStmt) bool {
	if show, ok := n.Stmt.(*ast.ShowStmt); ok && show.Tp == ast.ShowColumns {
		return false // DESCRIBE t: walk the SHOW COLUMNS here
	}
	if n.Stmt == nil {
		w.unknown("EXPLAIN without a statement")
		return true
	}
	inner := &walker{db: w.db, seen: w.seen, dedup: make(map[string]struct{}), hooks: w.hooks, mode: w.mode}
	in := inner.run(n.Stmt)
	if w.hooks != nil {
		// A rewrite applies inside EXPLAIN too: the plan of the statement
		// as it would run (indexes on withheld columns ignored, hidden
		// names replaced by placeholders for a probe).
		if inner.err != nil {
			w.fail(inner.err)
		}
		w.changed = w.changed || inner.changed
		for k, v := range inner.renamed {
			if w.renamed == nil {
				w.renamed = map[string]string{}
			}
			w.renamed[k] = v
		}
	}
	w.st.Inner = &in
	// The outer statement carries everything the inner one touches, so a
	// policy that only looks at the top level still sees it.
	for _, t := range in.Tables {
		w.st.Tables = w.addTable(w.st.Tables, t)
	}
	for _, t := range in.Stars {
		w.st.Stars = w.addTable(w.st.Stars, t)
	}
	for _, t := range in.Routines {
		w.st.Routines = w.addTable(w.st.Routines, t)
	}
	for _, c := range in.Columns {
		w.addColumn(c)
	}
	for _, f := range in.Functions {
		w.addFunc(f)
	}
	for _, s := range in.Schemas {
		w.st.Schemas = w.addString(w.st.Schemas, "schema", s)
	}
	for _, s := range in.SystemVars {
		w.st.SystemVars = w.addString(w.st.SystemVars, "sysvar", s)
	}
	w.st.Locking, w.st.Into, w.st.IntoFile = in.Locking, in.Into, in.IntoFile
	// EXPLAIN ANALYZE runs the statement; plain EXPLAIN does not, but
	// taking the inner verdict either way is the simple safe reading.
	w.st.ReadOnly = in.ReadOnly
	if in.Kind == KindOther {
		w.unknown("EXPLAIN of a statement not understood")
	}
	return true
}

func (w *walker) grantLevel(l *ast.GrantLevel) {
	if l == nil {
		return
	}
	switch l.Level {
	case ast.GrantLevelDB:
		db := strings.ToLower(l.DBName)
		if db == "" {
			db = w.db
		}
		w.st.Schemas = w.addString(w.st.Schemas, "schema", db)
	case ast.GrantLevelTable:
		w.st.Tables = w.addTable(w.st.Tables, w.qualify(strings.ToLower(l.DBName), strings.ToLower(l.TableName)))
	}
}

// stateFuncs are builtins that change state other sessions can see.
var stateFuncs = map[string]bool{
	"get_lock":          true,
	"release_lock":      true,
	"release_all_locks": true,
	"nextval":           true, // sequences (MariaDB, TiDB)
	"setval":            true,
}

func (w *walker) addFunc(name string) {
	if stateFuncs[name] {
		w.st.ReadOnly = false
	}
	w.st.Functions = w.addString(w.st.Functions, "func", name)
}

func (w *walker) addString(list []string, ns, s string) []string {
	key := ns + "\x00" + s
	if _, ok := w.dedup[key]; ok {
		return list
	}
	w.dedup[key] = struct{}{}
	return append(list, s)
}

func (w *walker) addTable(list []Table, t Table) []Table {
	for _, x := range list {
		if x == t {
			return list
		}
	}
	return append(list, t)
}

func (w *walker) addColumn(c Column) {
	for _, x := range w.st.Columns {
		if x == c {
			return
		}
	}
	w.st.Columns = append(w.st.Columns, c)
	w.st.Clauses = append(w.st.Clauses, w.clause())
}

// clause names the clause of the innermost query block that the node
// being entered stands in, as the server's "Unknown column" error does.
func (w *walker) clause() string {
	for i := len(w.stack) - 1; i >= 0; i-- {
		switch n := w.stack[i].(type) {
		case *ast.FieldList:
			return "field list"
		case *ast.GroupByClause:
			return "group statement"
		case *ast.HavingClause:
			return "having clause"
		case *ast.OrderByClause:
			return "order clause"
		case *ast.OnCondition:
			return "on clause"
		case *ast.SelectStmt:
			if i+1 < len(w.stack) && n.Where != nil && w.stack[i+1] == ast.Node(n.Where) {
				return "where clause"
			}
			return "field list"
		}
	}
	return "field list"
}

// rowOrderedFunctions return a different value on each call, so that a
// value tells when, among the statement's rows, it was computed: ROWNUM()
// numbers rows as they are produced, UUID(), UUID_SHORT(), SYS_GUID()
// and LAST_INSERT_ID(expr) count up, SYSDATE() moves on, and RAND(n)
// steps through a fixed sequence. Inside an aggregate over GROUP BY
// subject_id each group's value ranked its real identifier (found by an
// adversarial sweep). See orderDependentOverPseudonym.
var rowOrderedFunctions = map[string]bool{
	"rownum": true, "uuid": true, "uuid_short": true, "sys_guid": true, "sysdate": true,
	"rand": true, "random_bytes": true, "last_insert_id": true,
}
