package sqlscope

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
)

// The parser turns SET [GLOBAL|SESSION] TRANSACTION ... into assignments
// to these pseudo-variables.
var txnVars = map[string]bool{
	"tx_isolation":          true,
	"tx_isolation_one_shot": true,
	"tx_read_only":          true,
	"tx_read_ts":            true,
}

func (w *walker) enterAssignment(n *ast.VariableAssignment) {
	v := SetVar{Name: strings.ToLower(n.Name), Scope: "session"}
	switch {
	case n.Name == ast.SetNames:
		v.Name = "names"
	case n.Name == ast.SetCharset:
		v.Name = "character set"
	case !n.IsSystem:
		v.Scope = "user"
	case n.IsGlobal:
		v.Scope = "global"
	case n.IsInstance:
		v.Scope = "instance"
	}
	if v.Scope == "global" || v.Scope == "instance" {
		w.st.ReadOnly = false
	}
	v.Value, v.Literal = literal(n.Value, n.IsSystem || v.Name == "names" || v.Name == "character set")
	if !v.Literal {
		v.Value = exprText(n.Value)
		if n.IsSystem && v.Name == "sql_mode" {
			if suffix, ok := sqlModeAppend(n.Value); ok {
				v.Appends, v.Appended = true, suffix
			}
		}
	}
	if n.ExtendValue != nil {
		// SET NAMES cs COLLATE coll: VariableAssignment.Accept does not
		// visit the collation, a plain string.
		w.seen[n.ExtendValue] = false
	}
	if w.setTxn && n.IsSystem && txnVars[v.Name] {
		switch v.Name {
		case "tx_read_only":
			v.Value = map[string]string{"1": "read only", "0": "read write"}[v.Value]
		case "tx_read_ts":
			w.unknown("SET TRANSACTION READ ONLY AS OF")
		default:
			v.Value = "isolation level " + strings.ToLower(v.Value)
		}
		v.Name = "transaction"
	}
	w.st.SetVars = append(w.st.SetVars, v)
}

// literal returns the text of a simple value: a literal, DEFAULT, or,
// for a system variable, a bare word (SET sql_mode = ANSI).
func literal(e ast.ExprNode, bareWords bool) (string, bool) {
	switch x := e.(type) {
	case ast.ValueExpr:
		v := x.GetValue()
		if v == nil {
			return "NULL", true
		}
		return fmt.Sprint(v), true
	case *ast.DefaultExpr:
		if x.Name == nil {
			return "DEFAULT", true
		}
	case *ast.ColumnNameExpr:
		if bareWords && x.Name.Table.L == "" {
			return x.Name.Name.O, true
		}
	}
	return "", false
}

// sqlModeAppend recognises the one non-literal sql_mode that drivers send
// at connect, CONCAT(@@sql_mode, ',STRICT_TRANS_TABLES') (MariaDB
// Connector/J 2.x, jdbcCompliantTruncation): the session's own mode with
// literal modes appended. It returns the appended text. Only the session
// mode qualifies: the global one may differ from what this session was
// vetted with.
func sqlModeAppend(e ast.ExprNode) (string, bool) {
	f, ok := e.(*ast.FuncCallExpr)
	if !ok || f.FnName.L != "concat" || len(f.Args) < 2 {
		return "", false
	}
	cur, ok := f.Args[0].(*ast.VariableExpr)
	if !ok || !cur.IsSystem || cur.IsGlobal || cur.IsInstance || strings.ToLower(cur.Name) != "sql_mode" {
		return "", false
	}
	var b strings.Builder
	for _, a := range f.Args[1:] {
		x, ok := a.(ast.ValueExpr)
		if !ok {
			return "", false
		}
		s, ok := x.GetValue().(string)
		if !ok {
			return "", false
		}
		b.WriteString(s)
	}
	return b.String(), true
}

// exprText restores a non-literal value as SQL text. It always contains
// punctuation (parentheses, quotes, '@', operators), so it can never be
// mistaken for a harmless sql_mode or a safe charset name by a consumer
// that forgets to look at Literal.
func exprText(e ast.ExprNode) string {
	if e == nil {
		return "?"
	}
	var b strings.Builder
	if err := e.Restore(format.NewRestoreCtx(format.DefaultRestoreFlags, &b)); err != nil || b.Len() == 0 {
		return "?"
	}
	return shorten(b.String())
}

// AffectsLexing reports whether the assignment could change how the
// server tokenizes the session's later statements: a sql_mode or client
// character set that is not a literal known to be harmless. A SET for
// which it is true must be refused, or followed by re-reading the
// session's sql_mode and character_set_client and passing them on
// (AnalyzeMode, CharsetAffectsLexing). GLOBAL assignments count too: they
// become the default of connections opened later.
func (v SetVar) AffectsLexing() bool {
	if v.Scope == "user" {
		return false
	}
	switch v.Name {
	case "sql_mode":
		if v.Appends {
			// The session's mode was vetted; the result lexes like it
			// unless an appended mode changes lexing.
			return ModeAffectsLexing(v.Appended)
		}
		return !v.Literal || ModeAffectsLexing(v.Value)
	case "names", "character set", "character_set_client":
		return !v.Literal || CharsetAffectsLexing(v.Value)
	}
	return false
}

// isSetTransaction reports whether a SET statement's text is SET
// [GLOBAL|SESSION|LOCAL] TRANSACTION. It only chooses the name reported
// ("transaction" rather than tx_isolation); scope and read-only-ness come
// from the parse.
func isSetTransaction(text string) bool {
	words := strings.Fields(strings.ToUpper(strings.TrimLeft(text, "; \t\r\n")))
	if len(words) < 2 || words[0] != "SET" {
		return false
	}
	switch words[1] {
	case "GLOBAL", "SESSION", "LOCAL":
		return len(words) > 2 && words[2] == "TRANSACTION"
	}
	return words[1] == "TRANSACTION"
}
