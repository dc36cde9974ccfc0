package authz

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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

// ErrCatalog: the upstream's column list, needed to rewrite SELECT *,
// could not be read.
var ErrCatalog = errors.New("cannot read the replica's catalog")

// Denial classes, mapped to MySQL error codes by the proxy.
const (
	ClassStatement = "statement" // kind of statement not allowed
	ClassSchema    = "schema"
	ClassTable     = "table"
	ClassColumn    = "column"
	ClassFunction  = "function"
	ClassVariable  = "variable"
	ClassIndex     = "index"
)

// DeniedError says which rule refused what. Its message is shown to the
// user, so it names only what the user wrote, never other objects.
//
// Hidden is set when the refused object is one the user may not see: the
// proxy then answers exactly as the server does for an object that does
// not exist (unknown database, table or column, naming Object), so a
// denial cannot be told from absence and nobody can probe for names.
// The audit log still records Rule.
type DeniedError struct {
	Rule   string
	Class  string
	Msg    string
	Hidden bool
	Object string // schema, schema.table or column name, for Hidden
	Clause string // for a hidden column: where it was named ("where clause")
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
	RuleLimits        = "limits"
	RuleCharset       = "character-set"
)

var builtinRules = map[string]bool{
	RuleDefaultDeny: true, RuleReadOnly: true, RuleStatementKind: true, RuleFunctions: true,
	RuleVariables: true, RuleSystemSchemas: true, RuleMultiStmt: true, RuleLimits: true,
	RuleAccount: true, RuleCharset: true,
}

// Catalog lists a table's columns as the upstream has them, in ordinal
// order, so SELECT * can be rewritten to the permitted columns. An empty
// list means the table does not exist. Implementations cache; they must
// be safe for concurrent use.
type Catalog interface {
	Columns(schema, table string) ([]string, error)
}

// IndexCatalog, when a Catalog implements it, lists a table's indexes
// (name to columns, lower-case). Reads of a table with withheld or
// masked columns then ignore the indexes on them, whose order would
// reveal their values.
type IndexCatalog interface {
	Indexes(schema, table string) (map[string][]string, error)
}

// CatalogTTL is how long decisions that depended on the replica's
// catalog are reused; the proxy's catalog cache uses the same period.
const CatalogTTL = time.Minute

// Session is what a check needs to know about the client session.
type Session struct {
	DB              string // current database, "" if none
	MultiStatements bool   // client enabled CLIENT_MULTI_STATEMENTS
	SQLMode         string // session sql_mode, "" for the server default
	Catalog         Catalog
	// Prepared is set for COM_STMT_PREPARE: results come back in the
	// binary protocol, where metadata row filters cannot run.
	Prepared bool
	// SingleByteCharset names the single-byte client character set
	// (latin1, binary, ascii) the session is, or may be, in; empty for
	// UTF-8. Statements must then be ASCII (sqlscope.SingleByteCharset
	// says why).
	SingleByteCharset string
}

// RowFilter rewrites or drops one text-protocol result row of a
// metadata statement (SHOW ...). vals are the row's values, nil for
// NULL. It returns the values to send, or keep false to drop the row.
type RowFilter func(vals [][]byte) (out [][]byte, keep bool)

