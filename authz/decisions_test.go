package authz

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/authz/sqlscope"
)

// The decision suite: what the policy engine answers, statement by
// statement, for the people of testdata/decisions-policy.yaml. Each case
// is written from the attacker's side of the issue: a valid login and a
// SQL client must not read a value, or learn a name, outside the grants,
// nor change anything upstream.

const decisionsPolicyFile = "testdata/decisions-policy.yaml"

// minDecisionCases is the floor the suite must not drop below.
const minDecisionCases = 300

// decisionsCatalog is the replica's catalog as the upstream would list it.
var decisionsCatalog = fakeCatalog{
	"study.studies":              {"study_id", "title", "phase", "sponsor"},
	"study.sites":                {"site_id", "study_id", "name", "country", "principal_investigator"},
	"study.subjects":             {"subject_id", "study_id", "site_id", "initials", "sex", "birth_year", "enrolled_on"},
	"study.visits":               {"visit_id", "subject_id", "visit_name", "visit_date", "systolic_bp", "treatment_arm"},
	"study.adverse_events":       {"ae_id", "subject_id", "term", "severity", "onset_date", "narrative"},
	"study.v_enrolment":          {"site_id", "subjects"},
	"ops.site_payments":          {"payment_id", "site_id", "amount_eur", "paid_on", "bank_account"},
	"study_archive.old_subjects": {"subject_id", "initials"},
	"mysql.time_zone_name":       {"Name", "Time_zone_id"},
	"information_schema.views": {"TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "VIEW_DEFINITION", "CHECK_OPTION",
		"IS_UPDATABLE", "DEFINER", "SECURITY_TYPE", "CHARACTER_SET_CLIENT", "COLLATION_CONNECTION", "ALGORITHM"},
	"information_schema.columns": {"TABLE_CATALOG", "TABLE_SCHEMA", "TABLE_NAME", "COLUMN_NAME", "ORDINAL_POSITION", "COLUMN_DEFAULT",
		"IS_NULLABLE", "DATA_TYPE", "CHARACTER_MAXIMUM_LENGTH", "CHARACTER_OCTET_LENGTH", "NUMERIC_PRECISION", "NUMERIC_SCALE",
		"DATETIME_PRECISION", "CHARACTER_SET_NAME", "COLLATION_NAME", "COLUMN_TYPE", "COLUMN_KEY", "EXTRA", "PRIVILEGES",
		"COLUMN_COMMENT", "IS_GENERATED", "GENERATION_EXPRESSION"},
	"information_schema.routines": {"SPECIFIC_NAME", "ROUTINE_CATALOG", "ROUTINE_SCHEMA", "ROUTINE_NAME", "ROUTINE_TYPE",
		"DATA_TYPE", "ROUTINE_BODY", "ROUTINE_DEFINITION", "EXTERNAL_NAME", "DEFINER"},
}

func decisionsPolicy(t testing.TB) *Policy {
	t.Helper()
	p, err := Load(decisionsPolicyFile)
	if err != nil {
		t.Fatalf("%s must load: %v", decisionsPolicyFile, err)
	}
	return p
}

// who returns the identity a local login of user gets.
func who(t testing.TB, p *Policy, user string) *Identity {
	t.Helper()
	a, ok := p.users[user]
	if !ok {
		t.Fatalf("no user %q in %s", user, decisionsPolicyFile)
	}
	return a.identity()
}

type outcome int

const (
	wantAllow       outcome = iota // allowed, sent as written (d.SQL empty)
	wantRewrite                    // allowed, sent as d.SQL
	wantDeny                       // *DeniedError from rule, not hidden
	wantHidden                     // *DeniedError answered as a missing object
	wantUnparseable                // ErrUnparseable
	wantNoDatabase                 // ErrNoDatabase
)

func (o outcome) String() string {
	return [...]string{"allow", "rewrite", "deny", "hidden", "unparseable", "no-database"}[o]
}

type dcase struct {
	user, db, sql string
	want          outcome
	rule          string // deny, hidden: the rule quoted
	class         string // deny (optional), hidden: the denial class
	object        string // hidden: the object named as missing
	multi, prep   bool
	mode          string
	has, hasNot   []string // substrings of d.SQL (rewrite)
	psn           []int    // rewrite: pseudonymised output columns
	rows          bool     // allowed with a metadata row filter
	shadow        string   // "": not checked; "-": must be empty; else a substring
	useDB         string
}

func allow(user, db, sql string) dcase { return dcase{user: user, db: db, sql: sql, want: wantAllow} }
func rewrite(user, db, sql string, has ...string) dcase {
	return dcase{user: user, db: db, sql: sql, want: wantRewrite, has: has}
}
func deny(user, db, sql, rule string) dcase {
	return dcase{user: user, db: db, sql: sql, want: wantDeny, rule: rule}
}
func hidden(user, db, sql, rule, class, object string) dcase {
	return dcase{user: user, db: db, sql: sql, want: wantHidden, rule: rule, class: class, object: object}
}
func unparseable(user, db, sql string) dcase {
	return dcase{user: user, db: db, sql: sql, want: wantUnparseable}
}
func noDB(user, sql string) dcase { return dcase{user: user, sql: sql, want: wantNoDatabase} }

func (c dcase) withMulti() dcase           { c.multi = true; return c }
func (c dcase) withPrepared() dcase        { c.prep = true; return c }
func (c dcase) withMode(m string) dcase    { c.mode = m; return c }
func (c dcase) without(s ...string) dcase  { c.hasNot = append(c.hasNot, s...); return c }
func (c dcase) pseudonyms(i ...int) dcase  { c.psn = i; return c }
func (c dcase) filtered() dcase            { c.rows = true; return c }
func (c dcase) withShadow(s string) dcase  { c.shadow = s; return c }
func (c dcase) usesDB(db string) dcase     { c.useDB = db; return c }
func (c dcase) ofClass(class string) dcase { c.class = class; return c }
func (c dcase) sess() Session {
	return Session{DB: c.db, MultiStatements: c.multi, SQLMode: c.mode, Catalog: decisionsCatalog, Prepared: c.prep}
}
func (c dcase) String() string { return fmt.Sprintf("%s@%s: %s", c.user, c.db, c.sql) }

type category struct {
	name  string
	cases []dcase
}

// The rules' ids, as denials quote them.
const (
	rMonitor  = "monitoring"
	rBiostat  = "biostat"
	rBlind    = "blinding"
	rNarr     = "ae-narrative"
	rFinance  = "finance-payments"
	rAudit    = "audit-all"
	rEmbargo  = "safety-embargo"
	tSubjects = "study.subjects"
)

