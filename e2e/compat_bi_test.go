package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// BI tool transcripts (e2e/testdata/bi/*.sql): the SQL that Tableau, Power
// BI, Spotfire, QuickSight, Crystal Reports, MySQL Workbench, DBeaver and the
// MySQL drivers under them send when they connect and browse, taken from
// their source code, documentation and bug reports of MySQL-compatible
// servers (each group of statements names its source). TestCompatBI replays
// each file, in order, on one session through rrproxy as alice and on one
// session straight to MariaDB as root, and holds rrproxy to three things:
//
//   - nothing is refused for being unfamiliar: every statement the server
//     answers is answered through rrproxy too, unless it names an object
//     alice may not see (then rrproxy answers as for a missing one) or it
//     is in biRefusedByDesign;
//   - a catalog statement whose direct answer mentions what the policy hides
//     from alice (schema ops, table site_payments, column treatment_arm)
//     does not mention it through rrproxy;
//   - an answer has the column titles the server gives (tools read catalog
//     results by column name).
//
// Transcript format: entries are separated by a line holding only ";;". A
// line "-- source: ..." before a group of entries says where they come from;
// "-- params: [json array]" sends the next entry as a server-side prepared
// statement with those parameters, as the tool's driver does; "-- refused:
// reason" documents that rrproxy refuses the next entry on purpose (it must
// also be in biRefusedByDesign, so the list is reviewed in one place). Other
// "--" lines before an entry's first line of SQL are notes. Everything from
// the first line of SQL to the separator is sent as is, comments included.

// biEntry is one statement of a transcript.
type biEntry struct {
	file, source string
	line         int // line of the statement's first SQL line
	sql          string
	params       []any  // non-nil: send as a prepared statement
	refused      string // the transcript's reason for a refusal by design
}

// biRefusedByDesign lists statements rrproxy refuses on purpose although
// the server answers them, keyed by the statement's text with whitespace
// collapsed, with the reason. Keep it short: anything refused that is not
// here fails the test, so that rrproxy gets fixed rather than the list
// grown.
var biRefusedByDesign = map[string]string{
	// README, built-in rules: statement-kinds refuses SHOW TRIGGERS (a
	// trigger's body can read any table). MySQL Workbench sends it when a
	// table's Triggers node is expanded and only logs a warning on error.
	"SHOW TRIGGERS FROM `study` LIKE 'visits'": "statement-kinds: SHOW TRIGGERS is never granted",
	// DBeaver's "Load triggers" (MySQLCatalog.TriggerCache); same rule.
	"/* ApplicationName=DBeaver 22.3.2 - Metadata */ SHOW FULL TRIGGERS FROM study": "statement-kinds: SHOW TRIGGERS is never granted",
	// README, built-in rules: read-only refuses every write, temporary
	// tables included (a temporary table can shadow a granted table's name
	// for the rest of the session). Tableau's temp-table capability check
	// at connect: when it fails, Tableau does without temporary tables
	// (tableau/connector-plugin-sdk docs/design.md, "the connector will
	// perform a simple check at connection time ... to confirm that the
	// user can create a temp table").
	"CREATE TEMPORARY TABLE `#Tableau_sid_00000001_1_Connect` (`COL` INT)": "read-only: no writes, temporary tables included",
	"DROP TABLE `#Tableau_sid_00000001_1_Connect`":                         "read-only: no writes, temporary tables included",
}

// biHiddenRE finds, as whole names, what the test policy hides from alice:
// schema ops (with its table site_payments) and column treatment_arm.
var biHiddenRE = regexp.MustCompile("(?i)(^|[^a-z0-9_$])(ops|site_payments|treatment_arm)($|[^a-z0-9_$])")

