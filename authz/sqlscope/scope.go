package sqlscope

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/mysql"

	// The parser panics in parser.New without a driver for literal values.
	// test_driver is the parser module's own self-contained driver; it
	// pulls in nothing of TiDB's executor.
	_ "github.com/pingcap/tidb/pkg/parser/test_driver"
)

// ErrUnparseable is wrapped by every error Analyze returns. The proxy
// maps it to MySQL error 1064 and the statement is not forwarded.
var ErrUnparseable = errors.New("sqlscope: statement not understood")

// Kind is the lower-case statement kind.
type Kind string

// Statement kinds. Read kinds first, then everything that writes or
// administers. KindOther is used for any statement, or any part of a
// statement, that the analyser does not model: it is never read-only.
const (
	KindSelect     Kind = "select"
	KindShow       Kind = "show"
	KindDescribe   Kind = "describe" // DESCRIBE t, DESC t, EXPLAIN t
	KindExplain    Kind = "explain"  // EXPLAIN <statement>; see Statement.Inner
	KindUse        Kind = "use"
	KindSet        Kind = "set"
	KindBegin      Kind = "begin"
	KindCommit     Kind = "commit"
	KindRollback   Kind = "rollback"
	KindSavepoint  Kind = "savepoint"
	KindRelease    Kind = "release_savepoint"
	KindKill       Kind = "kill"
	KindDo         Kind = "do"
	KindHelp       Kind = "help"
	KindSetRole    Kind = "set_role"
	KindUnlock     Kind = "unlock"
	KindDeallocate Kind = "deallocate"

	KindInsert         Kind = "insert"
	KindUpdate         Kind = "update"
	KindDelete         Kind = "delete"
	KindReplace        Kind = "replace"
	KindCreate         Kind = "create"
	KindDrop           Kind = "drop"
	KindAlter          Kind = "alter"
	KindRename         Kind = "rename"
	KindTruncate       Kind = "truncate"
	KindGrant          Kind = "grant"
	KindRevoke         Kind = "revoke"
	KindSetPassword    Kind = "set_password"
	KindSetDefaultRole Kind = "set_default_role"
	KindLoad           Kind = "load"
	KindLock           Kind = "lock"
	KindFlush          Kind = "flush"
	KindPrepare        Kind = "prepare"
	KindExecute        Kind = "execute"
	KindCall           Kind = "call"
	KindAnalyze        Kind = "analyze"
	KindShutdown       Kind = "shutdown"
	KindOther          Kind = "other"
)

// Table is a base table (or view: the analyser cannot tell them apart).
// Schema and Name are lower-cased. MySQL on Linux compares table names
// case-sensitively unless lower_case_table_names is set, so two tables
// that differ only in case are reported as the same Table; see doc.go.
type Table struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

func (t Table) String() string { return t.Schema + "." + t.Name }

// IndexRef is an index named in an index hint; Index is lower-case.
type IndexRef struct {
	Table Table  `json:"table"`
	Index string `json:"index"`
}

// Column is a column reference. Name is lower-cased (MySQL column names
// are case-insensitive). Schema and Table name the base table the
// reference resolves to; both are empty when the reference is ambiguous
// or goes through a derived table or CTE, and authz must then assume the
// column may belong to any table the statement reads.
type Column struct {
	Schema string `json:"schema,omitempty"`
	Table  string `json:"table,omitempty"`
	Name   string `json:"name"`
}

func (c Column) String() string {
	if c.Table == "" {
		return c.Name
	}
	return c.Schema + "." + c.Table + "." + c.Name
}

// SetVar is one assignment of a SET statement.
type SetVar struct {
	// Name is lower-case: a system variable name, a user variable name
	// without '@', or "names", "character set", "transaction".
	Name string `json:"name"`
	// Scope is "session" (also for SET x and SET @@x, which MySQL
	// applies to the session), "global" (SET GLOBAL, SET @@global.x;
	// clears ReadOnly), "instance" (TiDB's SET INSTANCE; clears ReadOnly)
	// or "user" (@x).
	Scope string `json:"scope"`
	// Value is the literal text when Literal is true (strings unquoted,
	// DEFAULT as "DEFAULT", NULL as "NULL", a bare identifier as written).
	// Otherwise it is the expression's SQL text, which never reads as a
	// harmless sql_mode or charset; see AffectsLexing.
	Value   string `json:"value,omitempty"`
	Literal bool   `json:"literal"`
	// Appends is set for SET sql_mode = CONCAT(@@sql_mode, '...'), and
	// Appended is then the literal text appended to the session's mode
	// (Value stays the expression's text, which reads as harmful).
	Appends  bool   `json:"appends,omitempty"`
	Appended string `json:"appended,omitempty"`
}

