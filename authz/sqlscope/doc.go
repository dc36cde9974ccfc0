// Package sqlscope turns SQL text into a conservative description of what
// each statement touches: its kind, whether it is read-only, and every
// table, schema, column, function and system variable it names. authz
// checks that description against the policy before the proxy forwards a
// statement to the upstream MySQL or MariaDB replica.
//
// It is the only package of rrproxy that imports the TiDB parser
// (github.com/pingcap/tidb/pkg/parser).
//
// # Fail-closed contract
//
// Analyze either describes every statement of the text completely or
// says so:
//
//   - Text the parser rejects, empty text, and text whose lexing could
//     differ between the TiDB parser and the server (see below) return an
//     error wrapping ErrUnparseable and no Result. The message is short
//     and safe to show the user.
//   - A statement that parses but contains anything the analyser does not
//     model (an unknown statement type, a TiDB-only clause such as AS OF
//     or TABLESAMPLE, a SHOW variant MySQL lacks) is returned with Kind
//     "other" and ReadOnly false, its Unknown field saying why. Policy
//     denies "other".
//   - The walk is an ast.Visitor whose Enter lists the node types it
//     knows; any other type makes the statement "other". After the walk,
//     a reflection pass over the whole tree checks that the visitor was
//     shown every node: several parser Accept methods skip children
//     (SelectField's WildCard, DefaultExpr's column, ShowStmt's
//     procedure), and a parser upgrade could add one that hides a
//     subquery. A node the visitor never saw makes the statement "other".
//   - A panic inside the analysis of a statement yields "other" too.
//
// Over-reporting is the chosen failure: a name that may be a table is
// reported as one, and a column whose table cannot be pinned down is
// reported with an empty Table, which authz must read as "any table of
// this statement".
//
// # What is reported
//
// Tables are base tables (or views: the text cannot tell them apart)
// referenced anywhere: FROM and JOIN, subqueries, derived tables, CTE
// bodies, TABLE t, NEXT VALUE FOR seq, SHOW COLUMNS/INDEX/CREATE TABLE,
// DESCRIBE, and the targets of writes and DDL. CTE names and derived
// table aliases are not tables; the tables their bodies read are. A name
// counts as a CTE only where MySQL and MariaDB both resolve it to one.
// information_schema, mysql, performance_schema and sys appear like any
// other schema. An unqualified table takes the current database; with
// none, its Schema is "" (MySQL rejects the statement; authz should too).
// Within a multi-statement text a USE changes the current database for
// the statements after it.
//
// Columns resolve aliases to base tables (SELECT v.arm FROM study.visits
// v gives study.visits.arm). An unqualified column is pinned to a table
// only when exactly one base table is visible to it, counting enclosing
// query blocks, because MySQL resolves a name a subquery's own tables
// lack against the outer query. References through derived tables or
// CTEs, ambiguous ones, and result columns of a UNION have an empty
// Table. Names in ORDER BY, GROUP BY and HAVING that are select-list
// aliases are reported as columns all the same (over-reporting). Stars
// lists tables read whole: SELECT *, t.*, TABLE t, and both
// sides of a NATURAL JOIN (the compared columns are not in the text).
//
// Names are lower-cased. Column names are case-insensitive in MySQL.
// Table and schema names are case-sensitive on Linux unless the server
// runs with lower_case_table_names=1, so study.Visits and study.visits
// are both reported as study.visits: deployments must run with
// lower_case_table_names=1, or have no two tables whose names differ only
// in case, and policy must compare names case-insensitively.
//
// ReadOnly is true only for kinds that cannot change data or state
// beyond the session (SELECT, SHOW, DESCRIBE, EXPLAIN of a read-only
// statement, USE, session SET, transaction control, DO, HELP). It is
// cleared by SELECT ... INTO OUTFILE, locking reads (their row locks can
// stall replication), SET GLOBAL, schema-qualified function calls and
// builtins with server-wide effects (GET_LOCK, NEXTVAL...). The text does
// not say whether an unqualified f() is a builtin or a stored function
// that writes, so authz must also allow-list Functions.
//
// # Parser-differential risks
//
// The statement is analysed by TiDB's parser and executed by MySQL or
// MariaDB. Wherever the two read the same bytes differently, a user could
// show the analyser one statement and run another. The known seams, and
// what this package does about each:
//
//   - Executable comments. MariaDB runs /*M! ... */ and /*M!NNNNNN ... */;
//     TiDB skips them: any "/*M!" in the text, even inside a string, is
//     rejected. TiDB runs /*T! ... */ and servers skip it: rejected. MySQL
//     /*! ... */ and /*!NNNNN ... */ are parsed as SQL by TiDB regardless
//     of the version, MySQL runs them only up to its own version, and
//     MariaDB skips versions 50700-99999; so only unversioned comments and
//     five-digit versions below 50700 are accepted, and any comment after
//     an executable comment is rejected (nesting differs).
//   - Optimizer hints. MySQL scans /*+ ... */ with a hint lexer that knows
//     quoted names, so a quoted "*/" does not end it there; TiDB and
//     MariaDB end it at the first "*/". Hints containing quotes are
//     rejected.
//   - Control characters. MySQL starts a "--" comment before any control
//     character, TiDB only before white space; old servers stopped at NUL.
//     Bytes below 0x20 other than tab, CR and LF, and DEL, are rejected.
//   - Character sets. The text is parsed as UTF-8 and invalid UTF-8 is
//     rejected. A client character set such as GBK, Big5, SJIS or CP932
//     lets 0x5C ('\') be the second byte of a character and so hide a
//     quote from a UTF-8 reader. The proxy must keep the session's client
//     character set one for which CharsetAffectsLexing is false (utf8mb4,
//     utf8mb3, and the single-byte latin1, binary and ascii): refuse other
//     handshake collations, and refuse SET NAMES, SET CHARACTER SET and
//     SET character_set_client to anything else. In a single-byte set
//     bytes 0x80-0xFF do not mean what they mean in UTF-8 (latin1 reads
//     0xA0 as a space, so UTF-8's no-break space ends a name for the
//     server and not for the analyser): a session that is, or may be, in
//     one may send only ASCII (authz.Session.SingleByteCharset;
//     Statement.ClientCharsetSet says when a statement puts it there).
//   - sql_mode. ANSI_QUOTES makes "x" an identifier instead of a string,
//     NO_BACKSLASH_ESCAPES makes '\' ordinary inside strings, and
//     PIPES_AS_CONCAT, HIGH_NOT_PRECEDENCE and IGNORE_SPACE (all part of
//     ANSI) change how expressions and function names parse; MariaDB's
//     ORACLE, MSSQL, DB2, POSTGRESQL and MAXDB modes change much more.
//     ModeAffectsLexing reports whether a sql_mode value contains any of
//     these (or any name not known to be harmless). The proxy must not
//     let a session reach such a mode without telling the analyser: it
//     passes the session's sql_mode to AnalyzeMode, which reproduces
//     ANSI_QUOTES, NO_BACKSLASH_ESCAPES, PIPES_AS_CONCAT,
//     HIGH_NOT_PRECEDENCE, IGNORE_SPACE and ANSI and rejects every
//     other mode that affects lexing. It must learn the upstream's initial
//     @@session.sql_mode at connect (the global default may include
//     ANSI_QUOTES), and after a SET of sql_mode whose value is not a
//     literal (SetVar.Literal false) it must re-read it or refuse the SET.
//     SetVar.AffectsLexing answers, for one assignment, whether any of this
//     applies (sql_mode, NAMES, CHARACTER SET, character_set_client).
//     PIPES_AS_CONCAT and HIGH_NOT_PRECEDENCE never change which tables or
//     columns are read, but they are reported as affecting lexing anyway:
//     the cost of passing them on is nil. Under ANSI_QUOTES without
//     NO_BACKSLASH_ESCAPES, TiDB lexes "..." as a string (honouring '\')
//     before relabelling it an identifier, which the servers do not, so
//     such text containing '\' is rejected. Inside one text, a SET of
//     sql_mode that changes any of these before a later statement is
//     rejected.
//   - Grammar. TiDB's grammar is not MySQL's or MariaDB's. MariaDB-only
//     syntax (SET STATEMENT ... FOR, EXECUTE IMMEDIATE, HANDLER, FOR
//     SYSTEM_TIME, JSON_TABLE, SELECT ... INTO @var or DUMPFILE, SHOW
//     CREATE TRIGGER/FUNCTION) does not parse and is rejected. TiDB-only
//     syntax becomes "other". A statement both grammars accept but read
//     differently is a residual risk; the upstream service account should
//     hold no more privileges than the union of all policies, so that this
//     package is not the only line of defence.
//
// # Concurrency
//
// Analyze, AnalyzeMode and Normalize are safe for concurrent use; parsers
// are pooled.
package sqlscope