// biCatalogRE tells catalog statements: the ones whose answer lists schema
// objects and so must be filtered to alice's grants.
var biCatalogRE = regexp.MustCompile(`(?is)information_schema|\bshow\s+(full\s+)?(databases|schemas|tables|columns|fields|index|indexes|keys|table\s+status|create\s+table|open\s+tables|procedure\s+status|function\s+status)\b|\bmysql\s*\.\s*proc\b|\bdesc(ribe)?\s`)

// biSystemRE tells statements naming objects that do not exist for alice
// (system schemas, the hidden schema, table and column): rrproxy answers
// them as the server answers a missing object, which is an error where
// root gets rows.
var biSystemRE = regexp.MustCompile("(?i)\\b(mysql|performance_schema|sys)\\s*`?\\s*\\.|" + biHiddenRE.String() + "|information_schema\\s*`?\\s*\\.\\s*`?(column_privileges|table_privileges|schema_privileges|user_privileges|processlist|events|triggers)\\b")

// biMissingCodes are the errors a server gives for an object that does not
// exist or that the account has no rights on.
var biMissingCodes = []uint16{1044, 1049, 1051, 1054, 1109, 1142, 1143, 1146, 1356}

func TestCompatBI(t *testing.T) {
	files, err := filepath.Glob("testdata/bi/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no transcripts in testdata/bi")
	}
	r := startRig(t, rigOpts{requireTLS: true})
	var summaries []biSummary
	for _, f := range files {
		entries, err := parseBITranscript(f)
		if err != nil {
			t.Fatal(err)
		}
		tool := strings.TrimSuffix(filepath.Base(f), ".sql")
		t.Run(tool, func(t *testing.T) {
			summaries = append(summaries, replayBI(t, r, tool, entries))
		})
	}
	t.Log(biReport(summaries))
}

// biSummary counts one transcript's outcomes.
type biSummary struct {
	tool       string
	statements int
	answered   int // rows or OK through rrproxy
	serverErr  int // refused through rrproxy, and by the server too
	hidden     int // names what alice may not see: answered as missing
	byDesign   int // biRefusedByDesign
	filtered   int // catalog answers with the hidden names left out
	refused    int // failures: refused, though the server answers
	differs    int // failures: answered, but not as the server answers
	notes      []string
}