// Decision is the outcome of one check. Err is nil when allowed.
type Decision struct {
	PolicyVersion string
	Err           error
	// Shadow describes what rules in shadow mode (enforce: false) would
	// have decided differently; it is logged and audited, never enforced.
	Shadow string
	// UseDB is set when an allowed statement changes the current database
	// (USE db); the session applies it once the upstream says OK.
	UseDB string
	// ClientCharset is the client character set an allowed statement
	// sets (SET NAMES, character_set_client), lower-case, or "". The
	// session keeps a single-byte one for SingleByteCharset.
	ClientCharset string
	// Kinds, Tables and Columns summarise the statement for the audit
	// log. Columns are schema.table.column where the analyser tied the
	// column to a base table, the bare name where it could not (through
	// a derived table or a CTE, or ambiguous), and schema.table.* for a
	// table read whole (SELECT *, TABLE t, NATURAL JOIN); each once.
	Kinds   []string
	Tables  []string
	Columns []string
	// SQL, when not empty, is the text to send upstream instead of the
	// client's: stars expanded, masks applied, catalog tables filtered.
	SQL string
	// RecordedSQL is SQL as the audit log keeps it: the pseudonyms'
	// ordering secret replaced (Policy.RecordedSQL).
	RecordedSQL string
	// Pseudonyms lists result columns whose values the proxy replaces
	// with Policy.Pseudonym of the value.
	Pseudonyms []int
	// Rows, when set, filters the rows of a metadata result.
	Rows RowFilter
	// HideColumn, for COM_FIELD_LIST, says which column definitions to
	// drop.
	HideColumn func(name string) bool
	// Diagnostics is set for SHOW WARNINGS / SHOW ERRORS, whose messages
	// come from the upstream and may name the service account: the proxy
	// scrubs them as it scrubs upstream errors.
	Diagnostics bool
	// MaxRows is the most rows the proxy may return for this statement
	// (0: no limit).
	MaxRows int64
	// Probe is set on a denial for hidden objects that the server itself
	// should answer: SQL is the probe (the statement with placeholders,
	// or for COM_INIT_DB / COM_FIELD_LIST the placeholder name), and
	// ProbeNames maps each placeholder back to what the user wrote, to
	// be put back into the server's answer. See probe.go.
	Probe      bool
	ProbeNames map[string]string
	// Digest identifies the statement's shape (literals replaced), for
	// audit grouping; Normalized is that shape, for logs that must not
	// hold literal values (audit.redact_literals).
	Digest, Normalized string
	// Cached is set when the decision came from the decision cache.
	Cached bool

	// literals are where the analysed text had value expressions
	// (sqlscope.Result.Literals), for the shape cache.
	literals []int
}

// Allowed reports whether the statement may be forwarded.
func (d Decision) Allowed() bool { return d.Err == nil }

// readOnlyKinds may be run on a read-only replica at all; a user's
// statement kinds choose among them.
var readOnlyKinds = map[sqlscope.Kind]bool{
	sqlscope.KindSelect: true, sqlscope.KindShow: true, sqlscope.KindDescribe: true, sqlscope.KindExplain: true,
	sqlscope.KindUse: true, sqlscope.KindSet: true, sqlscope.KindBegin: true, sqlscope.KindCommit: true,
	sqlscope.KindRollback: true, sqlscope.KindSavepoint: true, sqlscope.KindRelease: true,
	sqlscope.KindDo: true, sqlscope.KindHelp: true,
}

// allowedShows lists SHOW statements that reveal nothing beyond the
// objects a user may see (their results are filtered, see metadata.go)
// or the session itself. SHOW GRANTS, PROCESSLIST, TRIGGERS,
// replication and engine status expose the service account, other
// people's queries or SQL bodies, so they are refused.
var allowedShows = map[string]bool{
	"databases": true, "tables": true, "columns": true, "index": true, "create table": true,
	"create view": true, "create database": true, "table status": true, "variables": true,
	"status": true, "warnings": true, "errors": true, "collation": true, "charset": true,
	"engines": true, "privileges": true, "procedure status": true, "function status": true,
	"plugins": true, "open tables": true, "character set": true,
}

// schemaShows list a database's contents; without FROM, the current one.
var schemaShows = map[string]bool{"tables": true, "table status": true, "open tables": true}

// dangerousFunctions read files, block threads, take locks or wait on
// replication: none belongs in a BI query against a shared replica.
var dangerousFunctions = map[string]bool{
	"load_file": true, "sleep": true, "benchmark": true,
	"get_lock": true, "release_lock": true, "release_all_locks": true, "is_free_lock": true, "is_used_lock": true,
	"master_pos_wait": true, "source_pos_wait": true, "master_gtid_wait": true,
	"wait_for_executed_gtid_set": true, "wait_until_sql_thread_after_gtids": true,
	"sys_exec": true, "sys_eval": true,
}

// accountFunctions name the service account; the rewrite answers them
// with the person's name instead ('alice@rrproxy').
var accountFunctions = map[string]bool{
	"current_user": true, "session_user": true, "system_user": true, "user": true,
}

