package authz

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rrproxy/rrproxy/authz/sqlscope"
	"github.com/rrproxy/rrproxy/internal/strictyaml"
)

// File is policy.yaml as the administrator writes it.
type File struct {
	Users  map[string]UserSpec  `yaml:"users"`
	Groups map[string]GroupSpec `yaml:"groups"`
	Rules  []RuleSpec           `yaml:"rules"`
	// PseudonymKey is the HMAC key for `with: pseudonym` masks, read from
	// a file (relative to policy.yaml) or an environment variable.
	PseudonymKey *KeySource `yaml:"pseudonym_key"`
	// IdentityProviders are the OIDC issuers whose users may sign in
	// (authz/sso.go).
	IdentityProviders map[string]ProviderSpec `yaml:"identity_providers"`
}

// KeySource names where a secret lives; the value never sits in
// policy.yaml.
type KeySource struct {
	FromFile string `yaml:"from_file"`
	FromEnv  string `yaml:"from_env"`
}

// UserSpec is a local account.
type UserSpec struct {
	// Password is an argon2id PHC hash from `rrproxy passwd`.
	Password string `yaml:"password"`
	// NativePassword opts the account into mysql_native_password for old
	// clients: "*" + hex(SHA1(SHA1(pw))). Weaker: that hash is a
	// password-equivalent for this protocol, so a leaked policy.yaml lets
	// anyone log in as this user. Leave empty unless a client needs it.
	NativePassword string `yaml:"native_password"`
	// SSO names the identity provider this person signs in with, instead
	// of a password: listing an SSO user gives them rules of their own
	// (user:NAME), limits and groups beyond those their IdP groups map to.
	SSO         string     `yaml:"sso"`
	Groups      []string   `yaml:"groups"`
	Disabled    bool       `yaml:"disabled"`
	Description string     `yaml:"description"`
	Statements  []string   `yaml:"statements"`
	Limits      *LimitSpec `yaml:"limits"`
}

// GroupSpec documents a group and may carry statement kinds and limits
// for its members; grants reach it through rules.
type GroupSpec struct {
	Description string     `yaml:"description"`
	Statements  []string   `yaml:"statements"`
	Limits      *LimitSpec `yaml:"limits"`
}

// LimitSpec bounds what one person can cost the shared replica. Zero
// or absent means no limit.
type LimitSpec struct {
	MaxRows          int64    `yaml:"max_rows"`
	MaxExecutionTime string   `yaml:"max_execution_time"`
	MaxSessions      int      `yaml:"max_sessions"`
	Networks         []string `yaml:"networks"`
}

// RuleSpec grants or withholds access. Each rule has an id that denials
// quote, so a user can tell an administrator exactly what stopped them.
type RuleSpec struct {
	ID          string `yaml:"id"`
	Description string `yaml:"description"`
	// To lists who the rule applies to: "user:NAME", "group:NAME" or "*".
	To []string `yaml:"to"`
	// Enforce false puts the rule in shadow mode: what it would change
	// is logged, nothing is enforced. Absent means true.
	Enforce *bool `yaml:"enforce"`
	// Allow lists tables as "schema.table"; either part may be a glob
	// with * and ? ("study.*", "study.visit?").
	Allow []string `yaml:"allow"`
	// Deny lists tables the same way. Deny wins over any allow: a denied
	// table behaves as if it did not exist.
	Deny []string `yaml:"deny"`
	// DenyColumns lists "schema.table.column" (globs allowed in schema and
	// table). A denied column behaves as if it did not exist: any use
	// is refused, SELECT * leaves it out, metadata hides it.
	DenyColumns []string `yaml:"deny_columns"`
	// MaskColumns return a column's values masked; any other use of it
	// is refused so that no predicate can probe the real values.
	MaskColumns []MaskSpec `yaml:"mask_columns"`
}

// MaskSpec masks one column. `with: null` may be written bare (a YAML
// null) or quoted.
type MaskSpec struct {
	Column string  `yaml:"column"`
	With   string  `yaml:"with"`
	Value  *string `yaml:"value"`
}

// Mask kinds.
const (
	MaskNull      = "null"
	MaskFixed     = "fixed"
	MaskPseudonym = "pseudonym"
)

