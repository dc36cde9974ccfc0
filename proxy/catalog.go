package proxy

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// catalogTTL is how long a table's column list is trusted. Expanding
// SELECT * from a stale list is safe (it names columns explicitly and
// never a withheld one); at worst a new column is missing for a minute.
const catalogTTL = time.Minute

// catalogCache holds upstream column lists, shared by all sessions.
type catalogCache struct {
	mu sync.Mutex
	m  map[string]catalogEntry
}

type catalogEntry struct {
	cols []string
	at   time.Time
}

// sessionCatalog answers authz.Catalog from the cache, or by asking the
// session's own upstream connection, which is idle while a statement is
// being checked.
type sessionCatalog struct{ s *session }

func (s *session) catalog() sessionCatalog { return sessionCatalog{s} }

func (c sessionCatalog) Columns(schema, table string) ([]string, error) {
	cc := &c.s.srv.catalog
	key := schema + "." + table
	cc.mu.Lock()
	e, ok := cc.m[key]
	cc.mu.Unlock()
	if ok && time.Since(e.at) < catalogTTL {
		return e.cols, nil
	}
	if c.s.up == nil {
		return nil, fmt.Errorf("no upstream connection")
	}
	cols, err := c.s.up.queryStrings(fmt.Sprintf(
		"SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
		quote(schema), quote(table)))
	if err != nil {
		c.s.upOK = false
		return nil, err
	}
	cc.mu.Lock()
	if cc.m == nil || len(cc.m) > 10000 {
		cc.m = map[string]catalogEntry{}
	}
	cc.m[key] = catalogEntry{cols: cols, at: time.Now()}
	cc.mu.Unlock()
	return cols, nil
}

func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// queryStrings runs a query whose result is one column of text and
// returns its values (NULL as "").
func (c *upConn) queryStrings(q string) ([]string, error) {
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
	if r.err != nil || n != 1 {
		return nil, fmt.Errorf("%w: catalog query returned %d columns", errProtocol, n)
	}
	// The column definition, then EOF.
	for range 2 {
		if _, err := c.w.readPacket(nil, 1<<20); err != nil {
			return nil, err
		}
	}
	var out []string
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
		vals, err := splitTextRow(nil, p, 1)
		if err != nil {
			return nil, err
		}
		out = append(out, string(vals[0]))
	}
}
