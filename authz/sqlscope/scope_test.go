package sqlscope

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/analyze.golden.json")

func TestAnalyze(t *testing.T) {
	for _, tc := range analyzeCases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Analyze(tc.sql, tc.db)
			if tc.err {
				if !errors.Is(err, ErrUnparseable) {
					t.Fatalf("Analyze(%q) = %+v, %v; want ErrUnparseable", tc.sql, res, err)
				}
				if res != nil {
					t.Fatalf("Analyze(%q) returned a result with its error", tc.sql)
				}
				return
			}
			if err != nil {
				t.Fatalf("Analyze(%q): %v", tc.sql, err)
			}
			n := tc.n
			if n == 0 {
				n = 1
			}
			if len(res.Statements) != n {
				t.Fatalf("got %d statements, want %d", len(res.Statements), n)
			}
			st := res.Statements[n-1]
			if st.Kind != tc.kind {
				t.Errorf("Kind = %q, want %q (unknown: %v)", st.Kind, tc.kind, st.Unknown)
			}
			if st.ReadOnly != tc.ro {
				t.Errorf("ReadOnly = %v, want %v", st.ReadOnly, tc.ro)
			}
			checkSet(t, "Tables", tableStrings(st.Tables), tc.tables)
			checkSet(t, "Columns", columnStrings(st.Columns), tc.cols)
			checkSet(t, "Stars", tableStrings(st.Stars), tc.stars)
			checkSet(t, "Functions", st.Functions, tc.funcs)
		})
	}
}

func tableStrings(ts []Table) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.String())
	}
	return out
}

func columnStrings(cs []Column) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

func checkSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// TestAnalyzeGolden records the complete output for every table case, so
// that a change in any field (SetVars, ShowWhat, KillID, Inner...) shows
// up in review as a diff of testdata/analyze.golden.json.
func TestAnalyzeGolden(t *testing.T) {
	type entry struct {
		Name   string  `json:"name"`
		SQL    string  `json:"sql"`
		DB     string  `json:"db,omitempty"`
		Result *Result `json:"result,omitempty"`
		Error  string  `json:"error,omitempty"`
	}
	var entries []entry
	for _, tc := range analyzeCases {
		res, err := Analyze(tc.sql, tc.db)
		e := entry{Name: tc.name, SQL: tc.sql, DB: tc.db, Result: res}
		if err != nil {
			e.Error = err.Error()
		}
		entries = append(entries, e)
	}
	got, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "analyze.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestAnalyzeGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("golden mismatch at line %d:\n got: %s\nwant: %s\n(run go test -run TestAnalyzeGolden -update and review the diff)", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("golden length differs: got %d lines, want %d", len(gl), len(wl))
	}
}

func TestSetVars(t *testing.T) {
	tests := []struct {
		sql  string
		want []SetVar
	}{
		{"SET NAMES utf8mb4", []SetVar{{Name: "names", Scope: "session", Value: "utf8mb4", Literal: true}}},
		{"SET NAMES DEFAULT", []SetVar{{Name: "names", Scope: "session", Value: "DEFAULT", Literal: true}}},
		{"SET CHARACTER SET utf8mb4", []SetVar{{Name: "character set", Scope: "session", Value: "utf8mb4", Literal: true}}},
		{"SET character_set_results = NULL", []SetVar{{Name: "character_set_results", Scope: "session", Value: "NULL", Literal: true}}},
		{"SET AUTOCOMMIT=1", []SetVar{{Name: "autocommit", Scope: "session", Value: "1", Literal: true}}},
		{"SET sql_mode = ANSI_QUOTES", []SetVar{{Name: "sql_mode", Scope: "session", Value: "ANSI_QUOTES", Literal: true}}},
		{"SET sql_mode = CONCAT(@@sql_mode, ',ANSI')", []SetVar{{Name: "sql_mode", Scope: "session", Value: "CONCAT(@@`sql_mode`, _UTF8MB4',ANSI')", Appends: true, Appended: ",ANSI"}}},
		{"SET sql_mode = CONCAT(@@global.sql_mode, ',STRICT_TRANS_TABLES')", []SetVar{{Name: "sql_mode", Scope: "session", Value: "CONCAT(@@GLOBAL.`sql_mode`, _UTF8MB4',STRICT_TRANS_TABLES')"}}},
		{"SET TRANSACTION ISOLATION LEVEL READ COMMITTED", []SetVar{{Name: "transaction", Scope: "session", Value: "isolation level read-committed", Literal: true}}},
		{"SET SESSION TRANSACTION READ ONLY", []SetVar{{Name: "transaction", Scope: "session", Value: "read only", Literal: true}}},
		{"SET GLOBAL TRANSACTION READ WRITE", []SetVar{{Name: "transaction", Scope: "global", Value: "read write", Literal: true}}},
		{"SET tx_read_only = 1", []SetVar{{Name: "tx_read_only", Scope: "session", Value: "1", Literal: true}}},
		{"SET @@global.sql_mode = 'x', @@session.wait_timeout = 10, @a = 1, LOCAL b = ON", []SetVar{
			{Name: "sql_mode", Scope: "global", Value: "x", Literal: true},
			{Name: "wait_timeout", Scope: "session", Value: "10", Literal: true},
			{Name: "a", Scope: "user", Value: "1", Literal: true},
			{Name: "b", Scope: "session", Value: "ON", Literal: true},
		}},
	}
	for _, tt := range tests {
		res, err := Analyze(tt.sql, "")
		if err != nil {
			t.Errorf("Analyze(%q): %v", tt.sql, err)
			continue
		}
		if got := res.Statements[0].SetVars; !slices.Equal(got, tt.want) {
			t.Errorf("Analyze(%q).SetVars = %+v, want %+v", tt.sql, got, tt.want)
		}
	}
}