var decisionTable = []category{
	{"grants", []dcase{
		allow("alice", "", "SELECT title FROM study.studies"),
		allow("alice", "", "SELECT name, country FROM study.sites"),
		allow("alice", "", "SELECT narrative FROM study.adverse_events"),
		allow("alice", "", "SELECT * FROM study.v_enrolment"),
		hidden("alice", "", "SELECT * FROM ops.site_payments", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		hidden("alice", "", "SELECT * FROM study_archive.old_subjects", RuleDefaultDeny, ClassTable, "study_archive.old_subjects"),
		hidden("alice", "", "SELECT 1 FROM nosuch.t", RuleDefaultDeny, ClassTable, "nosuch.t"),
		allow("bob", "", "SELECT name FROM study.sites"),
		allow("bob", "", "SELECT visit_id FROM study.visits"),
		hidden("bob", "", "SELECT title FROM study.studies", RuleDefaultDeny, ClassTable, "study.studies"),
		hidden("bob", "", "SELECT * FROM study.v_enrolment", RuleDefaultDeny, ClassTable, "study.v_enrolment"),
		hidden("bob", "", "SELECT 1 FROM study.visitors", RuleDefaultDeny, ClassTable, "study.visitors"), // glob visit? matches 7-letter names only
		hidden("bob", "", "SELECT 1 FROM study.visit", RuleDefaultDeny, ClassTable, "study.visit"),
		allow("erin", "", "SELECT amount_eur FROM ops.site_payments"),
		allow("erin", "", "SELECT name FROM study.sites"),
		hidden("erin", "", "SELECT title FROM study.studies", RuleDefaultDeny, ClassTable, "study.studies"),
		allow("frank", "", "SELECT * FROM study_archive.old_subjects"),
		allow("frank", "", "SELECT title FROM study.studies"),
		allow("frank", "", "SELECT 1 FROM anything.at_all"),
		hidden("henry", "", "SELECT name FROM study.sites", RuleDefaultDeny, ClassTable, "study.sites"),
		allow("henry", "", "SELECT 1 + 1"),
		allow("ivan", "", "SELECT * FROM mysql.time_zone_name"),
		allow("ivan", "", "SELECT title FROM study.studies"),
		hidden("ivan", "", "SELECT name FROM study.sites", RuleDefaultDeny, ClassTable, "study.sites"),
		hidden("alice", "", "SELECT title FROM STUDY.Studies s JOIN ops.Site_Payments p ON 1", RuleDefaultDeny, ClassTable, "ops.site_payments"),
	}},
	{"deny-wins", []dcase{
		hidden("frank", "", "SELECT * FROM ops.site_payments", rAudit, ClassTable, "ops.site_payments"),
		hidden("frank", "", "SELECT ae_id FROM study.adverse_events", rAudit, ClassTable, "study.adverse_events"),
		hidden("frank", "", "USE ops", rAudit, ClassSchema, "ops"),
		hidden("frank", "", "SHOW TABLES FROM ops", rAudit, ClassSchema, "ops"),
		hidden("bob", "", "SELECT ae_id FROM study.adverse_events", rEmbargo, ClassTable, "study.adverse_events"),
		hidden("mona", "", "SELECT ae_id FROM study.adverse_events", rEmbargo, ClassTable, "study.adverse_events"),
		hidden("dave", "", "SELECT * FROM study.v_enrolment", rBiostat, ClassTable, "study.v_enrolment"),
		hidden("alice", "", "SELECT treatment_arm FROM study.visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("frank", "", "SELECT visit_id FROM study.visits WHERE visit_id IN (SELECT site_id FROM ops.site_payments)", rAudit, ClassTable, "ops.site_payments"),
		hidden("erin", "", "SELECT bank_account FROM ops.site_payments", rFinance, ClassColumn, "bank_account"),
	}},
	{"hidden-like-missing", []dcase{
		// A hidden object gives way to any other refusal, as a missing one
		// would: the kind of error must not tell them apart.
		deny("bob", "study", "SELECT v.treatment_arm + s.birth_year FROM visits v JOIN subjects s ON s.subject_id = v.subject_id", rMonitor),
		deny("bob", "study", "SELECT v.no_such_col + s.birth_year FROM visits v JOIN subjects s ON s.subject_id = v.subject_id", rMonitor),
		deny("bob", "study", "SELECT s.birth_year FROM subjects s JOIN studies t ON t.study_id = s.study_id WHERE s.birth_year > 1990", rMonitor),
		deny("dave", "study", "SELECT s.subject_id FROM study.v_enrolment e, subjects s WHERE s.subject_id LIKE 'S%'", rBiostat),
		deny("dave", "study", "SELECT s.subject_id FROM study.no_such_tbl e, subjects s WHERE s.subject_id LIKE 'S%'", rBiostat),
		deny("dave", "study", "SELECT s.initials FROM subjects s ORDER BY s.subject_id", rBiostat),
		noDB("dave", "SELECT 1 FROM study.v_enrolment, sites"),
		noDB("dave", "SELECT 1 FROM study.no_such_tbl, sites"),
		deny("alice", "study", "SELECT v.treatment_arm FROM visits v NATURAL JOIN subjects", rBlind),
		deny("alice", "study", "SELECT v.treatment_arm, SLEEP(1) FROM visits v", RuleFunctions),
		deny("alice", "study", "SELECT v.treatment_arm FROM visits v; DELETE FROM visits", RuleReadOnly).withMulti(),
		deny("bob", "", "SHOW TABLES FROM ops", RuleStatementKind).withPrepared(),
		deny("frank", "", "SHOW COLUMNS FROM study.adverse_events", RuleStatementKind).withPrepared(),
		hidden("frank", "", "TABLE study.adverse_events", rAudit, ClassTable, "study.adverse_events"),
		hidden("frank", "", "SELECT * FROM study.adverse_events NATURAL JOIN study.sites", rAudit, ClassTable, "study.adverse_events"),
		hidden("dave", "study", "SELECT s.initials FROM subjects s ORDER BY s.site_id", rBiostat, ClassColumn, "initials"),
	}},
	{"current-database", []dcase{
		allow("bob", "study", "SELECT name FROM sites"),
		noDB("bob", "SELECT name FROM sites"),
		noDB("alice", "SELECT * FROM visits"),
		allow("alice", "study", "SELECT * FROM site_payments"), // study.site_payments: granted by study.*, absent upstream
		hidden("bob", "study", "SELECT * FROM site_payments", RuleDefaultDeny, ClassTable, "study.site_payments"),
		allow("alice", "STUDY", "SELECT name FROM Sites"),
		allow("frank", "study_archive", "SELECT initials FROM old_subjects"),
		allow("frank", "study_archive", "SELECT * FROM adverse_events"), // study_archive.adverse_events: not the denied one
		hidden("frank", "study", "SELECT * FROM adverse_events", rAudit, ClassTable, "study.adverse_events"),
		allow("bob", "information_schema", "SELECT name FROM study.sites"),
		hidden("bob", "information_schema", "SELECT * FROM sites", RuleSystemSchemas, ClassTable, "information_schema.sites"),
		noDB("alice", "SHOW TABLES"),
		noDB("alice", "SHOW COLUMNS FROM visits"),
		noDB("alice", "DESCRIBE visits"),
		allow("alice", "", "USE study").usesDB("study"),
		allow("alice", "ops", "USE study").usesDB("study"),
		hidden("alice", "study", "USE ops", RuleDefaultDeny, ClassSchema, "ops"),
		allow("alice", "", "USE `study`").usesDB("study"),
		hidden("henry", "", "USE study", RuleDefaultDeny, ClassSchema, "study"),
		allow("bob", "", "USE information_schema").usesDB("information_schema"),
		hidden("bob", "", "USE mysql", RuleSystemSchemas, ClassSchema, "mysql"),
	}},
	{"joins-subqueries", []dcase{
		allow("alice", "study", "SELECT s.name, COUNT(*) FROM sites s JOIN subjects j ON j.site_id = s.site_id GROUP BY s.name"),
		allow("alice", "study", "SELECT v.visit_id FROM visits v LEFT JOIN subjects s ON s.subject_id = v.subject_id"),
		hidden("alice", "study", "SELECT s.name FROM sites s JOIN ops.site_payments p ON p.site_id = s.site_id", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		hidden("bob", "study", "SELECT s.name FROM sites s, studies t WHERE s.study_id = t.study_id", RuleDefaultDeny, ClassTable, "study.studies"),
		allow("bob", "study", "SELECT name, (SELECT COUNT(*) FROM subjects j WHERE j.site_id = s.site_id) FROM sites s"),
		hidden("bob", "study", "SELECT name, (SELECT COUNT(*) FROM studies) FROM sites", RuleDefaultDeny, ClassTable, "study.studies"),
		allow("bob", "study", "SELECT name FROM sites WHERE site_id IN (SELECT site_id FROM subjects)"),
		hidden("bob", "study", "SELECT name FROM sites WHERE study_id IN (SELECT study_id FROM studies)", RuleDefaultDeny, ClassTable, "study.studies"),
		allow("bob", "study", "SELECT name FROM sites s WHERE EXISTS (SELECT 1 FROM subjects j WHERE j.site_id = s.site_id)"),
		hidden("bob", "study", "SELECT name FROM sites s WHERE NOT EXISTS (SELECT 1 FROM ops.site_payments p WHERE p.site_id = s.site_id)", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		hidden("alice", "study", "SELECT visit_id FROM visits v WHERE EXISTS (SELECT 1 FROM subjects s WHERE s.subject_id = v.subject_id AND v.treatment_arm = 'A')", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT s.subject_id, (SELECT COUNT(*) FROM visits v WHERE v.subject_id = s.subject_id AND treatment_arm = 'A') FROM subjects s", rBlind, ClassColumn, "treatment_arm"),
		allow("bob", "study", "SELECT d.n FROM (SELECT COUNT(*) AS n FROM subjects) d"),
		hidden("bob", "study", "SELECT d.n FROM (SELECT COUNT(*) AS n FROM studies) d", RuleDefaultDeny, ClassTable, "study.studies"),
		hidden("alice", "study", "SELECT a FROM (SELECT treatment_arm a FROM visits) x", rBlind, ClassColumn, "treatment_arm"),
		allow("bob", "study", "SELECT x.site_id FROM (SELECT site_id FROM sites UNION SELECT site_id FROM subjects) x"),
		allow("alice", "study", "SELECT * FROM sites, LATERAL (SELECT COUNT(*) AS n FROM subjects j WHERE j.site_id = sites.site_id) x"),
		hidden("alice", "study", "SELECT x.* FROM sites, LATERAL (SELECT amount_eur FROM ops.site_payments p WHERE p.site_id = sites.site_id) x", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		allow("alice", "study", "SELECT visit_id FROM visits WHERE visit_date > ALL (SELECT enrolled_on FROM subjects)"),
		hidden("alice", "study", "SELECT visit_id FROM visits WHERE systolic_bp > ANY (SELECT amount_eur FROM ops.site_payments)", RuleDefaultDeny, ClassTable, "ops.site_payments"),
	}},
	{"ctes-setops", []dcase{
		allow("alice", "study", "WITH c AS (SELECT site_id FROM sites) SELECT * FROM c"),
		hidden("alice", "study", "WITH c AS (SELECT site_id FROM ops.site_payments) SELECT * FROM c", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		hidden("alice", "study", "WITH c AS (SELECT * FROM visits) SELECT treatment_arm FROM c", rBlind, ClassColumn, "treatment_arm"),
		rewrite("alice", "study", "WITH c AS (SELECT * FROM visits) SELECT * FROM c", "`visit_id`", "`systolic_bp`").without("treatment_arm"),
		allow("alice", "study", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r"),
		hidden("alice", "study", "WITH RECURSIVE r AS (SELECT visit_id, treatment_arm FROM visits UNION ALL SELECT visit_id, treatment_arm FROM r) SELECT visit_id FROM r", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r JOIN ops.site_payments p ON p.payment_id = n) SELECT n FROM r", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		allow("alice", "study", "WITH site_payments AS (SELECT 1 AS x) SELECT x FROM site_payments"),
		allow("alice", "study", "WITH visits AS (SELECT 1 AS treatment_arm) SELECT treatment_arm FROM visits"),
		hidden("alice", "study", "WITH x AS (SELECT 1 AS a) SELECT a FROM ops.site_payments", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		hidden("bob", "study", "WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a", RuleDefaultDeny, ClassTable, "study.b"), // forward reference: a table
		allow("alice", "study", "SELECT visit_id FROM visits UNION SELECT subject_id FROM subjects"),
		hidden("alice", "study", "SELECT visit_id FROM visits UNION SELECT treatment_arm FROM visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT visit_id FROM visits UNION ALL SELECT site_id FROM ops.site_payments", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		allow("alice", "study", "SELECT visit_id FROM visits INTERSECT SELECT visit_id FROM visits"),
		hidden("alice", "study", "SELECT visit_id FROM visits EXCEPT SELECT visit_id FROM visits WHERE treatment_arm = 'A'", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT visit_id FROM visits UNION SELECT visit_id FROM visits ORDER BY treatment_arm", rBlind, ClassColumn, "treatment_arm"),
		hidden("bob", "study", "SELECT site_id FROM sites INTERSECT SELECT study_id FROM studies", RuleDefaultDeny, ClassTable, "study.studies"),
		allow("alice", "study", "(SELECT name FROM sites) UNION (SELECT title FROM studies) ORDER BY 1"),
	}},
	{"aliases", []dcase{
		allow("alice", "study", "SELECT sites.name FROM subjects AS sites"), // sites is subjects here
		hidden("alice", "study", "SELECT subjects.treatment_arm FROM visits AS subjects", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT v.treatment_arm FROM visits v", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT `V`.`Treatment_Arm` FROM visits AS v", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT study.visits.treatment_arm FROM study.visits", rBlind, ClassColumn, "treatment_arm"),
		allow("alice", "study", "SELECT visits.visit_id FROM visits AS visits"),
		hidden("alice", "study", "SELECT site_payments.amount_eur FROM ops.site_payments AS sites", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		allow("alice", "study", "SELECT s.treatment_arm FROM subjects s, sites t"), // subjects has no such column: the server says so
		hidden("alice", "study", "SELECT treatment_arm FROM visits JOIN subjects USING (subject_id)", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT x.treatment_arm FROM (SELECT * FROM visits) x", rBlind, ClassColumn, "treatment_arm"),
		allow("alice", "study", "SELECT v.visit_id AS treatment_arm FROM visits v"),
	}},
	{"column-clauses", []dcase{
		hidden("alice", "study", "SELECT visit_id FROM visits WHERE treatment_arm = 'A'", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT v.visit_id FROM visits v JOIN subjects s ON v.treatment_arm = s.sex", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT visit_id FROM visits JOIN subjects USING (treatment_arm)", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT COUNT(*) FROM visits GROUP BY treatment_arm", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT visit_id FROM visits ORDER BY treatment_arm", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT COUNT(*) FROM visits GROUP BY visit_id HAVING MAX(treatment_arm) = 'A'", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT UPPER(treatment_arm) FROM visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT LENGTH(visit_name) + LENGTH(treatment_arm) FROM visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT ROW_NUMBER() OVER (PARTITION BY treatment_arm) FROM visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT ROW_NUMBER() OVER (ORDER BY treatment_arm) FROM visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT RANK() OVER w FROM visits WINDOW w AS (ORDER BY treatment_arm)", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT CASE WHEN treatment_arm = 'A' THEN 1 ELSE 0 END FROM visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT CASE treatment_arm WHEN 'A' THEN 1 END FROM visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT (SELECT treatment_arm FROM visits LIMIT 1)", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT visit_id FROM visits WHERE visit_id IN (SELECT visit_id FROM visits WHERE treatment_arm = 'A')", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT visit_id FROM visits WHERE treatment_arm IS NULL", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT visit_id FROM visits WHERE treatment_arm LIKE 'A%'", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT visit_id FROM visits WHERE treatment_arm REGEXP '^A'", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT visit_id FROM visits WHERE treatment_arm BETWEEN 'A' AND 'B'", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT DEFAULT(treatment_arm) FROM visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT CAST(treatment_arm AS CHAR) FROM visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT JSON_OBJECT('a', treatment_arm) FROM visits", rBlind, ClassColumn, "treatment_arm"),
		deny("alice", "study", "SELECT visit_id FROM visits LIMIT 1 OFFSET 0 FOR UPDATE OF visits", RuleReadOnly),
		hidden("dave", "study", "SELECT initials FROM subjects", rBiostat, ClassColumn, "initials"),
		hidden("dave", "study", "SELECT COUNT(*) FROM subjects GROUP BY initials", rBiostat, ClassColumn, "initials"),
		hidden("dave", "study", "SELECT a.narrative FROM adverse_events a", rNarr, ClassColumn, "narrative"),
		hidden("dave", "study", "SELECT ae_id FROM adverse_events ORDER BY narrative", rNarr, ClassColumn, "narrative"),
		allow("alice", "study", "SELECT visit_id, visit_date FROM visits WHERE systolic_bp > 140 ORDER BY visit_date"),
		allow("alice", "study", "SELECT visit_name, AVG(systolic_bp) FROM visits GROUP BY visit_name HAVING AVG(systolic_bp) > 120"),
	}},
	{"masks", []dcase{
		rewrite("bob", "study", "SELECT birth_year FROM subjects", "NULL AS `birth_year`"),
		rewrite("bob", "study", "SELECT subject_id, birth_year AS yob FROM subjects", "NULL AS `yob`"),
		rewrite("bob", "study", "SELECT principal_investigator FROM sites", "'(withheld)' AS `principal_investigator`"),
		rewrite("bob", "study", "SELECT * FROM subjects", "NULL AS `birth_year`", "`initials`").without("`subjects`.`birth_year`"),
		rewrite("bob", "study", "SELECT s.* FROM subjects s", "NULL AS `birth_year`"),
		rewrite("bob", "study", "SELECT * FROM sites", "'(withheld)' AS `principal_investigator`"),
		rewrite("bob", "study", "SELECT * FROM subjects s JOIN sites t ON s.site_id = t.site_id", "NULL AS `birth_year`", "'(withheld)' AS `principal_investigator`"),
		rewrite("bob", "study", "SELECT t.*, s.sex FROM subjects s JOIN sites t ON s.site_id = t.site_id", "'(withheld)'"),
		rewrite("bob", "study", "SELECT x FROM (SELECT birth_year x FROM subjects) d", "NULL AS `x`"),
		rewrite("bob", "study", "SELECT x FROM (SELECT birth_year x FROM subjects) d WHERE x > 1990", "NULL AS `x`"),
		rewrite("bob", "study", "SELECT birth_year FROM subjects UNION SELECT 1", "NULL AS `birth_year`"),
		rewrite("bob", "study", "SELECT subject_id FROM subjects WHERE (SELECT birth_year) > 1990", "(SELECT NULL AS `birth_year`)"),
		rewrite("bob", "study", "SELECT birth_year b FROM subjects HAVING b > 1990", "NULL AS `b`"),
		rewrite("bob", "study", "SELECT principal_investigator AS pi FROM sites ORDER BY pi", "'(withheld)' AS `pi`"),
		rewrite("bob", "study", "SELECT birth_year FROM subjects ORDER BY 1", "NULL AS `birth_year`"),
		rewrite("bob", "study", "SET @x = (SELECT birth_year FROM subjects LIMIT 1)", "NULL AS `birth_year`"),
		rewrite("bob", "study", "WITH c AS (SELECT * FROM subjects) SELECT * FROM c", "NULL AS `birth_year`"),
		deny("bob", "study", "SELECT birth_year FROM subjects WHERE birth_year > 1990", rMonitor).ofClass(ClassColumn),
		deny("bob", "study", "SELECT subject_id FROM subjects WHERE birth_year IS NULL", rMonitor),
		deny("bob", "study", "SELECT subject_id FROM subjects ORDER BY birth_year", rMonitor),
		deny("bob", "study", "SELECT birth_year, COUNT(*) FROM subjects GROUP BY birth_year", rMonitor),
		deny("bob", "study", "SELECT COUNT(DISTINCT birth_year) FROM subjects", rMonitor),
		deny("bob", "study", "SELECT MAX(birth_year) FROM subjects", rMonitor),
		deny("bob", "study", "SELECT COALESCE(birth_year, 0) FROM subjects", rMonitor),
		deny("bob", "study", "SELECT birth_year + 0 FROM subjects", rMonitor),
		deny("bob", "study", "SELECT s.site_id FROM subjects s JOIN sites t ON s.birth_year = t.site_id", rMonitor),
		deny("bob", "study", "SELECT subject_id FROM subjects HAVING MIN(birth_year) < 1950", rMonitor),
		deny("bob", "study", "SELECT ROW_NUMBER() OVER (ORDER BY birth_year) FROM subjects", rMonitor),
		deny("bob", "study", "SELECT CASE WHEN birth_year < 1950 THEN 'old' END FROM subjects", rMonitor),
		deny("bob", "study", "SELECT name FROM sites WHERE principal_investigator LIKE 'Dr%'", rMonitor),
		deny("bob", "study", "SELECT name FROM sites ORDER BY principal_investigator", rMonitor),
		deny("bob", "study", "SELECT @b := birth_year FROM subjects", rMonitor),
		deny("bob", "study", "SELECT DEFAULT(birth_year) FROM subjects", rMonitor),
		deny("bob", "study", "SELECT * FROM subjects NATURAL JOIN sites", rMonitor),
		deny("bob", "study", "SELECT * FROM subjects JOIN sites USING (site_id)", rMonitor), // the star cannot be listed
		deny("bob", "study", "SELECT site_id FROM subjects s WHERE s.subject_id IN (SELECT subject_id FROM subjects WHERE birth_year > 1990)", rMonitor),
		deny("erin", "", "SELECT name FROM study.sites WHERE principal_investigator = 'Dr No'", rFinance),
		rewrite("erin", "", "SELECT * FROM study.sites", "'(withheld)'"),
		allow("bob", "study", "SELECT sex, COUNT(*) FROM subjects GROUP BY sex"),
	}},
	{"withheld-stars", []dcase{
		rewrite("alice", "study", "SELECT * FROM visits", "`visits`.`visit_id`", "`visits`.`systolic_bp`").without("treatment_arm"),
		rewrite("alice", "", "SELECT * FROM study.visits", "`study`.`visits`.`visit_id`").without("treatment_arm"),
		rewrite("alice", "study", "SELECT v.* FROM visits v", "`v`.`visit_name`").without("treatment_arm"),
		rewrite("alice", "study", "SELECT * FROM visits v JOIN subjects s ON v.subject_id = s.subject_id", "`v`.`visit_id`", "`s`.*").without("treatment_arm"),
		rewrite("alice", "study", "SELECT * FROM visits v, subjects s", "`v`.`visit_id`").without("treatment_arm"),
		rewrite("alice", "study", "SELECT * FROM (SELECT * FROM visits) d", "`visits`.`visit_id`").without("treatment_arm"),
		rewrite("alice", "study", "SELECT d.* FROM (SELECT * FROM visits) d", "`visits`.`systolic_bp`").without("treatment_arm"),
		rewrite("alice", "study", "SELECT (SELECT COUNT(*) FROM (SELECT * FROM visits) x)", "`visits`.`visit_id`").without("treatment_arm"),
		allow("alice", "study", "SELECT * FROM subjects"),
		allow("alice", "study", "SELECT * FROM sites NATURAL JOIN studies"),
		deny("alice", "study", "SELECT * FROM visits NATURAL JOIN subjects", rBlind),
		deny("alice", "study", "SELECT visit_id FROM visits NATURAL JOIN subjects", rBlind),
		deny("alice", "study", "SELECT * FROM visits JOIN subjects USING (subject_id)", rBlind),
		rewrite("alice", "study", "SELECT v.*, s.site_id FROM visits v JOIN subjects s USING (subject_id)", "`v`.`visit_id`").without("treatment_arm"),
		rewrite("erin", "", "SELECT * FROM ops.site_payments", "`amount_eur`").without("bank_account"),
		rewrite("erin", "", "SELECT p.*, s.name FROM ops.site_payments p JOIN study.sites s ON s.site_id = p.site_id", "`p`.`paid_on`").without("bank_account"),
		rewrite("dave", "study", "SELECT * FROM subjects", "`subjects`.`sex`").without("initials").pseudonyms(0),
		allow("alice", "study", "TABLE subjects"),
	}},
	{"pseudonyms", []dcase{
		rewrite("dave", "study", "SELECT subject_id FROM subjects", "CONCAT(`subject_id`) AS `subject_id`").pseudonyms(0),
		rewrite("dave", "study", "SELECT site_id, subject_id FROM subjects", "CONCAT(`subject_id`)").pseudonyms(1),
		rewrite("dave", "study", "SELECT subject_id AS sid, COUNT(*) FROM visits GROUP BY sid", "AS `sid`").pseudonyms(0),
		rewrite("dave", "study", "SELECT subject_id, COUNT(*) FROM visits GROUP BY subject_id", "GROUP BY `subject_id`").pseudonyms(0),
		// MariaDB allows no ORDER BY with ROLLUP, so the keyed order
		// cannot go on: refused with that reason.
		deny("dave", "study", "SELECT subject_id, COUNT(*) FROM visits GROUP BY subject_id WITH ROLLUP", rBiostat),
		deny("dave", "study", "SELECT COUNT(*) FROM visits GROUP BY subject_id WITH ROLLUP", rBiostat),
		allow("dave", "study", "SELECT site_id, COUNT(*) FROM subjects GROUP BY site_id WITH ROLLUP"),
		rewrite("dave", "study", "SELECT subject_id FROM visits GROUP BY 1", "GROUP BY 1").pseudonyms(0),
		rewrite("dave", "study", "SELECT DISTINCT subject_id FROM visits", "DISTINCT CONCAT(").pseudonyms(0),
		allow("dave", "study", "SELECT COUNT(DISTINCT subject_id) FROM visits"),
		allow("dave", "study", "SELECT site_id, COUNT(DISTINCT subject_id) AS n FROM subjects GROUP BY site_id ORDER BY n"),
		// Grouped by a pseudonym with none in the output: MariaDB sorts
		// the groups by the real value, so the keyed order goes on.
		rewrite("dave", "study", "SELECT COUNT(*) FROM visits GROUP BY subject_id", "GROUP BY `subject_id` ORDER BY SHA2(CONCAT("),
		// Rows read from a table whose primary key is pseudonymised come
		// in the order of the real identifiers: put in the keyed order
		// even without the pseudonym in the output (keyScanOrder), and
		// what would list or pick rows in read order is refused.
		rewrite("dave", "study", "SELECT site_id, sex, birth_year FROM subjects", "FROM `subjects` ORDER BY SHA2(CONCAT(", "`subjects`.`subject_id`), 256)"),
		rewrite("dave", "study", "SELECT s.site_id FROM study.subjects s ORDER BY site_id LIMIT 5", "ORDER BY `site_id`,SHA2(CONCAT(", "`s`.`subject_id`), 256) LIMIT 5"),
		allow("dave", "study", "SELECT COUNT(*), MAX(birth_year) FROM subjects"),
		allow("dave", "study", "SELECT site_id, COUNT(*) FROM subjects GROUP BY site_id"),
		deny("dave", "study", "SELECT site_id, GROUP_CONCAT(birth_year) FROM subjects GROUP BY site_id", rBiostat),
		deny("dave", "study", "SELECT JSON_ARRAYAGG(sex) FROM subjects", rBiostat),
		deny("dave", "study", "SELECT site_id FROM sites WHERE site_id IN (SELECT * FROM (SELECT site_id FROM subjects LIMIT 3) x)", rBiostat),
		deny("dave", "study", "SELECT sex FROM subjects UNION ALL SELECT 'x'", rBiostat),
		deny("dave", "study", "SELECT * FROM (SELECT site_id, sex FROM subjects) d", rBiostat),
		allow("dave", "study", "SELECT * FROM (SELECT site_id, sex FROM subjects) d LIMIT 0"),
		deny("dave", "study", "WITH c AS (SELECT site_id, sex FROM subjects) SELECT * FROM c", rBiostat),
		deny("dave", "study", "SELECT birth_year, ROW_NUMBER() OVER (ORDER BY site_id) FROM subjects", rBiostat),
		deny("dave", "study", "SET @x = (SELECT GROUP_CONCAT(birth_year) FROM subjects)", rBiostat),
		allow("dave", "study", "SELECT d.n FROM (SELECT site_id, COUNT(*) AS n FROM subjects GROUP BY site_id) d GROUP BY d.n"),
		// A column neither grouped nor aggregated is the first row read
		// of its group (third sweep: each site's lowest real subject).
		deny("dave", "study", "SELECT site_id, subject_id FROM subjects GROUP BY site_id", rBiostat),
		deny("dave", "study", "SELECT subject_id, COUNT(*) FROM subjects", rBiostat),
		deny("dave", "study", "SELECT COUNT(*), sex FROM subjects", rBiostat),
		deny("dave", "study", "SELECT site_id FROM sites st WHERE EXISTS (SELECT s.sex FROM subjects s WHERE s.site_id = st.site_id GROUP BY s.site_id)", rBiostat),
		allow("dave", "study", "SELECT site_id, COUNT(*) AS n FROM subjects GROUP BY site_id HAVING n > 1 ORDER BY n"),
		allow("dave", "study", "SELECT sex, site_id, COUNT(*) FROM subjects GROUP BY 2, sex"),
		// A join written in WHERE (Crystal Reports, older tools) is a
		// join: equality of two pseudonymised columns, at the top level.
		rewrite("dave", "study", "SELECT v.visit_id FROM visits v, subjects s WHERE s.subject_id = v.subject_id AND s.sex = 'F'", "ORDER BY SHA2(CONCAT("),
		deny("dave", "study", "SELECT v.visit_id FROM visits v, subjects s WHERE s.subject_id = v.subject_id OR s.sex = 'F'", rBiostat),
		deny("dave", "study", "SELECT v.visit_id FROM visits v, subjects s WHERE s.subject_id = v.visit_name", rBiostat),
		deny("dave", "study", "SELECT v.visit_id FROM visits v, subjects s HAVING s.subject_id = v.subject_id", rBiostat),
		rewrite("dave", "study", "SELECT v.visit_id FROM visits v JOIN subjects s ON s.subject_id = v.subject_id", "ORDER BY SHA2(CONCAT(", "`v`.`subject_id`), 256)"),
		rewrite("dave", "study", "SELECT v.visit_id FROM visits v JOIN adverse_events a ON a.subject_id = v.subject_id AND a.severity = 'severe'", "ORDER BY SHA2(CONCAT(", "`v`.`subject_id`), 256)"),
		rewrite("dave", "study", "SELECT v.visit_id FROM visits v JOIN subjects s USING (subject_id)", "ORDER BY SHA2(CONCAT(", "`v`.`subject_id`), 256)"),
		rewrite("dave", "study", "SELECT s.subject_id FROM visits v JOIN subjects s USING (subject_id) JOIN adverse_events a USING (subject_id)", "CONCAT(`s`.`subject_id`)").pseudonyms(0),
		rewrite("dave", "study", "SELECT s.*, v.* FROM subjects s JOIN visits v ON s.subject_id = v.subject_id", "CONCAT(`v`.`subject_id`)").pseudonyms(0, 7),
		rewrite("dave", "study", "SELECT a.* FROM adverse_events a", "CONCAT(`a`.`subject_id`)").without("narrative").pseudonyms(1),
		rewrite("dave", "study", "SELECT subject_id, COUNT(*) AS n FROM visits GROUP BY subject_id HAVING n > 2 ORDER BY n DESC", "HAVING `n`>2").pseudonyms(0),
		rewrite("dave", "study", "SELECT * FROM subjects ORDER BY 2", "ORDER BY 2").pseudonyms(0),
		deny("dave", "study", "SELECT subject_id FROM subjects WHERE subject_id = 'S-001'", rBiostat),
		deny("dave", "study", "SELECT subject_id FROM subjects WHERE subject_id LIKE 'S%'", rBiostat),
		deny("dave", "study", "SELECT site_id FROM subjects WHERE subject_id IN ('S-001', 'S-002')", rBiostat),
		deny("dave", "study", "SELECT subject_id FROM subjects ORDER BY subject_id", rBiostat),
		deny("dave", "study", "SELECT subject_id FROM subjects HAVING subject_id = 'x'", rBiostat),
		deny("dave", "study", "SELECT MAX(subject_id) FROM subjects", rBiostat),
		deny("dave", "study", "SELECT SUBSTR(subject_id, 1, 3) FROM subjects", rBiostat),
		deny("dave", "study", "SELECT COUNT(subject_id) FROM subjects", rBiostat),
		deny("dave", "study", "SELECT COUNT(DISTINCT subject_id, site_id) FROM subjects", rBiostat),
		deny("dave", "study", "SELECT GROUP_CONCAT(subject_id) FROM subjects", rBiostat),
		deny("dave", "study", "SELECT x FROM (SELECT subject_id x FROM subjects) d", rBiostat),
		deny("dave", "study", "WITH c AS (SELECT subject_id FROM subjects) SELECT * FROM c", rBiostat),
		deny("dave", "study", "SELECT * FROM (SELECT * FROM subjects) d", rBiostat),
		deny("dave", "study", "SELECT subject_id FROM subjects UNION SELECT subject_id FROM visits", rBiostat),
		deny("dave", "study", "SELECT subject_id FROM subjects UNION ALL SELECT 'x'", rBiostat),
		deny("dave", "study", "SELECT visit_id FROM visits WHERE subject_id IN (SELECT subject_id FROM subjects)", rBiostat),
		deny("dave", "study", "SELECT v.visit_id FROM visits v JOIN adverse_events a ON a.subject_id > v.subject_id", rBiostat),
		deny("dave", "study", "SELECT v.visit_id FROM visits v JOIN adverse_events a ON a.subject_id = v.subject_id OR a.ae_id = 1", rBiostat),
		rewrite("dave", "study", "SELECT v.visit_id FROM visits v, adverse_events a WHERE a.subject_id = v.subject_id", "ORDER BY SHA2(CONCAT("), // a join written in WHERE
		deny("dave", "study", "SELECT ROW_NUMBER() OVER (PARTITION BY subject_id) FROM visits", rBiostat),
		deny("dave", "study", "SELECT subject_id, CASE WHEN subject_id = 'x' THEN 1 END FROM visits", rBiostat),
		deny("dave", "study", "SELECT visit_id FROM visits NATURAL JOIN subjects", rBlind),
		deny("dave", "study", "SELECT site_id FROM subjects NATURAL JOIN sites", rBiostat),
		deny("dave", "study", "SET @x = (SELECT subject_id FROM subjects LIMIT 1)", rBiostat),
		// Joining a pseudonym with anything but another pseudonym tests the
		// real values.
		deny("dave", "study", "SELECT v.visit_id FROM visits v JOIN (SELECT 'S-001' AS x) k ON v.subject_id = k.x", rBiostat),
		deny("dave", "study", "WITH k AS (SELECT 'S-001' AS x) SELECT v.visit_id FROM visits v JOIN k ON v.subject_id = k.x", rBiostat),
		deny("dave", "study", "SELECT v.visit_id FROM visits v JOIN sites t ON v.subject_id = t.name", rBiostat),
		deny("dave", "study", "SELECT v.visit_id FROM visits v JOIN (SELECT 'S-001' AS subject_id) k USING (subject_id)", rBiostat),
		// Its output name or position reaches the real value too.
		deny("dave", "study", "SELECT subject_id AS s FROM subjects HAVING s = 'S-001'", rBiostat),
		deny("dave", "study", "SELECT subject_id AS s FROM subjects HAVING s LIKE 'S-0%'", rBiostat),
		deny("dave", "study", "SELECT subject_id AS s FROM subjects ORDER BY s", rBiostat),
		deny("dave", "study", "SELECT subject_id AS visit_id FROM subjects ORDER BY visit_id", rBiostat),
		deny("dave", "study", "SELECT subject_id s, (SELECT s = 'S-001') FROM subjects", rBiostat),
		deny("dave", "study", "SELECT subject_id FROM subjects ORDER BY 1", rBiostat),
		deny("dave", "study", "SELECT * FROM subjects ORDER BY 1", rBiostat),
		deny("dave", "study", "SELECT subject_id FROM subjects; SELECT 1", rBiostat).withMulti(),
	}},
	{"statement-kinds", []dcase{
		allow("alice", "", "BEGIN"),
		allow("alice", "", "START TRANSACTION READ ONLY"),
		allow("alice", "", "COMMIT"),
		allow("alice", "", "ROLLBACK"),
		allow("alice", "", "SAVEPOINT a"),
		allow("alice", "", "RELEASE SAVEPOINT a"),
		allow("alice", "", "DO 1"),
		allow("alice", "", "HELP 'contents'"),
		allow("alice", "study", "EXPLAIN SELECT visit_id FROM visits"),
		allow("bob", "", "BEGIN"),
		allow("bob", "", "SET NAMES utf8mb4"),
		deny("bob", "", "DO 1", RuleStatementKind).ofClass(ClassStatement),
		deny("bob", "", "HELP 'x'", RuleStatementKind),
		deny("bob", "study", "EXPLAIN SELECT name FROM sites", RuleStatementKind),
		deny("erin", "", "SHOW DATABASES", RuleStatementKind),
		deny("erin", "", "USE ops", RuleStatementKind),
		deny("erin", "", "SET NAMES utf8mb4", RuleStatementKind),
		deny("erin", "", "BEGIN", RuleStatementKind),
		deny("erin", "", "DESCRIBE ops.site_payments", RuleStatementKind),
		deny("erin", "", "EXPLAIN SELECT amount_eur FROM ops.site_payments", RuleStatementKind),
		allow("erin", "", "SELECT SUM(amount_eur) FROM ops.site_payments"),
		deny("frank", "", "BEGIN", RuleStatementKind),
		deny("frank", "", "DO 1", RuleStatementKind),
		allow("frank", "", "EXPLAIN SELECT visit_id FROM study.visits"),
		allow("frank", "", "EXPLAIN FORMAT=JSON SELECT visit_id FROM study.visits"),
		deny("ivan", "", "USE study", RuleStatementKind),
		deny("ivan", "", "SET autocommit = 1", RuleStatementKind),
		allow("ivan", "", "SHOW TABLES FROM study").filtered(),
	}},
	{"writes-ddl", []dcase{
		deny("alice", "study", "INSERT INTO sites (name) VALUES ('x')", RuleReadOnly).ofClass(ClassStatement),
		deny("alice", "study", "INSERT INTO sites SELECT * FROM sites", RuleReadOnly),
		deny("alice", "study", "REPLACE INTO sites (name) VALUES ('x')", RuleReadOnly),
		deny("alice", "study", "UPDATE sites SET name = 'x'", RuleReadOnly),
		deny("alice", "study", "DELETE FROM sites", RuleReadOnly),
		deny("alice", "study", "CREATE TABLE t (a INT)", RuleReadOnly),
		deny("alice", "study", "CREATE TEMPORARY TABLE t (a INT)", RuleReadOnly),
		deny("alice", "study", "CREATE TABLE t AS SELECT * FROM sites", RuleReadOnly),
		deny("alice", "study", "CREATE VIEW vv AS SELECT 1", RuleReadOnly),
		deny("alice", "study", "CREATE DATABASE x", RuleReadOnly),
		deny("alice", "study", "DROP TABLE sites", RuleReadOnly),
		deny("alice", "study", "DROP DATABASE study", RuleReadOnly),
		deny("alice", "study", "ALTER TABLE sites ADD COLUMN x INT", RuleReadOnly),
		deny("alice", "study", "RENAME TABLE sites TO s2", RuleReadOnly),
		deny("alice", "study", "TRUNCATE TABLE sites", RuleReadOnly),
		deny("alice", "study", "CREATE INDEX i ON sites (name)", RuleReadOnly),
		deny("alice", "study", "GRANT SELECT ON study.* TO x", RuleReadOnly),
		deny("alice", "study", "REVOKE SELECT ON study.* FROM x", RuleReadOnly),
		deny("alice", "", "CREATE USER x IDENTIFIED BY 'y'", RuleReadOnly),
		deny("alice", "", "SET PASSWORD FOR root = 'x'", RuleReadOnly),
		deny("alice", "", "SET ROLE ALL", RuleReadOnly),
		deny("alice", "study", "LOCK TABLES visits READ", RuleReadOnly),
		deny("alice", "study", "UNLOCK TABLES", RuleReadOnly),
		deny("alice", "study", "LOAD DATA INFILE '/etc/passwd' INTO TABLE visits", RuleReadOnly),
		deny("alice", "study", "LOAD DATA LOCAL INFILE 'x' INTO TABLE visits", RuleReadOnly),
		deny("alice", "", "FLUSH PRIVILEGES", RuleReadOnly),
		deny("alice", "study", "CALL p()", RuleReadOnly),
		deny("alice", "", "PREPARE s FROM 'SELECT * FROM ops.site_payments'", RuleReadOnly),
		deny("alice", "", "EXECUTE s", RuleReadOnly),
		deny("alice", "", "DEALLOCATE PREPARE s", RuleReadOnly),
		deny("alice", "", "KILL 1", RuleReadOnly),
		deny("alice", "", "KILL QUERY 1", RuleReadOnly),
		deny("alice", "study", "ANALYZE TABLE visits", RuleReadOnly),
		deny("alice", "study", "OPTIMIZE TABLE visits", RuleReadOnly),
		deny("alice", "", "SHUTDOWN", RuleReadOnly),
		deny("alice", "study", "SELECT visit_id FROM visits FOR UPDATE", RuleReadOnly),
		deny("alice", "study", "SELECT visit_id FROM visits LOCK IN SHARE MODE", RuleReadOnly),
		deny("alice", "study", "SELECT visit_id FROM visits FOR SHARE", RuleReadOnly),
		deny("frank", "", "EXPLAIN UPDATE study.visits SET visit_name = 'x'", RuleReadOnly),
		deny("frank", "", "EXPLAIN DELETE FROM study.visits", RuleReadOnly),
		unparseable("alice", "study", "HANDLER visits OPEN"),
		unparseable("alice", "study", "HANDLER visits READ FIRST"),
		unparseable("alice", "study", "CHECKSUM TABLE visits"),
		unparseable("alice", "study", "REPAIR TABLE visits"),
		unparseable("alice", "", "EXECUTE IMMEDIATE 'SELECT 1'"),
		unparseable("alice", "", "SET STATEMENT max_statement_time = 1 FOR SELECT 1"),
		unparseable("alice", "", "INSTALL PLUGIN x SONAME 'y'"),
		unparseable("alice", "", "XA START 'x'"),
		unparseable("alice", "", "CHANGE MASTER TO MASTER_HOST = 'x'"),
		unparseable("alice", "", "RESET MASTER"),
	}},
	{"into-and-functions", []dcase{
		deny("alice", "study", "SELECT * FROM visits INTO OUTFILE '/tmp/x'", RuleReadOnly),
		deny("alice", "study", "SELECT visit_id FROM visits INTO OUTFILE '/tmp/x' FIELDS TERMINATED BY ','", RuleReadOnly),
		unparseable("alice", "study", "SELECT visit_id INTO DUMPFILE '/tmp/x' FROM visits"),
		unparseable("alice", "study", "SELECT visit_id INTO @v FROM visits LIMIT 1"),
		unparseable("alice", "study", "SELECT visit_id FROM visits LIMIT 1 INTO @v"),
		deny("alice", "", "SELECT LOAD_FILE('/etc/passwd')", RuleFunctions).ofClass(ClassFunction),
		deny("alice", "study", "SELECT name FROM sites WHERE LOAD_FILE('/etc/passwd') IS NULL", RuleFunctions),
		deny("alice", "", "SELECT SLEEP(10)", RuleFunctions),
		deny("alice", "study", "SELECT name FROM sites WHERE IF(site_id = 1, SLEEP(1), 0) = 0", RuleFunctions),
		deny("alice", "", "DO SLEEP(1)", RuleFunctions),
		deny("alice", "", "SELECT BENCHMARK(1000000, MD5('a'))", RuleFunctions),
		deny("alice", "", "SELECT RELEASE_LOCK('a')", RuleReadOnly), // state other sessions see: not read-only
		deny("alice", "", "SELECT GET_LOCK('a', 1)", RuleReadOnly),
		deny("alice", "", "SELECT IS_FREE_LOCK('a')", RuleFunctions),
		deny("alice", "", "SELECT MASTER_POS_WAIT('log', 4)", RuleFunctions),
		deny("alice", "study", "SELECT study.f(1)", RuleReadOnly), // a stored function can write
		deny("alice", "study", "SELECT ops.f(1)", RuleReadOnly),
		rewrite("alice", "", "SELECT CURRENT_USER()", "'alice@rrproxy' AS `CURRENT_USER()`"),
		rewrite("alice", "", "SELECT USER(), SESSION_USER(), SYSTEM_USER()", "'alice@rrproxy' AS `USER()`", "'alice@rrproxy' AS `SYSTEM_USER()`"),
		rewrite("bob", "", "SELECT CURRENT_USER", "'bob@rrproxy'"),
		rewrite("dave", "study", "SELECT COUNT(*) FROM visits WHERE USER() LIKE 'root%'", "'dave@rrproxy' LIKE"),
		rewrite("alice", "study", "SELECT name, CURRENT_USER() AS who FROM sites", "'alice@rrproxy' AS `who`"),
		allow("alice", "", "SELECT DATABASE(), VERSION(), CONNECTION_ID(), NOW()"),
		allow("bob", "", "SELECT @@version, @@version_comment"),
	}},
	{"session-variables", []dcase{
		allow("alice", "", "SET autocommit = 1"),
		allow("alice", "", "SET @@session.wait_timeout = 100"),
		allow("alice", "", "SET SESSION sql_select_limit = 10"),
		allow("alice", "", "SET NAMES utf8mb4"),
		allow("alice", "", "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci"),
		allow("alice", "", "SET character_set_results = NULL"),
		allow("alice", "", "SET sql_mode = 'STRICT_TRANS_TABLES'"),
		allow("alice", "", "SET time_zone = '+00:00'"),
		allow("alice", "", "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
		allow("alice", "", "SET SESSION TRANSACTION READ ONLY"),
		allow("alice", "", "SET @x = 1"),
		allow("alice", "study", "SET @x = (SELECT visit_id FROM visits LIMIT 1)"),
		hidden("alice", "study", "SET @x = (SELECT treatment_arm FROM visits LIMIT 1)", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "", "SET @x = (SELECT COUNT(*) FROM ops.site_payments)", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		deny("alice", "", "SET GLOBAL wait_timeout = 100", RuleVariables).ofClass(ClassVariable),
		deny("alice", "", "SET @@global.wait_timeout = 100", RuleVariables),
		deny("alice", "", "SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED", RuleVariables),
		deny("alice", "", "SET GLOBAL read_only = 0", RuleVariables),
		deny("alice", "", "SET sql_log_bin = 0", RuleVariables),
		allow("alice", "", "SET sql_quote_show_create = 1"),
		deny("alice", "", "SET sql_quote_show_create = 0", RuleVariables), // SHOW CREATE TABLE is filtered by quoted names
		deny("alice", "", "SET SESSION sql_quote_show_create = OFF", RuleVariables),
		deny("alice", "study", "SET sql_quote_show_create = @off; SHOW CREATE TABLE visits", RuleVariables).withMulti(),
		deny("alice", "", "SET max_execution_time = 0", RuleVariables),
		deny("alice", "", "SET sql_mode = 'ANSI_QUOTES'", RuleVariables),
		deny("alice", "", "SET sql_mode = 'NO_BACKSLASH_ESCAPES'", RuleVariables),
		deny("alice", "", "SET sql_mode = 'ANSI'", RuleVariables),
		deny("alice", "", "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", RuleVariables),
		deny("alice", "", "SET NAMES gbk", RuleVariables),
		deny("alice", "", "SET character_set_client = sjis", RuleVariables),
		unparseable("alice", "", "SET CHARACTER SET big5"),
		unparseable("alice", "study", "SET sql_mode = 'ANSI_QUOTES'; SELECT \"treatment_arm\" FROM visits").withMulti(),
		hidden("alice", "study", "SELECT \"treatment_arm\" FROM visits", rBlind, ClassColumn, "treatment_arm").withMode("ANSI_QUOTES"),
		allow("alice", "study", "SELECT \"visit_id\" FROM visits").withMode("ANSI_QUOTES"),
		allow("alice", "study", "SELECT 'treatment_arm' FROM visits"),
		unparseable("alice", "", "SELECT 1").withMode("ORACLE"),
		unparseable("alice", "study", "SELECT \"a\\\" FROM visits WHERE 1\" FROM sites").withMode("ANSI_QUOTES"),
	}},
	{"executable-comments", []dcase{
		allow("alice", "", "/*! SELECT */ 1"),
		allow("alice", "", "/*!40101 SELECT 1 */"),
		unparseable("alice", "", "/*!80000 SELECT 1 */"),
		unparseable("alice", "", "/*!50700 SELECT 1 */"),
		unparseable("alice", "", "/*!4010 SELECT 1 */"),
		unparseable("alice", "", "/*M! SELECT 1 */"),
		unparseable("alice", "", "/*M!100000 DROP TABLE study.sites */ SELECT 1"),
		unparseable("alice", "", "SELECT '/*M!' AS x"), // rejected even inside a string
		unparseable("alice", "", "/*T! SELECT 1 */"),
		unparseable("alice", "", "/*T![clustered_index] SELECT 1 */"),
		hidden("alice", "study", "SELECT visit_id /*! , treatment_arm */ FROM visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("alice", "study", "SELECT 1 /*!40000 FROM ops.site_payments */", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		unparseable("alice", "", "/*! SELECT 1 /* nested */ */"),
		unparseable("alice", "", "SELECT /*+ MAX_EXECUTION_TIME(1) '*/ 1 */ 1"),
		allow("alice", "study", "SELECT /*+ MAX_EXECUTION_TIME(1000) */ name FROM sites"),
		allow("alice", "study", "SELECT name FROM sites -- ; DROP TABLE sites"),
		unparseable("alice", "study", "SELECT name FROM sites --\x01; DROP TABLE sites"),
		unparseable("alice", "", "SELECT 1\x00; DROP TABLE study.sites"),
		unparseable("alice", "", "SELEC nonsense"),
		unparseable("alice", "", ""),
		unparseable("alice", "", "   "),
		unparseable("alice", "", "SELECT '\xff'"),
	}},
	{"multi-statements", []dcase{
		allow("alice", "", "SELECT 1; SELECT 2").withMulti(),
		deny("alice", "", "SELECT 1; SELECT 2", RuleMultiStmt),
		deny("alice", "study", "SELECT name FROM sites; SELECT title FROM studies", RuleMultiStmt),
		hidden("alice", "study", "SELECT 1; SELECT treatment_arm FROM visits", rBlind, ClassColumn, "treatment_arm").withMulti(),
		hidden("alice", "study", "SELECT 1; SELECT * FROM ops.site_payments", RuleDefaultDeny, ClassTable, "ops.site_payments").withMulti(),
		deny("alice", "study", "SELECT 1; DROP TABLE visits", RuleReadOnly).withMulti(),
		deny("alice", "study", "DELETE FROM visits; SELECT 1", RuleReadOnly).withMulti(),
		deny("alice", "study", "SELECT 1; USE ops", RuleMultiStmt).withMulti(),
		deny("alice", "study", "USE study; SELECT 1", RuleMultiStmt).withMulti(),
		deny("alice", "study", "SELECT 1; SET GLOBAL read_only = 0", RuleVariables).withMulti(),
		deny("alice", "study", "SELECT 1; SHOW TABLES", RuleStatementKind).withMulti(),
		rewrite("alice", "study", "SELECT * FROM visits; SELECT 1", "`visits`.`visit_id`").without("treatment_arm").withMulti(),
		deny("alice", "study", "SELECT 1; SELECT SLEEP(1)", RuleFunctions).withMulti(),
		deny("bob", "study", "SELECT 1; DO 1", RuleStatementKind).withMulti(),
		unparseable("alice", "study", "SELECT 1; SELEC 2").withMulti(),
		unparseable("alice", "study", "SET NAMES gbk; SELECT 1").withMulti(),
	}},
	{"information-schema", []dcase{
		rewrite("bob", "", "SELECT * FROM information_schema.SCHEMATA", "`information_schema`.`SCHEMATA` WHERE").without("ops", "study_archive"),
		rewrite("bob", "", "SELECT TABLE_NAME FROM information_schema.TABLES", "`information_schema`.`TABLES` WHERE").without("ops", "study_archive"),
		rewrite("bob", "", "SELECT * FROM information_schema.COLUMNS WHERE TABLE_NAME = 'visits'", "`information_schema`.`COLUMNS` WHERE", "'treatment_arm'").without("ops"),
		rewrite("bob", "", "SELECT * FROM information_schema.STATISTICS", "`information_schema`.`STATISTICS` WHERE"),
		rewrite("bob", "", "SELECT * FROM information_schema.KEY_COLUMN_USAGE", "`REFERENCED_TABLE_NAME` IS NULL OR"),
		rewrite("bob", "", "SELECT * FROM information_schema.REFERENTIAL_CONSTRAINTS", "`UNIQUE_CONSTRAINT_SCHEMA` LIKE 'study'"),
		rewrite("bob", "", "SELECT * FROM information_schema.VIEWS", "`information_schema`.`VIEWS` WHERE"),
		rewrite("bob", "", "SELECT ROUTINE_NAME FROM information_schema.ROUTINES", "`ROUTINE_SCHEMA` LIKE 'study'"),
		rewrite("bob", "", "SELECT * FROM information_schema.PARTITIONS", "`information_schema`.`PARTITIONS` WHERE"),
		rewrite("bob", "", "SELECT * FROM information_schema.TABLE_CONSTRAINTS", "`information_schema`.`TABLE_CONSTRAINTS` WHERE"),
		rewrite("bob", "information_schema", "SELECT * FROM TABLES", "`information_schema`.`TABLES` WHERE"),
		rewrite("bob", "", "SELECT t.TABLE_NAME, c.COLUMN_NAME FROM information_schema.TABLES t JOIN information_schema.COLUMNS c ON t.TABLE_NAME = c.TABLE_NAME", "AS `t` JOIN", "AS `c`"),
		rewrite("bob", "", "SELECT 1 FROM DUAL WHERE EXISTS (SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'ops')", "`information_schema`.`TABLES` WHERE"),
		rewrite("bob", "", "SELECT (SELECT COUNT(*) FROM information_schema.TABLES)", "`information_schema`.`TABLES` WHERE"),
		rewrite("henry", "", "SELECT * FROM information_schema.TABLES", "WHERE FALSE"),
		rewrite("frank", "", "SELECT * FROM information_schema.SCHEMATA", "NOT IN ('mysql','performance_schema','sys')", "NOT (`SCHEMA_NAME` LIKE 'ops')"),
		rewrite("frank", "", "SELECT * FROM information_schema.COLUMNS", "`COLUMN_NAME`='treatment_arm'", "`COLUMN_NAME`='narrative'"),
		hidden("bob", "", "SELECT * FROM information_schema.PROCESSLIST", RuleSystemSchemas, ClassTable, "information_schema.processlist"),
		hidden("bob", "", "SELECT * FROM information_schema.USER_PRIVILEGES", RuleSystemSchemas, ClassTable, "information_schema.user_privileges"),
		hidden("bob", "", "SELECT * FROM information_schema.SCHEMA_PRIVILEGES", RuleSystemSchemas, ClassTable, "information_schema.schema_privileges"),
		hidden("bob", "", "SELECT * FROM information_schema.TABLE_PRIVILEGES", RuleSystemSchemas, ClassTable, "information_schema.table_privileges"),
		hidden("bob", "", "SELECT * FROM information_schema.TRIGGERS", RuleSystemSchemas, ClassTable, "information_schema.triggers"),
		hidden("bob", "", "SELECT * FROM information_schema.GLOBAL_VARIABLES", RuleSystemSchemas, ClassTable, "information_schema.global_variables"),
		hidden("bob", "", "SELECT * FROM information_schema.INNODB_TRX", RuleSystemSchemas, ClassTable, "information_schema.innodb_trx"),
		hidden("bob", "", "SELECT * FROM information_schema.EVENTS", RuleSystemSchemas, ClassTable, "information_schema.events"),
		hidden("bob", "information_schema", "SELECT INFO FROM PROCESSLIST", RuleSystemSchemas, ClassTable, "information_schema.processlist"),
		allow("bob", "", "SELECT * FROM information_schema.COLLATIONS"),
		allow("bob", "", "SELECT * FROM information_schema.ENGINES"),
		allow("bob", "", "SELECT * FROM information_schema.SESSION_VARIABLES"),
		allow("bob", "", "SELECT * FROM information_schema.CHARACTER_SETS"),
		allow("frank", "", "EXPLAIN SELECT * FROM information_schema.TABLES"),
		allow("frank", "", "DESCRIBE information_schema.TABLES").filtered(),
	}},
	{"system-schemas", []dcase{
		hidden("bob", "", "SELECT * FROM mysql.user", RuleSystemSchemas, ClassTable, "mysql.user"),
		hidden("bob", "", "SELECT * FROM performance_schema.events_statements_history", RuleSystemSchemas, ClassTable, "performance_schema.events_statements_history"),
		hidden("bob", "", "SELECT * FROM sys.session", RuleSystemSchemas, ClassTable, "sys.session"),
		hidden("frank", "", "SELECT * FROM mysql.user", RuleSystemSchemas, ClassTable, "mysql.user"), // *.* does not reach system schemas
		hidden("frank", "", "SELECT * FROM performance_schema.threads", RuleSystemSchemas, ClassTable, "performance_schema.threads"),
		hidden("frank", "", "SELECT * FROM sys.processlist", RuleSystemSchemas, ClassTable, "sys.processlist"),
		hidden("frank", "", "USE mysql", RuleSystemSchemas, ClassSchema, "mysql"),
		hidden("frank", "", "SHOW TABLES FROM performance_schema", RuleSystemSchemas, ClassSchema, "performance_schema"),
		allow("ivan", "", "SELECT Name FROM mysql.time_zone_name WHERE Time_zone_id = 1"),
		hidden("ivan", "", "SELECT * FROM mysql.user", RuleSystemSchemas, ClassTable, "mysql.user"),
		allow("ivan", "", "SHOW TABLES FROM mysql").filtered(),
		hidden("alice", "", "SELECT user, authentication_string FROM mysql.user", RuleSystemSchemas, ClassTable, "mysql.user"),
		hidden("alice", "study", "SELECT name FROM sites WHERE EXISTS (SELECT 1 FROM mysql.user)", RuleSystemSchemas, ClassTable, "mysql.user"),
	}},
	{"show", []dcase{
		allow("bob", "", "SHOW DATABASES").filtered(),
		allow("bob", "", "SHOW SCHEMAS LIKE 's%'").filtered(),
		allow("bob", "study", "SHOW TABLES").filtered(),
		allow("bob", "study", "SHOW FULL TABLES").filtered(),
		allow("bob", "", "SHOW TABLES FROM study LIKE 'v%'").filtered(),
		allow("bob", "study", "SHOW TABLE STATUS").filtered(),
		allow("bob", "study", "SHOW OPEN TABLES").filtered(),
		allow("bob", "study", "SHOW COLUMNS FROM visits").filtered(),
		allow("bob", "study", "SHOW FULL COLUMNS FROM visits").filtered(),
		allow("bob", "", "SHOW FIELDS FROM study.visits").filtered(),
		allow("bob", "study", "SHOW INDEX FROM visits").filtered(),
		allow("bob", "study", "SHOW KEYS FROM subjects").filtered(),
		allow("bob", "study", "SHOW CREATE TABLE visits").filtered(),
		allow("alice", "study", "SHOW CREATE VIEW v_enrolment").filtered(),
		allow("bob", "study", "SHOW PROCEDURE STATUS").filtered(),
		allow("bob", "study", "SHOW FUNCTION STATUS").filtered(),
		allow("bob", "study", "SHOW CREATE DATABASE study"),
		allow("bob", "", "SHOW VARIABLES LIKE 'sql_mode'"),
		// Every row dropped: the counters are the server's and the
		// service account's, not the person's (statusRows).
		allow("bob", "", "SHOW SESSION STATUS").filtered(),
		allow("bob", "", "SHOW GLOBAL STATUS LIKE 'Queries'").filtered(),
		allow("bob", "", "SHOW STATUS").filtered(),
		rewrite("bob", "", "SELECT * FROM information_schema.GLOBAL_STATUS", "FALSE"),
		rewrite("bob", "", "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'QUERIES'", "FALSE"),
		allow("bob", "", "SHOW WARNINGS"),
		allow("bob", "", "SHOW ERRORS"),
		allow("bob", "", "SHOW COLLATION"),
		allow("bob", "", "SHOW CHARACTER SET"),
		allow("bob", "", "SHOW ENGINES"),
		hidden("bob", "study", "SHOW TABLES FROM ops", RuleDefaultDeny, ClassSchema, "ops"),
		hidden("bob", "study", "SHOW COLUMNS FROM studies", RuleDefaultDeny, ClassTable, "study.studies"),
		hidden("bob", "study", "SHOW COLUMNS FROM visits FROM ops", RuleDefaultDeny, ClassTable, "ops.visits"),
		hidden("bob", "study", "SHOW INDEX FROM ops.site_payments", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		hidden("bob", "study", "SHOW CREATE TABLE ops.site_payments", RuleDefaultDeny, ClassTable, "ops.site_payments"),
		hidden("bob", "study", "SHOW CREATE VIEW v_enrolment", RuleDefaultDeny, ClassTable, "study.v_enrolment"),
		hidden("bob", "study", "SHOW CREATE DATABASE ops", RuleDefaultDeny, ClassSchema, "ops"),
		hidden("bob", "study", "SHOW TABLE STATUS FROM study_archive", RuleDefaultDeny, ClassSchema, "study_archive"),
		deny("bob", "", "SHOW GRANTS", RuleStatementKind),
		deny("bob", "", "SHOW GRANTS FOR CURRENT_USER", RuleStatementKind),
		deny("bob", "", "SHOW PROCESSLIST", RuleStatementKind),
		deny("bob", "", "SHOW FULL PROCESSLIST", RuleStatementKind),
		deny("bob", "study", "SHOW TRIGGERS", RuleStatementKind),
		deny("bob", "", "SHOW SLAVE STATUS", RuleStatementKind),
		deny("bob", "", "SHOW REPLICA STATUS", RuleStatementKind),
		deny("bob", "", "SHOW MASTER STATUS", RuleStatementKind),
		deny("bob", "study", "SHOW EVENTS", RuleStatementKind),
		deny("bob", "", "SHOW PROFILES", RuleStatementKind),
		deny("bob", "", "SHOW CREATE USER root", RuleStatementKind),
		deny("bob", "study", "SHOW CREATE PROCEDURE p", RuleStatementKind),
		unparseable("bob", "", "SHOW ENGINE INNODB STATUS"),
		unparseable("bob", "", "SHOW BINARY LOGS"),
		deny("bob", "study", "SHOW TABLES", RuleStatementKind).withPrepared(),
		deny("bob", "study", "SHOW COLUMNS FROM visits", RuleStatementKind).withPrepared(),
		deny("bob", "study", "DESCRIBE visits", RuleStatementKind).withPrepared(),
		deny("bob", "", "SHOW DATABASES", RuleStatementKind).withPrepared(),
		allow("bob", "", "SHOW VARIABLES").withPrepared(), // nothing to filter
		rewrite("bob", "study", "SELECT * FROM sites WHERE site_id = ?", "'(withheld)'").withPrepared(),
	}},
	{"describe-explain", []dcase{
		allow("alice", "study", "DESCRIBE visits").filtered(),
		allow("alice", "study", "DESC visits").filtered(),
		allow("alice", "study", "EXPLAIN visits").filtered(),
		allow("alice", "study", "DESCRIBE visits visit_id").filtered(),
		hidden("alice", "study", "DESC visits treatment_arm", rBlind, ClassColumn, "treatment_arm"),
		hidden("bob", "study", "DESCRIBE studies", RuleDefaultDeny, ClassTable, "study.studies"),
		hidden("frank", "", "DESCRIBE ops.site_payments", rAudit, ClassTable, "ops.site_payments"),
		allow("frank", "", "DESCRIBE study.visits").filtered(),
		hidden("frank", "", "EXPLAIN SELECT * FROM ops.site_payments", rAudit, ClassTable, "ops.site_payments"),
		hidden("frank", "", "EXPLAIN SELECT treatment_arm FROM study.visits", rBlind, ClassColumn, "treatment_arm"),
		hidden("frank", "", "EXPLAIN SELECT visit_id FROM study.visits WHERE treatment_arm = 'A'", rBlind, ClassColumn, "treatment_arm"),
		allow("frank", "", "EXPLAIN SELECT * FROM study.visits"), // a plan shows no values
		allow("frank", "", "DESCRIBE SELECT * FROM study.visits"),
		allow("frank", "", "EXPLAIN ANALYZE SELECT visit_id FROM study.visits"),
		allow("alice", "study", "EXPLAIN SELECT birth_year FROM subjects WHERE birth_year > 1990").withShadow("would deny"),
		deny("bob", "study", "DESCRIBE SELECT birth_year FROM subjects", RuleStatementKind),
		deny("dave", "study", "EXPLAIN SELECT visit_id FROM visits WHERE subject_id = 'S-001'", rBiostat),
		deny("dave", "study", "EXPLAIN SELECT subject_id FROM subjects", rBiostat),
		hidden("dave", "study", "EXPLAIN SELECT * FROM v_enrolment", rBiostat, ClassTable, "study.v_enrolment"),
		deny("frank", "", "EXPLAIN FOR CONNECTION 1", RuleReadOnly),
	}},
	{"views", []dcase{
		allow("alice", "study", "SELECT * FROM v_enrolment"),
		allow("alice", "study", "SELECT site_id, subjects FROM v_enrolment WHERE subjects > 10"),
		hidden("bob", "study", "SELECT * FROM v_enrolment", RuleDefaultDeny, ClassTable, "study.v_enrolment"),
		hidden("bob", "study", "SELECT s.name FROM sites s JOIN v_enrolment e ON e.site_id = s.site_id", RuleDefaultDeny, ClassTable, "study.v_enrolment"),
		hidden("dave", "study", "SELECT COUNT(*) FROM v_enrolment", rBiostat, ClassTable, "study.v_enrolment"),
		hidden("bob", "study", "SHOW COLUMNS FROM v_enrolment", RuleDefaultDeny, ClassTable, "study.v_enrolment"),
		hidden("bob", "study", "SHOW CREATE TABLE v_enrolment", RuleDefaultDeny, ClassTable, "study.v_enrolment"),
		allow("alice", "study", "SHOW CREATE TABLE v_enrolment").filtered(),
		allow("frank", "study", "SELECT * FROM v_enrolment"),
	}},
	{"several-groups", []dcase{
		allow("gwen", "", "SELECT p.amount_eur, v.visit_date FROM ops.site_payments p JOIN study.visits v ON v.visit_id = p.payment_id").withShadow("would deny"),
		rewrite("gwen", "study", "SELECT birth_year FROM subjects", "NULL AS `birth_year`").withShadow("-"),
		rewrite("gwen", "", "SELECT * FROM study.sites", "'(withheld)' AS `principal_investigator`"),
		hidden("gwen", "", "SELECT bank_account FROM ops.site_payments", rFinance, ClassColumn, "bank_account"),
		hidden("gwen", "", "SELECT ae_id FROM study.adverse_events", rEmbargo, ClassTable, "study.adverse_events"),
		hidden("gwen", "", "SELECT title FROM study.studies", RuleDefaultDeny, ClassTable, "study.studies"),
		allow("gwen", "", "SHOW TABLES FROM ops").filtered(), // show comes from site-monitors
		allow("gwen", "", "USE ops").usesDB("ops"),
		deny("gwen", "", "DO 1", RuleStatementKind),
	}},
	{"limits", []dcase{
		// MaxRows is checked for every case by the runner; these name it.
		allow("bob", "study", "SELECT country FROM sites"),
		allow("mona", "study", "SELECT name FROM sites"),
		allow("erin", "", "SELECT paid_on FROM ops.site_payments"),
		allow("alice", "study", "SELECT name FROM sites"),
		allow("gwen", "study", "SELECT name FROM sites"), // the more generous group's limit
	}},
	{"shadow", []dcase{
		rewrite("bob", "study", "SELECT * FROM visits", "`visits`.`visit_id`").without("treatment_arm").withShadow("would deny: rrproxy: unknown table study.visits [rule shadow-monitor-no-visits]"),
		allow("bob", "study", "SELECT visit_id FROM visits").withShadow("would deny"),
		allow("bob", "study", "SHOW CREATE TABLE visits").filtered().withShadow("would deny"),
		allow("bob", "study", "SELECT name FROM sites").withShadow("-"),
		allow("alice", "study", "SELECT birth_year FROM subjects").withShadow("would rewrite differently"),
		allow("alice", "study", "SELECT * FROM subjects").withShadow("would rewrite differently"),
		allow("alice", "study", "SELECT subject_id FROM subjects WHERE birth_year > 1990").withShadow("would deny"),
		allow("alice", "study", "SELECT visit_id FROM visits").withShadow("-"),
		hidden("erin", "", "SELECT site_id FROM study.subjects", RuleDefaultDeny, ClassTable, tSubjects).withShadow("would allow"),
		allow("dave", "study", "SELECT COUNT(*) FROM subjects").withShadow("-"),
		hidden("alice", "study", "SELECT treatment_arm FROM visits", rBlind, ClassColumn, "treatment_arm").withShadow("-"),
	}},
}

func countDecisionCases() int {
	n := 0
	for _, c := range decisionTable {
		n += len(c.cases)
	}
	return n
}

func TestDecisionSuiteSize(t *testing.T) {
	n := countDecisionCases()
	t.Logf("%d decision cases in %d categories", n, len(decisionTable))
	if n < minDecisionCases {
		t.Fatalf("the decision suite has %d cases; keep at least %d", n, minDecisionCases)
	}
	for _, c := range decisionTable {
		if len(c.cases) < 3 {
			t.Errorf("category %s has %d cases; give each category several", c.name, len(c.cases))
		}
	}
}

// wantMaxRows is each user's effective max_rows in the policy.
var wantMaxRows = map[string]int64{"bob": 100, "mona": 500, "erin": 1000, "gwen": 1000}

func TestDecisions(t *testing.T) {
	p := decisionsPolicy(t)
	for _, cat := range decisionTable {
		t.Run(cat.name, func(t *testing.T) {
			for i, c := range cat.cases {
				t.Run(fmt.Sprintf("%03d", i), func(t *testing.T) {
					checkDecision(t, p, c)
				})
			}
		})
	}
}

func checkDecision(t *testing.T, p *Policy, c dcase) {
	t.Helper()
	id := who(t, p, c.user)
	sess := c.sess()
	d := p.CheckQuery(id, sess, c.sql)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\n  want %s: %s\n  got err=%v sql=%q", c, c.want, fmt.Sprintf(format, args...), d.Err, d.SQL)
	}
	if d.PolicyVersion != p.Version {
		fail("decision carries policy version %q, want %q", d.PolicyVersion, p.Version)
	}
	if d.MaxRows != wantMaxRows[c.user] {
		fail("MaxRows %d, want %d", d.MaxRows, wantMaxRows[c.user])
	}
	var de *DeniedError
	isDenied := errors.As(d.Err, &de)
	switch c.want {
	case wantAllow, wantRewrite:
		if d.Err != nil {
			fail("refused")
		}
		if c.want == wantAllow && d.SQL != "" {
			fail("rewritten")
		}
		if c.want == wantRewrite && d.SQL == "" {
			fail("not rewritten")
		}
		if (d.Rows != nil) != c.rows {
			fail("row filter set: %v", d.Rows != nil)
		}
		if fmt.Sprint(d.Pseudonyms) != fmt.Sprint(c.psn) && !(len(d.Pseudonyms) == 0 && len(c.psn) == 0) {
			fail("pseudonyms %v, want %v", d.Pseudonyms, c.psn)
		}
		if d.UseDB != c.useDB {
			fail("UseDB %q, want %q", d.UseDB, c.useDB)
		}
		if err := leakCheck(p, id, sess, c.sql, d); err != nil {
			fail("%v", err)
		}
	case wantDeny:
		if !isDenied || de.Hidden || de.Rule != c.rule || !errors.Is(d.Err, ErrDenied) {
			fail("a visible denial by rule %s", c.rule)
		}
		if c.class != "" && de.Class != c.class {
			fail("class %s, want %s", de.Class, c.class)
		}
	case wantHidden:
		if !isDenied || !de.Hidden || !errors.Is(d.Err, ErrDenied) {
			fail("a hidden denial")
		}
		if c.rule != "" && de.Rule != c.rule || c.class != "" && de.Class != c.class || c.object != "" && de.Object != c.object {
			fail("rule %s class %s object %s; got rule %s class %s object %s", c.rule, c.class, c.object, de.Rule, de.Class, de.Object)
		}
		// Answered as absence: the message names the object, nothing else.
		if de.Object != "" && !strings.Contains(de.Msg, de.Object) || strings.Contains(de.Msg, "rule") {
			fail("message %q must read like a missing %s", de.Msg, de.Class)
		}
	case wantUnparseable:
		if !errors.Is(d.Err, ErrUnparseable) {
			fail("ErrUnparseable")
		}
	case wantNoDatabase:
		if !errors.Is(d.Err, ErrNoDatabase) {
			fail("ErrNoDatabase")
		}
	}
	for _, s := range c.has {
		if !strings.Contains(d.SQL, s) {
			fail("rewritten SQL lacks %q", s)
		}
	}
	for _, s := range c.hasNot {
		if strings.Contains(strings.ToLower(d.SQL), strings.ToLower(s)) {
			fail("rewritten SQL names %q", s)
		}
	}
	switch c.shadow {
	case "":
	case "-":
		if d.Shadow != "" {
			fail("shadow %q, want none", d.Shadow)
		}
	default:
		if !strings.Contains(d.Shadow, c.shadow) {
			fail("shadow %q, want it to contain %q", d.Shadow, c.shadow)
		}
	}
}

// leakCheck analyses what an allowed decision sends upstream (the
// rewritten text, else the client's) and reports any reference to a
// hidden schema or table, a withheld column, a masked (null or fixed)
// column left in place, or a star over a table with withheld or masked
// columns. It is the invariant every allowed decision must satisfy.
func leakCheck(p *Policy, id *Identity, sess Session, sql string, d Decision) error {
	text := d.SQL
	if text == "" {
		text = sql
	}
	res, err := sqlscope.AnalyzeMode(text, sess.DB, sess.SQLMode)
	if err != nil {
		return fmt.Errorf("the statement sent upstream does not analyse: %v", err)
	}
	g := p.grantsFor(id, false)
	db := sess.DB
	var check func(st *sqlscope.Statement) error
	check = func(st *sqlscope.Statement) error {
		for _, s := range st.Schemas {
			if !g.schemaVisible(s) {
				return fmt.Errorf("sends a hidden schema %s upstream", s)
			}
		}
		for _, t := range st.Tables {
			if rid := g.tableRule(t); rid != "" {
				return fmt.Errorf("sends hidden table %s upstream (rule %s)", t, rid)
			}
		}
		// Only these kinds return values; DESCRIBE t col may name a
		// masked column.
		values := st.Kind == sqlscope.KindSelect || st.Kind == sqlscope.KindSet || st.Kind == sqlscope.KindDo
		for _, c := range st.Columns {
			if rid := g.columnDeniedAny(st, c); rid != "" {
				return fmt.Errorf("sends withheld column %s upstream (rule %s)", c, rid)
			}
			if m := g.columnMask(st, c); values && m != nil && m.with != MaskPseudonym {
				return fmt.Errorf("sends masked column %s upstream unmasked (rule %s)", c, m.rule)
			}
		}
		if values {
			for _, t := range st.Stars {
				if g.restricted(t) {
					return fmt.Errorf("sends a star over %s, which has withheld or masked columns", t)
				}
			}
		}
		return nil
	}
	for i := range res.Statements {
		st := &res.Statements[i]
		if err := check(st); err != nil {
			return err
		}
		if st.Kind == sqlscope.KindUse && len(st.Schemas) == 1 {
			db = st.Schemas[0]
		}
	}
	_ = db
	return nil
}

// TestDecisionCache: a repeated statement is answered from the cache
// with the same outcome; what differs in user, database, sql_mode or
// flags is never shared.
func TestDecisionCache(t *testing.T) {
	p := decisionsPolicy(t)
	alice, bob, dave := who(t, p, "alice"), who(t, p, "bob"), who(t, p, "dave")
	study := Session{DB: "study", Catalog: decisionsCatalog}
	same := func(a, b Decision) bool {
		return fmt.Sprint(a.Err) == fmt.Sprint(b.Err) && a.SQL == b.SQL && a.Shadow == b.Shadow &&
			fmt.Sprint(a.Pseudonyms) == fmt.Sprint(b.Pseudonyms) && a.UseDB == b.UseDB && a.MaxRows == b.MaxRows &&
			(a.Rows == nil) == (b.Rows == nil)
	}
	for _, c := range []struct {
		id  *Identity
		s   Session
		sql string
	}{
		{alice, study, "SELECT name FROM sites"},
		{alice, study, "SELECT treatment_arm FROM visits"},                  // denials are cached
		{bob, study, "SELECT birth_year FROM subjects"},                     // rewrites too
		{dave, study, "SELECT subject_id, COUNT(*) FROM visits GROUP BY 1"}, // and pseudonym positions
		{bob, study, "SHOW TABLES"},
		{alice, Session{}, "USE study"},
		{alice, study, "SELEC 1"},
	} {
		d1 := p.CheckQuery(c.id, c.s, c.sql)
		d2 := p.CheckQuery(c.id, c.s, c.sql)
		if d1.Cached || !d2.Cached {
			t.Errorf("%s: Cached %v then %v, want false then true", c.sql, d1.Cached, d2.Cached)
		}
		if !same(d1, d2) {
			t.Errorf("%s: the cached decision differs:\n%+v\n%+v", c.sql, d1, d2)
		}
	}

	// Not shared between people, databases, sql_modes or flags.
	const q = "SELECT name FROM sites"
	if d := p.CheckQuery(bob, study, q); d.Cached {
		t.Error("alice's decision served to bob")
	}
	henry := who(t, p, "henry")
	if d := p.CheckQuery(henry, study, q); d.Cached || d.Allowed() {
		t.Errorf("henry got alice's or bob's decision: cached=%v err=%v", d.Cached, d.Err)
	}
	if d := p.CheckQuery(alice, Session{DB: "ops", Catalog: decisionsCatalog}, q); d.Cached || d.Allowed() {
		t.Errorf("a decision for database study served for ops: cached=%v err=%v", d.Cached, d.Err)
	}
	if d := p.CheckQuery(alice, Session{DB: "study", SQLMode: "ANSI_QUOTES", Catalog: decisionsCatalog}, q); d.Cached {
		t.Error("decision shared across sql_mode")
	}
	const ansi = `SELECT "treatment_arm" FROM visits`
	if d := p.CheckQuery(alice, study, ansi); d.Err != nil {
		t.Fatalf("a string literal refused: %v", d.Err)
	}
	if d := p.CheckQuery(alice, Session{DB: "study", SQLMode: "ANSI_QUOTES", Catalog: decisionsCatalog}, ansi); d.Allowed() || d.Cached {
		t.Errorf("under ANSI_QUOTES %s names the withheld column: cached=%v err=%v", ansi, d.Cached, d.Err)
	}
	if d := p.CheckQuery(alice, Session{DB: "study", MultiStatements: true, Catalog: decisionsCatalog}, q); d.Cached {
		t.Error("decision shared across the multi-statements flag")
	}
	if d := p.CheckQuery(bob, Session{DB: "study", Prepared: true}, "SHOW TABLES"); d.Cached || d.Allowed() {
		t.Errorf("plain-query SHOW decision served to a prepared statement: cached=%v err=%v", d.Cached, d.Err)
	}
	// The same user name with other groups (a single sign-on identity) is
	// another person for the cache.
	if d := p.CheckQuery(&Identity{User: "alice", Groups: []string{"visitors"}}, study, q); d.Cached || d.Allowed() {
		t.Errorf("decision shared across group membership: cached=%v err=%v", d.Cached, d.Err)
	}

	// Decisions that read the catalog are cached only for CatalogTTL,
	// as long as the proxy trusts its copy of the catalog.
	if d := p.CheckQuery(alice, study, "SELECT * FROM visits"); d.Cached || d.Err != nil {
		t.Fatalf("star over visits: cached=%v err=%v", d.Cached, d.Err)
	}
	if d := p.CheckQuery(alice, study, "SELECT * FROM visits"); !d.Cached || d.Err != nil {
		t.Fatalf("star over visits, again: cached=%v err=%v", d.Cached, d.Err)
	}
	e := p.decisions.m[string(appendDecisionKey(nil, alice, study, keyText, "SELECT * FROM visits"))]
	if left := time.Until(e.expires); left <= 0 || left > CatalogTTL {
		t.Fatalf("a catalog-dependent decision expires in %v, want within %v", left, CatalogTTL)
	}
	// A reload starts with an empty cache.
	p2 := decisionsPolicy(t)
	if d := p2.CheckQuery(alice, study, q); d.Cached {
		t.Error("a new policy served a decision of the old one")
	}
}

// TestDecisionCatalogFailures: SELECT * over a table with withheld
// columns needs the catalog; without it the statement is refused.
//
// The same text is asked each time, and the catalog is not part of the
// cache key: an answer that depended on the catalog, failure included,
// must not be served to the next session from the cache.
func TestDecisionCatalogFailures(t *testing.T) {
	p := decisionsPolicy(t)
	alice := who(t, p, "alice")
	const q = "SELECT * FROM visits"
	if d := p.CheckQuery(alice, Session{DB: "study"}, q); !errors.Is(d.Err, ErrCatalog) || d.Cached {
		t.Errorf("no catalog: %v (cached %v)", d.Err, d.Cached)
	}
	if d := p.CheckQuery(alice, Session{DB: "study", Catalog: brokenCatalog{}}, q); !errors.Is(d.Err, ErrCatalog) || d.Cached {
		t.Errorf("broken catalog: %v (cached %v)", d.Err, d.Cached)
	}
	d := p.CheckQuery(alice, Session{DB: "study", Catalog: fakeCatalog{}}, q)
	// The answer of an empty catalog stands for CatalogTTL; start again
	// to see the catalog come back.
	p.decisions = decisionCache{}
	var de *DeniedError
	if !errors.As(d.Err, &de) || !de.Hidden || de.Class != ClassTable || de.Object != "study.visits" || d.Cached {
		t.Errorf("a table the catalog does not list must read as missing: %v (cached %v)", d.Err, d.Cached)
	}
	if d := p.CheckQuery(alice, Session{DB: "study", Catalog: decisionsCatalog}, q); d.Err != nil || d.Cached {
		t.Errorf("catalog back: %v (cached %v)", d.Err, d.Cached)
	}
	// No star over a restricted table: the catalog is not needed.
	if d := p.CheckQuery(alice, Session{DB: "study"}, "SELECT visit_id FROM visits"); d.Err != nil {
		t.Errorf("catalog consulted needlessly: %v", d.Err)
	}
}

type brokenCatalog struct{}

func (brokenCatalog) Columns(string, string) ([]string, error) {
	return nil, errors.New("upstream unavailable")
}

// TestDecisionShadowEnforcesNothing: a shadow rule changes Shadow and
// nothing else; the decision is what the enforced rules alone give.
func TestDecisionShadowEnforcesNothing(t *testing.T) {
	p := decisionsPolicy(t)
	enforced := decisionsPolicyWithout(t, "enforce: false")
	for _, c := range []struct{ user, sql string }{
		{"bob", "SELECT * FROM visits"},
		{"bob", "SELECT visit_id FROM visits WHERE visit_name = 'baseline'"},
		{"alice", "SELECT birth_year FROM subjects"},
		{"alice", "SELECT * FROM subjects"},
		{"alice", "SELECT subject_id FROM subjects WHERE birth_year < 1950"},
		{"erin", "SELECT site_id FROM study.subjects"},
	} {
		sess := Session{DB: "study", Catalog: decisionsCatalog}
		d := p.CheckQuery(who(t, p, c.user), sess, c.sql)
		e := enforced.CheckQuery(who(t, enforced, c.user), sess, c.sql)
		if d.Shadow == "" {
			t.Errorf("%s: %s: no shadow verdict", c.user, c.sql)
		}
		if fmt.Sprint(d.Err) != fmt.Sprint(e.Err) || d.SQL != e.SQL || fmt.Sprint(d.Pseudonyms) != fmt.Sprint(e.Pseudonyms) {
			t.Errorf("%s: %s: shadow rules changed the decision:\n with:    %v %q\n without: %v %q", c.user, c.sql, d.Err, d.SQL, e.Err, e.SQL)
		}
	}
}

// decisionsPolicyWithout loads the policy minus every rule whose text
// contains marker.
func decisionsPolicyWithout(t *testing.T, marker string) *Policy {
	t.Helper()
	data := readTestdata(t, decisionsPolicyFile)
	head, rules, _ := strings.Cut(data, "\nrules:\n")
	var keep []string
	for _, r := range strings.Split("\n"+rules, "\n  - ")[1:] {
		if !strings.Contains(r, marker) {
			keep = append(keep, r)
		}
	}
	text := head + "\nrules:\n  - " + strings.Join(keep, "\n  - ")
	p, err := Parse(decisionsPolicyFile, []byte(text))
	if err != nil {
		t.Fatalf("policy without %q: %v", marker, err)
	}
	if p.shadow {
		t.Fatal("shadow rules left in")
	}
	return p
}

// TestDecisionRowFilters calls the SHOW row filters with rows as the
// server would send them.
func TestDecisionRowFilters(t *testing.T) {
	p := decisionsPolicy(t)
	rowsOf := func(vals ...string) [][]byte {
		out := make([][]byte, len(vals))
		for i, v := range vals {
			if v != "\x00" {
				out[i] = []byte(v)
			}
		}
		return out
	}
	filter := func(user, db, sql string) RowFilter {
		t.Helper()
		d := p.CheckQuery(who(t, p, user), Session{DB: db, Catalog: decisionsCatalog}, sql)
		if d.Err != nil || d.Rows == nil {
			t.Fatalf("%s: %s: err=%v rows=%v", user, sql, d.Err, d.Rows != nil)
		}
		return d.Rows
	}
	kept := func(f RowFilter, col int, rows ...[][]byte) []string {
		var out []string
		for _, r := range rows {
			if v, keep := f(r); keep {
				out = append(out, string(v[col]))
			}
		}
		return out
	}
	expect := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: kept %v, want %v", what, got, want)
		}
	}

	dbs := [][][]byte{rowsOf("information_schema"), rowsOf("mysql"), rowsOf("ops"), rowsOf("performance_schema"),
		rowsOf("study"), rowsOf("study_archive"), rowsOf("sys"), rowsOf("Study")}
	expect("bob SHOW DATABASES", kept(filter("bob", "", "SHOW DATABASES"), 0, dbs...), "information_schema", "study", "Study")
	expect("frank SHOW DATABASES", kept(filter("frank", "", "SHOW DATABASES"), 0, dbs...), "information_schema", "study", "study_archive", "Study")
	expect("erin-like henry SHOW DATABASES", kept(filter("henry", "", "SHOW DATABASES"), 0, dbs...), "information_schema")
	expect("ivan SHOW DATABASES", kept(filter("ivan", "", "SHOW DATABASES"), 0, dbs...), "information_schema", "mysql", "study", "Study")

	tables := [][][]byte{rowsOf("adverse_events", "BASE TABLE"), rowsOf("sites", "BASE TABLE"), rowsOf("studies", "BASE TABLE"),
		rowsOf("subjects", "BASE TABLE"), rowsOf("v_enrolment", "VIEW"), rowsOf("visits", "BASE TABLE")}
	expect("bob SHOW TABLES", kept(filter("bob", "study", "SHOW FULL TABLES"), 0, tables...), "sites", "subjects", "visits")
	expect("dave SHOW TABLES", kept(filter("dave", "study", "SHOW TABLES"), 0, tables...), "adverse_events", "sites", "studies", "subjects", "visits")
	expect("bob SHOW TABLE STATUS FROM study", kept(filter("bob", "", "SHOW TABLE STATUS FROM study"), 0, tables...), "sites", "subjects", "visits")
	expect("ivan SHOW TABLES FROM mysql", kept(filter("ivan", "", "SHOW TABLES FROM mysql"), 0,
		rowsOf("time_zone_name"), rowsOf("user"), rowsOf("db")), "time_zone_name")
	expect("bob SHOW TABLES in information_schema", kept(filter("bob", "information_schema", "SHOW TABLES"), 0,
		rowsOf("TABLES"), rowsOf("COLUMNS"), rowsOf("PROCESSLIST"), rowsOf("USER_PRIVILEGES"), rowsOf("COLLATIONS")), "TABLES", "COLUMNS", "COLLATIONS")
	expect("bob SHOW OPEN TABLES", kept(filter("bob", "study", "SHOW OPEN TABLES"), 1,
		rowsOf("study", "sites", "0", "0"), rowsOf("ops", "site_payments", "0", "0"), rowsOf("study", "studies", "0", "0"), rowsOf("mysql", "user", "1", "0")), "sites")
	expect("bob SHOW PROCEDURE STATUS", kept(filter("bob", "study", "SHOW PROCEDURE STATUS"), 1,
		rowsOf("study", "p_enrol"), rowsOf("ops", "p_pay"), rowsOf("mysql", "p_sys")), "p_enrol")

	cols := [][][]byte{rowsOf("visit_id", "int"), rowsOf("subject_id", "varchar(16)"), rowsOf("visit_name", "varchar(40)"),
		rowsOf("Treatment_Arm", "varchar(8)"), rowsOf("systolic_bp", "int")}
	expect("alice SHOW COLUMNS", kept(filter("alice", "study", "SHOW COLUMNS FROM visits"), 0, cols...), "visit_id", "subject_id", "visit_name", "systolic_bp")
	expect("alice DESCRIBE", kept(filter("alice", "study", "DESCRIBE visits"), 0, cols...), "visit_id", "subject_id", "visit_name", "systolic_bp")
	expect("alice SHOW FULL FIELDS", kept(filter("alice", "", "SHOW FULL FIELDS FROM study.visits"), 0, cols...), "visit_id", "subject_id", "visit_name", "systolic_bp")
	expect("dave SHOW COLUMNS of subjects", kept(filter("dave", "study", "SHOW COLUMNS FROM subjects"), 0,
		rowsOf("subject_id"), rowsOf("initials"), rowsOf("birth_year")), "subject_id", "birth_year")
	expect("dave SHOW COLUMNS of adverse_events", kept(filter("dave", "study", "SHOW COLUMNS FROM adverse_events"), 0,
		rowsOf("ae_id"), rowsOf("narrative"), rowsOf("term")), "ae_id", "term")

	idx := [][][]byte{rowsOf("visits", "0", "PRIMARY", "1", "visit_id"), rowsOf("visits", "1", "by_arm", "1", "treatment_arm"),
		rowsOf("visits", "1", "by_subject", "1", "subject_id"), rowsOf("visits", "1", "fx", "1", "\x00")}
	expect("alice SHOW INDEX", kept(filter("alice", "study", "SHOW INDEX FROM visits"), 2, idx...), "PRIMARY", "by_subject", "fx")

	// SHOW CREATE TABLE drops every line naming a withheld column and every
	// foreign key to a table the user may not see; the rest stays valid DDL.
	ddl := "CREATE TABLE `visits` (\n" +
		"  `visit_id` int NOT NULL,\n" +
		"  `subject_id` varchar(16) NOT NULL,\n" +
		"  `treatment_arm` varchar(8) DEFAULT NULL,\n" +
		"  `systolic_bp` int DEFAULT NULL,\n" +
		"  PRIMARY KEY (`visit_id`),\n" +
		"  KEY `by_arm` (`treatment_arm`),\n" +
		"  CONSTRAINT `fk_subject` FOREIGN KEY (`subject_id`) REFERENCES `subjects` (`subject_id`),\n" +
		"  CONSTRAINT `fk_pay` FOREIGN KEY (`visit_id`) REFERENCES `ops`.`site_payments` (`payment_id`),\n" +
		"  CONSTRAINT `chk_arm` CHECK ((`treatment_arm` in (_utf8mb4'A',_utf8mb4'B')))\n" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	out, keep := filter("alice", "study", "SHOW CREATE TABLE visits")(rowsOf("visits", ddl))
	got := string(out[1])
	want := "CREATE TABLE `visits` (\n" +
		"  `visit_id` int NOT NULL,\n" +
		"  `subject_id` varchar(16) NOT NULL,\n" +
		"  `systolic_bp` int DEFAULT NULL,\n" +
		"  PRIMARY KEY (`visit_id`),\n" +
		"  CONSTRAINT `fk_subject` FOREIGN KEY (`subject_id`) REFERENCES `subjects` (`subject_id`)\n" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	if !keep || got != want {
		t.Errorf("SHOW CREATE TABLE visits:\n%s\nwant:\n%s", got, want)
	}
	if _, err := sqlscope.Analyze(got, "study"); err != nil {
		t.Errorf("filtered DDL is not valid SQL: %v", err)
	}

	// bob may not see studies: the foreign key to it goes, sites stays.
	sddl := "CREATE TABLE `subjects` (\n" +
		"  `subject_id` varchar(16) NOT NULL,\n" +
		"  `study_id` int NOT NULL,\n" +
		"  `site_id` int NOT NULL,\n" +
		"  `birth_year` int DEFAULT NULL,\n" +
		"  PRIMARY KEY (`subject_id`),\n" +
		"  CONSTRAINT `fk_site` FOREIGN KEY (`site_id`) REFERENCES `sites` (`site_id`),\n" +
		"  CONSTRAINT `fk_study` FOREIGN KEY (`study_id`) REFERENCES `studies` (`study_id`)\n" +
		") ENGINE=InnoDB"
	out, _ = filter("bob", "study", "SHOW CREATE TABLE subjects")(rowsOf("subjects", sddl))
	got = string(out[1])
	if strings.Contains(got, "studies") || !strings.Contains(got, "`fk_site`") || !strings.Contains(got, "`birth_year`") ||
		strings.Contains(got, ",\n)") {
		t.Errorf("bob SHOW CREATE TABLE subjects:\n%s", got)
	}
	if _, err := sqlscope.Analyze(got, "study"); err != nil {
		t.Errorf("filtered DDL is not valid SQL: %v\n%s", err, got)
	}

	// Views: a definition reading outside the grants is withheld, by SHOW
	// CREATE VIEW and by SHOW CREATE TABLE alike.
	viewRow := func(def string) [][]byte {
		return rowsOf("v_enrolment", "CREATE ALGORITHM=UNDEFINED DEFINER=`etl`@`%` SQL SECURITY DEFINER VIEW `v_enrolment` AS "+def, "utf8mb4", "utf8mb4_0900_ai_ci")
	}
	okDef := "select `study`.`subjects`.`site_id` AS `site_id`,count(0) AS `subjects` from `study`.`subjects` group by `study`.`subjects`.`site_id`"
	badDefs := []string{
		"select `p`.`site_id` AS `site_id`,sum(`p`.`amount_eur`) AS `subjects` from `ops`.`site_payments` `p` group by `p`.`site_id`",
		"select `v`.`treatment_arm` AS `site_id`,count(0) AS `subjects` from `study`.`visits` `v` group by `v`.`treatment_arm`",
		"select `site_id` AS `site_id`,count(0) AS `subjects` from `study`.`visits` group by `site_id` having max(`treatment_arm`) = 'A'",
	}
	for _, sql := range []string{"SHOW CREATE VIEW v_enrolment", "SHOW CREATE TABLE v_enrolment"} {
		f := filter("alice", "study", sql)
		if out, keep := f(viewRow(okDef)); !keep || !strings.Contains(string(out[1]), okDef) {
			t.Errorf("%s: readable definition withheld: %q", sql, out[1])
		}
		for _, def := range badDefs {
			out, keep := f(viewRow(def))
			if !keep || strings.Contains(string(out[1]), "site_payments") || strings.Contains(string(out[1]), "treatment_arm") ||
				!strings.HasPrefix(string(out[1]), "-- rrproxy:") {
				t.Errorf("%s: definition reading outside the grants shown: %q", sql, out[1])
			}
		}
	}
}

// TestDecisionHideColumn: COM_FIELD_LIST drops withheld columns, any case.
func TestDecisionHideColumn(t *testing.T) {
	p := decisionsPolicy(t)
	for _, c := range []struct {
		user, db, table string
		hide, show      []string
	}{
		{"alice", "study", "visits", []string{"treatment_arm", "TREATMENT_ARM"}, []string{"visit_id", "subject_id"}},
		{"dave", "study", "subjects", []string{"initials", "Initials"}, []string{"subject_id", "birth_year"}},
		{"dave", "study", "adverse_events", []string{"narrative"}, []string{"ae_id", "subject_id"}},
		{"bob", "study", "subjects", nil, []string{"birth_year", "initials"}}, // masked, not withheld: listed
		{"alice", "study", "sites", nil, []string{"principal_investigator"}},
	} {
		d := p.CheckFieldList(who(t, p, c.user), Session{DB: c.db}, c.table)
		if d.Err != nil || d.HideColumn == nil {
			t.Errorf("%s field list %s: %v", c.user, c.table, d.Err)
			continue
		}
		for _, h := range c.hide {
			if !d.HideColumn(h) {
				t.Errorf("%s field list %s shows %s", c.user, c.table, h)
			}
		}
		for _, s := range c.show {
			if d.HideColumn(s) {
				t.Errorf("%s field list %s hides %s", c.user, c.table, s)
			}
		}
	}
	var de *DeniedError
	if d := p.CheckFieldList(who(t, p, "bob"), Session{DB: "study"}, "studies"); !errors.As(d.Err, &de) || !de.Hidden || de.Object != "study.studies" {
		t.Errorf("field list of an ungranted table: %v", d.Err)
	}
	if d := p.CheckFieldList(who(t, p, "erin"), Session{DB: "ops"}, "site_payments"); !errors.As(d.Err, &de) || de.Rule != RuleStatementKind {
		t.Errorf("field list without the show kind: %v", d.Err)
	}
	if d := p.CheckFieldList(who(t, p, "alice"), Session{}, "visits"); !errors.Is(d.Err, ErrNoDatabase) {
		t.Errorf("field list without a database: %v", d.Err)
	}
}

// TestDecisionUseDB covers COM_INIT_DB and the database named at login.
func TestDecisionUseDB(t *testing.T) {
	p := decisionsPolicy(t)
	for _, c := range []struct {
		user, db string
		ok       bool
		rule     string
	}{
		{"alice", "study", true, ""},
		{"alice", "Study", true, ""},
		{"alice", "information_schema", true, ""},
		{"alice", "ops", false, RuleDefaultDeny},
		{"alice", "mysql", false, RuleSystemSchemas},
		{"frank", "study_archive", true, ""},
		{"frank", "ops", false, rAudit},
		{"frank", "sys", false, RuleSystemSchemas},
		{"ivan", "mysql", false, RuleStatementKind}, // ivan has no use kind
		{"erin", "ops", false, RuleStatementKind},
		{"henry", "study", false, RuleDefaultDeny},
	} {
		d := p.CheckUseDB(who(t, p, c.user), c.db)
		var de *DeniedError
		switch {
		case c.ok && (d.Err != nil || d.UseDB != c.db):
			t.Errorf("%s USE %s: %v (UseDB %q)", c.user, c.db, d.Err, d.UseDB)
		case !c.ok && (!errors.As(d.Err, &de) || de.Rule != c.rule):
			t.Errorf("%s USE %s: %v, want rule %s", c.user, c.db, d.Err, c.rule)
		case !c.ok && c.rule != RuleStatementKind && (!de.Hidden || de.Object != strings.ToLower(c.db)):
			t.Errorf("%s USE %s: must read as an unknown database: %+v", c.user, c.db, de)
		}
	}
	if d := p.CheckUseDB(who(t, p, "alice"), ""); !errors.Is(d.Err, ErrNoDatabase) {
		t.Errorf("USE of the empty name: %v", d.Err)
	}
}

// literalRE and identRE match SQL string literals and quoted identifiers
// as the restorer writes them.
var (
	literalRE  = regexp.MustCompile(`'(?:[^'\\]|\\.|'')*'`)
	quotedIdRE = regexp.MustCompile("`([^`]*)`")
)

// likeValue is what a policy name or glob looks like as the value of a
// LIKE pattern or string, with escapes removed.
func likeValue(glob string) string {
	return strings.NewReplacer("*", "%", "?", "_").Replace(glob)
}

// TestDecisionCatalogRewriteNamesNoHiddenObject: the filtered
// information_schema text sent upstream carries no name the user may not
// see, beyond the patterns of the rules that apply to them.
func TestDecisionCatalogRewriteNamesNoHiddenObject(t *testing.T) {
	p := decisionsPolicy(t)
	tables := []string{"SCHEMATA", "TABLES", "VIEWS", "COLUMNS", "STATISTICS", "TABLE_CONSTRAINTS", "CHECK_CONSTRAINTS",
		"PARTITIONS", "KEY_COLUMN_USAGE", "REFERENTIAL_CONSTRAINTS", "ROUTINES", "PARAMETERS"}
	for _, user := range fuzzUsers {
		id := who(t, p, user)
		g := p.grantsFor(id, false)
		// The values a filter may compare with: system schema names and
		// the patterns of this person's own rules.
		allowed := map[string]bool{"information_schema": true, "mysql": true, "performance_schema": true, "sys": true, "": true} // "": a blanked definition
		for _, a := range g.allow {
			allowed[likeValue(a.schema)], allowed[likeValue(a.table)] = true, true
		}
		for _, d := range g.deny {
			allowed[likeValue(d.schema)], allowed[likeValue(d.table)] = true, true
		}
		for _, c := range g.denyCols {
			allowed[likeValue(c.schema)], allowed[likeValue(c.table)], allowed[c.column] = true, true, true
			// Index and constraint names that contain the column's name.
			allowed["%"+c.column+"%"] = true
		}
		for _, tbl := range tables {
			sql := "SELECT * FROM information_schema." + tbl
			d := p.CheckQuery(id, Session{Catalog: decisionsCatalog}, sql)
			if d.Err != nil || d.SQL == "" {
				t.Errorf("%s: %s: err=%v, rewritten=%v", user, sql, d.Err, d.SQL != "")
				continue
			}
			for _, lit := range literalRE.FindAllString(d.SQL, -1) {
				v := strings.ReplaceAll(strings.ReplaceAll(lit[1:len(lit)-1], "\\", ""), "''", "'")
				if !allowed[v] && !allowed[strings.Trim(v, "%")] { // '%name%': text containing a withheld name
					t.Errorf("%s: %s: the filter names %s, which no rule of theirs names", user, sql, lit)
				}
			}
			for _, m := range quotedIdRE.FindAllStringSubmatch(d.SQL, -1) {
				if m[1] != "information_schema" && m[1] != strings.ToUpper(m[1]) {
					t.Errorf("%s: %s: the filter names `%s`, not a catalog column", user, sql, m[1])
				}
			}
			if err := leakCheck(p, id, Session{}, sql, d); err != nil {
				t.Errorf("%s: %s: %v", user, sql, err)
			}
		}
	}
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDecisionSweep crosses every person with statement templates,
// tables and column names (some hundred thousand statements): whatever
// is allowed must pass leakCheck, and a template that probes a column's
// real value must be refused whenever that column is pseudonymised.
func TestDecisionSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("the sweep checks ~150k statements")
	}
	p := decisionsPolicy(t)
	tables := []string{"studies", "sites", "subjects", "visits", "adverse_events", "v_enrolment", "ops.site_payments"}
	seen := map[string]bool{}
	var cols []string
	for _, cs := range decisionsCatalog {
		for _, c := range cs {
			if c = strings.ToLower(c); !seen[c] {
				seen[c] = true
				cols = append(cols, c)
			}
		}
	}
	tmpls := []sweepTemplate{
		{"SELECT {c} FROM {t}", false},
		{"SELECT x.{c} FROM {t} x", false},
		{"SELECT {t}.{c} FROM {t}", false},
		{"SELECT * FROM {t}", false},
		{"SELECT x.* FROM {t} x", false},
		{"SELECT DISTINCT {c} FROM {t}", false},
		{"SELECT {c} FROM {t} LIMIT 1", false},
		{"SELECT COUNT(DISTINCT {c}) FROM {t}", false},
		{"SELECT {c}, COUNT(*) FROM {t} GROUP BY {c}", false},
		{"SELECT {c} FROM {t} GROUP BY {c} WITH ROLLUP", false},
		{"SELECT {c} FROM {t} x, {t2} y", false},
		{"SELECT y.* FROM {t} x JOIN {t2} y ON x.{c} = y.{c}", false},
		{"SELECT x.{c} FROM {t} x JOIN {t2} y USING ({c})", false},
		{"SELECT * FROM {t} x NATURAL JOIN {t2} y", false},
		{"SELECT * FROM {t} x JOIN {t2} y USING ({c})", false},
		{"SELECT * FROM (SELECT * FROM {t}) d", false},
		{"SELECT d.{c} FROM (SELECT * FROM {t}) d", false},
		{"SELECT d.a FROM (SELECT {c} AS a FROM {t}) d", false},
		{"WITH w AS (SELECT * FROM {t}) SELECT {c} FROM w", false},
		{"SELECT {c} FROM {t} UNION SELECT {c} FROM {t2}", false},
		{"SELECT (SELECT {c} FROM {t} LIMIT 1)", false},
		{"SET @v = (SELECT {c} FROM {t} LIMIT 1)", false},
		{"DESCRIBE {t} {c}", false},
		{"SELECT d.* FROM {t} x JOIN LATERAL (SELECT x.{c} AS z) d ON 1", false},
		{"SELECT * FROM {t} WHERE {c} = 'S-001'", true},
		{"SELECT {c} FROM {t} ORDER BY {c}", true},
		{"SELECT {c} FROM {t} ORDER BY 1", true},
		{"SELECT {c} AS a FROM {t} ORDER BY a", true},
		{"SELECT {c} AS a FROM {t} HAVING a = 'S-001'", true},
		{"SELECT {c} AS a, (SELECT a = 'S-001') FROM {t}", true},
		{"SELECT ROW_NUMBER() OVER (ORDER BY {c}) FROM {t}", true},
		{"SELECT GROUP_CONCAT({c}) FROM {t}", true},
		{"SELECT MAX({c}) FROM {t}", true},
		{"SELECT {c} FROM {t} WHERE {c} IN (SELECT {c} FROM {t2})", true},
		{"SELECT 1 FROM {t2} WHERE EXISTS (SELECT 1 FROM {t} WHERE {c} LIKE 'S%')", true},
		{"SELECT x.{c} FROM {t} x JOIN (SELECT 'S-001' AS {c}) y USING ({c})", true},
		{"SELECT x.{c} FROM {t} x JOIN (SELECT 'S-001' AS k) y ON x.{c} = y.k", true},
		{"SELECT x.{c} FROM {t} x WHERE x.{c} = (SELECT y.{c} FROM {t2} y LIMIT 1)", true},
		{"SELECT (SELECT COUNT(*) FROM {t2} y WHERE y.{c} = x.{c}) FROM {t} x", true},
	}
	// One subtest per person, in parallel: the sweep is most of this
	// package's time under -race, and the policy is safe for concurrent
	// use (the proxy's sessions share it).
	var n, allowed atomic.Int64
	t.Run("people", func(t *testing.T) {
		for _, u := range fuzzUsers {
			t.Run(u, func(t *testing.T) {
				t.Parallel()
				sweepPerson(t, p, u, tables, cols, tmpls, &n, &allowed)
			})
		}
	})
	t.Logf("%d statements, %d allowed", n.Load(), allowed.Load())
	if allowed.Load() == 0 || allowed.Load() == n.Load() {
		t.Fatal("the sweep must see both outcomes")
	}
}

// sweepTemplate is a statement template of TestDecisionSweep.
type sweepTemplate struct {
	sql   string
	probe bool // compares or orders by {c}'s real value
}

// sweepPerson is TestDecisionSweep for one person.
func sweepPerson(t *testing.T, p *Policy, u string, tables, cols []string, tmpls []sweepTemplate, statements, allowed *atomic.Int64) {
	id := who(t, p, u)
	g := p.grantsFor(id, false)
	for _, tm := range tmpls {
		for _, tb := range tables {
			table := sqlscope.Table{Schema: "study", Name: tb}
			if s, n, ok := strings.Cut(tb, "."); ok {
				table = sqlscope.Table{Schema: s, Name: n}
			}
			for _, t2 := range tables {
				if !strings.Contains(tm.sql, "{t2}") && t2 != tables[0] {
					continue
				}
				for _, c := range cols {
					if !strings.Contains(tm.sql, "{c}") && c != cols[0] {
						continue
					}
					sql := strings.NewReplacer("{c}", c, "{t}", tb, "{t2}", t2).Replace(tm.sql)
					sess := Session{DB: "study", Catalog: decisionsCatalog}
					d := p.CheckQuery(id, sess, sql)
					statements.Add(1)
					if d.Err != nil {
						continue
					}
					allowed.Add(1)
					if err := leakCheck(p, id, sess, sql, d); err != nil {
						t.Fatalf("%s: %s\n  sent %q\n  %v", u, sql, d.SQL, err)
					}
					if m := g.maskOf(table, c); tm.probe && m != nil && m.with == MaskPseudonym && g.columnDenied(table, c) == "" {
						t.Fatalf("%s: %s probes the pseudonymised %s.%s and was allowed\n  sent %q", u, sql, table, c, d.SQL)
					}
				}
			}
		}
	}
}

// TestDecisionHiddenLikeMissing: a withheld column or hidden table must
// be indistinguishable from one that does not exist. For each template,
// naming the hidden object must be refused as missing exactly when naming
// a missing one (that the user's globs would grant) is forwarded, for the
// server to answer "unknown"; and any other refusal must be the same.
func TestDecisionHiddenLikeMissing(t *testing.T) {
	p := decisionsPolicy(t)
	pairs := []struct {
		user, hiddenName, missingName string
		templates                     []string
	}{
		{"alice", "treatment_arm", "no_such_col", []string{
			"SELECT v.{x} FROM visits v",
			"SELECT v.{x}, SLEEP(1) FROM visits v",
			"SELECT v.{x} FROM visits v; DELETE FROM visits",
			"SELECT v.{x} FROM visits v FOR UPDATE",
			"EXPLAIN SELECT v.{x} FROM visits v JOIN subjects s ON s.birth_year = 1",
			"SELECT v.{x} FROM visits v NATURAL JOIN subjects",
		}},
		{"bob", "treatment_arm", "no_such_col", []string{
			"SELECT v.{x} + s.birth_year FROM visits v JOIN subjects s ON s.subject_id = v.subject_id",
			"SELECT s.birth_year FROM visits v JOIN subjects s ON s.subject_id = v.subject_id ORDER BY v.{x}, s.birth_year",
			"SELECT v.{x} FROM visits v JOIN subjects s ON s.birth_year = v.visit_id",
			"SELECT v.{x} FROM visits v",
			"SELECT v.{x} FROM visits v JOIN studies t ON 1",
		}},
		{"dave", "initials", "no_such_col", []string{
			"SELECT s.{x} FROM subjects s",
			"SELECT s.{x}, s.subject_id FROM subjects s WHERE s.subject_id = 'S-001'",
			"SELECT s.{x} FROM subjects s ORDER BY 1, s.subject_id",
			"SELECT COUNT(DISTINCT s.{x}) FROM subjects s JOIN (SELECT 'S-001' AS k) q ON s.subject_id = q.k",
			"SELECT s.{x} FROM subjects s; SELECT s.subject_id FROM subjects s",
		}},
		{"dave", "v_enrolment", "no_such_tbl", []string{
			"SELECT 1 FROM study.{x}",
			"SELECT s.subject_id FROM study.{x} e, subjects s WHERE s.subject_id LIKE 'S%'",
			"SELECT 1 FROM study.{x}, sites",
			"SHOW COLUMNS FROM study.{x}",
			"DESCRIBE study.{x}",
			"SELECT * FROM study.{x} NATURAL JOIN subjects",
		}},
		{"frank", "adverse_events", "no_such_tbl", []string{
			"SELECT 1 FROM study.{x}",
			"SELECT * FROM study.{x}",
			"TABLE study.{x}",
			"SELECT * FROM study.{x} NATURAL JOIN study.sites",
			"BEGIN; SELECT 1 FROM study.{x}",
			"SELECT 1 FROM study.{x}; DO 1",
			"EXPLAIN SELECT * FROM study.{x}",
		}},
	}
	for _, pr := range pairs {
		id := who(t, p, pr.user)
		for _, tm := range pr.templates {
			for _, prepared := range []bool{false, true} {
				sess := Session{DB: "study", Catalog: decisionsCatalog, MultiStatements: true, Prepared: prepared}
				hq := strings.ReplaceAll(tm, "{x}", pr.hiddenName)
				mq := strings.ReplaceAll(tm, "{x}", pr.missingName)
				h, m := p.CheckQuery(id, sess, hq), p.CheckQuery(id, sess, mq)
				var hd, md *DeniedError
				hHidden := errors.As(h.Err, &hd) && hd.Hidden
				mHidden := errors.As(m.Err, &md) && md.Hidden
				switch {
				case hHidden && (m.Err == nil || mHidden):
					// Both answer "unknown": the proxy for one, the server
					// (or the proxy) for the other.
				case !hHidden && fmt.Sprint(h.Err) == fmt.Sprint(m.Err) && h.Err != nil:
				default:
					t.Errorf("%s (prepared %v): %s\n  hidden:  %v\n  missing: %v (%s)", pr.user, prepared, tm, h.Err, m.Err, mq)
				}
			}
		}
	}
}

// TestRecordedSQLHidesTheOrderKey: a rewrite that keys the order of
// pseudonyms carries the secret key in its SQL; the audit log gets
// RecordedSQL, the same statement with the key replaced.
func TestRecordedSQLHidesTheOrderKey(t *testing.T) {
	p := decisionsPolicy(t)
	dave := who(t, p, "dave")
	study := Session{DB: "study", Catalog: decisionsCatalog}
	for _, q := range []string{"SELECT subject_id FROM subjects", "SELECT COUNT(*) FROM visits GROUP BY subject_id"} {
		d := p.CheckQuery(dave, study, q)
		key := p.orderKey
		if d.Err != nil || !strings.Contains(d.SQL, "SHA2(CONCAT('"+key+"'") {
			t.Fatalf("%s: %v, %q: want the keyed order", q, d.Err, d.SQL)
		}
		want := strings.ReplaceAll(d.SQL, "'"+key+"'", "'<rrproxy pseudonym order key>'")
		if d.RecordedSQL != want || strings.Contains(d.RecordedSQL, key) {
			t.Errorf("%s: RecordedSQL %q, want %q", q, d.RecordedSQL, want)
		}
	}
	if d := p.CheckQuery(dave, study, "SELECT site_id FROM sites"); d.RecordedSQL != d.SQL {
		t.Errorf("no key: RecordedSQL %q, SQL %q", d.RecordedSQL, d.SQL)
	}
}