func biReport(summaries []biSummary) string {
	var b strings.Builder
	const format = "%-16s %10s %8s %12s %6s %9s %8s %7s %7s\n"
	fmt.Fprintf(&b, "\n"+format, "tool", "statements", "answered", "server-error", "hidden", "by-design", "filtered", "refused", "differs")
	row := func(s biSummary) {
		fmt.Fprintf(&b, format, s.tool, fmt.Sprint(s.statements), fmt.Sprint(s.answered), fmt.Sprint(s.serverErr), fmt.Sprint(s.hidden),
			fmt.Sprint(s.byDesign), fmt.Sprint(s.filtered), fmt.Sprint(s.refused), fmt.Sprint(s.differs))
	}
	total := biSummary{tool: "total"}
	for _, s := range summaries {
		row(s)
		total.statements += s.statements
		total.answered += s.answered
		total.serverErr += s.serverErr
		total.hidden += s.hidden
		total.byDesign += s.byDesign
		total.filtered += s.filtered
		total.refused += s.refused
		total.differs += s.differs
	}
	row(total)
	b.WriteString("answered: rows or OK through rrproxy. server-error: an error through rrproxy where the server gives one too.\n" +
		"hidden: names a system schema or what the policy hides from alice; answered as for a missing object.\n" +
		"by-design: refused on purpose (biRefusedByDesign). filtered: of the answered catalog statements, those whose direct\n" +
		"answer names ops/site_payments/treatment_arm and whose answer through rrproxy does not.\n" +
		"refused and differs are failures: refused though the server answers; answered, but not as the server answers.\n")
	for _, s := range summaries {
		for _, n := range s.notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	return b.String()
}

// biAnswer is what one session said to one statement.
type biAnswer struct {
	cols []string
	rows [][]string
	err  error
}

func (a biAnswer) text() string {
	var b strings.Builder
	b.WriteString(strings.Join(a.cols, "\t"))
	for _, r := range a.rows {
		b.WriteString("\n")
		b.WriteString(strings.Join(r, "\t"))
	}
	return b.String()
}

func replayBI(t *testing.T, r *rig, tool string, entries []biEntry) biSummary {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// One session each, as a tool keeps its metadata connection: SET,
	// USE and temporary tables carry over to the statements after them.
	proxiedDB := r.open("alice", alicePW, "study")
	// Closed here, not at the end of the whole test: an idle session
	// keeps its pooled replica connection.
	defer proxiedDB.Close()
	proxied, err := proxiedDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer proxied.Close()
	rootDB, err := sql.Open("mysql", rootDSN+"study")
	if err != nil {
		t.Fatal(err)
	}
	defer rootDB.Close()
	root, err := rootDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	s := biSummary{tool: tool, statements: len(entries)}
	report := func(count *int, e biEntry, format string, args ...any) {
		*count++
		t.Errorf("%s: %s:%d: %s\n    statement: %s\n    source: %s", tool, e.file, e.line, fmt.Sprintf(format, args...), oneLine(e.sql, 400), e.source)
	}
	for _, e := range entries {
		got := runBI(ctx, proxied, e)
		want := runBI(ctx, root, e)
		if biTrace {
			t.Logf("%s:%d: rrproxy: %s; server: %s", e.file, e.line, outcome(got), outcome(want))
		}
		design, listed := biRefusedByDesign[oneLine(e.sql, 0)]
		if (e.refused != "") != listed {
			t.Errorf("%s:%d: \"-- refused:\" in the transcript and biRefusedByDesign disagree", e.file, e.line)
		}
		var gotText string
		if got.err != nil {
			gotText = errText(got.err)
		}
		switch {
		case got.err == nil:
			s.answered++
			if want.err != nil {
				// Possible where rrproxy answers itself (CURRENT_USER())
				// or the sessions differ: worth a look, not a refusal.
				s.notes = append(s.notes, fmt.Sprintf("%s:%d: answered through rrproxy; the server said %s", e.file, e.line, errText(want.err)))
				break
			}
			// SELECT * leaves a withheld column out (README), so the
			// server's titles are compared without it. Tools look
			// columns up by title, some case-sensitively.
			wantCols := slices.DeleteFunc(slices.Clone(want.cols), biHiddenRE.MatchString)
			if !slices.Equal(got.cols, wantCols) {
				report(&s.differs, e, "column titles differ from the server's:\n    rrproxy: %q\n    server:  %q", got.cols, want.cols)
			}
			if !biCatalogRE.MatchString(e.sql) && len(got.rows) != len(want.rows) {
				s.notes = append(s.notes, fmt.Sprintf("%s:%d: %d rows through rrproxy, %d from the server", e.file, e.line, len(got.rows), len(want.rows)))
			}
		case want.err != nil:
			s.serverErr++
			if strings.Contains(gotText, "[rule ") {
				// The server refuses it too, but with its own error: a
				// tool that tolerates the server's may not tolerate
				// rrproxy's.
				s.notes = append(s.notes, fmt.Sprintf("%s:%d: server: %s; rrproxy: %s", e.file, e.line, errText(want.err), gotText))
			}
		case listed:
			s.byDesign++
			s.notes = append(s.notes, fmt.Sprintf("%s:%d: refused by design (%s): %s", e.file, e.line, design, gotText))
		case biSystemRE.MatchString(e.sql) && isMissingError(got.err) && !strings.Contains(gotText, "[rule "):
			s.hidden++
		default:
			report(&s.refused, e, "refused through rrproxy, answered by the server (%d rows)\n    rrproxy: %s", len(want.rows), gotText)
		}
		if got.err != nil {
			continue
		}
		hiddenInAnswer := biHiddenRE.FindString(got.text())
		switch {
		case hiddenInAnswer != "" && !biHiddenRE.MatchString(e.sql):
			report(&s.differs, e, "answer names %q, which the policy hides from alice", strings.Trim(hiddenInAnswer, " \t\n`'\"(),."))
		case want.err == nil && biCatalogRE.MatchString(e.sql) && biHiddenRE.MatchString(want.text()):
			if hiddenInAnswer != "" {
				report(&s.differs, e, "catalog answer names %q, which the policy hides from alice", strings.Trim(hiddenInAnswer, " \t\n`'\"(),."))
			} else {
				s.filtered++
			}
		}
	}
	return s
}

// runBI sends one entry on one session and reads its whole answer.
func runBI(ctx context.Context, c *sql.Conn, e biEntry) biAnswer {
	var rows *sql.Rows
	var err error
	if e.params != nil {
		// With arguments go-sql-driver uses COM_STMT_PREPARE and
		// COM_STMT_EXECUTE, as the tool's driver does.
		rows, err = c.QueryContext(ctx, e.sql, e.params...)
	} else {
		rows, err = c.QueryContext(ctx, e.sql)
	}
	if err != nil {
		return biAnswer{err: err}
	}
	defer rows.Close()
	var a biAnswer
	for {
		cols, err := rows.Columns()
		if err != nil {
			return biAnswer{err: err}
		}
		a.cols = append(a.cols, cols...)
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return biAnswer{err: err}
			}
			row := make([]string, len(cols))
			for i, v := range vals {
				if v == nil {
					row[i] = "NULL"
				} else {
					row[i] = string(v)
				}
			}
			a.rows = append(a.rows, row)
		}
		if err := rows.Err(); err != nil {
			return biAnswer{err: err}
		}
		if !rows.NextResultSet() {
			break
		}
	}
	return a
}