func TestSetVarAffectsLexing(t *testing.T) {
	tests := []struct {
		sql  string
		want bool
	}{
		{"SET NAMES utf8mb4", false},
		{"SET NAMES gbk", true},
		{"SET NAMES latin1", false},
		{"SET NAMES DEFAULT", true},
		{"SET CHARACTER SET utf8", false},
		{"SET character_set_client = gbk", true},
		{"SET character_set_client = @cs", true},
		{"SET character_set_results = NULL", false},
		{"SET sql_mode = 'STRICT_TRANS_TABLES'", false},
		{"SET sql_mode = ''", false},
		{"SET sql_mode = 'ANSI_QUOTES'", true},
		{"SET sql_mode = DEFAULT", true},
		{"SET sql_mode = CONCAT(@@sql_mode, '')", false},
		// MariaDB Connector/J 2.x sends this at every connect.
		{"SET sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')", false},
		{"SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", true},
		{"SET sql_mode = CONCAT(@@sql_mode, ',', 'NO_BACKSLASH_ESCAPES')", true},
		{"SET sql_mode = CONCAT(@@global.sql_mode, ',STRICT_TRANS_TABLES')", true},
		{"SET sql_mode = CONCAT(@@sql_mode, @x)", true},
		{"SET sql_mode = ('STRICT_TRANS_TABLES')", true},
		{"SET GLOBAL sql_mode = 'NO_BACKSLASH_ESCAPES'", true},
		{"SET @sql_mode = 'ANSI_QUOTES'", false},
		{"SET autocommit = 1", false},
	}
	for _, tt := range tests {
		res, err := Analyze(tt.sql, "")
		if err != nil {
			t.Errorf("Analyze(%q): %v", tt.sql, err)
			continue
		}
		v := res.Statements[0].SetVars[0]
		if got := v.AffectsLexing(); got != tt.want {
			t.Errorf("%q: AffectsLexing() = %v, want %v (%+v)", tt.sql, got, tt.want, v)
		}
		// A consumer that ignores Literal must still fail closed.
		if !v.Literal && (!ModeAffectsLexing(v.Value) || !CharsetAffectsLexing(v.Value)) {
			t.Errorf("%q: non-literal Value %q reads as harmless", tt.sql, v.Value)
		}
	}
}

func TestShowAndKillFields(t *testing.T) {
	tests := []struct {
		sql, db  string
		what     string
		schemas  []string
		routines []string
	}{
		{"SHOW FULL TABLES FROM Study", "", "tables", []string{"study"}, nil},
		{"SHOW TABLES", "study", "tables", []string{"study"}, nil},
		{"SHOW TABLES", "", "tables", nil, nil},
		{"SHOW TABLE STATUS FROM study", "", "table status", []string{"study"}, nil},
		{"SHOW CREATE DATABASE study", "", "create database", []string{"study"}, nil},
		{"SHOW FULL COLUMNS FROM visits FROM study", "", "columns", nil, nil},
		{"SHOW INDEX FROM visits", "study", "index", nil, nil},
		{"SHOW CREATE TABLE visits", "study", "create table", nil, nil},
		{"SHOW VARIABLES LIKE 'lower_case%'", "", "variables", nil, nil},
		{"SHOW WARNINGS", "", "warnings", nil, nil},
		{"SHOW COLLATION", "", "collation", nil, nil},
		{"SHOW CREATE PROCEDURE p", "study", "create procedure", nil, []string{"study.p"}},
		{"DESCRIBE visits", "study", "columns", nil, nil},
		{"USE study", "", "", []string{"study"}, nil},
	}
	for _, tt := range tests {
		res, err := Analyze(tt.sql, tt.db)
		if err != nil {
			t.Errorf("Analyze(%q): %v", tt.sql, err)
			continue
		}
		st := res.Statements[0]
		if st.ShowWhat != tt.what {
			t.Errorf("%q: ShowWhat = %q, want %q", tt.sql, st.ShowWhat, tt.what)
		}
		checkSet(t, tt.sql+" Schemas", st.Schemas, tt.schemas)
		checkSet(t, tt.sql+" Routines", tableStrings(st.Routines), tt.routines)
	}

	res, err := Analyze("KILL QUERY 42", "")
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Statements[0]; st.KillID != 42 || !st.KillQuery {
		t.Errorf("KILL QUERY 42: KillID=%d KillQuery=%v", st.KillID, st.KillQuery)
	}
	res, err = Analyze("KILL 7", "")
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Statements[0]; st.KillID != 7 || st.KillQuery {
		t.Errorf("KILL 7: KillID=%d KillQuery=%v", st.KillID, st.KillQuery)
	}
}

