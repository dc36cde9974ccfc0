package authz

import (
	"errors"
	"fmt"
	"strings"

	"github.com/rrproxy/rrproxy/authz/sqlscope"
)

// ErrDenied marks every policy refusal; errors.As to *DeniedError for the
// rule and the class of object that was refused.
var ErrDenied = errors.New("access denied")

// ErrUnparseable: the analyser could not fully understand the statement,
// so it was not run. Fail closed: a statement nobody can read is a
// statement nobody can check.
var ErrUnparseable = errors.New("statement not understood")

// ErrNoDatabase: an unqualified table with no current database. The
// upstream would refuse it too; refusing here keeps a policy hole from
// appearing if the upstream's idea of the current database differed.
var ErrNoDatabase = errors.New("no database selected")

// Denial classes, mapped to MySQL error codes by the proxy.
const (
	ClassStatement = "statement" // kind of statement not allowed
	ClassSchema    = "schema"
	ClassTable     = "table"
	ClassColumn    = "column"
	ClassFunction  = "function"
	ClassVariable  = "variable"
)

// DeniedError says which rule refused what. Its message is shown to the
// user, so it names only what the user wrote, never other objects.
type DeniedError struct {
	Rule  string
	Class string
	Msg   string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("rrproxy: %s [rule %s]", e.Msg, e.Rule)
}
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// Built-in rule ids, quoted in denials that no policy rule produced.
const (
	RuleDefaultDeny   = "default-deny"
	RuleReadOnly      = "read-only"
	RuleStatementKind = "statement-kinds"
	RuleFunctions     = "dangerous-functions"
	RuleVariables     = "session-variables"
	RuleSystemSchemas = "system-schemas"
	RuleMultiStmt     = "multi-statements"
)

// Session is what a check needs to know about the client session.
type Session struct {
	DB              string // current database, "" if none
	MultiStatements bool   // client enabled CLIENT_MULTI_STATEMENTS
}

// Decision is the outcome of one check. Err is nil when allowed.
type Decision struct {
	PolicyVersion string
	Err           error
	// UseDB is set when an allowed statement changes the current database
	// (USE db); the session applies it once the upstream says OK.
	UseDB string
	// Kinds and Tables summarise the statement for the audit log.
	Kinds  []string
	Tables []string
}

// Allowed reports whether the statement may be forwarded.
func (d Decision) Allowed() bool { return d.Err == nil }

// allowedKinds are the statement kinds a read-only replica user may send.
var allowedKinds = map[sqlscope.Kind]bool{
	"select": true, "show": true, "describe": true, "explain": true, "use": true, "set": true,
	"begin": true, "commit": true, "rollback": true,
}

// allowedShows lists SHOW statements that reveal nothing beyond the
// tables a user may see or the session itself. SHOW GRANTS, PROCESSLIST,
// replication and engine status expose the service account and other
// people's queries, so they are refused.
var allowedShows = map[string]bool{
	"databases": true, "tables": true, "columns": true, "index": true, "create table": true,
	"create view": true, "create database": true, "table status": true, "variables": true,
	"status": true, "warnings": true, "errors": true, "collation": true, "charset": true,
	"engines": true, "privileges": true, "procedure status": true, "function status": true,
	"triggers": true, "plugins": true, "open tables": true, "character set": true,
}

// schemaShows list a database's contents; without FROM, the current one.
var schemaShows = map[string]bool{"tables": true, "table status": true, "triggers": true, "open tables": true}

// dangerousFunctions read files, block threads, take locks or wait on
// replication: none belongs in a BI query against a shared replica.
var dangerousFunctions = map[string]bool{
	"load_file": true, "sleep": true, "benchmark": true,
	"get_lock": true, "release_lock": true, "release_all_locks": true, "is_free_lock": true, "is_used_lock": true,
	"master_pos_wait": true, "source_pos_wait": true, "master_gtid_wait": true,
	"wait_for_executed_gtid_set": true, "wait_until_sql_thread_after_gtids": true,
	"sys_exec": true, "sys_eval": true,
}

