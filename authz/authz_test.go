package authz

import (
	"crypto/sha1"
	"errors"
	"strings"
	"testing"
)

func examplePolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := Load("../policy.yaml")
	if err != nil {
		t.Fatalf("the repository's example policy.yaml must load: %v", err)
	}
	return p
}

func TestExamplePolicyAuthentication(t *testing.T) {
	p := examplePolicy(t)
	if id, err := p.AuthenticatePassword("alice", "alice-demo-password"); err != nil || id.User != "alice" || id.Groups[0] != "data-managers" {
		t.Fatalf("alice: %+v, %v", id, err)
	}
	// Every failure is ErrAuthFailed (the client's one answer), with the
	// class the audit log records.
	for _, c := range []struct{ user, pw, class string }{
		{"alice", "bob-demo-password", LoginWrongPassword},
		{"nobody", "alice-demo-password", LoginUnknownUser},
		{"carol", "carol-demo-password", LoginDisabled}, // the right password of a disabled account
		{"carol", "wrong", LoginDisabled},
		{"alice", "", LoginWrongPassword},
	} {
		_, err := p.AuthenticatePassword(c.user, c.pw)
		var le *LoginError
		if !errors.Is(err, ErrAuthFailed) || !errors.As(err, &le) || le.Class != c.class {
			t.Errorf("%s/%s: got %v, want ErrAuthFailed of class %q", c.user, c.pw, err, c.class)
		}
	}
}

func TestNativePasswordOptIn(t *testing.T) {
	h, _ := HashPassword("legacy-password-1")
	text := "users:\n  old: {password: \"" + h + "\", native_password: \"" + NativeHash("legacy-password-1") + "\"}\n  new: {password: \"" + h + "\"}\n"
	p, err := Parse("p.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if !p.NativeAllowed("old") || p.NativeAllowed("new") || p.NativeAllowed("ghost") {
		t.Fatal("NativeAllowed wrong")
	}
	salt := []byte("01234567890123456789")
	// The client side of mysql_native_password.
	s1 := sha1.Sum([]byte("legacy-password-1"))
	s2 := sha1.Sum(s1[:])
	mix := sha1.Sum(append(append([]byte{}, salt...), s2[:]...))
	resp := make([]byte, 20)
	for i := range resp {
		resp[i] = s1[i] ^ mix[i]
	}
	argon := p.logins.argonCalls.Load()
	if _, err := p.AuthenticateNative("old", salt, resp); err != nil {
		t.Fatalf("valid native scramble refused: %v", err)
	}
	if n := p.logins.argonCalls.Load() - argon; n != 0 {
		t.Errorf("a valid native scramble cost %d argon2id checks, want none", n)
	}
	resp[0] ^= 1
	if _, err := p.AuthenticateNative("old", salt, resp); err == nil {
		t.Fatal("bad native scramble accepted")
	}
	// A failed guess pays the argon2id work of any failed login.
	if n := p.logins.argonCalls.Load() - argon; n != 1 {
		t.Errorf("a wrong native scramble cost %d argon2id checks, want 1", n)
	}
}

func TestLoadErrorsCarryFileLine(t *testing.T) {
	h, _ := HashPassword("some-password-123")
	text := `users:
  alice:
    password: "` + h + `"
    groups: [analysts, ghosts]
  bob:
    password: "not-a-hash"
groups:
  analysts: {}
rules:
  - id: Bad Id
    to: [group:analysts]
    allow: [study]
  - id: r2
    to: [group:nobody, someone]
    deny_columns: [study.visits.*]
  - id: r2
    to: ["*"]
`
	_, err := Parse("policy.yaml", []byte(text))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`policy.yaml:4: users.alice.groups[1]: unknown group "ghosts"`,
		`policy.yaml:6: users.bob.password: not an argon2id PHC string`,
		`policy.yaml:10: rules[0].id: rule id "Bad Id"`,
		`policy.yaml:12: rules[0].allow[0]: "study": write schema.table`,
		`policy.yaml:14: rules[1].to[0]: unknown group "nobody"`,
		`policy.yaml:14: rules[1].to[1]: "someone": write user:NAME`,
		`policy.yaml:15: rules[1].deny_columns[0]: "study.visits.*": name the column exactly`,
		`policy.yaml:16: rules[2].id: duplicate rule id "r2"`,
		`policy.yaml:16: rules[2]: rule "r2" grants and denies nothing`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := Parse("policy.yaml", []byte("users: {}\nrulez: []\n")); err == nil || !strings.Contains(err.Error(), "policy.yaml:2: field rulez not found") {
		t.Errorf("unknown key: %v", err)
	}
}

