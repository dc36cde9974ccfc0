package sqlscope

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	"github.com/pingcap/tidb/pkg/parser/opcode"
)

// Use says where a column reference stands. Masking depends on it: a
// masked value may be returned, but any other use of the real value
// (a predicate, an ordering, a function argument) could probe it.
type Use int

const (
	// UseOther is any use not listed below: predicates, ORDER BY,
	// function arguments, subqueries' conditions...
	UseOther Use = iota
	// UseSelect: the whole expression of a select-list field of a
	// query block that is not the statement's outermost SELECT.
	UseSelect
	// UseOutput: the whole expression of a select-list field of the
	// outermost SELECT (not a UNION): its value goes to the client.
	UseOutput
	// UseGroupBy: a whole GROUP BY item of the outermost SELECT.
	UseGroupBy
	// UseCountDistinct: the sole argument of COUNT(DISTINCT ...) in the
	// outermost SELECT.
	UseCountDistinct
	// UseJoinEq: one side of col = col, where that comparison is an ON
	// condition (or an AND-ed part of one) of the outermost SELECT.
	UseJoinEq
)

func (u Use) String() string {
	return [...]string{"other", "select", "output", "group-by", "count-distinct", "join-eq"}[u]
}

// Action is what a Hooks.Column answer asks the rewrite to do.
type Action int

const (
	Keep      Action = iota // leave the reference as written
	MaskNull                // replace a select-list reference with NULL
	MaskFixed               // replace a select-list reference with a string
	Pseudonym               // keep; the proxy replaces the output value
)

// ColumnAction answers Hooks.Column.
type ColumnAction struct {
	Do    Action
	Value string // MaskFixed's replacement
}

// Hooks are asked, during Rewrite's walk, what to do with the column
// references, stars and catalog tables of the statement. An error from
// any of them stops the rewrite and is returned as is.
type Hooks interface {
	// Column is called for every column reference that the walk can
	// resolve or not (Table empty when ambiguous), with where it stands.
	Column(c Column, use Use) (ColumnAction, error)
	// Star is called for each base table a * or t.* reads. expand
	// false keeps the star; otherwise it becomes cols, in order.
	Star(t Table) (cols []string, expand bool, err error)
	// Catalog is called for each information_schema table read in a
	// FROM clause, by its lower-case name. A non-empty cond (SQL over
	// that table's own columns) replaces the table with a derived table
	// SELECT * FROM information_schema.NAME WHERE cond, under the same
	// name, so every column keeps its name and position.
	Catalog(name string) (cond string, err error)
	// Function is called for every call of a builtin function without
	// a schema, by lower-case name. replace true swaps the call for the
	// string value (CURRENT_USER() naming the person, not the service
	// account).
	Function(name string) (value string, replace bool)
}

// Rewritten is the outcome of Rewrite.
type Rewritten struct {
	// SQL is the statement text to send instead of the original.
	SQL string
	// Pseudonyms lists, per statement, the output columns (0-based)
	// whose values the proxy must replace by pseudonyms.
	Pseudonyms [][]int
	// Changed is false when no hook asked for anything: SQL is then the
	// original text.
	Changed bool
	// Names maps each placeholder put in for a hidden name (see Hider)
	// to the name as the user wrote it.
	Names map[string]string
}

// Rewrite parses sql like AnalyzeMode and walks it with h, applying
// what the hooks ask. The result is restored to SQL text; comments and
// layout of the original are not kept. Callers should analyse the
// rewritten text again before sending it: the rewrite is only as good as
// the check that follows it.
func Rewrite(sql, currentDB, sqlMode string, h Hooks) (*Rewritten, error) {
	stmts, mode, release, err := parseText(sql, sqlMode)
	if err != nil {
		return nil, err
	}
	defer release()
	out := &Rewritten{}
	var texts []string
	db := strings.ToLower(currentDB)
	for _, s := range stmts {
		w := newWalker(db)
		w.hooks = h
		w.mode = mode
		if sel, ok := s.(*ast.SelectStmt); ok {
			w.top = sel
		}
		st, err := rewriteStmt(w, s)
		if err != nil {
			return nil, err
		}
		if st.Kind == KindOther {
			return nil, fmt.Errorf("%w: %s", ErrUnparseable, strings.Join(st.Unknown, "; "))
		}
		if err := w.keyScanOrder(s); err != nil {
			return nil, err
		}
		if err := w.orderDependentOverPseudonym(); err != nil {
			return nil, err
		}
		if w.changed {
			out.Changed = true
		}
		if w.changed {
			if err := w.rollupUnkeyable(); err != nil {
				return nil, err
			}
			s.Accept(fieldNamer{})
			w.orderPseudonyms()
		}
		text, err := restoreText(s)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot restore the rewritten statement: %v", ErrUnparseable, err)
		}
		texts = append(texts, text)
		out.Pseudonyms = append(out.Pseudonyms, w.outputs)
		for k, v := range w.renamed {
			if out.Names == nil {
				out.Names = map[string]string{}
			}
			out.Names[k] = v
		}
		if st.Kind == KindUse && len(st.Schemas) == 1 {
			db = st.Schemas[0]
		}
	}
	if !out.Changed {
		out.SQL = sql
		return out, nil
	}
	out.SQL = strings.Join(texts, "; ")
	// The server reads the rewritten text, not this AST: it must read
	// back as exactly what was written. A string ending in a backslash
	// once came back as 'x\' and swallowed the SQL after it.
	if err := readsBack(out.SQL, texts, sqlMode); err != nil {
		return nil, err
	}
	return out, nil
}