// safeSessionVars are the session variables clients and BI tools set at
// connect. Anything else (and any GLOBAL) is refused. Time limits are
// not here: they are the administrator's, per person (limits:).
var safeSessionVars = map[string]bool{
	"names": true, "character set": true, "charset": true,
	"character_set_client": true, "character_set_connection": true, "character_set_results": true,
	"collation_connection": true, "autocommit": true, "sql_mode": true, "time_zone": true,
	"transaction": true, "transaction_isolation": true, "tx_isolation": true,
	"transaction_read_only": true, "tx_read_only": true,
	"net_write_timeout": true, "net_read_timeout": true, "wait_timeout": true, "interactive_timeout": true,
	"sql_select_limit": true, "group_concat_max_len": true, "sql_auto_is_null": true, "sql_safe_updates": true,
	"lc_time_names": true, "sql_big_selects": true, "div_precision_increment": true,
	"session_track_schema": true, "session_track_state_change": true, "session_track_system_variables": true,
	"session_track_transaction_info": true, "sql_quote_show_create": true, "sql_notes": true,
	"sql_warnings": true, "max_join_size": true, "default_week_format": true, "profiling": true,
	"optimizer_search_depth": true, "big_tables": true, "sql_buffer_result": true,
}

// systemSchemas hold the server's own data: user accounts, performance
// data with other sessions' SQL. They are refused unless a rule names
// them literally. information_schema is the catalog BI tools browse; its
// tables are filtered to the user's grants (metadata.go).
var systemSchemas = map[string]bool{"mysql": true, "performance_schema": true, "sys": true}

// CheckQuery decides a COM_QUERY or COM_STMT_PREPARE text.
func (p *Policy) CheckQuery(id *Identity, sess Session, sql string) Decision {
	if err := p.accountGone(id); err != nil {
		return Decision{PolicyVersion: p.Version, Err: err}
	}
	if cs := sess.SingleByteCharset; cs != "" && !isASCII(sql) {
		// Before the cache: the same text is fine in a UTF-8 session.
		return Decision{PolicyVersion: p.Version, Err: asciiOnly(cs)}
	}
	kb := keyBufs.Get().(*[]byte)
	defer keyBufs.Put(kb)
	key := appendDecisionKey((*kb)[:0], id, sess, keyText, sql)
	if key != nil {
		*kb = key[:0] // keep what the buffer grew to
	}
	if d, ok := p.decisions.get(key); ok {
		d.Cached = true
		return d
	}
	var shapeKey []byte
	var shapeLits []int
	if len(sql) <= maxCachedText {
		if shape, lits, ok := sqlscope.Shape(sql); ok {
			// After the text key, in the same buffer while it has room.
			shapeKey, shapeLits = appendDecisionKey(key[len(key):], id, sess, keyShape, shape), lits
			if d, ok := p.decisions.get(shapeKey); ok {
				d.Cached = true
				return d
			}
		}
	}
	g := p.grantsFor(id, false)
	d, cacheable := p.checkQuery(g, id, sess, sql)
	if p.shadow {
		if sg := p.grantsFor(id, true); sg != g {
			sd, _ := p.checkQuery(sg, id, sess, sql)
			switch {
			case d.Allowed() && !sd.Allowed():
				d.Shadow = "would deny: " + sd.Err.Error()
			case !d.Allowed() && sd.Allowed():
				d.Shadow = "would allow"
			case d.SQL != sd.SQL:
				d.Shadow = "would rewrite differently"
			}
		}
	}
	if isHidden(d.Err) {
		p.probe(g, id, sess, sql, &d)
	}
	d.Digest, d.Normalized = sqlscope.Normalize(sql)
	// A decision that read the replica's catalog (view definitions,
	// column and index lists) is kept only as long as the proxy trusts
	// its copy of that catalog.
	ttl := time.Duration(0)
	if !cacheable {
		ttl = CatalogTTL
	}
	lits := d.literals
	d.literals = nil
	switch {
	case errors.Is(d.Err, ErrCatalog): // a failed read is retried next time
	case len(shapeKey) > 0 && shareable(d, lits, shapeLits):
		p.decisions.put(shapeKey, d, ttl)
	default:
		p.decisions.put(key, d, ttl)
	}
	return d
}

// shareable reports whether decision d may serve every statement of the
// same shape: it allows the text to be forwarded as it is, only
// SELECTs, nothing about it depends on a value (no rewrite carrying
// literals, no filtered result, no pseudonyms, no shadow difference),
// and the parse found a value expression exactly at each literal the
// shape replaced and nowhere else, so the other texts differ from this
// one only in values the analysis never reads.
func shareable(d Decision, parsedLits, shapeLits []int) bool {
	if d.Err != nil || d.SQL != "" || d.Probe || len(d.Pseudonyms) > 0 || d.Rows != nil || d.HideColumn != nil ||
		d.Diagnostics || d.UseDB != "" || d.ClientCharset != "" || d.Shadow != "" || len(d.Kinds) == 0 || !slices.Equal(parsedLits, shapeLits) {
		return false
	}
	for _, k := range d.Kinds {
		if k != string(sqlscope.KindSelect) {
			return false
		}
	}
	return true
}