// safeSessionVars are the session variables clients and BI tools set at
// connect. Anything else (and any GLOBAL) is refused.
var safeSessionVars = map[string]bool{
	"names": true, "character set": true, "charset": true,
	"character_set_client": true, "character_set_connection": true, "character_set_results": true,
	"collation_connection": true, "autocommit": true, "sql_mode": true, "time_zone": true,
	"transaction": true, "transaction_isolation": true, "tx_isolation": true,
	"transaction_read_only": true, "tx_read_only": true,
	"net_write_timeout": true, "net_read_timeout": true, "wait_timeout": true, "interactive_timeout": true,
	"sql_select_limit": true, "max_execution_time": true, "max_statement_time": true,
	"group_concat_max_len": true, "sql_auto_is_null": true, "sql_safe_updates": true,
	"lc_time_names": true, "sql_big_selects": true, "div_precision_increment": true,
	"session_track_schema": true, "session_track_state_change": true, "session_track_system_variables": true,
	"session_track_transaction_info": true, "sql_quote_show_create": true, "sql_notes": true,
	"sql_warnings": true, "max_join_size": true, "default_week_format": true, "profiling": true,
	"optimizer_search_depth": true, "big_tables": true, "sql_buffer_result": true,
}

// systemSchemas hold the server's own data. information_schema is the
// catalog BI tools browse and is allowed; the rest (user accounts,
// performance data with other sessions' SQL) is refused unless a rule
// names it explicitly.
var systemSchemas = map[string]bool{"mysql": true, "performance_schema": true, "sys": true}

// CheckQuery decides a COM_QUERY or COM_STMT_PREPARE text.
func (p *Policy) CheckQuery(id *Identity, sess Session, sql string) Decision {
	d := Decision{PolicyVersion: p.Version}
	res, err := sqlscope.Analyze(sql, sess.DB)
	if err != nil {
		d.Err = fmt.Errorf("%w: %w", ErrUnparseable, err)
		return d
	}
	if len(res.Statements) > 1 && !sess.MultiStatements {
		d.Err = &DeniedError{Rule: RuleMultiStmt, Class: ClassStatement,
			Msg: "several statements in one query, but this connection did not enable multi-statements"}
		return d
	}
	for i := range res.Statements {
		st := &res.Statements[i]
		d.Kinds = append(d.Kinds, string(st.Kind))
		for _, t := range st.Tables {
			d.Tables = append(d.Tables, t.Schema+"."+t.Name)
		}
		if st.Kind == "use" && len(res.Statements) > 1 {
			// The session tracks the current database from the OK of a
			// lone USE; inside a batch a later failure would leave it
			// unknown.
			d.Err = &DeniedError{Rule: RuleMultiStmt, Class: ClassStatement, Msg: "send USE as a statement of its own"}
			return d
		}
		if err := p.checkStatement(id, sess.DB, st); err != nil {
			d.Err = err
			return d
		}
		if st.Kind == "use" && len(st.Schemas) == 1 {
			d.UseDB = st.Schemas[0]
		}
	}
	return d
}

// CheckUseDB decides COM_INIT_DB and the database named at login.
func (p *Policy) CheckUseDB(id *Identity, db string) Decision {
	d := Decision{PolicyVersion: p.Version, Kinds: []string{"use"}}
	if err := p.checkSchema(id, strings.ToLower(db)); err != nil {
		d.Err = err
		return d
	}
	d.UseDB = db
	return d
}

// CheckFieldList decides COM_FIELD_LIST (the old column-listing command).
func (p *Policy) CheckFieldList(id *Identity, sess Session, table string) Decision {
	d := Decision{PolicyVersion: p.Version, Kinds: []string{"field_list"}}
	t := sqlscope.Table{Schema: strings.ToLower(sess.DB), Name: strings.ToLower(table)}
	d.Tables = []string{t.Schema + "." + t.Name}
	if err := p.checkTable(id, t); err != nil {
		d.Err = err
		return d
	}
	// COM_FIELD_LIST returns every column's definition: with a denied
	// column on the table, refuse rather than reveal it.
	if r, c := p.deniedColumnOn(id, t); r != "" {
		d.Err = &DeniedError{Rule: r, Class: ClassColumn,
			Msg: fmt.Sprintf("listing the columns of %s.%s would include the withheld column %s", t.Schema, t.Name, c)}
	}
	return d
}

