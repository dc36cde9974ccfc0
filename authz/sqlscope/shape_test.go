package sqlscope

import (
	"slices"
	"testing"
)

func TestShape(t *testing.T) {
	for _, c := range []struct {
		sql, shape string
		at         []int
	}{
		{"SELECT c FROM sbtest1 WHERE id=5041", "SELECT c FROM sbtest1 WHERE id=\x01n", []int{31}},
		{"SELECT 'it''s', 2.5, -3 FROM t", "SELECT \x01s, \x01d, -\x01n FROM t", []int{7, 16, 22}},
		{"SELECT `a``1` FROM t9 WHERE b = NULL OR c = true", "SELECT `a``1` FROM t9 WHERE b = NULL OR c = true", []int{32, 44}},
		{"SELECT t.null, @1 FROM db.1x", "SELECT t.null, @1 FROM db.1x", nil},
		{"SELECT 'é' FROM t", "", nil},
	} {
		shape, at, ok := Shape(c.sql)
		if c.shape == "" {
			if ok {
				t.Errorf("Shape(%q) = %q, want no shape", c.sql, shape)
			}
			continue
		}
		if !ok || shape != c.shape || !slices.Equal(at, c.at) {
			t.Errorf("Shape(%q) = %q %v %v, want %q %v", c.sql, shape, at, ok, c.shape, c.at)
		}
	}
	// Everything a smaller lexer could get wrong has no shape.
	for _, sql := range []string{
		"SELECT 1 /* c */", "SELECT 1 -- c", "SELECT 1 # c", "SELECT /*M! 1, */ 2", "SELECT /*!50000 1 */",
		`SELECT "a"`, `SELECT 'a\'b'`, "SELECT ?", "SELECT x'41'", "SELECT _utf8mb4'a'", "SELECT N'a'",
		"SELECT 1e5", "SELECT 0x41", "SELECT 1abc", "SELECT 1.", "SELECT 1.2.3", "SELECT 'a''",
		"SELECT 'unterminated", "SELECT `unterminated", "SELECT 1234567890123456789", "SELECT 'a\x00'", "SELECT 'tab\t'",
		"SELECT 1\x01",
	} {
		if shape, _, ok := Shape(sql); ok {
			t.Errorf("Shape(%q) = %q, want no shape", sql, shape)
		}
	}
}

// TestShapeLiteralsMatchParse: where Shape vouches for a text, the
// parser's value expressions sit exactly at the shape's literals for the
// ordinary statements BI tools send.
func TestShapeLiteralsMatchParse(t *testing.T) {
	for _, sql := range []string{
		"SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c",
		"SELECT a FROM t WHERE b IN (1,2,3) AND d = 'x'",
		"SELECT 1; SELECT 'x' FROM t WHERE b = 2",
		"SELECT -5, +3, TRUE, null FROM t",
	} {
		_, at, ok := Shape(sql)
		res, err := AnalyzeMode(sql, "db", "")
		if !ok || err != nil || !slices.Equal(at, res.Literals) {
			t.Errorf("%q: shape %v (ok %v), parse %v (err %v)", sql, at, ok, res.Literals, err)
		}
	}
}
