package authz

import (
	"strconv"
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

// appendDecisionKey appends the cache key of sql to dst; nil if the
// text is too long to cache. CheckQuery builds keys into a pooled buffer
// and looks them up without making a string (get): a cache hit, the
// common case, allocates nothing.
func appendDecisionKey(dst []byte, id *Identity, s Session, kind byte, sql string) []byte {
	if len(sql) > maxCachedText {
		return nil
	}
	// Source and Account first: an SSO user may share a local account's
	// name but never its decisions.
	b := append(dst, id.Source...)
	b = append(b, 0)
	b = append(b, id.Account...)
	b = append(b, 0)
	b = append(b, id.User...)
	for _, g := range id.Groups {
		b = append(b, 0)
		b = append(b, g...)
	}
	b = append(b, 1)
	b = append(b, s.DB...)
	b = append(b, 1)
	b = append(b, s.SQLMode...)
	b = append(b, 1)
	b = strconv.AppendBool(b, s.MultiStatements)
	b = strconv.AppendBool(b, s.Prepared)
	b = append(b, kind)
	return append(b, sql...)
}

// keyBufs recycles the buffers CheckQuery builds keys in.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (c *decisionCache) get(key []byte) (Decision, bool) {
	if len(key) == 0 {
		return Decision{}, false
	}
	c.mu.RLock()
	e, ok := c.m[string(key)] // no string is made for a lookup
	c.mu.RUnlock()
	if !ok || (!e.expires.IsZero() && time.Now().After(e.expires)) {
		return Decision{}, false
	}
	return e.d, true
}

func (c *decisionCache) put(key []byte, d Decision, ttl time.Duration) {
	if len(key) == 0 {
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
	c.m[string(key)] = e
	c.mu.Unlock()
}