// checkQuery decides sql for grants g. A hidden object must answer
// exactly like a missing one, and a statement naming a missing object is
// still refused for anything else wrong with it (a masked column used in
// a predicate, a statement kind not granted...). So a hidden-object
// denial gives way to any other refusal the statement would get if
// every name in it were readable: otherwise the kind of error would tell
// a withheld column or table from one that does not exist.
func (p *Policy) checkQuery(g *grants, id *Identity, sess Session, sql string) (d Decision, cacheable bool) {
	d, cacheable = p.evaluate(g, id, sess, sql)
	var de *DeniedError
	if !errors.As(d.Err, &de) || !de.Hidden {
		return d, cacheable
	}
	od, ocacheable := p.evaluate(g.unhidden(), id, sess, sql)
	if od.Err != nil && !(errors.As(od.Err, &de) && de.Hidden) {
		d.Err = od.Err
		cacheable = cacheable && ocacheable
	}
	return d, cacheable
}

func (p *Policy) evaluate(g *grants, id *Identity, sess Session, sql string) (d Decision, cacheable bool) {
	d = Decision{PolicyVersion: p.Version, MaxRows: g.limits.MaxRows}
	res, err := sqlscope.AnalyzeMode(sql, sess.DB, sess.SQLMode)
	if err != nil {
		d.Err = fmt.Errorf("%w: %w", ErrUnparseable, err)
		return d, true
	}
	d.literals = res.Literals
	if len(res.Statements) > 1 && !sess.MultiStatements {
		d.Err = &DeniedError{Rule: RuleMultiStmt, Class: ClassStatement,
			Msg: "several statements in one query, but this connection did not enable multi-statements"}
		return d, true
	}
	rewrite := false
	catalogUsed := false // the decision depends on the replica's catalog
	defer func() {
		if catalogUsed {
			cacheable = false
		}
	}()
	db := sess.DB
	for i := range res.Statements {
		st := &res.Statements[i]
		d.Kinds = append(d.Kinds, string(st.Kind))
		for _, t := range st.Tables {
			d.Tables = append(d.Tables, t.Schema+"."+t.Name)
		}
		d.Columns = appendColumns(d.Columns, st)
		if st.Kind == sqlscope.KindUse && len(res.Statements) > 1 {
			// The session tracks the current database from the OK of a
			// lone USE; inside a batch a later failure would leave it
			// unknown.
			d.Err = &DeniedError{Rule: RuleMultiStmt, Class: ClassStatement, Msg: "send USE as a statement of its own"}
			return d, true
		}
		if cs := st.ClientCharsetSet(); cs != "" {
			d.ClientCharset = cs
			if sqlscope.SingleByteCharset(cs) && !isASCII(sql) {
				// SET NAMES latin1; SELECT ... in one query: the server
				// reads what follows by latin1's rules.
				d.Err = asciiOnly(cs)
				return d, true
			}
		}
		need, err := p.checkStatement(g, id, db, st)
		if err != nil {
			d.Err = err
			return d, true
		}
		rewrite = rewrite || need
		usedViews, err := g.checkViews(sess.Catalog, st)
		if usedViews {
			catalogUsed = true
		}
		if err == nil {
			var usedRoutines bool
			usedRoutines, err = checkStoredFunctions(sess.Catalog, db, st)
			catalogUsed = catalogUsed || usedRoutines
		}
		if err != nil {
			d.Err = err
			return d, false
		}
		explainSelect := st.Kind == sqlscope.KindExplain && st.Inner != nil && st.Inner.Kind == sqlscope.KindSelect
		if !rewrite && st.Kind != sqlscope.KindShow && st.Kind != sqlscope.KindDescribe {
			// SET @x = (SELECT GROUP_CONCAT(...)) and DO read rows too.
			for _, t := range st.Tables {
				if cols, _ := g.pseudonymColumns(t); len(cols) > 0 {
					rewrite = true // keyed order of rows read from t (sqlscope keyScanOrder)
					break
				}
			}
		}
		if !rewrite && (st.Kind == sqlscope.KindSelect || explainSelect) {
			if _, ok := sess.Catalog.(IndexCatalog); ok {
				for _, t := range st.Tables {
					if g.restricted(t) {
						rewrite = true // IGNORE INDEX on its restricted indexes
					}
				}
			}
		}
		if st.Kind == sqlscope.KindShow || st.Kind == sqlscope.KindDescribe {
			// DESCRIBE t is SHOW COLUMNS FROM t: its rows name columns too.
			if f := g.showFilter(db, st); f != nil {
				if len(res.Statements) > 1 || sess.Prepared {
					d.Err = &DeniedError{Rule: RuleStatementKind, Class: ClassStatement,
						Msg: fmt.Sprintf("SHOW %s must be sent on its own as a plain query (its result is filtered to your grants)", strings.ToUpper(st.ShowWhat))}
					return d, true
				}
				d.Rows = f
			}
		}
		if st.Kind == sqlscope.KindShow && (st.ShowWhat == "warnings" || st.ShowWhat == "errors") {
			if sess.Prepared {
				d.Err = &DeniedError{Rule: RuleStatementKind, Class: ClassStatement,
					Msg: "SHOW WARNINGS / SHOW ERRORS must be sent as a plain query (their messages are scrubbed)"}
				return d, true
			}
			d.Diagnostics = true
		}
		if st.Kind == sqlscope.KindUse && len(st.Schemas) == 1 {
			d.UseDB = st.Schemas[0]
			db = st.Schemas[0]
		}
	}
	if !rewrite {
		return d, true
	}
	h := &hooks{g: g, id: id, catalog: sess.Catalog, all: allTables(res.Statements)}
	rw, err := sqlscope.Rewrite(sql, sess.DB, sess.SQLMode, h)
	if err != nil {
		var de *DeniedError
		switch {
		case errors.As(err, &de), errors.Is(err, ErrCatalog), errors.Is(err, ErrNoDatabase):
			d.Err = err
		case errors.Is(err, sqlscope.ErrRewrite):
			d.Err = &DeniedError{Rule: h.rule(), Class: ClassColumn, Msg: strings.TrimPrefix(err.Error(), "cannot rewrite: ")}
		default:
			d.Err = fmt.Errorf("%w: %w", ErrUnparseable, err)
		}
		return d, !h.usedCatalog
	}
	if rw.Changed {
		if err := p.recheck(g, id, sess, rw.SQL); err != nil {
			d.Err = err
			return d, false
		}
		d.SQL, d.RecordedSQL = rw.SQL, p.RecordedSQL(rw.SQL)
	}
	for i, cols := range rw.Pseudonyms {
		if len(cols) == 0 {
			continue
		}
		if len(rw.Pseudonyms) > 1 || i > 0 {
			d.Err = &DeniedError{Rule: h.rule(), Class: ClassColumn, Msg: "pseudonymised columns must be read by a query of its own, not in a multi-statement batch"}
			return d, true
		}
		d.Pseudonyms = cols
	}
	return d, !h.usedCatalog
}

