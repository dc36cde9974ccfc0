package proxy

import (
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rrproxy/rrproxy/authz"
)

// catalogTTL is how long a table's column list is trusted. Expanding
// SELECT * from a stale list is safe (it names columns explicitly and
// never a withheld one); at worst a new column is missing for a minute.
const catalogTTL = authz.CatalogTTL

// catalogCache holds upstream column lists, shared by all sessions.
type catalogCache struct {
	mu sync.Mutex
	m  map[string]catalogEntry
}

type catalogEntry struct {
	rows [][]string
	at   time.Time
}

// sessionCatalog answers authz.Catalog from the cache, or by asking the
// session's own upstream connection, which is idle while a statement is
// being checked.
type sessionCatalog struct{ s *session }

func (s *session) catalog() sessionCatalog { return sessionCatalog{s} }

func (c sessionCatalog) Columns(schema, table string) ([]string, error) {
	// The query runs on the user's own upstream session, under the
	// session variables they chose, and its answer is cached for every
	// session, so it must not depend on them: the explicit LIMIT
	// overrides sql_select_limit, names go in as utf8mb4 whatever
	// character_set_connection is, and come back as binary, never
	// converted to character_set_results (with ascii, a definition's
	// non-ASCII names arrived as '?' and no longer matched the policy).
	// Names that are still not plain UTF-8 are refused, not cached.
	rows, err := c.cachedFold(catalogKey("columns", schema, table), schema, table,
		"CAST(COLUMN_NAME AS BINARY) FROM information_schema.COLUMNS", "ORDINAL_POSITION", maxTableColumns, 1, func(rows [][]string) error {
			for _, r := range rows {
				if !plainName(r[0]) {
					return fmt.Errorf("column names of %s.%s did not arrive as UTF-8 (session character_set_results?)", schema, table)
				}
			}
			return nil
		})
	return firstColumn(rows), err
}