// restoreFlags write SQL that MySQL and MariaDB read as the AST says,
// with backslash escapes on (the proxy refuses NO_BACKSLASH_ESCAPES):
// single-quoted strings with quotes doubled and backslashes escaped, no
// charset introducer TiDB would add, names in backquotes.
const restoreFlags = format.DefaultRestoreFlags | format.RestoreStringWithoutDefaultCharset | format.RestoreStringEscapeBackslash

func restoreText(s ast.StmtNode) (string, error) {
	var sb strings.Builder
	if err := restore(s, format.NewRestoreCtx(restoreFlags, &sb)); err != nil {
		return "", err
	}
	return sb.String(), nil
}

// readsBack parses sql, the rewrite's output, and restores it again: each
// statement must come out as the text written for it. Otherwise parser and
// restorer disagree on something in it, and what the server runs is not
// what was checked: refused.
func readsBack(sql string, texts []string, sqlMode string) error {
	stmts, _, release, err := parseText(sql, sqlMode)
	if err != nil {
		return fmt.Errorf("%w: the rewritten statement does not parse: %v", ErrUnparseable, err)
	}
	defer release()
	if len(stmts) != len(texts) {
		return fmt.Errorf("%w: the rewritten text reads back as %d statements, not %d", ErrUnparseable, len(stmts), len(texts))
	}
	for i, s := range stmts {
		again, err := restoreText(s)
		if err != nil || again != texts[i] {
			return fmt.Errorf("%w: the rewritten statement does not read back as written", ErrUnparseable)
		}
	}
	return nil
}

func rewriteStmt(w *walker, s ast.StmtNode) (st Statement, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: rewrite failed: %v", ErrUnparseable, r)
		}
	}()
	st = w.run(s)
	if w.err == nil && w.hooks != nil {
		w.checkPseudonymRefs()
	}
	return st, w.err
}

// checkPseudonymRefs refuses references that reach a pseudonymised
// output column through its name or position: the upstream evaluates
// them on the real value (HAVING s = 'S-001', ORDER BY s, ORDER BY 1,
// a subquery naming the alias), and only the proxy turns it into a
// pseudonym afterwards. GROUP BY is the one such use that compares
// values for equality only.
func (w *walker) checkPseudonymRefs() {
	for _, r := range w.bareRefs {
		if w.psnNames[r] {
			w.fail(fmt.Errorf("%w: %s names a pseudonymised column; only GROUP BY may refer to it by name", errRewrite, r))
			return
		}
	}
	for _, pos := range w.orderPositions {
		for _, o := range w.outputs {
			if pos == o+1 || pos < 0 {
				w.fail(fmt.Errorf("%w: ORDER BY position of a pseudonymised column", errRewrite))
				return
			}
		}
	}
}

// positionRef records ORDER BY n of the outermost SELECT.
func (w *walker) positionRef(n *ast.PositionExpr) {
	if _, ok := w.grandparent().(*ast.OrderByClause); !ok || w.top == nil || len(w.stack) < 4 || w.stack[len(w.stack)-4] != w.top {
		return
	}
	if n.P != nil {
		w.orderPositions = append(w.orderPositions, -1) // not known until execution
		return
	}
	w.orderPositions = append(w.orderPositions, n.N)
}

