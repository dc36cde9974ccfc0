package authz

import (
	"errors"
	"os"
	"testing"
)

// fuzzPolicyFile names the bytes FuzzParsePolicy parses; a relative
// pseudonym_key.from_file resolves next to it, in testdata.
const fuzzPolicyFile = "testdata/fuzz-policy.yaml"

// FuzzParsePolicy feeds arbitrary bytes to Parse: it must never panic,
// and a policy it accepts must carry a version and answer for each of
// its users without panicking.
func FuzzParsePolicy(f *testing.F) {
	for _, name := range []string{"../policy.yaml", decisionsPolicyFile} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("users: {}\n"))
	f.Add([]byte("rules:\n  - id: r\n    to: [\"*\"]\n    allow: [study.*]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			t.Skip() // policy files are small; the decoder's cost grows with size
		}
		p, err := Parse(fuzzPolicyFile, data)
		if err != nil {
			if p != nil {
				t.Fatal("a policy returned with an error")
			}
			return
		}
		if p.Version == "" {
			t.Fatal("accepted policy without a version")
		}
		_ = p.Summary()
		ids := []*Identity{{User: "fuzz-sso", Groups: []string{"g"}}}
		for name := range p.users {
			ids = append(ids, p.users[name].identity())
		}
		for _, id := range ids {
			_ = p.LimitsFor(id)
			for _, sql := range []string{"SELECT * FROM study.visits", "SHOW TABLES", "SELECT * FROM information_schema.COLUMNS"} {
				d := p.CheckQuery(id, Session{DB: "study", Catalog: decisionsCatalog}, sql)
				if d.Err == nil {
					if err := leakCheck(p, id, Session{DB: "study"}, sql, d); err != nil {
						t.Fatalf("%s: %s: %v", id.User, sql, err)
					}
				}
			}
			_ = p.CheckUseDB(id, "study")
		}
	})
}

// fuzzUsers are the people FuzzCheckQuery speaks as, by index.
var fuzzUsers = []string{"alice", "bob", "mona", "dave", "erin", "frank", "henry", "ivan", "gwen"}

// fuzzModes are the session sql_modes FuzzCheckQuery tries.
var fuzzModes = []string{"", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES", "PIPES_AS_CONCAT", "STRICT_TRANS_TABLES"}

// FuzzCheckQuery sends arbitrary SQL through CheckQuery for the decision
// suite's policy and catalog. It must never panic; every refusal must be
// one of the package's errors; and whatever it allows (the rewritten
// text, else the client's) must, analysed again, reference no hidden
// schema or table, no withheld column and no masked column left
// unmasked.
func FuzzCheckQuery(f *testing.F) {
	p := decisionsPolicy(f)
	for ui, u := range fuzzUsers {
		for _, cat := range decisionTable {
			for _, c := range cat.cases {
				if c.user != u {
					continue
				}
				var flags uint8
				if c.multi {
					flags |= 1
				}
				if c.prep {
					flags |= 2
				}
				for i, m := range fuzzModes {
					if m == c.mode {
						flags |= uint8(i) << 2
					}
				}
				f.Add(c.sql, c.db, uint8(ui), flags)
			}
		}
	}
	f.Fuzz(func(t *testing.T, sql, db string, user, flags uint8) {
		if len(sql) > 1<<16 {
			t.Skip() // the proxy caps statement size before analysis
		}
		id := p.users[fuzzUsers[int(user)%len(fuzzUsers)]].identity()
		sess := Session{
			DB:              db,
			MultiStatements: flags&1 != 0,
			Prepared:        flags&2 != 0,
			SQLMode:         fuzzModes[int(flags>>2)%len(fuzzModes)],
			Catalog:         decisionsCatalog,
		}
		d := p.CheckQuery(id, sess, sql)
		if d.Err != nil {
			var de *DeniedError
			if !errors.As(d.Err, &de) && !errors.Is(d.Err, ErrUnparseable) && !errors.Is(d.Err, ErrNoDatabase) && !errors.Is(d.Err, ErrCatalog) {
				t.Fatalf("refusal of unknown kind: %v", d.Err)
			}
			if de != nil && de.Hidden && de.Object == "" {
				t.Fatalf("hidden denial names no object: %+v", de)
			}
			return
		}
		if err := leakCheck(p, id, sess, sql, d); err != nil {
			t.Fatalf("user %s db %q mode %q: %q\n  sent %q\n  %v", id.User, sess.DB, sess.SQLMode, sql, d.SQL, err)
		}
		for _, i := range d.Pseudonyms {
			if i < 0 {
				t.Fatalf("pseudonym position %d", i)
			}
		}
		// The same question again is answered alike (from the cache or not).
		d2 := p.CheckQuery(id, sess, sql)
		if d2.Err != nil || d2.SQL != d.SQL {
			t.Fatalf("second decision differs: %v %q vs %q", d2.Err, d2.SQL, d.SQL)
		}
	})
}
