package authz

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// decisionCache remembers decisions by identity, session state and the
// exact statement text, so a dashboard that repeats its queries pays a
// map lookup instead of a parse. It lives in a Policy: a reload starts
// an empty cache, which is what keys on the policy version would do.
//
// The key is the exact text, or for decisions that cannot depend on
// literal values, the statement's shape (sqlscope.Shape: literals
// replaced), so a dashboard's lookups by id share one decision. Only a
// decision that forwards the text unchanged may be shared that way: a
// rewritten one carries the statement's literals in its SQL.
// Decisions that used the upstream catalog (SELECT * expanded, views
// checked, indexes ignored) expire after CatalogTTL: the catalog may
// change.
type decisionCache struct {
	mu sync.RWMutex
	m  map[string]cachedDecision
}

type cachedDecision struct {
	d       Decision
	expires time.Time // zero: valid for the life of the policy
}

// maxCachedDecisions bounds the cache; when full it starts again empty,
// which costs one parse per statement and never serves a stale entry.
const maxCachedDecisions = 8192

// maxCachedText keeps huge statements (bulk literals) out of the cache.
const maxCachedText = 16 << 10

// Key kinds, so that an exact text can never collide with a shape.
const (
	keyText  byte = 2
	keyShape byte = 3
)

func decisionKey(id *Identity, s Session, kind byte, sql string) string {
	if len(sql) > maxCachedText {
		return ""
	}
	var b strings.Builder
	b.Grow(len(sql) + len(id.Source) + len(id.Account) + len(id.User) + len(s.DB) + len(s.SQLMode) + 32)
	// Source and Account first: an SSO user may share a local account's
	// name but never its decisions.
	b.WriteString(id.Source)
	b.WriteByte(0)
	b.WriteString(id.Account)
	b.WriteByte(0)
	b.WriteString(id.User)
	for _, g := range id.Groups {
		b.WriteByte(0)
		b.WriteString(g)
	}
	b.WriteByte(1)
	b.WriteString(s.DB)
	b.WriteByte(1)
	b.WriteString(s.SQLMode)
	b.WriteByte(1)
	b.WriteString(strconv.FormatBool(s.MultiStatements))
	b.WriteString(strconv.FormatBool(s.Prepared))
	b.WriteByte(kind)
	b.WriteString(sql)
	return b.String()
}

func (c *decisionCache) get(key string) (Decision, bool) {
	if key == "" {
		return Decision{}, false
	}
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || (!e.expires.IsZero() && time.Now().After(e.expires)) {
		return Decision{}, false
	}
	return e.d, true
}

func (c *decisionCache) put(key string, d Decision, ttl time.Duration) {
	if key == "" {
		return
	}
	e := cachedDecision{d: d}
	if ttl > 0 {
		e.expires = time.Now().Add(ttl)
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedDecisions {
		c.m = make(map[string]cachedDecision, 256)
	}
	c.m[key] = e
	c.mu.Unlock()
}