// Statement kinds an administrator may grant. "transaction" covers
// BEGIN, COMMIT, ROLLBACK and savepoints. Nothing that writes can be
// granted: rrproxy fronts a read-only replica.
var grantableKinds = map[string][]sqlscope.Kind{
	"select":      {sqlscope.KindSelect},
	"show":        {sqlscope.KindShow},
	"describe":    {sqlscope.KindDescribe},
	"explain":     {sqlscope.KindExplain},
	"use":         {sqlscope.KindUse},
	"set":         {sqlscope.KindSet},
	"transaction": {sqlscope.KindBegin, sqlscope.KindCommit, sqlscope.KindRollback, sqlscope.KindSavepoint, sqlscope.KindRelease},
	"do":          {sqlscope.KindDo},
	"help":        {sqlscope.KindHelp},
}

// Limits are a person's effective limits.
type Limits struct {
	MaxRows          int64
	MaxExecutionTime time.Duration
	MaxSessions      int
	Networks         []netip.Prefix // empty: any network
}

// Policy is a validated, immutable policy. Share it freely; a reload
// builds a new one.
type Policy struct {
	// Version is the SHA-256 of the file bytes (first 16 hex digits); every
	// decision carries it so the audit log says which policy decided.
	Version string
	// File is the path the policy was loaded from.
	File   string
	users  map[string]*account
	groups map[string]*groupDef
	rules  []*rule
	key    []byte // pseudonym HMAC key
	// orderKey keys the order of rows carrying or grouped by pseudonyms
	// (orderKeyOf), derived from key once.
	orderKey string
	// providers are the trusted OIDC issuers, in name order.
	providers []*provider
	shadow    bool // some rule has enforce: false

	grantsCache sync.Map // identity key -> *grants
	decisions   decisionCache
	logins      verifyCache
}

type account struct {
	name     string
	hash     *argonHash
	native   []byte
	groups   []string
	disabled bool
	kinds    []string
	limits   *limitDef
	sso      string // identity provider name; "" for a local account
}

type groupDef struct {
	kinds  []string
	limits *limitDef
}

// limitDef is a parsed LimitSpec; a nil field is "not set here".
type limitDef struct {
	maxRows     int64
	maxTime     time.Duration
	maxSessions int
	networks    []netip.Prefix
}

type rule struct {
	id          string
	enforce     bool
	toAll       bool
	toUsers     map[string]bool
	toGroups    map[string]bool
	allow       []tablePattern
	deny        []tablePattern
	denyColumns []columnPattern
	masks       []maskDef
}

type maskDef struct {
	col   columnPattern
	with  string
	value string
}