// recheck analyses the rewritten text and checks it again, this time
// with every mask already applied: a rewrite must never produce a
// statement that the policy would refuse. A failure here is a bug in the
// rewrite, and the statement is refused.
func (p *Policy) recheck(g *grants, id *Identity, sess Session, sql string) error {
	res, err := sqlscope.AnalyzeMode(sql, sess.DB, sess.SQLMode)
	if err != nil {
		return fmt.Errorf("%w: the rewritten statement does not analyse: %w", ErrUnparseable, err)
	}
	for i := range res.Statements {
		st := &res.Statements[i]
		// The user's own index hints were checked before the rewrite;
		// the ones left are the rewrite's IGNORE INDEX.
		st.IndexHints = nil
		if st.Inner != nil {
			st.Inner.IndexHints = nil
		}
		if _, err := p.checkStatement(g, id, sess.DB, st); err != nil {
			return err
		}
		for _, c := range st.Columns {
			if m := g.columnMask(st, c); m != nil && m.with != MaskPseudonym {
				return fmt.Errorf("%w: rewrite left masked column %s in place", ErrUnparseable, c.Name)
			}
		}
		for _, t := range st.Stars {
			if g.restricted(t) {
				return fmt.Errorf("%w: rewrite left a star over %s", ErrUnparseable, t)
			}
		}
	}
	return nil
}

// RuleAccount refuses statements of a local account that a reloaded
// policy disabled or removed.
const RuleAccount = "account-disabled"