// Statement describes one SQL statement.
type Statement struct {
	Kind Kind `json:"kind"`
	// ReadOnly is true only when the statement cannot change data or
	// state on the server beyond the session. It is derived from Kind and
	// then cleared by INTO OUTFILE/DUMPFILE, locking reads, SET GLOBAL,
	// schema-qualified (stored) function calls and the builtins listed
	// in stateFuncs. It cannot see inside stored functions: authz must
	// allow-list Functions as well.
	ReadOnly bool `json:"read_only"`
	// Tables holds every base table referenced anywhere in the
	// statement. CTE names and derived-table aliases are not tables.
	Tables []Table `json:"tables,omitempty"`
	// Schemas holds schemas named without a table (USE db, SHOW TABLES
	// [FROM db], SHOW CREATE DATABASE db, CREATE/DROP DATABASE, GRANT ON db.*).
	Schemas []string `json:"schemas,omitempty"`
	// Columns holds every column reference anywhere in the statement.
	Columns []Column `json:"columns,omitempty"`
	// Clauses names, for each column of Columns, the clause of its first
	// reference as MySQL names it in "Unknown column 'x' in '...'":
	// field list, where clause, on clause, group statement, having
	// clause, order clause.
	Clauses []string `json:"-"`
	// IndexHints holds the indexes named by USE/FORCE/IGNORE INDEX.
	IndexHints []IndexRef `json:"index_hints,omitempty"`
	// Stars holds tables all of whose columns the statement reads:
	// SELECT *, t.*, TABLE t, NATURAL JOIN.
	Stars []Table `json:"stars,omitempty"`
	// Functions holds the lower-case names of every function called,
	// including aggregates, window functions and CAST/CONVERT.
	// Schema-qualified calls appear as "schema.name".
	Functions []string `json:"functions,omitempty"`
	// Routines holds stored procedures named by CALL and SHOW CREATE
	// PROCEDURE.
	Routines []Table `json:"routines,omitempty"`
	// SystemVars holds the lower-case names of system variables read
	// with @@name, @@session.name or @@global.name.
	SystemVars []string `json:"system_vars,omitempty"`
	SetVars    []SetVar `json:"set_vars,omitempty"`
	// Locking is set for SELECT ... FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE.
	Locking bool `json:"locking,omitempty"`
	// Into is set for SELECT ... INTO OUTFILE / DUMPFILE / @var.
	Into bool `json:"into,omitempty"`
	// IntoFile is set for INTO OUTFILE and INTO DUMPFILE.
	IntoFile bool `json:"into_file,omitempty"`
	// ShowWhat names what a SHOW (or DESCRIBE) statement lists.
	ShowWhat  string `json:"show_what,omitempty"`
	KillID    uint64 `json:"kill_id,omitempty"`
	KillQuery bool   `json:"kill_query,omitempty"`
	// Inner is the analysed statement of EXPLAIN <statement>. The outer
	// statement also carries Inner's tables, columns and so on.
	Inner *Statement `json:"inner,omitempty"`
	// Unknown lists what made the statement KindOther, for the audit log.
	Unknown []string `json:"unknown,omitempty"`
}

// Result holds one Statement per statement of the text, in order.
type Result struct {
	Statements []Statement `json:"statements"`
	// Literals lists, in ascending order, the byte offsets in the text
	// where the parse has a value expression (see Shape).
	Literals []int `json:"-"`
}

// MaxLen is the longest text Analyze accepts. Longer text is rejected
// before parsing: parse time and the depth of the tree, and so of the
// recursive walks over it, grow with the length (the walk also bounds the
// tree's depth). 64 MiB matches the proxy's default limits.max_packet_mb,
// so a BI tool that interpolates a large literal (a 20 MiB document in
// `SELECT ?` with client-side parameters) is analysed, not refused.
const MaxLen = 64 << 20

// maxErrText bounds the parser message carried in errors: it quotes the
// statement and may be shown to the user.
const maxErrText = 120

var parsers = sync.Pool{New: func() any { return parser.New() }}

// Analyze parses sql, which holds one or more statements separated by
// ';', with currentDB ("" if none) as the default schema and the
// server's default lexing (no ANSI_QUOTES, backslash escapes on). It is
// safe for concurrent use.
func Analyze(sql, currentDB string) (*Result, error) {
	return AnalyzeMode(sql, currentDB, "")
}