// fakeCatalog is the sandbox's study schema, as the upstream would list it.
type fakeCatalog map[string][]string

func (c fakeCatalog) Columns(schema, table string) ([]string, error) {
	return c[schema+"."+table], nil
}

var sampleCatalog = fakeCatalog{
	"study.studies":     {"study_id", "title", "phase", "sponsor", "status", "start_date"},
	"study.sites":       {"site_id", "study_id", "name", "country", "principal_investigator"},
	"study.subjects":    {"subject_id", "study_id", "site_id", "sex", "birth_year", "enrolled_on", "status"},
	"study.visits":      {"visit_id", "subject_id", "visit_name", "visit_date", "systolic_bp", "diastolic_bp", "weight_kg", "treatment_arm"},
	"ops.site_payments": {"payment_id", "site_id", "amount_eur", "paid_on", "reference"},
	"information_schema.columns": {"TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "COLUMN_NAME", "ORDINAL_POSITION", "COLUMN_DEFAULT",
		"IS_NULLABLE", "DATA_TYPE", "CHARACTER_MAXIMUM_LENGTH", "CHARACTER_OCTET_LENGTH", "NUMERIC_PRECISION", "NUMERIC_SCALE",
		"DATETIME_PRECISION", "CHARACTER_SET_NAME", "COLLATION_NAME", "COLUMN_TYPE", "COLUMN_KEY", "EXTRA", "PRIVILEGES",
		"COLUMN_COMMENT", "IS_GENERATED", "GENERATION_EXPRESSION"},
}

