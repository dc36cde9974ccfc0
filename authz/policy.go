package authz

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/rrproxy/rrproxy/internal/strictyaml"
)

// File is policy.yaml as the administrator writes it.
type File struct {
	Users  map[string]UserSpec  `yaml:"users"`
	Groups map[string]GroupSpec `yaml:"groups"`
	Rules  []RuleSpec           `yaml:"rules"`
}

// UserSpec is a local account.
type UserSpec struct {
	// Password is an argon2id PHC hash from `rrproxy passwd`.
	Password string `yaml:"password"`
	// NativePassword opts the account into mysql_native_password for old
	// clients: "*" + hex(SHA1(SHA1(pw))). Weaker: that hash is a
	// password-equivalent for this protocol, so a leaked policy.yaml lets
	// anyone log in as this user. Leave empty unless a client needs it.
	NativePassword string   `yaml:"native_password"`
	Groups         []string `yaml:"groups"`
	Disabled       bool     `yaml:"disabled"`
	Description    string   `yaml:"description"`
}

// GroupSpec documents a group; grants reach it through rules.
type GroupSpec struct {
	Description string `yaml:"description"`
}

// RuleSpec grants or withholds access. Each rule has an id that denials
// quote, so a user can tell an administrator exactly what stopped them.
type RuleSpec struct {
	ID          string `yaml:"id"`
	Description string `yaml:"description"`
	// To lists who the rule applies to: "user:NAME", "group:NAME" or "*".
	To []string `yaml:"to"`
	// Allow lists tables as "schema.table"; either part may be a glob
	// ("study.*", "study.visit*").
	Allow []string `yaml:"allow"`
	// DenyColumns lists "schema.table.column" (globs allowed in schema and
	// table). Any use of a denied column refuses the statement: select
	// list, predicates, joins, ordering, functions, SELECT *.
	DenyColumns []string `yaml:"deny_columns"`
}

// Policy is a validated, immutable policy. Share it freely; a reload
// builds a new one.
type Policy struct {
	// Version is the SHA-256 of the file bytes (first 16 hex digits); every
	// decision carries it so the audit log says which policy decided.
	Version string
	users   map[string]*account
	rules   []*rule
}

type account struct {
	name     string
	hash     *argonHash
	native   []byte
	groups   []string
	disabled bool
}

type rule struct {
	id          string
	toAll       bool
	toUsers     map[string]bool
	toGroups    map[string]bool
	allow       []tablePattern
	denyColumns []columnPattern
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

// Parse is Load for bytes already read; file names them in errors.
func Parse(file string, data []byte) (*Policy, error) {
	var f File
	doc, err := strictyaml.Decode(file, data, &f)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	p := &Policy{Version: hex.EncodeToString(sum[:8]), users: map[string]*account{}}
	var errs []error
	bad := func(path []any, format string, args ...any) {
		errs = append(errs, doc.Errorf(path, format, args...))
	}
	P := strictyaml.P

	for name, g := range f.Groups {
		_ = g
		if !nameRE.MatchString(name) {
			bad(P("groups", name), "group name %q: use letters, digits and . _ @ + -", name)
		}
	}
	for _, name := range sortedKeys(f.Users) {
		u := f.Users[name]
		at := P("users", name)
		if !nameRE.MatchString(name) {
			bad(at, "user name %q: use letters, digits and . _ @ + - (at most 80)", name)
		}
		a := &account{name: name, groups: u.Groups, disabled: u.Disabled}
		if u.Password == "" {
			bad(append(at, "password"), "is required (run `rrproxy passwd` and paste its hash)")
		} else if h, err := parseArgon2id(u.Password); err != nil {
			bad(append(at, "password"), "%v", err)
		} else {
			a.hash = h
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
		p.users[name] = a
	}

	seen := map[string]int{}
	for i, rs := range f.Rules {
		at := P("rules", i)
		r := &rule{id: rs.ID, toUsers: map[string]bool{}, toGroups: map[string]bool{}}
		if !idRE.MatchString(rs.ID) {
			bad(append(at, "id"), "rule id %q: lower-case letters, digits, . _ - (it is quoted to users in denials)", rs.ID)
		} else if j, dup := seen[rs.ID]; dup {
			bad(append(at, "id"), "duplicate rule id %q (also rules[%d])", rs.ID, j)
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
		if len(rs.Allow) == 0 && len(rs.DenyColumns) == 0 {
			bad(at, "rule %q grants and denies nothing: give it allow or deny_columns", rs.ID)
		}
		for j, a := range rs.Allow {
			tp, err := parseTablePattern(a)
			if err != nil {
				bad(append(at, "allow", j), "%v", err)
				continue
			}
			r.allow = append(r.allow, tp)
		}
		for j, c := range rs.DenyColumns {
			cp, err := parseColumnPattern(c)
			if err != nil {
				bad(append(at, "deny_columns", j), "%v", err)
				continue
			}
			r.denyColumns = append(r.denyColumns, cp)
		}
		p.rules = append(p.rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func parseTablePattern(s string) (tablePattern, error) {
	parts := strings.Split(strings.ToLower(s), ".")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return tablePattern{}, fmt.Errorf("%q: write schema.table (globs allowed: study.*)", s)
	}
	for _, g := range parts {
		if _, err := path.Match(g, ""); err != nil {
			return tablePattern{}, fmt.Errorf("%q: bad glob: %v", s, err)
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
		if _, err := path.Match(g, ""); err != nil {
			return columnPattern{}, fmt.Errorf("%q: bad glob: %v", s, err)
		}
	}
	if strings.ContainsAny(parts[2], "*?[") {
		// A column glob would make "which columns are hidden" depend on
		// the upstream schema at query time; name them.
		return columnPattern{}, fmt.Errorf("%q: name the column exactly (no glob)", s)
	}
	return columnPattern{parts[0], parts[1], parts[2]}, nil
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
// leaves the old policy serving and returns every problem found.
func (s *Store) Reload(file string) (*Policy, error) {
	p, err := Load(file)
	if err != nil {
		return nil, err
	}
	s.cur.Store(p)
	return p, nil
}