// cachedFold asks "SELECT <what> WHERE <schema.table> ORDER BY <order>
// LIMIT <limit>" about one table through cached. The analyser gives
// names in lower case; on a server with lower_case_table_names=0 (the
// default on Linux, and Aurora's) a table or view named ArmByVisit is
// not found under armbyvisit, and a view check that finds nothing lets
// the view through as a table. So when the exact name finds nothing,
// the names are compared in lower case (a slower scan of the catalog,
// cached like any answer), and more than one object answering to the
// name is refused: the analyser cannot tell which one the server will
// read.
func (c sessionCatalog) cachedFold(key, schema, table, what, order string, limit, ncols int, check func([][]string) error) ([][]string, error) {
	orderBy := ""
	if order != "" {
		orderBy = " ORDER BY " + order
	}
	rows, err := c.cached(key, fmt.Sprintf("SELECT %s WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s%s LIMIT %d",
		what, catalogLiteral(schema), catalogLiteral(table), orderBy, limit), ncols, check)
	if err != nil || len(rows) > 0 {
		return rows, err
	}
	if order != "" {
		orderBy = ", " + order
	}
	folded, err := c.cached(key+"\x00fold", fmt.Sprintf(
		"SELECT CAST(TABLE_SCHEMA AS BINARY), CAST(TABLE_NAME AS BINARY), %s WHERE LOWER(TABLE_SCHEMA) = %s AND LOWER(TABLE_NAME) = %s ORDER BY TABLE_SCHEMA, TABLE_NAME%s LIMIT %d",
		what, catalogLiteral(schema), catalogLiteral(table), orderBy, 2*limit), ncols+2, nil)
	if err != nil || len(folded) == 0 {
		return nil, err
	}
	out := make([][]string, 0, len(folded))
	for _, r := range folded {
		if r[0] != folded[0][0] || r[1] != folded[0][1] {
			return nil, fmt.Errorf("more than one object is named %s.%s up to case (%s.%s, %s.%s): which one the server reads cannot be told",
				schema, table, folded[0][0], folded[0][1], r[0], r[1])
		}
		out = append(out, r[2:])
	}
	if check != nil {
		if err := check(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cached answers a catalog query of ncols text columns from the cache,
// or runs it on the session's upstream connection and caches what check
// (if any) accepts.
func (c sessionCatalog) cached(key, query string, ncols int, check func([][]string) error) ([][]string, error) {
	cc := &c.s.srv.catalog
	cc.mu.Lock()
	e, ok := cc.m[key]
	cc.mu.Unlock()
	if ok && time.Since(e.at) < catalogTTL {
		return e.rows, nil
	}
	if c.s.up == nil {
		return nil, fmt.Errorf("no upstream connection")
	}
	c.s.upUsed = true
	rows, err := c.s.up.queryRows(query, ncols)
	if err != nil {
		c.s.upOK = false
		return nil, err
	}
	if check != nil {
		if err := check(rows); err != nil {
			return nil, err
		}
	}
	cc.mu.Lock()
	if cc.m == nil || len(cc.m) > 10000 {
		cc.m = map[string]catalogEntry{}
	}
	cc.m[key] = catalogEntry{rows: rows, at: time.Now()}
	cc.mu.Unlock()
	return rows, nil
}

func firstColumn(rows [][]string) []string {
	if rows == nil {
		return nil
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r[0]
	}
	return out
}

// maxTableColumns is more columns than MySQL or MariaDB allow in a table.
const maxTableColumns = 4096

// plainName reports whether a catalog name is UTF-8 without control
// characters, as every name is when character_set_results is UTF-8.
func plainName(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// catalogKey names a cached catalog answer. NUL, which no MySQL name
// holds, separates the parts: with a dot, `a.b`.c and a.`b.c` shared
// one key, and one's answer was given for the other.
func catalogKey(kind, schema, name string) string {
	return kind + "\x00" + schema + "\x00" + name
}

// catalogLiteral is s as a utf8mb4 string literal whose meaning does not
// depend on the session's character_set_connection (a hex literal with
// an introducer): under SET NAMES latin1 a quoted UTF-8 name matched
// nothing, and a view looked like a table.
func catalogLiteral(s string) string {
	return "_utf8mb4 X'" + hex.EncodeToString([]byte(s)) + "'"
}

// queryRows runs a query whose result has ncols columns of text.
func (c *upConn) queryRows(q string, ncols int) ([][]string, error) {
	c.w.seq = 0
	if err := c.w.writePacket(append([]byte{mysql.COM_QUERY}, q...)); err != nil {
		return nil, err
	}
	if err := c.w.flush(); err != nil {
		return nil, err
	}
	p, err := c.w.readPacket(nil, 1<<20)
	if err != nil {
		return nil, err
	}
	if len(p) > 0 && p[0] == mysql.ERR_HEADER {
		code, _, msg := parseErr(p)
		return nil, fmt.Errorf("upstream error %d: %s", code, msg)
	}
	r := reader{b: p}
	n := r.lenencInt()
	if r.err != nil || n != uint64(ncols) {
		return nil, fmt.Errorf("%w: catalog query returned %d columns", errProtocol, n)
	}
	// The column definitions, then EOF.
	for range ncols + 1 {
		if _, err := c.w.readPacket(nil, 1<<20); err != nil {
			return nil, err
		}
	}
	var out [][]string
	for {
		p, err := c.w.readPacket(nil, 1<<20)
		if err != nil {
			return nil, err
		}
		if len(p) > 0 && p[0] == mysql.ERR_HEADER {
			code, _, msg := parseErr(p)
			return nil, fmt.Errorf("upstream error %d: %s", code, msg)
		}
		if isEOF(p, len(p)) {
			return out, nil
		}
		vals, err := splitTextRow(nil, p, ncols)
		if err != nil {
			return nil, err
		}
		row := make([]string, ncols)
		for i, v := range vals {
			row[i] = string(v)
		}
		out = append(out, row)
	}
}

// Indexes lists t's indexes, name to columns, lower-case
// (authz.IndexCatalog), from the same cache.
func (c sessionCatalog) Indexes(schema, table string) (map[string][]string, error) {
	rows, err := c.cachedFold(catalogKey("index", schema, table), schema, table,
		"CAST(INDEX_NAME AS BINARY), CAST(COLUMN_NAME AS BINARY) FROM information_schema.STATISTICS", "INDEX_NAME, SEQ_IN_INDEX", maxTableColumns, 2, func(rows [][]string) error {
			for _, r := range rows {
				if !plainName(r[0]) || !plainName(r[1]) {
					return fmt.Errorf("index names of %s.%s did not arrive as UTF-8", schema, table)
				}
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	idx := map[string][]string{}
	for _, r := range rows {
		name := strings.ToLower(r[0])
		idx[name] = append(idx[name], strings.ToLower(r[1]))
	}
	return idx, nil
}

// ViewDefinition says whether schema.table is a view and gives its
// definition (authz.ViewCatalog), from the same cache. The service
// account needs SHOW VIEW on the schemas it reads, or definitions come
// back empty and every view is refused.
func (c sessionCatalog) ViewDefinition(schema, table string) (string, bool, error) {
	defs, err := c.cachedFold(catalogKey("view", schema, table), schema, table,
		"CAST(VIEW_DEFINITION AS BINARY) FROM information_schema.VIEWS", "", 1, 1, func(rows [][]string) error {
			for _, r := range rows {
				if !utf8.ValidString(r[0]) {
					return fmt.Errorf("the definition of view %s.%s is not UTF-8", schema, table)
				}
			}
			return nil
		})
	if err != nil || len(defs) == 0 {
		return "", false, err
	}
	return defs[0][0], true, nil
}

// IsStoredFunction reports whether schema has a stored function named
// name (authz.RoutineCatalog), from the same cache.
func (c sessionCatalog) IsStoredFunction(schema, name string) (bool, error) {
	found, err := c.cached(catalogKey("function", schema, name), fmt.Sprintf(
		"SELECT CAST(ROUTINE_NAME AS BINARY) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s AND ROUTINE_NAME = %s AND ROUTINE_TYPE = 'FUNCTION' LIMIT 1",
		catalogLiteral(schema), catalogLiteral(name)), 1, nil)
	return len(found) > 0, err
}