func TestCheckQuery(t *testing.T) {
	p := examplePolicy(t)
	alice := &Identity{User: "alice", Groups: []string{"data-managers"}, Account: "alice"}
	bob := &Identity{User: "bob", Groups: []string{"site-monitors"}, Account: "bob"}
	cases := []struct {
		name  string
		id    *Identity
		db    string
		multi bool
		sql   string
		rule  string // "" = allowed
		err   error
	}{
		{"alice reads sites", alice, "", false, "SELECT name FROM study.sites", "", nil},
		{"bob may not read studies", bob, "", false, "SELECT title FROM study.studies", RuleDefaultDeny, nil},
		{"nobody reads ops", alice, "", false, "SELECT * FROM ops.site_payments", RuleDefaultDeny, nil},
		{"unqualified with db", bob, "study", false, "SELECT subject_id FROM subjects", "", nil},
		{"unqualified without db", bob, "", false, "SELECT subject_id FROM subjects", "", ErrNoDatabase},
		{"blinded column", alice, "study", false, "SELECT treatment_arm FROM visits", "treatment-blinding", nil},
		{"blinded column via alias", alice, "", false, "SELECT v.treatment_arm FROM study.visits v", "treatment-blinding", nil},
		{"blinded column in WHERE", alice, "", false, "SELECT visit_id FROM study.visits WHERE treatment_arm='ACTIVE'", "treatment-blinding", nil},
		{"blinded column in derived table", alice, "", false, "SELECT a FROM (SELECT treatment_arm a FROM study.visits) x", "treatment-blinding", nil},
		{"star over blinded table is rewritten", alice, "", false, "SELECT * FROM study.visits", "", nil},
		{"star over other table", alice, "", false, "SELECT * FROM study.subjects", "", nil},
		{"ambiguous name in join", alice, "", false, "SELECT treatment_arm FROM study.visits JOIN study.subjects USING (subject_id)", "treatment-blinding", nil},
		{"write", alice, "", false, "UPDATE study.sites SET name='x'", RuleReadOnly, nil},
		{"ddl", alice, "", false, "DROP TABLE study.sites", RuleReadOnly, nil},
		{"locking read", alice, "", false, "SELECT name FROM study.sites FOR UPDATE", RuleReadOnly, nil},
		{"into outfile", alice, "", false, "SELECT name FROM study.sites INTO OUTFILE '/tmp/x'", RuleReadOnly, nil},
		{"sleep", alice, "", false, "SELECT SLEEP(10)", RuleFunctions, nil},
		{"set global", alice, "", false, "SET GLOBAL read_only = 0", RuleVariables, nil},
		{"set ansi quotes", alice, "", false, "SET sql_mode='ANSI_QUOTES'", RuleVariables, nil},
		{"set names gbk", alice, "", false, "SET NAMES gbk", RuleVariables, nil},
		{"safe set", alice, "", false, "SET NAMES utf8mb4", "", nil},
		{"connector/j init", alice, "", false, "SET character_set_results = NULL", "", nil},
		{"version comment", bob, "", false, "SELECT @@version_comment LIMIT 1", "", nil},
		{"show grants", alice, "", false, "SHOW GRANTS", RuleStatementKind, nil},
		{"show processlist", alice, "", false, "SHOW PROCESSLIST", RuleStatementKind, nil},
		{"system schema", alice, "", false, "SELECT * FROM mysql.user", RuleSystemSchemas, nil},
		{"information_schema", bob, "", false, "SELECT TABLE_NAME FROM information_schema.TABLES", "", nil},
		{"multi without flag", alice, "", false, "SELECT 1; SELECT 2", RuleMultiStmt, nil},
		{"multi with flag", alice, "", true, "SELECT 1; SELECT 2", "", nil},
		{"multi one bad", alice, "", true, "SELECT 1; SELECT * FROM ops.site_payments", RuleDefaultDeny, nil},
		{"mariadb executable comment", alice, "", false, "/*M! DROP TABLE x */ SELECT 1", "", ErrUnparseable},
		{"garbage", alice, "", false, "SELEC nonsense", "", ErrUnparseable},
		{"use allowed schema", bob, "", false, "USE study", "", nil},
		{"use denied schema", bob, "", false, "USE ops", RuleDefaultDeny, nil},
		{"show tables without db", alice, "", false, "SHOW TABLES", "", ErrNoDatabase},
		{"show tables with db", alice, "study", false, "SHOW TABLES", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := p.CheckQuery(c.id, Session{DB: c.db, MultiStatements: c.multi, Catalog: sampleCatalog}, c.sql)
			if d.PolicyVersion != p.Version {
				t.Errorf("decision carries policy version %q, want %q", d.PolicyVersion, p.Version)
			}
			switch {
			case c.err != nil:
				if !errors.Is(d.Err, c.err) {
					t.Fatalf("want %v, got %v", c.err, d.Err)
				}
			case c.rule == "":
				if d.Err != nil {
					t.Fatalf("want allowed, got %v", d.Err)
				}
			default:
				var de *DeniedError
				if !errors.As(d.Err, &de) || de.Rule != c.rule || !errors.Is(d.Err, ErrDenied) {
					t.Fatalf("want denial by %s, got %v", c.rule, d.Err)
				}
			}
		})
	}
	if d := p.CheckQuery(bob, Session{}, "USE study"); d.UseDB != "study" {
		t.Errorf("USE decision UseDB = %q", d.UseDB)
	}
}