// accountGone refuses a local account's open session once the policy in
// force disables or no longer lists it: disabling someone takes effect
// on their next statement, not at their next login.
func (p *Policy) accountGone(id *Identity) error {
	if id.Source != "local" {
		if id.Account == "" {
			return nil
		}
		// A listed SSO user: disabling or removing the listing ends the
		// session as for a local account.
		if a := p.users[id.Account]; a != nil && !a.disabled && a.sso == id.Provider {
			return nil
		}
		return &DeniedError{Rule: RuleAccount, Class: ClassStatement,
			Msg: fmt.Sprintf("the account '%s' has been disabled; this session can run nothing more", id.User)}
	}
	if a := p.users[id.User]; a == nil || a.disabled {
		return &DeniedError{Rule: RuleAccount, Class: ClassStatement,
			Msg: fmt.Sprintf("the account '%s' has been disabled; this session can run nothing more", id.User)}
	}
	return nil
}

// CheckUseDB decides COM_INIT_DB and the database named at login.
func (p *Policy) CheckUseDB(id *Identity, db string) Decision {
	g := p.grantsFor(id, false)
	d := Decision{PolicyVersion: p.Version, Kinds: []string{"use"}}
	if d.Err = p.accountGone(id); d.Err != nil {
		return d
	}
	if !g.kinds[sqlscope.KindUse] {
		d.Err = &DeniedError{Rule: RuleStatementKind, Class: ClassStatement, Msg: "USE is not among your statement kinds"}
		return d
	}
	if err := g.checkSchema(id, strings.ToLower(db)); err != nil {
		d.Err = err
		if isHidden(err) {
			probeName(&d, db)
		}
		return d
	}
	d.UseDB = db
	return d
}

// CheckFieldList decides COM_FIELD_LIST (the old column-listing
// command). Withheld columns are dropped from the answer.
func (p *Policy) CheckFieldList(id *Identity, sess Session, table string) Decision {
	g := p.grantsFor(id, false)
	d := Decision{PolicyVersion: p.Version, Kinds: []string{"field_list"}}
	if d.Err = p.accountGone(id); d.Err != nil {
		return d
	}
	t := sqlscope.Table{Schema: strings.ToLower(sess.DB), Name: strings.ToLower(table)}
	d.Tables = []string{t.Schema + "." + t.Name}
	if !g.kinds[sqlscope.KindShow] {
		d.Err = &DeniedError{Rule: RuleStatementKind, Class: ClassStatement, Msg: "listing columns needs the show statement kind"}
		return d
	}
	if err := g.checkTable(id, t); err != nil {
		d.Err = err
		if isHidden(err) {
			probeName(&d, table)
		}
		return d
	}
	d.HideColumn = func(name string) bool { return g.columnDenied(t, strings.ToLower(name)) != "" }
	return d
}

// readOnlyRefusal says why a statement is not one a read-only replica
// runs for a user, in the words of what it is.
func readOnlyRefusal(st *sqlscope.Statement) string {
	kind := strings.ToUpper(strings.ReplaceAll(string(st.Kind), "_", " "))
	switch {
	case st.Kind == sqlscope.KindPrepare || st.Kind == sqlscope.KindExecute || st.Kind == sqlscope.KindDeallocate:
		return kind + " (SQL-level prepared statements) is not allowed: the text it runs is not known when it is checked; use your driver's prepared statements, which are checked"
	case st.Kind == sqlscope.KindOther:
		return "this kind of statement is not allowed: rrproxy fronts a read-only replica and runs only queries, SHOW, DESCRIBE, EXPLAIN, USE, SET, transactions, DO and HELP"
	case readOnlyKinds[st.Kind]:
		// A read-only kind that may write: a schema-qualified function
		// is always a stored one, and sequences advance.
		for _, f := range st.Functions {
			if strings.Contains(f, ".") {
				return fmt.Sprintf("%s calls the stored function %s, which runs with its definer's rights and may change data: not allowed on this read-only replica", kind, f)
			}
		}
		return fmt.Sprintf("this %s may change data (a stored function, a sequence's NEXTVAL, or a write inside it): not allowed on this read-only replica", kind)
	}
	return fmt.Sprintf("%s statements are not allowed: this is a read-only replica", kind)
}