// AnalyzeMode is Analyze for a session whose sql_mode is sqlMode, the
// comma-separated value of @@session.sql_mode. Modes the analyser cannot
// reproduce (ORACLE, MSSQL, ..., or any name it does not know to be
// harmless) make it return ErrUnparseable.
func AnalyzeMode(sql, currentDB, sqlMode string) (*Result, error) {
	stmts, mode, release, err := parseText(sql, sqlMode)
	if err != nil {
		return nil, err
	}
	// The parser reuses its result slice across calls: everything below
	// must finish with the AST before the parser goes back to the pool.
	defer release()
	if len(stmts) == 0 {
		return nil, fmt.Errorf("%w: empty statement", ErrUnparseable)
	}

	res := &Result{Statements: make([]Statement, 0, len(stmts))}
	db := strings.ToLower(currentDB)
	var lits literalFinder
	for i, s := range stmts {
		s.Accept(&lits)
		st := analyzeStmt(s, db)
		if i < len(stmts)-1 {
			// The server lexes each later statement under the session
			// state the earlier ones leave behind; this parse used the
			// state from before the text.
			if err := lexingChange(&st, mode); err != nil {
				return nil, err
			}
		}
		if st.Kind == KindUse && len(st.Schemas) == 1 {
			db = st.Schemas[0]
		}
		res.Statements = append(res.Statements, st)
	}
	slices.Sort(lits.at)
	res.Literals = lits.at
	return res, nil
}

// parseText checks and parses sql under sqlMode with a pooled parser.
// release returns the parser to the pool; call it once done with the
// statements, which the parser reuses.
func parseText(sql, sqlMode string) (stmts []ast.StmtNode, mode mysql.SQLMode, release func(), err error) {
	if mode, err = parserMode(sqlMode); err != nil {
		return nil, 0, nil, err
	}
	if len(sql) > MaxLen {
		return nil, 0, nil, fmt.Errorf("%w: statement longer than %d bytes", ErrUnparseable, MaxLen)
	}
	if err := precheck(sql, mode); err != nil {
		return nil, 0, nil, err
	}
	p := parsers.Get().(*parser.Parser)
	stmts, err = parse(p, sql, mode)
	if errors.Is(err, errParserPanic) {
		// Drop p: a panic may have left it half-way through a parse.
		return nil, 0, nil, err
	}
	if err != nil {
		parsers.Put(p)
		return nil, 0, nil, err
	}
	return stmts, mode, func() { parsers.Put(p) }, nil
}

var errParserPanic = fmt.Errorf("%w: the parser failed on this statement", ErrUnparseable)

// parse runs the parser, turning its panics into errParserPanic. The
// parser's literal driver (test_driver) panics on numeric literals of
// more than 81 digits, and a session must not die of that.
func parse(p *parser.Parser, sql string, mode mysql.SQLMode) (stmts []ast.StmtNode, err error) {
	defer func() {
		if r := recover(); r != nil {
			stmts, err = nil, errParserPanic
		}
	}()
	p.SetSQLMode(mode)
	stmts, _, err = p.Parse(sql, "utf8mb4", "")
	if err != nil {
		return nil, fmt.Errorf("%w: syntax error: %s", ErrUnparseable, shorten(strings.TrimSpace(err.Error())))
	}
	return stmts, nil
}

// analyzeStmt analyses one parsed statement. It recovers from panics in
// the walk so that an AST shape nobody foresaw yields KindOther, not a
// crashed session.
func analyzeStmt(s ast.StmtNode, db string) (st Statement) {
	defer func() {
		if r := recover(); r != nil {
			st = Statement{Kind: KindOther, Unknown: []string{fmt.Sprintf("analyser panic: %v", r)}}
		}
	}()
	return newWalker(db).run(s)
}

// lexingChange rejects a statement that is followed by more statements
// and changes how the server lexes them: sql_mode or the client charset.
func lexingChange(st *Statement, mode mysql.SQLMode) error {
	for _, v := range st.SetVars {
		if v.Scope != "session" {
			continue
		}
		switch v.Name {
		case "sql_mode":
			next, err := parserMode(v.Value)
			if !v.Literal || err != nil || next&lexingModes != mode&lexingModes {
				return fmt.Errorf("%w: sql_mode changes before a later statement in the same text", ErrUnparseable)
			}
		case "names", "character set", "character_set_client":
			if !v.Literal || CharsetAffectsLexing(v.Value) {
				return fmt.Errorf("%w: client character set changes before a later statement in the same text", ErrUnparseable)
			}
		}
	}
	if st.Inner != nil {
		return lexingChange(st.Inner, mode)
	}
	return nil
}

func shorten(s string) string {
	if len(s) <= maxErrText {
		return s
	}
	// Cut on a rune boundary: the message quotes user text.
	cut := maxErrText
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
