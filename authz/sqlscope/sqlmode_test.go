package sqlscope

import (
	"errors"
	"testing"
)

func TestModeAffectsLexing(t *testing.T) {
	tests := []struct {
		mode string
		want bool
	}{
		{"", false},
		{"STRICT_TRANS_TABLES", false},
		{"ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION", false},
		{"STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION", false}, // MariaDB 10.x default
		{"traditional", false},
		{"ANSI_QUOTES", true},
		{"strict_trans_tables, ansi_quotes", true},
		{"ANSI", true},
		{"NO_BACKSLASH_ESCAPES", true},
		{"PIPES_AS_CONCAT", true},
		{"HIGH_NOT_PRECEDENCE", true},
		{"IGNORE_SPACE", true},
		{"ORACLE", true},
		{"MSSQL", true},
		{"POSTGRESQL", true},
		{"DB2", true},
		{"MAXDB", true},
		{"MYSQL40", true},
		{"SOME_FUTURE_MODE", true},
		{"DEFAULT", true},
	}
	for _, tt := range tests {
		if got := ModeAffectsLexing(tt.mode); got != tt.want {
			t.Errorf("ModeAffectsLexing(%q) = %v, want %v", tt.mode, got, tt.want)
		}
	}
}

func TestCharsetAffectsLexing(t *testing.T) {
	for _, cs := range []string{"utf8mb4", "UTF8MB4", "utf8", "utf8mb3", "ascii", "latin1", "binary"} {
		if CharsetAffectsLexing(cs) {
			t.Errorf("CharsetAffectsLexing(%q) = true", cs)
		}
	}
	for _, cs := range []string{"gbk", "big5", "sjis", "cp932", "gb18030", "ucs2", "utf16", "", "DEFAULT"} {
		if !CharsetAffectsLexing(cs) {
			t.Errorf("CharsetAffectsLexing(%q) = false", cs)
		}
	}
}

func TestAnalyzeMode(t *testing.T) {
	// Under ANSI_QUOTES "secret" is a column, not a string.
	res, err := AnalyzeMode(`SELECT "secret" FROM t`, "s", "ANSI_QUOTES")
	if err != nil {
		t.Fatal(err)
	}
	checkSet(t, "Columns", columnStrings(res.Statements[0].Columns), []string{"s.t.secret"})
	res, err = Analyze(`SELECT "secret" FROM t`, "s")
	if err != nil {
		t.Fatal(err)
	}
	checkSet(t, "Columns", columnStrings(res.Statements[0].Columns), nil)

	// Under NO_BACKSLASH_ESCAPES '\' does not escape the quote, so the
	// string ends early and the rest is SQL.
	const q = `SELECT 'a\' , secret FROM t -- '`
	res, err = AnalyzeMode(q, "s", "NO_BACKSLASH_ESCAPES")
	if err != nil {
		t.Fatal(err)
	}
	checkSet(t, "Columns", columnStrings(res.Statements[0].Columns), []string{"s.t.secret"})
	res, err = Analyze(q, "s")
	if err != nil {
		t.Fatal(err)
	}
	checkSet(t, "Columns", columnStrings(res.Statements[0].Columns), nil)

	// PIPES_AS_CONCAT changes the tree, not the columns.
	res, err = AnalyzeMode("SELECT a || b FROM t", "s", "PIPES_AS_CONCAT")
	if err != nil {
		t.Fatal(err)
	}
	checkSet(t, "Columns", columnStrings(res.Statements[0].Columns), []string{"s.t.a", "s.t.b"})

	for _, tt := range []struct{ sql, mode string }{
		{"SELECT 1", "ORACLE"},
		{"SELECT 1", "MSSQL"},
		{"SELECT 1", "NOT_A_MODE"},
		// TiDB would honour '\' inside "..." before relabelling it.
		{`SELECT "x\" FROM secret_t -- " FROM ok_t`, "ANSI_QUOTES"},
		{`SELECT "x\" FROM t`, "ANSI"},
	} {
		if _, err := AnalyzeMode(tt.sql, "", tt.mode); !errors.Is(err, ErrUnparseable) {
			t.Errorf("AnalyzeMode(%q, %q) err = %v, want ErrUnparseable", tt.sql, tt.mode, err)
		}
	}
	if _, err := AnalyzeMode(`SELECT "x\" FROM t`, "", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES"); err != nil {
		t.Errorf("ANSI_QUOTES with NO_BACKSLASH_ESCAPES: %v", err)
	}

	// A SET inside the text that keeps the lexing modes is fine; one that
	// drops ANSI_QUOTES before a later statement is not.
	if _, err := AnalyzeMode(`SET sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES'; SELECT "a" FROM t`, "s", "ANSI_QUOTES"); err != nil {
		t.Errorf("same lexing modes: %v", err)
	}
	if _, err := AnalyzeMode(`SET sql_mode = ''; SELECT "a" FROM t`, "s", "ANSI_QUOTES"); !errors.Is(err, ErrUnparseable) {
		t.Errorf("dropping ANSI_QUOTES mid-text: err = %v", err)
	}
}