// checkStatement checks one analysed statement against g. rewrite is
// true when the statement reads masked columns, stars over restricted
// tables or catalog tables, and must go through Rewrite.
func (p *Policy) checkStatement(g *grants, id *Identity, db string, st *sqlscope.Statement) (rewrite bool, err error) {
	if st.Locking {
		return false, &DeniedError{Rule: RuleReadOnly, Class: ClassStatement, Msg: "locking reads (FOR UPDATE / LOCK IN SHARE MODE) are not allowed"}
	}
	// SET GLOBAL clears ReadOnly; checkSetVar below says why it is refused.
	if !readOnlyKinds[st.Kind] || !st.ReadOnly && st.Kind != sqlscope.KindSet {
		return false, &DeniedError{Rule: RuleReadOnly, Class: ClassStatement, Msg: readOnlyRefusal(st)}
	}
	if !g.kinds[st.Kind] {
		return false, &DeniedError{Rule: RuleStatementKind, Class: ClassStatement,
			Msg: fmt.Sprintf("%s is not among your statement kinds", strings.ToUpper(string(st.Kind)))}
	}
	if st.Into {
		return false, &DeniedError{Rule: RuleReadOnly, Class: ClassStatement, Msg: "SELECT ... INTO is not allowed"}
	}
	if st.Kind == sqlscope.KindShow && !allowedShows[st.ShowWhat] {
		return false, &DeniedError{Rule: RuleStatementKind, Class: ClassStatement,
			Msg: fmt.Sprintf("SHOW %s is not allowed", strings.ToUpper(st.ShowWhat))}
	}
	for _, f := range st.Functions {
		if dangerousFunctions[f] {
			return false, &DeniedError{Rule: RuleFunctions, Class: ClassFunction, Msg: fmt.Sprintf("function %s() is not allowed", f)}
		}
		if accountFunctions[f] {
			rewrite = true
		}
	}
	for _, v := range st.SetVars {
		if err := checkSetVar(v); err != nil {
			return false, err
		}
	}
	if st.Inner != nil {
		if _, err := p.checkStatement(g, id, db, st.Inner); err != nil {
			return false, err
		}
	}
	schemas := st.Schemas
	if st.Kind == sqlscope.KindShow && len(schemas) == 0 && schemaShows[st.ShowWhat] {
		// SHOW TABLES without FROM lists the current database.
		schemas = []string{strings.ToLower(db)}
	}
	for _, s := range schemas {
		if err := g.checkSchema(id, s); err != nil {
			return false, err
		}
	}
	for _, t := range st.Tables {
		if err := g.checkTable(id, t); err != nil {
			return false, err
		}
		if t.Schema == "information_schema" {
			if st.Kind == sqlscope.KindSelect {
				rewrite = true
			} else if _, ok := catalogColumns[t.Name]; ok {
				// EXPLAIN or DESCRIBE of a catalog table shows its shape,
				// which is public; its rows stay filtered.
			}
		}
	}
	for i, c := range st.Columns {
		if rid := g.columnDeniedAny(st, c); rid != "" {
			clause := "field list"
			if i < len(st.Clauses) {
				clause = st.Clauses[i]
			}
			return false, &DeniedError{Rule: rid, Class: ClassColumn, Hidden: true, Object: c.Name, Clause: clause,
				Msg: fmt.Sprintf("unknown column %s", c.Name)}
		}
		if g.columnMask(st, c) != nil {
			rewrite = true
		}
	}
	for _, t := range st.Stars {
		if g.restricted(t) {
			rewrite = true
		}
	}
	for _, h := range st.IndexHints {
		if rid := g.indexHidden(h.Table, h.Index); rid != "" {
			return false, &DeniedError{Rule: rid, Class: ClassIndex, Hidden: true, Object: h.Index,
				Msg: fmt.Sprintf("unknown index %s", h.Index)}
		}
	}

	if rewrite && st.Kind != sqlscope.KindSelect && st.Kind != sqlscope.KindSet && st.Kind != sqlscope.KindDo {
		// EXPLAIN, DESCRIBE and SHOW of restricted objects show no
		// values; only SELECT results carry masked data.
		rewrite = false
		if st.Kind == sqlscope.KindExplain && st.Inner != nil && st.Inner.Kind == sqlscope.KindSelect {
			for _, c := range st.Inner.Columns {
				if m := g.columnMask(st.Inner, c); m != nil {
					// EXPLAIN of a predicate on a masked column reveals
					// no value, but keep one rule for every use.
					return false, &DeniedError{Rule: m.rule, Class: ClassColumn,
						Msg: fmt.Sprintf("column %s is masked; EXPLAIN statements that use it are not allowed", c.Name)}
				}
			}
		}
	}
	return rewrite, nil
}