func (w *walker) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// expandStars replaces * and t.* in a select list by the column lists
// the hooks give, for the tables that need it.
func (w *walker) expandStars(n *ast.SelectStmt) {
	if n.Kind == ast.SelectStmtKindTable {
		// TABLE t reads every column and has no list to narrow.
		for _, src := range w.topScope().sources {
			if src.derived {
				continue
			}
			if _, expand, err := w.hooks.Star(src.table); err != nil || expand {
				if err == nil {
					err = fmt.Errorf("%w: TABLE %s would include withheld or masked columns; use SELECT with a column list", errRewrite, src.table)
				}
				w.fail(err)
				return
			}
		}
	}
	if n.Fields == nil {
		return
	}
	top := w.topScope()
	var fields []*ast.SelectField
	expanded := false
	for _, f := range n.Fields.Fields {
		if f.WildCard == nil {
			fields = append(fields, f)
			continue
		}
		var srcs []source
		if f.WildCard.Table.L == "" {
			srcs = top.sources
		} else if src, ok := w.lookup(f.WildCard.Schema.L, f.WildCard.Table.L); ok {
			srcs = []source{src}
		} else {
			fields = append(fields, f) // the server rejects it
			continue
		}
		var repl []*ast.SelectField
		need := false
		for _, src := range srcs {
			if src.derived || len(src.qual) == 0 {
				repl = append(repl, starField(src.qual))
				continue
			}
			cols, expand, err := w.hooks.Star(src.table)
			if err != nil {
				w.fail(err)
				return
			}
			if !expand {
				repl = append(repl, starField(src.qual))
				continue
			}
			need = true
			for _, c := range cols {
				repl = append(repl, &ast.SelectField{Expr: &ast.ColumnNameExpr{Name: columnName(src.qual, c)}})
			}
		}
		if !need {
			fields = append(fields, f)
			continue
		}
		if f.WildCard.Table.L == "" && joinsCoalesce(n.From) {
			// SELECT * over NATURAL JOIN or USING merges the shared
			// columns; a column list cannot say that.
			w.fail(fmt.Errorf("%w: SELECT * with NATURAL JOIN or USING over a table with withheld or masked columns; list the columns", errRewrite))
			return
		}
		if len(repl) == 0 {
			w.fail(fmt.Errorf("%w: SELECT * would return no column you may read", errRewrite))
			return
		}
		expanded = true
		fields = append(fields, repl...)
	}
	if expanded {
		n.Fields.Fields = fields
		w.changed = true
	}
}

// errRewrite marks a statement that cannot be rewritten to respect the
// policy; authz turns it into a denial.
var errRewrite = errors.New("cannot rewrite")

// ErrRewrite is wrapped by Rewrite errors that are policy refusals
// rather than parse failures.
var ErrRewrite = errRewrite

func starField(qual []string) *ast.SelectField {
	wc := &ast.WildCardField{}
	switch len(qual) {
	case 1:
		wc.Table = ast.NewCIStr(qual[0])
	case 2:
		wc.Schema, wc.Table = ast.NewCIStr(qual[0]), ast.NewCIStr(qual[1])
	}
	return &ast.SelectField{WildCard: wc}
}

func columnName(qual []string, col string) *ast.ColumnName {
	c := &ast.ColumnName{Name: ast.NewCIStr(col)}
	switch len(qual) {
	case 1:
		c.Table = ast.NewCIStr(qual[0])
	case 2:
		c.Schema, c.Table = ast.NewCIStr(qual[0]), ast.NewCIStr(qual[1])
	}
	return c
}

func joinsCoalesce(from *ast.TableRefsClause) bool {
	if from == nil {
		return false
	}
	var walk func(rs ast.ResultSetNode) bool
	walk = func(rs ast.ResultSetNode) bool {
		switch x := rs.(type) {
		case *ast.Join:
			return x.NaturalJoin || len(x.Using) > 0 || walk(x.Left) || walk(x.Right)
		case *ast.TableSource:
			if j, ok := x.Source.(*ast.Join); ok {
				return walk(j)
			}
		}
		return false
	}
	return walk(from.TableRefs)
}

// useOf says where the column reference being entered stands.
func (w *walker) useOf(n *ast.ColumnNameExpr) Use {
	k := len(w.stack) - 1 // n itself
	at := func(i int) ast.Node {
		if k-i < 0 {
			return nil
		}
		return w.stack[k-i]
	}
	switch p := at(1).(type) {
	case *ast.SelectField:
		if p.Expr != n {
			return UseOther
		}
		if at(3) == w.top && w.top != nil {
			return UseOutput
		}
		return UseSelect
	case *ast.ByItem:
		if _, ok := at(2).(*ast.GroupByClause); ok && at(3) == w.top && w.top != nil {
			return UseGroupBy
		}
	case *ast.AggregateFuncExpr:
		if strings.EqualFold(p.F, "count") && p.Distinct && len(p.Args) == 1 && w.block() == w.top && w.top != nil {
			return UseCountDistinct
		}
	case *ast.BinaryOperationExpr:
		if p.Op != opcode.EQ || w.block() != w.top || w.top == nil {
			return UseOther
		}
		if _, ok := p.L.(*ast.ColumnNameExpr); !ok {
			return UseOther
		}
		if _, ok := p.R.(*ast.ColumnNameExpr); !ok {
			return UseOther
		}
		for i := 2; at(i) != nil; i++ {
			switch a := at(i).(type) {
			case *ast.OnCondition:
				return UseJoinEq
			case *ast.BinaryOperationExpr:
				if a.Op == opcode.LogicAnd {
					continue
				}
			case *ast.SelectStmt:
				// FROM a, b WHERE a.k = b.k AND ...: the join written in
				// WHERE, as Crystal Reports and older tools write it.
				if a == w.top && a.Where != nil && a.Where == at(i-1) {
					return UseJoinEq
				}
			}
			return UseOther
		}
	}
	return UseOther
}

