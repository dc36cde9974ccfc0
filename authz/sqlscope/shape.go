package sqlscope

import (
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
)

// Shape returns sql with each plain literal (a quoted string or an
// unsigned decimal number) replaced by a marker, and how many literals the
// parser will see in it, so that statements differing only in literal
// values (a dashboard's point lookups, sysbench's text-mode queries) can
// share one policy decision.
//
// Shape is deliberately a much smaller lexer than the server's: it knows
// strings, numbers, back-quoted names and everything else as verbatim
// bytes, and it gives up (ok false) on any text where a smaller lexer
// could disagree with MariaDB about where a token starts or ends:
// comments of any kind (including MariaDB's executable /*M! */),
// backslashes, double quotes (a string or a name, depending on sql_mode),
// '?' and control bytes, prefixed strings (x'..', _utf8'..', N'..'),
// numbers that run into letters or dots (1e5, 0x1F, 1abc, 1.2.3) and
// very long numbers (whose type depends on their value). Two texts with
// the same shape are therefore the same token sequence except for
// literal values of the same class.
//
// literals holds the byte offsets of the replaced literals and of the
// NULL, TRUE and FALSE keywords: where a parse of sql has its value
// expressions when every replaced token really was a literal of its own
// to the parser, and the parser made up no values. The caller compares
// it with Result.Literals before trusting the shape. String literals
// with bytes outside printable ASCII give up too: whether the parser
// accepts them depends on the connection's character set.
func Shape(sql string) (shape string, literals []int, ok bool) {
	var b strings.Builder
	b.Grow(len(sql))
	n := len(sql)
	for i := 0; i < n; {
		c := sql[i]
		switch {
		case c == '\'':
			if i > 0 && isIdentByte(sql[i-1]) {
				return "", nil, false // x'..', b'..', N'..', _charset'..'
			}
			j := i + 1
			for {
				if j >= n {
					return "", nil, false // unterminated
				}
				if sql[j] == '\\' || sql[j] < 0x20 || sql[j] >= 0x7f {
					return "", nil, false
				}
				if sql[j] == '\'' {
					if j+1 < n && sql[j+1] == '\'' {
						j += 2 // doubled quote
						continue
					}
					break
				}
				j++
			}
			if j+1 < n && sql[j+1] == '\'' {
				return "", nil, false
			}
			b.WriteString("\x01s")
			literals = append(literals, i)
			i = j + 1
		case c >= '0' && c <= '9':
			if i > 0 && (isIdentByte(sql[i-1]) || sql[i-1] == '.' || sql[i-1] == '@') {
				// Part of a name (t1, db.1x, @1): copy the whole run.
				j := i
				for j < n && isIdentByte(sql[j]) {
					j++
				}
				b.WriteString(sql[i:j])
				i = j
				continue
			}
			j := i
			for j < n && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			mark := "\x01n"
			if j < n && sql[j] == '.' {
				k := j + 1
				for k < n && sql[k] >= '0' && sql[k] <= '9' {
					k++
				}
				if k == j+1 {
					return "", nil, false // "1." or "1.e3"
				}
				j, mark = k, "\x01d"
			}
			if j-i > 18 || (j < n && (isIdentByte(sql[j]) || sql[j] == '.')) {
				return "", nil, false
			}
			b.WriteString(mark)
			literals = append(literals, i)
			i = j
		case c == '`':
			j := i + 1
			for {
				if j >= n {
					return "", nil, false
				}
				if sql[j] == '`' {
					if j+1 < n && sql[j+1] == '`' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			b.WriteString(sql[i : j+1])
			i = j + 1
		case c == '"' || c == '\\' || c == '?' || c == '#' || c < 0x09 || (c > 0x0d && c < 0x20) || c == 0x7f:
			return "", nil, false
		case c == '/' && i+1 < n && sql[i+1] == '*':
			return "", nil, false
		case c == '-' && i+1 < n && sql[i+1] == '-':
			return "", nil, false
		case isIdentByte(c):
			j := i
			for j < n && isIdentByte(sql[j]) {
				j++
			}
			word := sql[i:j]
			if (i == 0 || (sql[i-1] != '.' && sql[i-1] != '@')) && isValueKeyword(word) {
				literals = append(literals, i)
			}
			b.WriteString(word)
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), literals, true
}

// isIdentByte: bytes that may continue an unquoted name (MariaDB also
// allows any byte of a multi-byte character).
func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func isValueKeyword(w string) bool {
	return len(w) <= 5 && (strings.EqualFold(w, "null") || strings.EqualFold(w, "true") || strings.EqualFold(w, "false"))
}

// literalFinder collects where in the text each value expression of a
// tree starts (the parser records every expression's first token).
type literalFinder struct{ at []int }

func (f *literalFinder) Enter(n ast.Node) (ast.Node, bool) {
	if _, ok := n.(ast.ValueExpr); ok {
		f.at = append(f.at, n.OriginTextPosition())
	}
	return n, false
}

func (f *literalFinder) Leave(n ast.Node) (ast.Node, bool) { return n, true }