func (p *Policy) checkStatement(id *Identity, db string, st *sqlscope.Statement) error {
	if st.Locking {
		return &DeniedError{Rule: RuleReadOnly, Class: ClassStatement, Msg: "locking reads (FOR UPDATE / LOCK IN SHARE MODE) are not allowed"}
	}
	if !allowedKinds[st.Kind] || !st.ReadOnly && st.Kind != "set" && st.Kind != "use" && st.Kind != "begin" && st.Kind != "commit" && st.Kind != "rollback" {
		return &DeniedError{Rule: RuleReadOnly, Class: ClassStatement,
			Msg: fmt.Sprintf("%s statements are not allowed: this is a read-only replica", strings.ToUpper(string(st.Kind)))}
	}
	if st.Into {
		return &DeniedError{Rule: RuleReadOnly, Class: ClassStatement, Msg: "SELECT ... INTO is not allowed"}
	}
	if st.Kind == "show" && !allowedShows[st.ShowWhat] {
		return &DeniedError{Rule: RuleStatementKind, Class: ClassStatement,
			Msg: fmt.Sprintf("SHOW %s is not allowed", strings.ToUpper(st.ShowWhat))}
	}
	for _, f := range st.Functions {
		if dangerousFunctions[f] {
			return &DeniedError{Rule: RuleFunctions, Class: ClassFunction, Msg: fmt.Sprintf("function %s() is not allowed", f)}
		}
	}
	for _, v := range st.SetVars {
		if err := checkSetVar(v); err != nil {
			return err
		}
	}
	if st.Inner != nil {
		if err := p.checkStatement(id, db, st.Inner); err != nil {
			return err
		}
	}
	schemas := st.Schemas
	if st.Kind == "show" && len(schemas) == 0 && schemaShows[st.ShowWhat] {
		// SHOW TABLES without FROM lists the current database.
		schemas = []string{strings.ToLower(db)}
	}
	for _, s := range schemas {
		if err := p.checkSchema(id, s); err != nil {
			return err
		}
	}
	for _, t := range st.Tables {
		if err := p.checkTable(id, t); err != nil {
			return err
		}
	}
	return p.checkColumns(id, st)
}

func checkSetVar(v sqlscope.SetVar) error {
	name := strings.ToLower(v.Name)
	switch v.Scope {
	case "user":
		return nil // @x: values from subqueries are checked as columns
	case "session", "":
	default:
		return &DeniedError{Rule: RuleVariables, Class: ClassVariable,
			Msg: fmt.Sprintf("SET %s %s is not allowed: only session variables may be set", strings.ToUpper(v.Scope), name)}
	}
	if !safeSessionVars[name] {
		return &DeniedError{Rule: RuleVariables, Class: ClassVariable, Msg: fmt.Sprintf("setting %s is not allowed", name)}
	}
	if v.AffectsLexing() {
		// ANSI_QUOTES and NO_BACKSLASH_ESCAPES change how the server reads
		// quotes, and multi-byte client character sets (gbk, sjis, big5)
		// can swallow a backslash; either way the analyser would see
		// different SQL from the server, which is a way around the policy.
		return &DeniedError{Rule: RuleVariables, Class: ClassVariable,
			Msg: fmt.Sprintf("this value of %s changes how SQL is tokenised and is not allowed (sql_mode ANSI_QUOTES/NO_BACKSLASH_ESCAPES, or a multi-byte character set other than utf8mb4)", name)}
	}
	return nil
}

// subjectOf reports whether rule r applies to identity id.
func (r *rule) appliesTo(id *Identity) bool {
	if r.toAll || r.toUsers[id.User] {
		return true
	}
	for _, g := range id.Groups {
		if r.toGroups[g] {
			return true
		}
	}
	return false
}