// block is the innermost query block being walked.
func (w *walker) block() ast.Node {
	for i := len(w.stack) - 1; i >= 0; i-- {
		switch n := w.stack[i].(type) {
		case *ast.SelectStmt, *ast.SetOprStmt:
			return n
		}
	}
	return nil
}

// columnHook asks the hooks about one column reference and arranges the
// replacement it asks for.
func (w *walker) columnHook(n *ast.ColumnNameExpr, col Column) {
	if w.hideOnce(n.Name, col) {
		return
	}
	use := w.useOf(n)
	if n.Name.Table.L == "" && use != UseOutput && use != UseGroupBy {
		// It may name a select-list alias; see checkPseudonymRefs.
		w.bareRefs = append(w.bareRefs, n.Name.Name.L)
	}
	act, err := w.hooks.Column(col, use)
	if err != nil {
		w.fail(err)
		return
	}
	if act.Do == Keep {
		return
	}
	if act.Do == Pseudonym && w.psnUsed == "" {
		w.psnUsed = n.Name.Name.O
	}
	field, _ := w.parent().(*ast.SelectField)
	switch {
	case act.Do == Pseudonym && use == UseOutput:
		// CONCAT makes the upstream send a string whatever the column's
		// type, so the pseudonym fits the column in both protocols.
		repl := &ast.FuncCallExpr{FnName: ast.NewCIStr("CONCAT"), Args: []ast.ExprNode{n}}
		w.swap(n, repl, field, n.Name.Name.O)
		w.psnExprs = append(w.psnExprs, n)
		for i, f := range w.top.Fields.Fields {
			if f == field {
				w.outputs = append(w.outputs, i)
			}
		}
		if field != nil {
			if w.psnNames == nil {
				w.psnNames = map[string]bool{}
			}
			w.psnNames[field.AsName.L] = true
		}
	case act.Do == Pseudonym && use == UseJoinEq:
		// Equality of real values is equality of pseudonyms only when
		// the other side is pseudonymised too: against a literal of a
		// derived table or a plain column it would test real values.
		if !w.otherSidePseudonym(n) {
			w.fail(fmt.Errorf("%w: a pseudonymised column can only be joined with = to another pseudonymised column", errRewrite))
		}
	case act.Do == Pseudonym && use == UseGroupBy:
		// Equality of real values is equality of pseudonyms. But
		// MariaDB returns the groups sorted by the real value: the rows
		// are put in the keyed order too, even when no pseudonym is
		// among the outputs (SELECT visit_id ... GROUP BY subject_id
		// ranked each group by its real identifier).
		w.psnExprs = append(w.psnExprs, n)
		w.changed = true
	case act.Do == Pseudonym && use == UseCountDistinct:
		// Equality of real values is equality of pseudonyms.
	case (act.Do == MaskNull || act.Do == MaskFixed) && (use == UseOutput || use == UseSelect):
		var v ast.ValueExpr
		if act.Do == MaskNull {
			v = ast.NewValueExpr(nil, "", "")
		} else {
			v = ast.NewValueExpr(act.Value, "", "")
		}
		w.swap(n, v, field, n.Name.Name.O)
	default:
		w.fail(fmt.Errorf("%w: hook asked for %d at a %s use", errRewrite, act.Do, use))
	}
}

// otherSidePseudonym reports whether the other operand of the col = col
// comparison n stands in is a column the hooks pseudonymise.
func (w *walker) otherSidePseudonym(n *ast.ColumnNameExpr) bool {
	p, ok := w.parent().(*ast.BinaryOperationExpr)
	if !ok {
		return false
	}
	other, ok := p.L.(*ast.ColumnNameExpr)
	if ast.ExprNode(other) == ast.ExprNode(n) {
		other, ok = p.R.(*ast.ColumnNameExpr)
	}
	if !ok || other == n {
		return false
	}
	col := w.resolve(other.Name)
	if col.Table == "" {
		// A derived table's or a CTE's column (or a name no single base
		// table owns) holds whatever values the user put there: joining
		// a pseudonym to it tests real values, even if it is called like
		// a pseudonymised column.
		return false
	}
	act, err := w.hooks.Column(col, UseJoinEq)
	return err == nil && act.Do == Pseudonym
}

// swap arranges for repl to take n's place when the walk leaves n, and
// keeps the field's output name.
func (w *walker) swap(n, repl ast.ExprNode, field *ast.SelectField, name string) {
	if w.replace == nil {
		w.replace = map[ast.Node]ast.Node{}
	}
	w.replace[n] = repl
	if field != nil && field.AsName.L == "" {
		field.AsName = ast.NewCIStr(name)
	}
	// The replacement is never entered by this walk; it holds only n or
	// a literal, so mark it seen for the completeness check.
	w.seen[repl] = false
	w.changed = true
}

