package sqlscope

import (
	"errors"
	"strings"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// plainVisitor records what Accept shows it and nothing else, as a
// visitor without this package's workarounds would.
type plainVisitor struct{ seen map[ast.Node]bool }

func (v *plainVisitor) Enter(n ast.Node) (ast.Node, bool) { v.seen[n] = false; return n, false }
func (v *plainVisitor) Leave(n ast.Node) (ast.Node, bool) { return n, true }

// The parser's Accept methods do skip children; unvisited must notice.
func TestUnvisitedFindsAcceptGaps(t *testing.T) {
	tests := []struct{ sql, missing string }{
		{"SELECT DEFAULT(secret) FROM t", "*ast.ColumnName"},
		{"SELECT * FROM t", "*ast.WildCardField"},
		{"SHOW CREATE PROCEDURE p", "*ast.TableName"},
		{"SELECT a FROM t INTO OUTFILE '/tmp/x'", "*ast.SelectIntoOption"},
		{"SELECT a FROM t", ""},
	}
	p := parser.New()
	for _, tt := range tests {
		stmts, _, err := p.Parse(tt.sql, "utf8mb4", "")
		if err != nil {
			t.Fatal(err)
		}
		v := &plainVisitor{seen: map[ast.Node]bool{}}
		stmts[0].Accept(v)
		if got := unvisited(stmts[0], v.seen); got != tt.missing {
			t.Errorf("%q: unvisited = %q, want %q", tt.sql, got, tt.missing)
		}
	}
}

func TestDeepNestingFailsClosed(t *testing.T) {
	const n = 30000
	res, err := Analyze("SELECT "+strings.Repeat("(", n)+"secret"+strings.Repeat(")", n)+" FROM t", "s")
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Statements[0]; st.Kind != KindOther || st.ReadOnly {
		t.Errorf("Kind=%q ReadOnly=%v, want other", st.Kind, st.ReadOnly)
	}
}

func TestTooLong(t *testing.T) {
	_, err := Analyze("SELECT '"+strings.Repeat("x", MaxLen)+"'", "")
	if !errors.Is(err, ErrUnparseable) {
		t.Errorf("err = %v, want ErrUnparseable", err)
	}
}