// asciiOnly refuses a statement with bytes above 0x7f in a session whose
// client character set is the single-byte cs.
func asciiOnly(cs string) error {
	return &DeniedError{Rule: RuleCharset, Class: ClassStatement,
		Msg: fmt.Sprintf("with the %s character set, statements must be plain ASCII: the server reads bytes above 0x7F by %s's rules and rrproxy's check by UTF-8's, so the two could see different SQL; connect with the utf8mb4 character set (for example charset=utf8mb4 in the driver) to send other characters", cs, cs)}
}

// isASCII reports whether s has no byte above 0x7f.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
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
	switch name {
	case "sql_quote_show_create":
		// SHOW CREATE TABLE is filtered by its quoted identifiers; with
		// quoting off a withheld column's line would go through.
		if val := strings.ToLower(strings.Trim(v.Value, "'\"` ")); !v.Literal || val != "1" && val != "on" {
			return &DeniedError{Rule: RuleVariables, Class: ClassVariable,
				Msg: "sql_quote_show_create may only be set to 1 (SHOW CREATE TABLE is filtered by its quoted names)"}
		}
	case "character_set_results", "character_set_connection", "collation_connection":
		// Metadata filters and pseudonyms compare and hash result bytes
		// as UTF-8 (or a single-byte superset); UTF-16/32 results would
		// slip names past them. NULL (no conversion) and DEFAULT keep
		// the stored bytes.
		val := strings.ToLower(strings.Trim(v.Value, "'\"` "))
		if name == "collation_connection" {
			val, _, _ = strings.Cut(val, "_")
		}
		if !v.Literal || (val != "null" && val != "default" && sqlscope.CharsetAffectsLexing(val)) {
			return &DeniedError{Rule: RuleVariables, Class: ClassVariable,
				Msg: fmt.Sprintf("%s must be utf8mb4, utf8mb3, latin1, ascii, binary or NULL, given as a literal", name)}
		}
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

// appliesTo reports whether rule r applies to identity id.
func (r *rule) appliesTo(id *Identity) bool {
	if r.toAll || (id.Account != "" && r.toUsers[id.Account]) {
		return true
	}
	for _, g := range id.Groups {
		if r.toGroups[g] {
			return true
		}
	}
	return false
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

// KillTarget recognises KILL [CONNECTION | QUERY] id, which clients send
// on a second connection to cancel a running statement (JDBC
// Statement.cancel(), mycli's Ctrl-C). The proxy answers it itself, for
// the person's own sessions only; every other statement is decided by
// CheckQuery, which refuses KILL.
func KillTarget(sql string) (id uint64, queryOnly, ok bool) {
	if !containsFold(sql, "kill") {
		return 0, false, false
	}
	res, err := sqlscope.Analyze(sql, "")
	if err != nil || len(res.Statements) != 1 {
		return 0, false, false
	}
	st := res.Statements[0]
	if st.Kind != sqlscope.KindKill || st.KillID == 0 {
		return 0, false, false
	}
	return st.KillID, st.KillQuery, true
}

// containsFold reports whether s contains the lower-case ASCII word w in
// any case, without the copy strings.ToLower would make: KillTarget
// asks it of every statement.
// MayCarryPassword reports whether a statement names PASSWORD or
// IDENTIFIED (ASCII case folded), as every statement that sets or
// creates a password does: the proxy records such a statement only in
// its normalised shape, and never quotes it in an error. A column called
// password loses only its statement's literals in the audit record. A
// URL with user information (FEDERATED's CONNECTION='mysql://user:pw@host')
// counts too.
func MayCarryPassword(sql string) bool {
	if containsFold(sql, "password") || containsFold(sql, "identified") {
		return true
	}
	if i := strings.Index(sql, "://"); i >= 0 {
		return strings.Contains(sql[i:], "@")
	}
	return false
}

func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		k := 0
		for k < len(w) && s[i+k]|0x20 == w[k] {
			k++
		}
		if k == len(w) {
			return true
		}
	}
	return false
}

// SingleByteCharset reports whether cs is a single-byte client character
// set rrproxy accepts (latin1, binary, ascii), in which a session may
// only send ASCII statements (Session.SingleByteCharset).
func SingleByteCharset(cs string) bool { return sqlscope.SingleByteCharset(cs) }

// appendColumns adds the columns st reads or names to cols, for the
// audit log (Decision.Columns), each once.
func appendColumns(cols []string, st *sqlscope.Statement) []string {
	add := func(c string) {
		if !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	for _, c := range st.Columns {
		add(c.String())
	}
	for _, t := range st.Stars {
		add(t.Schema + "." + t.Name + ".*")
	}
	return cols
}