type tablePattern struct{ schema, table string }
type columnPattern struct{ schema, table, column string }

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,79}$`)

// Load reads and validates policy.yaml. Every problem is reported, each as
// file:line.
func Load(file string) (*Policy, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	return Parse(file, data)
}

// Parse is Load for bytes already read; file names them in errors and
// locates a relative pseudonym_key.from_file.
func Parse(file string, data []byte) (*Policy, error) {
	var f File
	doc, err := strictyaml.Decode(file, data, &f)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	p := &Policy{Version: hex.EncodeToString(sum[:8]), File: file,
		users: map[string]*account{}, groups: map[string]*groupDef{}}
	p.logins.setTTL(DefaultLoginCacheTTL)
	var errs []error
	bad := func(path []any, format string, args ...any) {
		errs = append(errs, doc.Errorf(path, format, args...))
	}
	P := strictyaml.P

	for _, name := range sortedKeys(f.Groups) {
		g := f.Groups[name]
		at := P("groups", name)
		if !nameRE.MatchString(name) {
			bad(at, "group name %q: use letters, digits and . _ @ + -", name)
		}
		gd := &groupDef{kinds: g.Statements}
		checkKinds(g.Statements, append(at, "statements"), bad)
		gd.limits = parseLimits(g.Limits, append(at, "limits"), bad)
		p.groups[name] = gd
	}
	for _, name := range sortedKeys(f.Users) {
		u := f.Users[name]
		at := P("users", name)
		if !nameRE.MatchString(name) {
			bad(at, "user name %q: use letters, digits and . _ @ + - (at most 80)", name)
		}
		a := &account{name: name, groups: u.Groups, disabled: u.Disabled, kinds: u.Statements, sso: u.SSO}
		switch {
		case u.SSO != "":
			if _, ok := f.IdentityProviders[u.SSO]; !ok {
				bad(append(at, "sso"), "unknown identity provider %q (declare it under identity_providers:)", u.SSO)
			}
			if u.Password != "" || u.NativePassword != "" {
				bad(at, "an SSO user (sso: %s) has no password: remove password/native_password", u.SSO)
			}
		case u.Password == "":
			bad(append(at, "password"), "is required (run `rrproxy passwd` and paste its hash), or sso: PROVIDER for a single sign-on user")
		}
		if u.Password != "" {
			if h, err := parseArgon2id(u.Password); err != nil {
				bad(append(at, "password"), "%v", err)
			} else {
				a.hash = h
			}
		}
		if u.NativePassword != "" {
			if n, err := parseNativeHash(u.NativePassword); err != nil {
				bad(append(at, "native_password"), "%v", err)
			} else {
				a.native = n
			}
		}
		for i, g := range u.Groups {
			if _, ok := f.Groups[g]; !ok {
				bad(append(at, "groups", i), "unknown group %q (declare it under groups:)", g)
			}
		}
		checkKinds(u.Statements, append(at, "statements"), bad)
		a.limits = parseLimits(u.Limits, append(at, "limits"), bad)
		p.users[name] = a
	}

	parseProviders(&f, p, bad, P)

	seen := map[string]int{}
	needKey := -1
	for i, rs := range f.Rules {
		at := P("rules", i)
		r := &rule{id: rs.ID, enforce: rs.Enforce == nil || *rs.Enforce,
			toUsers: map[string]bool{}, toGroups: map[string]bool{}}
		if !r.enforce {
			p.shadow = true
		}
		if !idRE.MatchString(rs.ID) {
			bad(append(at, "id"), "rule id %q: lower-case letters, digits, . _ - (it is quoted to users in denials)", rs.ID)
		} else if j, dup := seen[rs.ID]; dup {
			bad(append(at, "id"), "duplicate rule id %q (also rules[%d])", rs.ID, j)
		} else if builtinRules[rs.ID] {
			bad(append(at, "id"), "rule id %q is reserved for a built-in rule", rs.ID)
		}
		seen[rs.ID] = i
		if len(rs.To) == 0 {
			bad(append(at, "to"), "is required: list user:NAME, group:NAME or \"*\"")
		}
		for j, t := range rs.To {
			switch {
			case t == "*":
				r.toAll = true
			case strings.HasPrefix(t, "user:"):
				n := strings.TrimPrefix(t, "user:")
				if _, ok := f.Users[n]; !ok {
					bad(append(at, "to", j), "unknown user %q", n)
				}
				r.toUsers[n] = true
			case strings.HasPrefix(t, "group:"):
				n := strings.TrimPrefix(t, "group:")
				if _, ok := f.Groups[n]; !ok {
					bad(append(at, "to", j), "unknown group %q", n)
				}
				r.toGroups[n] = true
			default:
				bad(append(at, "to", j), "%q: write user:NAME, group:NAME or \"*\"", t)
			}
		}
		if len(rs.Allow) == 0 && len(rs.Deny) == 0 && len(rs.DenyColumns) == 0 && len(rs.MaskColumns) == 0 {
			bad(at, "rule %q grants and denies nothing: give it allow, deny, deny_columns or mask_columns", rs.ID)
		}
		allowed := map[string]bool{}
		for j, a := range rs.Allow {
			tp, err := parseTablePattern(a)
			if err != nil {
				bad(append(at, "allow", j), "%v", err)
				continue
			}
			allowed[tp.schema+"."+tp.table] = true
			r.allow = append(r.allow, tp)
		}
		for j, a := range rs.Deny {
			tp, err := parseTablePattern(a)
			if err != nil {
				bad(append(at, "deny", j), "%v", err)
				continue
			}
			if allowed[tp.schema+"."+tp.table] {
				bad(append(at, "deny", j), "%q is both allowed and denied by this rule", a)
			}
			r.deny = append(r.deny, tp)
		}
		denied := map[columnPattern]bool{}
		for j, c := range rs.DenyColumns {
			cp, err := parseColumnPattern(c)
			if err != nil {
				bad(append(at, "deny_columns", j), "%v", err)
				continue
			}
			denied[cp] = true
			r.denyColumns = append(r.denyColumns, cp)
		}
		masked := map[columnPattern]bool{}
		for j, m := range rs.MaskColumns {
			mat := append(at, "mask_columns", j)
			cp, err := parseColumnPattern(m.Column)
			if err != nil {
				bad(append(mat, "column"), "%v", err)
				continue
			}
			if denied[cp] {
				bad(append(mat, "column"), "%q is both denied and masked by this rule", m.Column)
			}
			if masked[cp] {
				bad(append(mat, "column"), "%q is masked twice by this rule", m.Column)
			}
			masked[cp] = true
			md := maskDef{col: cp, with: m.With}
			if md.with == "" && doc.Has(append(mat, "with")...) {
				md.with = MaskNull // `with: null`, unquoted, decodes as ""
			}
			switch {
			case md.with == "":
				bad(mat, "with is required: null, fixed or pseudonym")
			case md.with == MaskFixed:
				if m.Value == nil {
					bad(mat, "with: fixed needs a value (the string shown instead)")
				} else {
					md.value = *m.Value
				}
			case md.with == MaskNull || md.with == MaskPseudonym:
				if m.Value != nil {
					bad(append(mat, "value"), "value is only for with: fixed")
				}
				if md.with == MaskPseudonym && needKey < 0 {
					needKey = i
				}
			default:
				bad(append(mat, "with"), "%q: write null, fixed or pseudonym", md.with)
			}
			r.masks = append(r.masks, md)
		}
		p.rules = append(p.rules, r)
	}
	for i, r := range p.rules {
		for j := 0; j < i; j++ {
			if msg := contradicts(p, p.rules[j], r); msg != "" {
				bad(P("rules", i), "rule %q contradicts rule %q: %s", r.id, p.rules[j].id, msg)
			}
		}
	}
	switch {
	case f.PseudonymKey != nil:
		key, err := readKey(file, f.PseudonymKey)
		if err != nil {
			bad(P("pseudonym_key"), "%v", err)
		}
		p.key, p.orderKey = key, orderKeyOf(key)
	case needKey >= 0:
		bad(P("rules", needKey), "a pseudonym mask needs pseudonym_key: {from_file: ...} at the top level")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func checkKinds(kinds []string, at []any, bad func([]any, string, ...any)) {
	for i, k := range kinds {
		if _, ok := grantableKinds[k]; !ok {
			bad(append(append([]any(nil), at...), i), "statement kind %q: use select, show, describe, explain, use, set, transaction, do or help (rrproxy fronts a read-only replica)", k)
		}
	}
}

func parseLimits(l *LimitSpec, at []any, bad func([]any, string, ...any)) *limitDef {
	if l == nil {
		return nil
	}
	d := &limitDef{maxRows: l.MaxRows, maxSessions: l.MaxSessions}
	sub := func(k string) []any { return append(append([]any(nil), at...), k) }
	if l.MaxRows < 0 {
		bad(sub("max_rows"), "must be 0 (no limit) or more")
	}
	if l.MaxSessions < 0 {
		bad(sub("max_sessions"), "must be 0 (no limit) or more")
	}
	if l.MaxExecutionTime != "" {
		t, err := time.ParseDuration(l.MaxExecutionTime)
		if err != nil || t < 0 {
			bad(sub("max_execution_time"), "%q: write a duration such as 30s or 5m", l.MaxExecutionTime)
		}
		d.maxTime = t
	}
	for i, n := range l.Networks {
		pfx, err := netip.ParsePrefix(n)
		if err != nil {
			bad(append(sub("networks"), i), "%q: write a CIDR such as 10.0.0.0/8", n)
			continue
		}
		if pfx != pfx.Masked() {
			bad(append(sub("networks"), i), "%q has host bits set; did you mean %s?", n, pfx.Masked())
		}
		d.networks = append(d.networks, pfx.Masked())
	}
	return d
}

func readKey(policyFile string, ks *KeySource) ([]byte, error) {
	var key []byte
	switch {
	case ks.FromFile != "" && ks.FromEnv != "":
		return nil, errors.New("give from_file or from_env, not both")
	case ks.FromFile != "":
		f := ks.FromFile
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(policyFile), f)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("pseudonym key: %v", err)
		}
		key = []byte(strings.TrimSpace(string(b)))
	case ks.FromEnv != "":
		key = []byte(os.Getenv(ks.FromEnv))
		if len(key) == 0 {
			return nil, fmt.Errorf("pseudonym key: environment variable %s is not set", ks.FromEnv)
		}
	default:
		return nil, errors.New("give from_file or from_env")
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("pseudonym key is %d bytes; use at least 32 (e.g. openssl rand -hex 32)", len(key))
	}
	return key, nil
}

// contradicts reports two rules that could both apply to one person and
// mask the same column differently: which mask would win is not
// something an administrator should have to guess.
func contradicts(p *Policy, a, b *rule) string {
	if !audiencesOverlap(p, a, b) {
		return ""
	}
	for _, ma := range a.masks {
		for _, mb := range b.masks {
			if ma.col == mb.col && (ma.with != mb.with || ma.value != mb.value) {
				return fmt.Sprintf("both mask %s.%s.%s, differently, for a person they share", ma.col.schema, ma.col.table, ma.col.column)
			}
		}
	}
	return ""
}

func audiencesOverlap(p *Policy, a, b *rule) bool {
	if a.toAll || b.toAll {
		return true
	}
	for name, u := range p.users {
		ida := &Identity{User: name, Groups: u.groups, Account: name}
		if a.appliesTo(ida) && b.appliesTo(ida) {
			return true
		}
	}
	for g := range a.toGroups {
		if b.toGroups[g] {
			return true // SSO users may join any group
		}
	}
	return false
}

func parseTablePattern(s string) (tablePattern, error) {
	parts := strings.Split(strings.ToLower(s), ".")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return tablePattern{}, fmt.Errorf("%q: write schema.table (globs allowed: study.*)", s)
	}
	for _, g := range parts {
		if err := checkGlob(g); err != nil {
			return tablePattern{}, fmt.Errorf("%q: %v", s, err)
		}
	}
	return tablePattern{parts[0], parts[1]}, nil
}

func parseColumnPattern(s string) (columnPattern, error) {
	parts := strings.Split(strings.ToLower(s), ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return columnPattern{}, fmt.Errorf("%q: write schema.table.column", s)
	}
	for _, g := range parts[:2] {
		if err := checkGlob(g); err != nil {
			return columnPattern{}, fmt.Errorf("%q: %v", s, err)
		}
	}
	if strings.ContainsAny(parts[2], "*?[") {
		// A column glob would make "which columns are hidden" depend on
		// the upstream schema at query time; name them.
		return columnPattern{}, fmt.Errorf("%q: name the column exactly (no glob)", s)
	}
	return columnPattern{parts[0], parts[1], parts[2]}, nil
}

// checkGlob allows * and ? only: the same patterns must also become SQL
// LIKE patterns when information_schema is filtered, and LIKE has no
// character classes.
func checkGlob(g string) error {
	if strings.ContainsAny(g, "[]\\`'\"") {
		return fmt.Errorf("bad glob %q: only * and ? are wildcards; [ ] \\ and quotes are not allowed", g)
	}
	return nil
}

func match(pattern, name string) bool {
	ok, _ := path.Match(pattern, name)
	return ok
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Store holds the policy in force. Each client statement loads it once,
// so a reload never changes the rules under a statement half way.
type Store struct{ cur atomic.Pointer[Policy] }

// NewStore starts with p in force.
func NewStore(p *Policy) *Store {
	s := &Store{}
	s.cur.Store(p)
	return s
}

// Current returns the policy in force.
func (s *Store) Current() *Policy { return s.cur.Load() }

// Reload loads file and, only if it is valid, puts it in force. A bad file
// leaves the old policy serving and returns every problem found. The new
// policy keeps the login cache TTL of the one it replaces: that is server
// configuration, not policy. Its login cache starts empty.
func (s *Store) Reload(file string) (*Policy, error) {
	p, err := Load(file)
	if err != nil {
		return nil, err
	}
	if old := s.cur.Load(); old != nil {
		p.SetLoginCacheTTL(old.LoginCacheTTL())
	}
	s.cur.Store(p)
	return p, nil
}