// catalogHook replaces information_schema.NAME in a FROM clause by a
// filtered derived table of the same name.
func (w *walker) catalogHook(ts *ast.TableSource, n *ast.TableName) {
	name := n.Name.L
	cond, err := w.hooks.Catalog(name)
	if err != nil {
		w.fail(err)
		return
	}
	if cond == "" {
		return
	}
	list := "*"
	if cs, ok := w.hooks.(CatalogSelecter); ok {
		l, err := cs.CatalogSelect(name)
		if err != nil {
			w.fail(err)
			return
		}
		if l != "" {
			list = l
		}
	}
	p := parser.New()
	p.SetSQLMode(w.mode)
	stmt, err := p.ParseOneStmt("SELECT "+list+" FROM information_schema.`"+strings.ToUpper(name)+"` WHERE "+cond, "utf8mb4", "")
	if err != nil {
		w.fail(fmt.Errorf("%w: catalog filter for %s: %v", errRewrite, name, err))
		return
	}
	sel := stmt.(*ast.SelectStmt)
	markSeen(sel, w.seen)
	if ts.AsName.L == "" {
		ts.AsName = ast.NewCIStr(n.Name.O)
	}
	if w.replace == nil {
		w.replace = map[ast.Node]ast.Node{}
	}
	w.replace[n] = sel
	w.changed = true
	w.keepColumnTitles()
}

// keepColumnTitles gives the plain column references of the query block
// being rewritten an alias spelled as the client wrote them. The server
// titles a result column after the name as written (table_name) when it
// reads information_schema itself, but after the derived table's column
// (TABLE_NAME) once the table is replaced; tools that look catalog
// columns up by exact name would then miss them.
func (w *walker) keepColumnTitles() {
	if len(w.scopes) == 0 {
		return
	}
	sel, ok := w.scopes[len(w.scopes)-1].owner.(*ast.SelectStmt)
	if !ok || sel.Fields == nil {
		return
	}
	for _, f := range sel.Fields.Fields {
		if c, ok := f.Expr.(*ast.ColumnNameExpr); ok && f.AsName.L == "" {
			f.AsName = c.Name.Name
		}
	}
}

type seenMarker struct{ seen map[ast.Node]bool }

func (m seenMarker) Enter(n ast.Node) (ast.Node, bool) { m.seen[n] = false; return n, false }
func (m seenMarker) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func markSeen(n ast.Node, seen map[ast.Node]bool) {
	n.Accept(seenMarker{seen})
	if sel, ok := n.(*ast.SelectStmt); ok {
		for _, f := range sel.Fields.Fields {
			if f.WildCard != nil {
				seen[f.WildCard] = false
			}
		}
	}
}

// plainColumn records a column reference that is not an expression of
// its own (USING, MATCH, DEFAULT(), DESCRIBE t col) and asks the hooks
// about it: such a reference can only be kept.
func (w *walker) plainColumn(col Column, use Use) Action {
	w.addColumn(col)
	if w.hooks == nil {
		return Keep
	}
	act, err := w.hooks.Column(col, use)
	if err != nil {
		w.fail(err)
		return Keep
	}
	if act.Do != Keep && !(act.Do == Pseudonym && use == UseJoinEq) {
		w.fail(fmt.Errorf("%w: hook asked for %d at a %s use", errRewrite, act.Do, use))
	}
	return act.Do
}

// catalogElsewhere refuses an information_schema table named outside a
// FROM clause when the hooks want it filtered: there is no derived
// table to put in its place.
func (w *walker) catalogElsewhere(n *ast.TableName) {
	cond, err := w.hooks.Catalog(n.Name.L)
	if err != nil {
		w.fail(err)
		return
	}
	if cond != "" {
		w.fail(fmt.Errorf("%w: information_schema.%s can only be read in a FROM clause", errRewrite, n.Name.O))
	}
}

// functionHook swaps a builtin call for a literal when the hooks ask.
func (w *walker) functionHook(n *ast.FuncCallExpr) {
	v, ok := w.hooks.Function(n.FnName.L)
	if !ok {
		return
	}
	repl := ast.NewValueExpr(v, "", "")
	if w.replace == nil {
		w.replace = map[ast.Node]ast.Node{}
	}
	w.replace[n] = repl
	w.seen[repl] = false
	w.changed = true
}

// fieldNamer gives every unaliased expression of a select list the name
// the server would have given it: its text as the client wrote it.
// Restored text differs (COUNT(*) comes back as COUNT(1)), and BI tools
// read result columns by name.
type fieldNamer struct{}

// maxFieldName is the longest automatic column name MySQL keeps.
const maxFieldName = 256

func (fieldNamer) Enter(n ast.Node) (ast.Node, bool) {
	if f, ok := n.(*ast.SelectField); ok && f.WildCard == nil && f.AsName.L == "" {
		if _, bare := f.Expr.(*ast.ColumnNameExpr); !bare {
			name := strings.TrimSpace(f.Text())
			if len(name) > maxFieldName {
				cut := maxFieldName
				for cut > 0 && name[cut]&0xC0 == 0x80 {
					cut--
				}
				name = name[:cut]
			}
			if name != "" {
				f.AsName = ast.NewCIStr(name)
			}
		}
	}
	return n, false
}