// biTrace (RRPROXY_BI_TRACE=1) logs every statement's two answers.
var biTrace = os.Getenv("RRPROXY_BI_TRACE") != ""

func outcome(a biAnswer) string {
	if a.err != nil {
		return errText(a.err)
	}
	return fmt.Sprintf("%d columns, %d rows", len(a.cols), len(a.rows))
}

func isMissingError(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && slices.Contains(biMissingCodes, me.Number)
}

// oneLine collapses whitespace; max > 0 shortens the result.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if max > 0 && len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// parseBITranscript reads a transcript (format above).
func parseBITranscript(path string) ([]biEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		out     []biEntry
		source  string
		cur     []string
		start   int
		params  []any
		refused string
		n       int
	)
	name := filepath.Base(path)
	flush := func() error {
		text := strings.TrimSpace(strings.Join(cur, "\n"))
		if text == "" {
			if params != nil || refused != "" {
				return fmt.Errorf("%s:%d: directive without a statement", name, n)
			}
			return nil
		}
		if source == "" {
			return fmt.Errorf("%s:%d: statement without a preceding \"-- source:\" line", name, start)
		}
		out = append(out, biEntry{file: name, source: source, line: start, sql: text, params: params, refused: refused})
		cur, params, refused = nil, nil, ""
		return nil
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == ";;" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		if len(cur) == 0 && strings.HasPrefix(strings.TrimSpace(line), "--") {
			c := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "--"))
			switch {
			case strings.HasPrefix(c, "source:"):
				source = strings.TrimSpace(strings.TrimPrefix(c, "source:"))
			case strings.HasPrefix(c, "params:"):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(c, "params:")), &params); err != nil {
					return nil, fmt.Errorf("%s:%d: params: %w", name, n, err)
				}
				if params == nil {
					params = []any{}
				}
			case strings.HasPrefix(c, "refused:"):
				refused = strings.TrimSpace(strings.TrimPrefix(c, "refused:"))
			}
			continue
		}
		if len(cur) == 0 {
			if strings.TrimSpace(line) == "" {
				continue
			}
			start = n
		}
		cur = append(cur, line)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