// TestSingleByteCharsetNeedsASCII: in a latin1 (binary, ascii) session
// MariaDB reads bytes above 0x7f by that character set's rules (0xA0 is
// a space) and the analyser by UTF-8's, so such a session may send only
// ASCII; statements that put the session there say so (ClientCharset),
// and one that does it and carries other bytes is refused by itself.
func TestSingleByteCharsetNeedsASCII(t *testing.T) {
	p := examplePolicy(t)
	alice := &Identity{User: "alice", Groups: []string{"data-managers"}, Account: "alice"}
	trick := "WITH x(\u00a0) AS (SELECT 1) SELECT visit_id, treatment_arm, \u00a0FROM x, study.visits"
	wantCharsetDenial := func(t *testing.T, d Decision, cs string) {
		t.Helper()
		var de *DeniedError
		if !errors.As(d.Err, &de) || de.Rule != RuleCharset || !strings.Contains(de.Msg, "with the "+cs+" character set") {
			t.Fatalf("want the %s denial, got %v", RuleCharset, d.Err)
		}
	}
	for _, cs := range []string{"latin1", "binary", "ascii"} {
		sess := Session{DB: "study", Catalog: sampleCatalog, SingleByteCharset: cs}
		wantCharsetDenial(t, p.CheckQuery(alice, sess, trick), cs)
		wantCharsetDenial(t, p.CheckQuery(alice, sess, "SELECT name FROM sites WHERE name = 'Zürich'"), cs)
		if d := p.CheckQuery(alice, sess, "SELECT name FROM sites WHERE name = 'Zurich'"); d.Err != nil {
			t.Fatalf("%s: an ASCII statement: %v", cs, d.Err)
		}
		// The same text is fine in a UTF-8 session (and cached as such):
		// the session's character set is checked before the cache.
		utf := Session{DB: "study", Catalog: sampleCatalog}
		if d := p.CheckQuery(alice, utf, "SELECT name FROM sites WHERE name = 'Zürich'"); d.Err != nil {
			t.Fatalf("utf8mb4: %v", d.Err)
		}
		wantCharsetDenial(t, p.CheckQuery(alice, sess, "SELECT name FROM sites WHERE name = 'Zürich'"), cs)
	}
	for sql, want := range map[string]string{
		"SET NAMES latin1": "latin1",
		"SET NAMES 'utf8mb4' COLLATE 'utf8mb4_general_ci'": "utf8mb4",
		"SET CHARACTER SET binary":                         "binary",
		"SET @@session.character_set_client = 'ascii'":     "ascii",
		"SET character_set_client = latin1, NAMES utf8mb4": "utf8mb4",
		"SET character_set_results = latin1":               "",
		"SELECT 1":                                         "",
	} {
		d := p.CheckQuery(alice, Session{DB: "study", Catalog: sampleCatalog}, sql)
		if d.Err != nil || d.ClientCharset != want {
			t.Errorf("%s: ClientCharset %q (err %v), want %q", sql, d.ClientCharset, d.Err, want)
		}
	}
	multi := Session{DB: "study", Catalog: sampleCatalog, MultiStatements: true}
	wantCharsetDenial(t, p.CheckQuery(alice, multi, "SET NAMES latin1; "+trick), "latin1")
	if d := p.CheckQuery(alice, multi, "SET NAMES utf8mb4; SELECT name FROM sites WHERE name = 'Zürich'"); d.Err != nil {
		t.Fatalf("utf8mb4 batch: %v", d.Err)
	}
}