func (fieldNamer) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// OrderSalter, when the hooks implement it, keys the order of rows that
// carry pseudonyms. Unordered, the server returns them in the order of
// the real values (the primary key, or the grouping), and the n-th
// pseudonym would be the n-th subject.
type OrderSalter interface {
	OrderSalt() string
}

// orderDependentOverPseudonym refuses a window function or an @x :=
// assignment in a statement that uses a pseudonymised column anywhere.
// MariaDB evaluates them over the rows as it produces them, grouped or
// scanned in the order of the real values, before the keyed ORDER BY
// that orderPseudonyms adds: ROW_NUMBER() OVER () beside GROUP BY
// subject_id numbered the pseudonyms in the order of the real
// identifiers, which re-identified every subject.
func (w *walker) orderDependentOverPseudonym() error {
	if w.rowOrdered == "" {
		return nil
	}
	switch {
	case w.psnUsed != "":
		return fmt.Errorf("%w: %s cannot be used in a query with the pseudonymised column %s: MariaDB evaluates it over rows in the order of the real values, so its results would rank the real identifiers",
			errRewrite, w.rowOrdered, w.psnUsed)
	case w.psnRead != "":
		return fmt.Errorf("%w: %s cannot be used in a query that reads %s, which has pseudonymised columns: MariaDB evaluates it over rows in the order of the real identifiers, so its results would rank them",
			errRewrite, w.rowOrdered, w.psnRead)
	}
	return nil
}

// PseudonymTables, when the hooks implement it, names the pseudonymised
// columns of a table (none: nil).
type PseudonymTables interface {
	PseudonymColumns(t Table) []string
}

// keyScanOrder keeps the order rows are read in from telling anything
// about pseudonymised values. A table whose primary key is a
// pseudonymised column is read in the order of the real identifiers:
// "SELECT site_id, sex, birth_year FROM subjects" came back sorted by
// the real subject_id, and the same columns selected with the pseudonym
// (in keyed order) joined the two results row for row (found by an
// adversarial sweep: every subject re-identified). So, in a statement
// that reads such a table:
//   - an outermost SELECT that is not grouped or aggregated is put in the
//     keyed order of the pseudonymised columns of the tables in its FROM
//     (after its own ORDER BY), as when it returns the pseudonym;
//   - what would pick or list rows in read order is refused: GROUP_CONCAT,
//     JSON_ARRAYAGG and JSON_OBJECTAGG, a LIMIT below the outermost
//     SELECT, UNION/INTERSECT/EXCEPT, and a derived table or CTE under an
//     outermost SELECT that is not grouped or aggregated.
func (w *walker) keyScanOrder(s ast.StmtNode) error {
	pt, ok := w.hooks.(PseudonymTables)
	if _, salted := w.hooks.(OrderSalter); !ok || !salted {
		return nil
	}
	for _, t := range w.st.Tables {
		if len(pt.PseudonymColumns(t)) > 0 {
			w.psnRead = t.String()
			break
		}
	}
	if w.psnRead == "" {
		return nil
	}
	refuse := func(what, why string) error {
		return fmt.Errorf("%w: %s cannot be used in a query that reads %s, which has pseudonymised columns: %s", errRewrite, what, w.psnRead, why)
	}
	const inOrder = "the order it reads rows in is the order of the real identifiers"
	if w.orderedAgg != "" {
		return refuse(w.orderedAgg, "it lists values in the order of the real identifiers")
	}
	if w.innerLimit {
		return refuse("LIMIT in a subquery, derived table, CTE or set operation", "it picks rows in the order of the real identifiers")
	}
	if _, ok := s.(*ast.SetOprStmt); ok {
		return refuse("UNION, INTERSECT or EXCEPT", inOrder)
	}
	if col := ungroupedColumn(s); col != "" {
		return refuse(fmt.Sprintf("the column %s, neither grouped nor aggregated,", col),
			"MariaDB returns its value from the first row of each group it reads, and it reads them in the order of the real identifiers; GROUP BY it or aggregate it")
	}
	top := w.top
	if top != nil && top.Limit != nil && isZero(top.Limit.Count) {
		return nil // LIMIT 0: no rows (BI tools read a query's columns so)
	}
	if top == nil || len(w.psnExprs) > 0 || top.GroupBy != nil || hasAggregate(top) {
		// Not a query (SHOW, EXPLAIN, SET), already in keyed order, or
		// grouped (the groups come back in the order of their visible
		// values) or one aggregated row.
		return nil
	}
	if top.With != nil {
		return refuse("a CTE under a SELECT that is not grouped or aggregated", inOrder)
	}
	var keys []*ast.ColumnNameExpr
	var derived bool
	var visit func(n ast.ResultSetNode)
	visit = func(n ast.ResultSetNode) {
		switch n := n.(type) {
		case *ast.Join:
			if n.Left != nil {
				visit(n.Left)
			}
			if n.Right != nil {
				visit(n.Right)
			}
		case *ast.TableSource:
			tn, ok := n.Source.(*ast.TableName)
			if !ok {
				derived = true
				return
			}
			schema := tn.Schema.L
			if schema == "" {
				schema = w.db
			}
			for _, col := range pt.PseudonymColumns(Table{Schema: schema, Name: tn.Name.L}) {
				name := &ast.ColumnName{Name: ast.NewCIStr(col)}
				if n.AsName.L != "" {
					name.Table = n.AsName
				} else {
					name.Schema, name.Table = tn.Schema, tn.Name
				}
				keys = append(keys, &ast.ColumnNameExpr{Name: name})
			}
		}
	}
	if top.From != nil && top.From.TableRefs != nil {
		visit(top.From.TableRefs)
	}
	if derived && len(keys) == 0 {
		return refuse("a derived table under a SELECT that is not grouped or aggregated", inOrder)
	}
	if len(keys) == 0 {
		return nil // the table is read in a subquery of WHERE or the select list only
	}
	w.psnExprs = append(w.psnExprs, keys...) // orderPseudonyms keys them
	w.changed = true
	return nil
}