func (p *Policy) checkSchema(id *Identity, schema string) error {
	if schema == "" {
		// "SHOW TABLES" with no current database: a glob like "*" would
		// match the empty name, so refuse before matching.
		return fmt.Errorf("%w: name the database or USE one first", ErrNoDatabase)
	}
	if schema == "information_schema" {
		return nil
	}
	for _, r := range p.rules {
		if !r.appliesTo(id) {
			continue
		}
		for _, a := range r.allow {
			if match(a.schema, schema) {
				return nil
			}
		}
	}
	return &DeniedError{Rule: RuleDefaultDeny, Class: ClassSchema, Msg: fmt.Sprintf("no rule grants user '%s' access to database %s", id.User, schema)}
}

func (p *Policy) checkTable(id *Identity, t sqlscope.Table) error {
	if t.Schema == "" {
		return fmt.Errorf("%w: name the database (db.table) or USE one first", ErrNoDatabase)
	}
	if t.Schema == "information_schema" {
		return nil
	}
	for _, r := range p.rules {
		if !r.appliesTo(id) {
			continue
		}
		for _, a := range r.allow {
			// A system schema is reachable only through a rule that
			// names it literally, never through a glob like "*.*".
			if systemSchemas[t.Schema] && a.schema != t.Schema {
				continue
			}
			if match(a.schema, t.Schema) && match(a.table, t.Name) {
				return nil
			}
		}
	}
	rid := RuleDefaultDeny
	if systemSchemas[t.Schema] {
		rid = RuleSystemSchemas
	}
	return &DeniedError{Rule: rid, Class: ClassTable, Msg: fmt.Sprintf("no rule grants user '%s' SELECT on %s.%s", id.User, t.Schema, t.Name)}
}

// deniedColumnOn returns the first rule withholding a column of t from id.
func (p *Policy) deniedColumnOn(id *Identity, t sqlscope.Table) (ruleID, column string) {
	for _, r := range p.rules {
		if !r.appliesTo(id) {
			continue
		}
		for _, c := range r.denyColumns {
			if match(c.schema, t.Schema) && match(c.table, t.Name) {
				return r.id, c.column
			}
		}
	}
	return "", ""
}

// checkColumns refuses any use of a withheld column. Where the analyser
// could not tie a column to its table (unqualified in a join, or read
// through a derived table), a withheld name on any table of the
// statement is enough to refuse: the policy must never depend on a
// guess about which table a name belongs to.
func (p *Policy) checkColumns(id *Identity, st *sqlscope.Statement) error {
	for _, r := range p.rules {
		if !r.appliesTo(id) || len(r.denyColumns) == 0 {
			continue
		}
		for _, dc := range r.denyColumns {
			onTable := func(t sqlscope.Table) bool { return match(dc.schema, t.Schema) && match(dc.table, t.Name) }
			touched := false
			for _, t := range st.Tables {
				if onTable(t) {
					touched = true
					break
				}
			}
			if !touched {
				continue
			}
			for _, s := range st.Stars {
				if onTable(s) {
					return &DeniedError{Rule: r.id, Class: ClassColumn,
						Msg: fmt.Sprintf("SELECT * on %s.%s would include the withheld column %s; list the columns you need", s.Schema, s.Name, dc.column)}
				}
			}
			for _, c := range st.Columns {
				if c.Name != dc.column {
					continue
				}
				// A bare name, or a table name without its schema, counts
				// as the withheld column: never guess in the user's favour.
				if c.Table == "" || (c.Schema == "" && match(dc.table, c.Table)) || onTable(sqlscope.Table{Schema: c.Schema, Name: c.Table}) {
					return &DeniedError{Rule: r.id, Class: ClassColumn, Msg: fmt.Sprintf("column %s is withheld from user '%s'", dc.column, id.User)}
				}
			}
		}
	}
	return nil
}

// CheckUpstreamSQLMode refuses an upstream whose default sql_mode changes
// how SQL is tokenised: the analyser would read statements differently
// from the server, which is a way around every rule.
func CheckUpstreamSQLMode(mode string) error {
	if sqlscope.ModeAffectsLexing(mode) {
		return fmt.Errorf("authz: upstream sql_mode %q changes SQL tokenising (ANSI_QUOTES / NO_BACKSLASH_ESCAPES); rrproxy cannot check statements reliably against it", mode)
	}
	return nil
}