func TestCheckUseDBAndFieldList(t *testing.T) {
	p := examplePolicy(t)
	bob := &Identity{User: "bob", Groups: []string{"site-monitors"}, Account: "bob"}
	if d := p.CheckUseDB(bob, "study"); !d.Allowed() {
		t.Errorf("bob USE study: %v", d.Err)
	}
	if d := p.CheckUseDB(bob, "ops"); d.Allowed() {
		t.Error("bob USE ops allowed")
	}
	if d := p.CheckFieldList(bob, Session{DB: "study"}, "subjects"); !d.Allowed() {
		t.Errorf("field list subjects: %v", d.Err)
	}
	d := p.CheckFieldList(bob, Session{DB: "study"}, "visits")
	if !d.Allowed() || d.HideColumn == nil || !d.HideColumn("treatment_arm") || !d.HideColumn("Treatment_Arm") || d.HideColumn("visit_id") {
		t.Errorf("field list of visits must hide treatment_arm only: %+v", d)
	}
	if d := p.CheckFieldList(bob, Session{DB: "study"}, "studies"); d.Allowed() {
		t.Error("field list of an ungranted table allowed")
	}
}

func TestStoreReloadKeepsOldPolicyOnError(t *testing.T) {
	p := examplePolicy(t)
	s := NewStore(p)
	if _, err := s.Reload("testdata/does-not-exist.yaml"); err == nil {
		t.Fatal("want error")
	}
	if s.Current() != p {
		t.Fatal("a failed reload replaced the policy")
	}
}

// TestKillTarget: KILL in any case is found (without lower-casing a copy
// of every statement), and statements that only mention the word are not
// KILLs.
func TestKillTarget(t *testing.T) {
	for _, c := range []struct {
		sql       string
		id        uint64
		queryOnly bool
		ok        bool
	}{
		{"KILL 7", 7, false, true},
		{"kill query 42", 42, true, true},
		{"  KiLl   QUERY 9", 9, true, true},
		{"SELECT 'kill 7'", 0, false, false},
		{"SELECT skill FROM study.staff", 0, false, false},
		{"SELECT 1", 0, false, false},
		{"SELECT kil", 0, false, false},
		{"", 0, false, false},
	} {
		id, q, ok := KillTarget(c.sql)
		if id != c.id || q != c.queryOnly || ok != c.ok {
			t.Errorf("KillTarget(%q) = %d, %v, %v; want %d, %v, %v", c.sql, id, q, ok, c.id, c.queryOnly, c.ok)
		}
	}
}

// TestRefusalsSayWhatTheStatementIs: a refusal names what was refused in
// its own words (found by an adversarial sweep: a stored function call
// and PREPARE were "SELECT/PREPARE statements are not allowed: this is a
// read-only replica", a masked column "not used in a other position").
func TestRefusalsSayWhatTheStatementIs(t *testing.T) {
	p := examplePolicy(t)
	bob := &Identity{User: "bob", Groups: []string{"site-monitors"}, Account: "bob"}
	alice := &Identity{User: "alice", Groups: []string{"data-managers"}, Account: "alice"}
	for _, c := range []struct {
		id   *Identity
		sql  string
		want string
	}{
		{alice, "SELECT study.arm_of(1)", "SELECT calls the stored function study.arm_of, which runs with its definer's rights"},
		{alice, "PREPARE s FROM 'SELECT 1'", "PREPARE (SQL-level prepared statements) is not allowed"},
		{alice, "EXECUTE s", "EXECUTE (SQL-level prepared statements) is not allowed"},
		{alice, "DEALLOCATE PREPARE s", "DEALLOCATE (SQL-level prepared statements) is not allowed"},
		{alice, "UPDATE study.sites SET name = 'x'", "UPDATE statements are not allowed: this is a read-only replica"},
		{alice, "OPTIMIZE TABLE study.sites", "this kind of statement is not allowed: rrproxy fronts a read-only replica"},
		{bob, "SELECT subject_id FROM study.subjects WHERE birth_year > 1980", "column birth_year is masked: it can only be selected, not used in an expression, condition, ordering or function argument"},
		{bob, "SELECT birth_year, COUNT(*) FROM study.subjects GROUP BY birth_year", "not used in GROUP BY"},
	} {
		d := p.CheckQuery(c.id, Session{DB: "study", Catalog: sampleCatalog}, c.sql)
		if d.Err == nil || !strings.Contains(d.Err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %q", c.sql, d.Err, c.want)
		}
	}
}