// ungroupedColumn returns a column that some grouped or aggregated query
// block of s selects (or uses in HAVING or ORDER BY) outside an aggregate
// without grouping by it, or "". Without ONLY_FULL_GROUP_BY MariaDB
// answers it with the value of the first row of the group it reads:
// "SELECT site_id, subject_id FROM subjects GROUP BY site_id" gave each
// site's lowest real subject (found by an adversarial sweep).
func ungroupedColumn(s ast.Node) string {
	f := &blockFinder{}
	s.Accept(f)
	return f.found
}

type blockFinder struct{ found string }

func (f *blockFinder) Enter(n ast.Node) (ast.Node, bool) {
	if sel, ok := n.(*ast.SelectStmt); ok && f.found == "" {
		f.found = ungroupedIn(sel)
	}
	return n, f.found != ""
}

func (f *blockFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

func ungroupedIn(sel *ast.SelectStmt) string {
	if sel.GroupBy == nil && !hasAggregate(sel) {
		return ""
	}
	grouped := map[string]bool{} // column names and expression texts grouped by
	if sel.GroupBy != nil {
		for _, it := range sel.GroupBy.Items {
			switch e := it.Expr.(type) {
			case *ast.PositionExpr:
				if sel.Fields != nil && e.N >= 1 && e.N <= len(sel.Fields.Fields) {
					fld := sel.Fields.Fields[e.N-1]
					grouped["="+groupText(fld.Expr)] = true
					if c, ok := fld.Expr.(*ast.ColumnNameExpr); ok {
						grouped[c.Name.Name.L] = true
					}
				}
			case *ast.ColumnNameExpr:
				grouped[e.Name.Name.L] = true
				if sel.Fields != nil && e.Name.Table.L == "" {
					for _, fld := range sel.Fields.Fields {
						if fld.AsName.L == e.Name.Name.L {
							grouped["="+groupText(fld.Expr)] = true // GROUP BY an alias
						}
					}
				}
			default:
				grouped["="+groupText(e)] = true
			}
		}
	}
	ungrouped := func(n ast.Node) string {
		c := &bareColumns{}
		n.Accept(c)
		for _, name := range c.names {
			if !grouped[name] {
				return name
			}
		}
		return ""
	}
	if sel.Fields != nil {
		for _, fld := range sel.Fields.Fields {
			if fld.WildCard != nil {
				return "*"
			}
			if !grouped["="+groupText(fld.Expr)] {
				if name := ungrouped(fld.Expr); name != "" {
					return name
				}
			}
			if fld.AsName.L != "" {
				grouped[fld.AsName.L] = true // HAVING n, ORDER BY n
			}
		}
	}
	var check []ast.Node
	if sel.Having != nil {
		check = append(check, sel.Having.Expr)
	}
	if sel.OrderBy != nil {
		for _, it := range sel.OrderBy.Items {
			check = append(check, it.Expr)
		}
	}
	for _, n := range check {
		if name := ungrouped(n); name != "" {
			return name
		}
	}
	return ""
}

// bareColumns collects the column names referenced outside aggregates
// and subqueries.
type bareColumns struct{ names []string }

func (c *bareColumns) Enter(n ast.Node) (ast.Node, bool) {
	switch n := n.(type) {
	case *ast.AggregateFuncExpr, *ast.SubqueryExpr, *ast.WindowFuncExpr:
		return n, true
	case *ast.ColumnNameExpr:
		c.names = append(c.names, n.Name.Name.L)
	}
	return n, false
}

func (c *bareColumns) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// groupText is an expression's SQL, for comparing a select-list item
// with a GROUP BY item (unique per node when it cannot be restored).
func groupText(e ast.Node) string {
	var sb strings.Builder
	if err := e.Restore(format.NewRestoreCtx(format.DefaultRestoreFlags, &sb)); err != nil {
		return fmt.Sprintf("%p", e)
	}
	return sb.String()
}

// isZero reports whether e is the literal 0.
func isZero(e ast.ExprNode) bool {
	v, ok := e.(ast.ValueExpr)
	if !ok {
		return false
	}
	switch n := v.GetValue().(type) {
	case int64:
		return n == 0
	case uint64:
		return n == 0
	}
	return false
}

// hasAggregate reports whether a query block's own select list, HAVING or
// ORDER BY calls an aggregate function (subqueries not counted).
func hasAggregate(sel *ast.SelectStmt) bool {
	f := &aggFinder{}
	if sel.Fields != nil {
		sel.Fields.Accept(f)
	}
	if sel.Having != nil {
		sel.Having.Accept(f)
	}
	if sel.OrderBy != nil {
		sel.OrderBy.Accept(f)
	}
	return f.found
}

type aggFinder struct{ found bool }

func (f *aggFinder) Enter(n ast.Node) (ast.Node, bool) {
	switch n.(type) {
	case *ast.AggregateFuncExpr:
		f.found = true
		return n, true
	case *ast.SubqueryExpr, *ast.WindowFuncExpr:
		return n, true
	}
	return n, f.found
}

func (f *aggFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// rollupUnkeyable refuses GROUP BY ... WITH ROLLUP when orderPseudonyms
// would key the order of its rows: MariaDB does not allow ORDER BY with
// ROLLUP, and without the keyed order the groups come back sorted by
// their real values. The user gets this reason instead of MariaDB's
// "Incorrect usage of CUBE/ROLLUP and ORDER BY" about an ORDER BY they
// did not write.
func (w *walker) rollupUnkeyable() error {
	if _, ok := w.hooks.(OrderSalter); !ok || w.top == nil || len(w.psnExprs) == 0 || w.top.GroupBy == nil || !w.top.GroupBy.Rollup {
		return nil
	}
	return fmt.Errorf("%w: WITH ROLLUP cannot be used with the pseudonymised column %s: its rows are returned in a keyed order, which MariaDB does not allow with ROLLUP (GROUP BY without ROLLUP works)",
		errRewrite, w.psnExprs[0].Name.Name.O)
}

// orderPseudonyms appends ORDER BY SHA2(CONCAT(salt, col), 256) for each
// pseudonymised output, after the statement's own ORDER BY items: ties
// and unordered results come back in an order unrelated to the values.
func (w *walker) orderPseudonyms() {
	os, ok := w.hooks.(OrderSalter)
	if !ok || w.top == nil || len(w.psnExprs) == 0 {
		return
	}
	salt := os.OrderSalt()
	if w.top.OrderBy == nil {
		w.top.OrderBy = &ast.OrderByClause{}
	}
	for _, e := range w.psnExprs {
		key := &ast.FuncCallExpr{FnName: ast.NewCIStr("SHA2"), Args: []ast.ExprNode{
			&ast.FuncCallExpr{FnName: ast.NewCIStr("CONCAT"), Args: []ast.ExprNode{ast.NewValueExpr(salt, "", ""), e}},
			ast.NewValueExpr(int64(256), "", ""),
		}}
		w.top.OrderBy.Items = append(w.top.OrderBy.Items, &ast.ByItem{Expr: key})
	}
}

// restore writes s as SQL for MySQL and MariaDB. TiDB's own Restore is
// right except for EXPLAIN, which it writes with TiDB's FORMAT = 'row'.
func restore(s ast.StmtNode, ctx *format.RestoreCtx) error {
	ex, ok := s.(*ast.ExplainStmt)
	if !ok || ex.Stmt == nil {
		return s.Restore(ctx)
	}
	if _, show := ex.Stmt.(*ast.ShowStmt); show {
		return s.Restore(ctx) // DESC t [col]
	}
	ctx.WriteKeyWord("EXPLAIN ")
	if ex.Analyze {
		ctx.WriteKeyWord("ANALYZE ")
	}
	switch strings.ToLower(ex.Format) {
	case "", "row", "traditional":
	case "json":
		ctx.WriteKeyWord("FORMAT=JSON ")
	default:
		return fmt.Errorf("EXPLAIN FORMAT %q", ex.Format)
	}
	return ex.Stmt.Restore(ctx)
}

// CatalogSelecter, when the hooks implement it, gives the select list of
// a filtered information_schema table ("" for *): every column, in
// order, with texts that could quote hidden objects (a view's
// definition) replaced.
type CatalogSelecter interface {
	CatalogSelect(name string) (string, error)
}