func TestSelectFlags(t *testing.T) {
	tests := []struct {
		sql                     string
		locking, into, intoFile bool
	}{
		{"SELECT a FROM t", false, false, false},
		{"SELECT a FROM t FOR UPDATE", true, false, false},
		{"SELECT a FROM t FOR SHARE NOWAIT", true, false, false},
		{"SELECT a FROM t LOCK IN SHARE MODE", true, false, false},
		{"SELECT a FROM t INTO OUTFILE '/tmp/x'", false, true, true},
		{"EXPLAIN SELECT a FROM t FOR UPDATE", true, false, false},
	}
	for _, tt := range tests {
		res, err := Analyze(tt.sql, "s")
		if err != nil {
			t.Errorf("Analyze(%q): %v", tt.sql, err)
			continue
		}
		st := res.Statements[0]
		if st.Locking != tt.locking || st.Into != tt.into || st.IntoFile != tt.intoFile {
			t.Errorf("%q: Locking=%v Into=%v IntoFile=%v, want %v %v %v", tt.sql, st.Locking, st.Into, st.IntoFile, tt.locking, tt.into, tt.intoFile)
		}
		if (tt.locking || tt.intoFile) && st.ReadOnly {
			t.Errorf("%q: ReadOnly despite locking or file output", tt.sql)
		}
	}
}

func TestExplainInner(t *testing.T) {
	res, err := Analyze("EXPLAIN SELECT v.arm FROM visits v", "study")
	if err != nil {
		t.Fatal(err)
	}
	st := res.Statements[0]
	if st.Inner == nil || st.Inner.Kind != KindSelect || !st.Inner.ReadOnly {
		t.Fatalf("Inner = %+v, want a read-only select", st.Inner)
	}
	checkSet(t, "Inner.Columns", columnStrings(st.Inner.Columns), []string{"study.visits.arm"})
}

// Every result of a parseable statement has a Kind, and "other" is never
// read-only.
func TestOtherNeverReadOnly(t *testing.T) {
	for _, tc := range analyzeCases {
		res, err := Analyze(tc.sql, tc.db)
		if err != nil {
			continue
		}
		for _, st := range res.Statements {
			if st.Kind == "" {
				t.Errorf("%s: empty Kind", tc.name)
			}
			if st.Kind == KindOther && (st.ReadOnly || len(st.Unknown) == 0) {
				t.Errorf("%s: other with ReadOnly=%v Unknown=%v", tc.name, st.ReadOnly, st.Unknown)
			}
		}
	}
}

func TestErrorMessageShort(t *testing.T) {
	_, err := Analyze("SELECT "+strings.Repeat("x, ", 500)+" FROM WHERE", "")
	if !errors.Is(err, ErrUnparseable) {
		t.Fatalf("err = %v", err)
	}
	if len(err.Error()) > 200 {
		t.Errorf("error is %d bytes long: %q", len(err.Error()), err)
	}
}

func TestConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				tc := analyzeCases[(g*50+i)%len(analyzeCases)]
				res, err := Analyze(tc.sql, tc.db)
				if tc.err != (err != nil) {
					t.Errorf("%s: err = %v", tc.name, err)
					return
				}
				if err == nil && len(res.Statements) == 0 {
					t.Errorf("%s: no statements", tc.name)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestNormalize(t *testing.T) {
	d1, n1 := Normalize("SELECT c FROM sbtest1 WHERE id = 42")
	d2, n2 := Normalize("select c from sbtest1 where id=7")
	if d1 != d2 || n1 != n2 {
		t.Errorf("digests differ: %s %q / %s %q", d1, n1, d2, n2)
	}
	if len(d1) != 64 {
		t.Errorf("digest %q is not hex SHA-256", d1)
	}
	if strings.Contains(n1, "42") {
		t.Errorf("normalized text keeps the literal: %q", n1)
	}
	if d3, _ := Normalize("SELECT c FROM sbtest2 WHERE id = 42"); d3 == d1 {
		t.Error("different tables share a digest")
	}
}
