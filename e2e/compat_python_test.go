package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/devcert"
	"github.com/rrproxy/rrproxy/internal/testtool"
)

// Python's MySQL clients through rrproxy, against the real MariaDB:
// PyMySQL, mysqlclient (MySQLdb, on libmariadb) and mycli (on PyMySQL).
// compat/python/dbclient.py only drives a driver and reports what it got;
// every comparison is made here, against a direct connection. mycli runs
// as a person runs it: in a terminal (tmux), so that its completion
// refresher sends its startup queries through rrproxy as it would for
// anyone, and once more in its batch mode (-e).

// pyDebianPython is the interpreter the Debian packages python3-pymysql,
// python3-mysqldb and mycli install for: their modules live in
// /usr/lib/python3/dist-packages, which a python3 found earlier on PATH
// (pyenv, a virtualenv) does not read.
const pyDebianPython = "/usr/bin/python3"

func TestCompatPython(t *testing.T) {
	py, ok := testtool.Need(t, pyDebianPython, "python3", "Python client compatibility")
	if !ok {
		return
	}
	for mod, pkg := range map[string]string{"pymysql": "python3-pymysql", "MySQLdb": "python3-mysqldb"} {
		if out, err := exec.Command(py, "-c", "import "+mod).CombinedOutput(); err != nil {
			t.Fatalf("Python module %s is missing (apt-get install %s): %v\n%s", mod, pkg, err, out)
		}
	}
	script, err := filepath.Abs("../compat/python/dbclient.py")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("PyMySQL", func(t *testing.T) { pyTestDBAPI(t, py, script, "pymysql", "PyMySQL") })
	t.Run("MySQLdb", func(t *testing.T) { pyTestDBAPI(t, py, script, "mysqldb", "mysqlclient (MySQLdb)") })
	t.Run("mycli", pyTestMycli)
}

// pyRequest is what dbclient.py reads: one connection and its steps.
type pyRequest struct {
	Driver     string   `json:"driver"`
	Host       string   `json:"host"`
	Port       string   `json:"port"`
	CA         string   `json:"ca"`
	User       string   `json:"user"`
	Password   string   `json:"password"`
	Database   string   `json:"database,omitempty"`
	OptionFile string   `json:"option_file,omitempty"`
	Steps      []pyStep `json:"steps"`
}

type pyStep struct {
	SQL    string `json:"sql,omitempty"`
	Args   []any  `json:"args,omitempty"` // present: the driver interpolates them
	Stream string `json:"stream,omitempty"`
}

type pyError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Type    string `json:"type"`
}

type pyResult struct {
	Columns     []string    `json:"columns"`
	Rows        [][]*string `json:"rows"`
	Sent        string      `json:"sent"`
	Error       *pyError    `json:"error"`
	StreamRows  int64       `json:"stream_rows"`
	StreamBytes int64       `json:"stream_bytes"`
	StreamIDSum int64       `json:"stream_id_sum"`
	StreamBad   int64       `json:"stream_bad_values"`
	RSSBefore   int64       `json:"rss_before_kib"`
	RSSPeak     int64       `json:"rss_peak_kib"`
	RUMaxRSS    int64       `json:"ru_maxrss_kib"`
	Seconds     float64     `json:"seconds"`
}

type pyReply struct {
	Driver       string     `json:"driver"`
	Version      string     `json:"version"`
	AuthPlugin   string     `json:"auth_plugin"`
	TLSVersion   string     `json:"tls_version"`
	TLSCipher    string     `json:"tls_cipher"`
	ConnectError *pyError   `json:"connect_error"`
	Results      []pyResult `json:"results"`
}

func pyRun(t *testing.T, py, script string, req pyRequest) pyReply {
	t.Helper()
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s (%s as %s): %v\n%s", filepath.Base(script), req.Driver, req.User, err, stderr.String())
	}
	var rep pyReply
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%s: bad reply %v: %s\n%s", filepath.Base(script), err, stdout.String(), stderr.String())
	}
	if len(rep.Results) != len(req.Steps) && rep.ConnectError == nil {
		t.Fatalf("%d results for %d steps", len(rep.Results), len(req.Steps))
	}
	return rep
}

// pyText is rows as table() returns them, NULL as "NULL".
func pyText(rows [][]*string) [][]string {
	out := make([][]string, 0, len(rows))
	for _, r := range rows {
		row := make([]string, len(r))
		for i, v := range r {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = *v
			}
		}
		out = append(out, row)
	}
	return out
}

// pyColumn is a single-column result with these values.
func pyColumn(vals ...string) [][]string {
	out := make([][]string, len(vals))
	for i, v := range vals {
		out[i] = []string{v}
	}
	return out
}

// pyCheck is one statement run through the client and what it must give:
// exactly want, or exactly what direct gives on a direct root
// connection, or the error errCode with errText in its message.
type pyCheck struct {
	step    pyStep
	want    [][]string
	direct  string
	cols    []string // column titles, when checked
	errCode int
	errText string
}

// pyCheckResults compares each result with its check; it returns nothing, the
// failures are the test's.
func pyCheckResults(t *testing.T, who string, checks []pyCheck, rep pyReply) {
	t.Helper()
	root := direct(t)
	for i, c := range checks {
		res := rep.Results[i]
		q := c.step.SQL
		if c.errCode != 0 {
			if res.Error == nil {
				t.Errorf("%s: %s: want error %d, got %d rows", who, q, c.errCode, len(res.Rows))
			} else if res.Error.Code != c.errCode || !strings.Contains(res.Error.Message, c.errText) {
				t.Errorf("%s: %s: want error %d containing %q, got %d: %s", who, q, c.errCode, c.errText, res.Error.Code, res.Error.Message)
			}
			continue
		}
		if res.Error != nil {
			t.Errorf("%s: %s: %d: %s", who, q, res.Error.Code, res.Error.Message)
			continue
		}
		want := c.want
		if c.direct != "" {
			want = table(t, root, c.direct)
		}
		if got := pyText(res.Rows); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: %s:\n got %v\nwant %v", who, q, pyAbbrev(got), pyAbbrev(want))
		}
		if c.cols != nil && !slices.Equal(res.Columns, c.cols) {
			t.Errorf("%s: %s: columns %v, want %v", who, q, res.Columns, c.cols)
		}
	}
}

// pyAbbrev keeps failure messages readable for 300-row results.
func pyAbbrev(rows [][]string) string {
	if len(rows) <= 12 {
		return fmt.Sprint(rows)
	}
	return fmt.Sprintf("%v ... %v (%d rows)", rows[:6], rows[len(rows)-3:], len(rows))
}

// The columns of study.visits that exist for everyone: treatment_arm is
// withheld by the treatment-blinding rule, as if it did not exist.
var pyVisitsVisible = []string{"visit_id", "subject_id", "visit_name", "visit_date", "systolic_bp"}

// The columns query every client runs, and its direct equivalent for a
// set of granted study tables.
const pyColumnsQuery = "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA <> 'information_schema' ORDER BY 1, 2, ORDINAL_POSITION"

func pyColumnsDirect(tables string) string {
	return "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'study' AND TABLE_NAME IN (" +
		tables + ") AND COLUMN_NAME <> 'treatment_arm' ORDER BY 1, 2, ORDINAL_POSITION"
}

// The large result: 300 x 300 rows of 2,500 bytes, about 225 MB.
const (
	pyStreamQuery = "SELECT v.visit_id, REPEAT('x', 2500) FROM study.visits v CROSS JOIN study.visits w"
	pyStreamRows  = 300 * 300
)

func pyTestDBAPI(t *testing.T, py, script, driver, client string) {
	r := startRig(t, rigOpts{requireTLS: true})
	host, port, _ := net.SplitHostPort(r.addr)
	req := func(user, pw, db string, steps ...pyStep) pyRequest {
		return pyRequest{Driver: driver, Host: host, Port: port, CA: certs.CA, User: user, Password: pw, Database: db, Steps: steps}
	}
	dir := t.TempDir()
	verifyHost := ""
	if driver == "mysqldb" {
		// mysqlclient's ssl dict verifies the chain against "ca" but
		// has no key for the hostname check, which libmariadb 3.3 does
		// not make by default; it takes it from an option file, as an
		// application would configure it. (The bare option name, without
		// "=1", is silently ignored.)
		verifyHost = filepath.Join(dir, "verify.cnf")
		pyWriteFile(t, verifyHost, "[client]\nssl-verify-server-cert=1\n")
	}

	// alice (data-managers: study.*), with the database named at login
	// as applications do: listings, rows, parameters, refusals.
	alice := []pyCheck{
		{step: pyStep{SQL: "SHOW DATABASES"}, want: pyColumn("information_schema", "study")},
		{step: pyStep{SQL: "SHOW TABLES"}, want: pyColumn("docs", "subjects", "visits")},
		{step: pyStep{SQL: "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA <> 'information_schema' ORDER BY 1, 2"},
			want: [][]string{{"study", "docs"}, {"study", "subjects"}, {"study", "visits"}}},
		{step: pyStep{SQL: pyColumnsQuery}, direct: pyColumnsDirect("'docs', 'subjects', 'visits'")},
		{step: pyStep{SQL: "SHOW COLUMNS FROM visits"}, direct: "SHOW COLUMNS FROM study.visits WHERE Field <> 'treatment_arm'"},
		{step: pyStep{SQL: "SELECT * FROM subjects ORDER BY subject_id"}, direct: "SELECT * FROM study.subjects ORDER BY subject_id",
			cols: []string{"subject_id", "site_id", "sex", "birth_year"}},
		{step: pyStep{SQL: "SELECT * FROM visits ORDER BY visit_id"}, direct: "SELECT " + strings.Join(pyVisitsVisible, ", ") + " FROM study.visits ORDER BY visit_id",
			cols: pyVisitsVisible},
		// Parameters: both drivers interpolate %s into the text on the
		// client (neither has server-side prepared statements), so this
		// is a plain COM_QUERY whose literals rrproxy must parse:
		// backslash escapes, quotes and UTF-8 included.
		{step: pyStep{SQL: "SELECT visit_id, visit_date, systolic_bp FROM visits WHERE subject_id = %s AND visit_date >= %s ORDER BY visit_id", Args: []any{"S-0007", "2025-03-01"}},
			direct: "SELECT visit_id, visit_date, systolic_bp FROM study.visits WHERE subject_id = 'S-0007' AND visit_date >= '2025-03-01' ORDER BY visit_id"},
		{step: pyStep{SQL: "SELECT %s AS a, %s AS b, %s AS c", Args: []any{`O'Brien \ "x"`, "Zoë ✓", 42}},
			want: [][]string{{`O'Brien \ "x"`, "Zoë ✓", "42"}}},
		// What is not granted answers as if it did not exist.
		{step: pyStep{SQL: "SELECT subject_id, treatment_arm FROM visits LIMIT 1"}, errCode: 1054, errText: "Unknown column 'treatment_arm'"},
		{step: pyStep{SQL: "SELECT COUNT(*) FROM visits WHERE treatment_arm = %s", Args: []any{"ACTIVE"}}, errCode: 1054, errText: "Unknown column 'treatment_arm'"},
		{step: pyStep{SQL: "SELECT * FROM ops.site_payments"}, errCode: 1142, errText: "`ops`.`site_payments`"},
		// ... and the session goes on after refusals.
		{step: pyStep{SQL: "SELECT COUNT(*) FROM visits"}, want: pyColumn("300")},
	}
	steps := make([]pyStep, len(alice))
	for i, c := range alice {
		steps[i] = c.step
	}
	ar := req("alice", alicePW, "study", steps...)
	ar.OptionFile = verifyHost
	rep := pyRun(t, py, script, ar)
	if rep.ConnectError != nil {
		t.Fatalf("alice: connect: %+v", *rep.ConnectError)
	}
	pyCheckResults(t, "alice", alice, rep)
	version := rep.Version
	if driver == "pymysql" {
		// PyMySQL answers the greeting with the plugin rrproxy offers;
		// rrproxy then asks for full authentication, which over TLS
		// carries the password itself.
		if rep.AuthPlugin != "caching_sha2_password" {
			t.Errorf("PyMySQL logged in with %q", rep.AuthPlugin)
		}
		if rep.TLSVersion == "" {
			t.Errorf("PyMySQL's socket is not TLS")
		}
		t.Logf("PyMySQL %s: %s, %s", version, rep.TLSVersion, rep.TLSCipher)
	}
	// The interpolated statement is what the driver sent.
	for i, c := range alice {
		if slices.Contains(c.step.Args, any("S-0007")) && !strings.Contains(rep.Results[i].Sent, "subject_id = 'S-0007'") {
			t.Errorf("%s sent %q: not interpolated on the client", client, rep.Results[i].Sent)
		}
	}

	// bob (site-monitors: study.subjects and study.visits), no database.
	bob := []pyCheck{
		{step: pyStep{SQL: "SHOW DATABASES"}, want: pyColumn("information_schema", "study")},
		{step: pyStep{SQL: "SHOW TABLES FROM study"}, want: pyColumn("subjects", "visits")},
		{step: pyStep{SQL: pyColumnsQuery}, direct: pyColumnsDirect("'subjects', 'visits'")},
		{step: pyStep{SQL: "SHOW COLUMNS FROM study.visits"}, direct: "SHOW COLUMNS FROM study.visits WHERE Field <> 'treatment_arm'"},
		{step: pyStep{SQL: "SELECT * FROM study.docs"}, errCode: 1146, errText: "Table 'study.docs' doesn't exist"},
		{step: pyStep{SQL: "SELECT * FROM ops.site_payments"}, errCode: 1142, errText: "`ops`.`site_payments`"},
		{step: pyStep{SQL: "SELECT COUNT(*) FROM study.subjects"}, want: pyColumn("120")},
	}
	steps = steps[:0]
	for _, c := range bob {
		steps = append(steps, c.step)
	}
	rep = pyRun(t, py, script, req("bob", bobPW, "", steps...))
	if rep.ConnectError != nil {
		t.Fatalf("bob: connect: %+v", *rep.ConnectError)
	}
	pyCheckResults(t, "bob", bob, rep)

	// A wrong password is 1045, as from MariaDB.
	rep = pyRun(t, py, script, req("alice", "not-alice-password", "study"))
	if e := rep.ConnectError; e == nil || e.Code != 1045 || !strings.Contains(e.Message, "Access denied for user 'alice'") {
		t.Errorf("wrong password: want 1045 Access denied, got %+v", e)
	}

	// TLS is verified: a CA that did not sign rrproxy's certificate is
	// refused by the client before it sends any password.
	other, err := devcert.Generate(filepath.Join(dir, "other-ca"), nil)
	if err != nil {
		t.Fatal(err)
	}
	wrongCA := req("alice", alicePW, "study")
	wrongCA.CA = other.CA
	rep = pyRun(t, py, script, wrongCA)
	if e := rep.ConnectError; e == nil || !strings.Contains(strings.ToLower(e.Message), "certificate") {
		t.Errorf("a CA that did not sign rrproxy's certificate: want a certificate error, got %+v", e)
	} else {
		t.Logf("wrong CA: %d %s", e.Code, e.Message)
	}

	// ... and the certificate must name the host connected to: 127.1 is
	// 127.0.0.1, where rrproxy listens, but not a name in its
	// certificate (localhost, 127.0.0.1, ::1).
	wrongName := req("alice", alicePW, "study")
	wrongName.Host, wrongName.OptionFile = "127.1", verifyHost
	rep = pyRun(t, py, script, wrongName)
	nameErr := map[string]string{"pymysql": "Hostname mismatch", "mysqldb": "Validation of SSL server certificate failed"}[driver]
	if e := rep.ConnectError; e == nil || !strings.Contains(e.Message, nameErr) {
		t.Errorf("connecting as 127.1, a name rrproxy's certificate does not have: want %q, got %+v", nameErr, e)
	} else {
		t.Logf("wrong host name: %d %s", e.Code, e.Message)
	}
	hostNote := "ssl={'ca': ...} verifies the certificate chain and the host name"
	if driver == "mysqldb" {
		// Without the option file: does libmariadb check the name?
		wrongName.OptionFile = ""
		if rep = pyRun(t, py, script, wrongName); rep.ConnectError == nil {
			hostNote = "ssl={'ca': ...} verifies the chain but not the host name: add ssl-verify-server-cert=1 in an option file (read_default_file)"
		}
		t.Logf("MySQLdb as 127.1 without ssl-verify-server-cert=1: connect error %+v", rep.ConnectError)
	}

	plugin := "caching_sha2_password"
	if driver == "mysqldb" {
		// mysqlclient has no way to ask which plugin libmariadb used;
		// take the plugins away and see which one the login needs.
		// (alice has no mysql_native_password opt-in, and rrproxy never
		// asks for mysql_clear_password.)
		noPlugins := filepath.Join(dir, "no-plugins.cnf")
		if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
			t.Fatal(err)
		}
		pyWriteFile(t, noPlugins, "[client]\nplugin-dir="+filepath.Join(dir, "empty")+"\n")
		np := req("alice", alicePW, "study")
		np.OptionFile = noPlugins
		rep = pyRun(t, py, script, np)
		if e := rep.ConnectError; e == nil || !strings.Contains(e.Message, "caching_sha2_password") {
			t.Errorf("without libmariadb's plugins: want caching_sha2_password to be missing, got %+v", e)
		} else {
			t.Logf("without libmariadb's plugins: %d %s", e.Code, e.Message)
		}
	}

	// A 225 MB result through the driver's unbuffered cursor.
	rep = pyRun(t, py, script, req("alice", alicePW, "", pyStep{Stream: pyStreamQuery}))
	if rep.ConnectError != nil {
		t.Fatalf("stream: connect: %+v", *rep.ConnectError)
	}
	s := rep.Results[0]
	if s.Error != nil {
		t.Fatalf("stream: after %d rows: %d %s", s.StreamRows, s.Error.Code, s.Error.Message)
	}
	var wantBytes, wantIDSum int64
	for id := int64(1); id <= 300; id++ {
		wantBytes += 300 * (int64(len(fmt.Sprint(id))) + 2500)
		wantIDSum += 300 * id
	}
	if s.StreamRows != pyStreamRows || s.StreamBytes != wantBytes || s.StreamIDSum != wantIDSum || s.StreamBad != 0 {
		t.Errorf("stream: %d rows, %d bytes, id sum %d, %d bad values; want %d rows, %d bytes, id sum %d",
			s.StreamRows, s.StreamBytes, s.StreamIDSum, s.StreamBad, pyStreamRows, wantBytes, wantIDSum)
	}
	if wantBytes < 200e6 {
		t.Fatalf("the large result is only %d bytes", wantBytes)
	}
	t.Logf("stream: %d rows, %.1f MB in %.1fs (%.0f MB/s); Python peak RSS (VmHWM) %d MiB, %d MiB before; getrusage ru_maxrss %d MiB",
		s.StreamRows, float64(s.StreamBytes)/1e6, s.Seconds, float64(s.StreamBytes)/1e6/s.Seconds, s.RSSPeak>>10, s.RSSBefore>>10, s.RUMaxRSS>>10)
	// A buffered cursor would hold the whole result (well over 225 MB
	// as Python objects); streaming holds one batch of rows. ru_maxrss
	// is reported but not checked: Linux carries it over exec, so it
	// starts at the Go test binary's peak.
	if s.RSSPeak == 0 || s.RSSPeak > 96<<10 || s.RSSPeak-s.RSSBefore > 64<<10 {
		t.Errorf("the Python process's peak RSS was %d MiB (%d MiB before streaming): the result was buffered", s.RSSPeak>>10, s.RSSBefore>>10)
	}

	// The audit log shows what the drivers did on the wire: TLS for
	// every login, and no server-side prepared statement anywhere.
	tlsSeen := map[string]bool{}
	var paramStmt bool
	var streamed int64
	recs := readAuditRecords(t, r)
	intents := map[float64]string{}
	for _, m := range recs {
		switch {
		case m["event.action"] == "login" && m["event.outcome"] == "success":
			v, _ := m["tls.version"].(string)
			if v == "" {
				t.Errorf("login without TLS: %v", m)
			}
			tlsSeen[v+" "+fmt.Sprint(m["tls.cipher"])] = true
		case m["event.action"] == "statement":
			cmd, _ := m["rrproxy.command"].(string)
			if strings.HasPrefix(cmd, "stmt_") {
				t.Errorf("%s sent %s: a server-side prepared statement", client, cmd)
			}
			stmt, _ := m["rrproxy.statement"].(string)
			if m["rrproxy.phase"] == "intent" {
				seq, _ := m["event.sequence"].(float64)
				intents[seq] = stmt
			}
			if strings.Contains(stmt, "subject_id = 'S-0007'") && cmd == "query" {
				paramStmt = true
			}
			if m["rrproxy.phase"] == "outcome" {
				seq, _ := m["rrproxy.intent_sequence"].(float64)
				if intents[seq] == pyStreamQuery {
					rows, _ := m["rrproxy.rows"].(float64)
					streamed = int64(rows)
				}
			}
		}
	}
	if !paramStmt {
		t.Errorf("rrproxy's audit log has no COM_QUERY with the interpolated parameters")
	}
	if streamed != pyStreamRows {
		t.Errorf("rrproxy's audit log: the large result had %d rows", streamed)
	}
	t.Logf("%s %s: TLS %v", client, version, pySortedKeys(tlsSeen))

	notes := "Parameters are interpolated client-side (%s, COM_QUERY; no server-side prepared statements); streams with SSCursor; " + hostNote
	if driver == "mysqldb" {
		notes = "Parameters are interpolated client-side (mysqlclient has no server-side prepared statements); " +
			"streams with SSCursor; libmariadb " + pyLibmariadbVersion(t, py) + " loads its caching_sha2_password plugin; " + hostNote
	}
	reportCompat(t, compatRow{Client: client, Version: version, TLS: true, Plugin: plugin, Prepared: false, Metadata: true, Large: true, Notes: notes})
}

func pyLibmariadbVersion(t *testing.T, py string) string {
	out, err := exec.Command(py, "-c", "import MySQLdb; print(MySQLdb._mysql.get_client_info())").Output()
	if err != nil {
		t.Fatalf("MySQLdb client info: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func pySortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func pyWriteFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mycliRun is what every mycli invocation of a test shares: its own
// configuration and home, so that nothing from the machine's ~/.myclirc,
// ~/.my.cnf or history changes what it does.
type mycliRun struct {
	bin, home string
}

func newMycliRun(t *testing.T) *mycliRun {
	bin, ok := testtool.Need(t, "mycli", "mycli", "mycli compatibility")
	if !ok {
		return nil
	}
	home := t.TempDir()
	// The pager would wait for a key; the rest is mycli's default. The
	// debug log shows what mycli did when a check fails.
	pyWriteFile(t, filepath.Join(home, "myclirc"), "[main]\nenable_pager = False\nlog_file = "+filepath.Join(home, "mycli.log")+"\nlog_level = DEBUG\n")
	pyWriteFile(t, filepath.Join(home, "my.cnf"), "")
	return &mycliRun{bin: bin, home: home}
}

// args are mycli's command line for user at addr, over TLS verifying ca
// unless ca is "". The password is given in a file: on a refused login
// mycli then retries once with it instead of prompting.
func (m *mycliRun) args(t *testing.T, addr, user, pw, ca string, extra ...string) []string {
	host, port, _ := net.SplitHostPort(addr)
	pwFile := filepath.Join(m.home, user+".pw")
	pyWriteFile(t, pwFile, pw)
	args := []string{m.bin, "--myclirc", filepath.Join(m.home, "myclirc"), "--defaults-file", filepath.Join(m.home, "my.cnf"),
		"-h", host, "-P", port, "-u", user, "--password-file", pwFile}
	if ca != "" {
		args = append(args, "--ssl-ca", ca, "--ssl-verify-server-cert")
	}
	return append(args, extra...)
}

func (m *mycliRun) env() []string {
	return []string{"HOME=" + m.home, "MYCLI_HISTFILE=" + filepath.Join(m.home, "history")}
}

// batch runs mycli -e and returns stdout, stderr and the exit error.
func (m *mycliRun) batch(t *testing.T, addr, user, pw, ca, db, sqlText string) (string, string, error) {
	t.Helper()
	args := m.args(t, addr, user, pw, ca, "-e", sqlText)
	if db != "" {
		args = append(args, db)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), m.env()...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// logLines are the lines of mycli's debug log that contain any of words.
func (m *mycliRun) logLines(words ...string) []string {
	b, _ := os.ReadFile(filepath.Join(m.home, "mycli.log"))
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return out
}

// mycliTSV is mycli's batch output (tab-separated, a title line first)
// as rows.
func mycliTSV(out string) [][]string {
	var rows [][]string
	for i, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if i == 0 || line == "" {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows
}

// mycliPrompt is the prompt mycli is given (-R), without the space
// that follows it: tmux's capture drops trailing blanks.
const mycliPrompt = "mycli-ready>"

// pyTmux is mycli in a terminal: a private tmux server (its own socket,
// no configuration) holding one pane.
type pyTmux struct {
	t    *testing.T
	sock string
}

// startMycliTerm starts mycli (args from mycliRun.args) in a 200x60
// terminal and waits for its prompt.
func startMycliTerm(t *testing.T, m *mycliRun, args []string) *pyTmux {
	t.Helper()
	if _, ok := testtool.Need(t, "tmux", "tmux", "mycli in a terminal (its completion refresh, Ctrl-C)"); !ok {
		return nil
	}
	x := &pyTmux{t: t, sock: filepath.Join(t.TempDir(), "tmux")}
	args = append([]string{"-R", mycliPrompt + " "}, args[1:]...)
	// A shell around mycli reports its exit status on the screen (tmux
	// does not always reap the pane's process and know it). Its trap
	// keeps it alive through a Ctrl-C meant for mycli, which gets the
	// default SIGINT handling (a trap's handler is not inherited).
	cmd := append(append(append([]string{"sh", "-c", `trap true INT; "$@"; echo "mycli exited with status $?"`, "sh", "env"}, m.env()...), "TERM=xterm", m.bin), args...)
	x.cmd(append([]string{"new-session", "-d", "-s", "m", "-x", "200", "-y", "60"}, cmd...)...)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", x.sock, "kill-server").Run() })
	// Keep the pane when mycli exits, to read how it ended.
	x.cmd("set-option", "-t", "m", "remain-on-exit", "on")
	x.waitScreen("prompt", func(s string) bool { return strings.Contains(s, mycliPrompt) })
	return x
}

func (x *pyTmux) cmd(args ...string) string {
	x.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", x.sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		x.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

func (x *pyTmux) keys(keys ...string) { x.cmd(append([]string{"send-keys", "-t", "m"}, keys...)...) }
func (x *pyTmux) text(s string)       { x.cmd("send-keys", "-t", "m", "-l", s) }
func (x *pyTmux) screen() string      { return x.cmd("capture-pane", "-p", "-t", "m") }

// waitScreen polls the screen until ok holds.
func (x *pyTmux) waitScreen(what string, ok func(string) bool) string {
	x.t.Helper()
	s, seen := x.poll(30*time.Second, ok)
	if !seen {
		x.t.Fatalf("mycli: %s: not seen in 30s; screen:\n%s", what, s)
	}
	return s
}

// poll returns the screen once ok holds, or the last one after d.
func (x *pyTmux) poll(d time.Duration, ok func(string) bool) (string, bool) {
	x.t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := x.screen()
		if ok(s) {
			return s, true
		}
		if time.Now().After(deadline) {
			return s, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// echo is how the input line q shows once mycli has run it: the
// redrawn line drops the closing semicolon.
func mycliEcho(q string) string { return mycliPrompt + " " + strings.TrimSuffix(q, ";") }

// run types q on a cleared screen and waits for its answer and the next
// prompt; ok says when the answer is complete. It returns the screen
// from q on.
func (x *pyTmux) run(q string, ok func(string) bool) string {
	x.t.Helper()
	x.keys("C-l")
	x.text(q)
	x.keys("Enter")
	var out string
	x.waitScreen(q, func(s string) bool {
		i := strings.LastIndex(s, mycliEcho(q))
		if i < 0 {
			return false
		}
		out = s[i:]
		return strings.Contains(out, "\n"+mycliPrompt) && ok(out)
	})
	return out
}

// clearLine empties the input line and closes any completion menu.
// Not Ctrl-C: between two prompts the terminal is not in raw mode, and
// Ctrl-C would be a SIGINT to mycli.
func (x *pyTmux) clearLine() { x.keys("C-e", "C-u") }

// quit ends mycli and checks that it exited with status 0.
func (x *pyTmux) quit() {
	x.t.Helper()
	x.clearLine()
	x.text("quit")
	x.keys("Enter")
	s, ok := x.poll(15*time.Second, func(s string) bool { return strings.Contains(s, "mycli exited with status ") })
	if !ok || !strings.Contains(s, "mycli exited with status 0\n") {
		x.t.Errorf("mycli did not quit cleanly; screen:\n%s", s)
	}
}

// complete types typed, presses Tab and returns the completion menu: the
// first word of each line below the input line. The completer is
// swapped in when mycli's refresher is done, so it retries briefly
// until every item of want is offered.
func (x *pyTmux) complete(typed string, want []string) []string {
	x.t.Helper()
	var items []string
	for try := 0; try < 20; try++ {
		x.clearLine()
		x.text(typed)
		x.keys("Tab")
		time.Sleep(300 * time.Millisecond)
		items = mycliMenu(x.screen(), typed)
		if len(items) > 0 && !slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(items, w) }) {
			break
		}
	}
	x.clearLine()
	return items
}

// mycliMenu is the completion menu below the last input line showing
// typed.
func mycliMenu(screen, typed string) []string {
	lines := strings.Split(screen, "\n")
	at := -1
	for i, l := range lines {
		if strings.Contains(l, mycliPrompt+" "+strings.TrimSpace(typed)) {
			at = i
		}
	}
	if at < 0 {
		return nil
	}
	var items []string
	for _, l := range lines[at+1:] {
		if l = strings.TrimSpace(l); l == "" {
			break
		}
		// The kind of an item can follow it on its line.
		items = append(items, strings.Fields(l)[0])
	}
	return items
}

// pyReadAuditLive reads the audit log while the rig still writes it
// (SyncAlways: each record is complete before the statement runs).
func pyReadAuditLive(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// mycliStatement is one statement mycli sent, as rrproxy audited it.
type mycliStatement struct {
	session  float64
	command  string
	sql      string
	denied   string // the refusal's reason, if rrproxy refused it
	errCode  float64
	errText  string // as the client got it
	finished bool
}

// mycliStatements are the statements of mycli's sessions (program_name
// mycli, which PyMySQL sends as a connection attribute), in order. A
// statement naming a hidden object is recorded as denied and then
// answered by a probe (the server's own answer for a missing object):
// the probe's error is what the client saw, so it is folded into the
// denied statement.
func mycliStatements(recs []map[string]any) []*mycliStatement {
	var out []*mycliStatement
	bySeq := map[float64]*mycliStatement{}
	lastDenied := map[float64]*mycliStatement{}
	for _, m := range recs {
		if m["event.action"] != "statement" {
			continue
		}
		// An outcome names its intent and repeats none of the
		// connection's members but the user and session: it is mycli's
		// if its intent is (bySeq).
		if ua, _ := m["user_agent.name"].(string); !strings.HasPrefix(ua, "mycli") && m["rrproxy.phase"] != "outcome" {
			continue
		}
		seq, _ := m["event.sequence"].(float64)
		sess, _ := m["rrproxy.session_id"].(float64)
		stmt, _ := m["rrproxy.statement"].(string)
		cmd, _ := m["rrproxy.command"].(string)
		kinds, _ := m["rrproxy.statement_kinds"].([]any)
		switch m["rrproxy.phase"] {
		case "intent":
			if slices.Contains(kinds, any("probe")) && lastDenied[sess] != nil {
				bySeq[seq] = lastDenied[sess]
				lastDenied[sess].finished = false
				continue
			}
			st := &mycliStatement{session: sess, command: cmd, sql: stmt}
			bySeq[seq] = st
			out = append(out, st)
		case "denied":
			reason, _ := m["event.reason"].(string)
			st := &mycliStatement{session: sess, command: cmd, sql: stmt, denied: reason, finished: true}
			lastDenied[sess] = st
			out = append(out, st)
		case "outcome":
			is, _ := m["rrproxy.intent_sequence"].(float64)
			if st := bySeq[is]; st != nil {
				st.finished = true
				if m["event.outcome"] == "failure" {
					st.errCode, _ = m["error.code"].(float64)
					st.errText, _ = m["event.reason"].(string)
				}
			}
		}
	}
	return out
}

// mycliVersion is "1.26.1 (PyMySQL 1.0.2)": mycli's own version and the
// driver it runs on.
func mycliVersion(t *testing.T, m *mycliRun) string {
	out, err := exec.Command(m.bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("mycli --version: %v: %s", err, out)
	}
	v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Version:"))
	pv, err := exec.Command(pyDebianPython, "-c", "import pymysql; print(pymysql.__version__)").Output()
	if err != nil {
		t.Fatalf("PyMySQL for mycli: %v", err)
	}
	return v + " (PyMySQL " + strings.TrimSpace(string(pv)) + ")"
}

func pyTestMycli(t *testing.T) {
	m := newMycliRun(t)
	if m == nil {
		return
	}
	version := mycliVersion(t, m)
	// Every record must be on disk as soon as it is written: the test
	// reads the log while mycli's refresher is still at work.
	r := startRig(t, rigOpts{requireTLS: true, auditSync: auditlog.SyncAlways})
	root := direct(t)
	// What the test types itself; everything else mycli sent is its own.
	typed := map[string]bool{}

	// Batch mode (-e): one statement per run, TSV out.
	for _, c := range []struct {
		user, pw, db, q string
		want            [][]string
		direct          string
	}{
		{"alice", alicePW, "", "SHOW DATABASES", pyColumn("information_schema", "study"), ""},
		{"alice", alicePW, "study", "SHOW TABLES", pyColumn("docs", "subjects", "visits"), ""},
		{"alice", alicePW, "", pyColumnsQuery, nil, pyColumnsDirect("'docs', 'subjects', 'visits'")},
		{"alice", alicePW, "study", "SHOW COLUMNS FROM visits", nil, "SHOW COLUMNS FROM study.visits WHERE Field <> 'treatment_arm'"},
		{"alice", alicePW, "study", "SELECT * FROM visits ORDER BY visit_id", nil, "SELECT " + strings.Join(pyVisitsVisible, ", ") + " FROM study.visits ORDER BY visit_id"},
		{"bob", bobPW, "", "SHOW TABLES FROM study", pyColumn("subjects", "visits"), ""},
		{"bob", bobPW, "", "SELECT * FROM study.subjects ORDER BY subject_id", nil, "SELECT * FROM study.subjects ORDER BY subject_id"},
	} {
		typed[c.q] = true
		out, stderr, err := m.batch(t, r.addr, c.user, c.pw, certs.CA, c.db, c.q)
		if err != nil {
			t.Errorf("mycli -e %q as %s: %v: %s", c.q, c.user, err, stderr)
			continue
		}
		want := c.want
		if c.direct != "" {
			// mycli's TSV prints NULL as an empty field.
			want = table(t, root, c.direct)
			for _, row := range want {
				for i, v := range row {
					if v == "NULL" {
						row[i] = ""
					}
				}
			}
		}
		if got := mycliTSV(out); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("mycli -e %q as %s:\n got %v\nwant %v", c.q, c.user, pyAbbrev(got), pyAbbrev(want))
		}
	}
	for _, c := range []struct{ user, pw, q, want string }{
		{"alice", alicePW, "SELECT treatment_arm FROM study.visits LIMIT 1", "(1054, \"Unknown column 'treatment_arm'"},
		{"alice", alicePW, "SELECT * FROM ops.site_payments", "(1142, \"SELECT command denied to user 'alice'"},
		{"alice", "not-alice-password", "SELECT 1", "(1045, \"Access denied for user 'alice'"},
	} {
		typed[c.q] = true
		_, stderr, err := m.batch(t, r.addr, c.user, c.pw, certs.CA, "", c.q)
		if err == nil || !strings.Contains(stderr, c.want) {
			t.Errorf("mycli -e %q as %s: want %s..., got %v: %s", c.q, c.user, c.want, err, stderr)
		}
	}
	other, err := devcert.Generate(filepath.Join(t.TempDir(), "other-ca"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := m.batch(t, r.addr, "alice", alicePW, other.CA, "", "SELECT 1"); err == nil || !strings.Contains(stderr, "CERTIFICATE_VERIFY_FAILED") {
		t.Errorf("mycli with a CA that did not sign rrproxy's certificate: want a verify failure, got %v: %s", err, stderr)
	}
	// 127.1 is where rrproxy listens, but not a name in its certificate.
	_, port, _ := net.SplitHostPort(r.addr)
	if _, stderr, err := m.batch(t, "127.1:"+port, "alice", alicePW, certs.CA, "", "SELECT 1"); err == nil || !strings.Contains(stderr, "Hostname mismatch") {
		t.Errorf("mycli --ssl-verify-server-cert to 127.1, a name rrproxy's certificate does not have: want a hostname mismatch, got %v: %s", err, stderr)
	}

	// Interactive: mycli in a terminal, as a person starts it. Its
	// completion refresher connects a second time and loads databases,
	// tables, columns, users, functions and SHOW keywords in a
	// background thread.
	x := startMycliTerm(t, m, m.args(t, r.addr, "alice", alicePW, certs.CA, "study"))
	if x == nil {
		return
	}
	// Wait for the refresher: its last query is the SHOW keywords one.
	deadline := time.Now().Add(30 * time.Second)
	for !slices.ContainsFunc(mycliStatements(pyReadAuditLive(t, r.path)), func(st *mycliStatement) bool {
		return strings.Contains(st.sql, "help_topic") && st.finished
	}) {
		if time.Now().After(deadline) {
			t.Fatalf("mycli's completion refresher did not finish in 30s; screen:\n%s", x.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The completions it built offer only what alice may see.
	for _, c := range []struct {
		typed       string
		want, never []string
	}{
		{"USE ", []string{"study", "information_schema"}, []string{"ops", "mysql"}},
		{"SELECT * FROM ", []string{"docs", "subjects", "visits"}, []string{"site_payments", "ops"}},
		{"SELECT * FROM visits WHERE ", pyVisitsVisible, []string{"treatment_arm"}},
	} {
		items := x.complete(c.typed, c.want)
		for _, w := range c.want {
			if !slices.Contains(items, w) {
				t.Errorf("mycli completion of %q: %v lacks %s", c.typed, items, w)
			}
		}
		for _, n := range c.never {
			if slices.Contains(items, n) {
				t.Errorf("mycli completion of %q offers %s, which alice may not see: %v", c.typed, n, items)
			}
		}
		t.Logf("mycli completes %q with %v", c.typed, items)
	}

	// Typed queries.
	for q, check := range map[string]func(string) bool{
		"SHOW DATABASES;": func(s string) bool {
			return strings.Contains(s, "| study ") && strings.Contains(s, "| information_schema ") && !strings.Contains(s, "ops")
		},
		"SELECT COUNT(*) AS n FROM visits;": func(s string) bool { return strings.Contains(s, "| 300 ") },
		"SELECT treatment_arm FROM visits;": func(s string) bool { return strings.Contains(s, "(1054, \"Unknown column 'treatment_arm'") },
	} {
		typed[strings.TrimSuffix(q, ";")] = true
		s := x.run(q, func(s string) bool { return strings.Contains(s, "in set") || strings.Contains(s, "(1") })
		if !check(s) {
			t.Errorf("mycli %s\n%s", q, s)
		}
	}
	x.quit()

	// Everything mycli sent, from rrproxy's audit log; what rrproxy
	// refused, and what MariaDB answers to the same statement directly:
	// as root, and as the proxy's service account, whose grants (study
	// and ops only) are what MariaDB itself would give such a user.
	stmts := mycliStatements(readAuditRecords(t, r))
	cfg, err := mysql.ParseDSN(rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = svcUser, svcPassword
	svc, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	directAnswer := func(db *sql.DB, q string) string {
		_, rows, err := tryQuery(db, q)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%d rows", len(rows))
	}
	seen := map[string]bool{}
	var refused []string
	for _, st := range stmts {
		q := strings.Join(strings.Fields(st.sql), " ")
		if !seen[st.command+q] {
			seen[st.command+q] = true
			t.Logf("mycli sent (%s): %s", st.command, q)
		}
		if (st.denied == "" && st.errCode == 0) || typed[q] {
			continue
		}
		refused = append(refused, q)
		what := fmt.Sprintf("MariaDB error %v: %s", st.errCode, st.errText)
		if st.denied != "" {
			what = fmt.Sprintf("refused (%s), client got %v: %s", st.denied, st.errCode, st.errText)
		}
		t.Logf("rrproxy refused mycli's own %q: %s; directly as root: %s; as %s: %s", q, what, directAnswer(root, q), svcUser, directAnswer(svc, q))
	}
	slices.Sort(refused)
	refused = slices.Compact(refused)
	// The completion refresher's users and SHOW-keyword queries read the
	// mysql schema, which the policy grants no one: refused with the
	// error MariaDB gives any account without grants there, and mycli
	// goes on without those completions. Anything else refused is a
	// finding.
	wantRefused := []string{
		`SELECT CONCAT("'", user, "'@'",host,"'") FROM mysql.user`,
		`SELECT name from mysql.help_topic WHERE name like "SHOW %"`,
	}
	if !slices.Equal(refused, wantRefused) {
		t.Errorf("statements of mycli's own refused by rrproxy:\n%s\nwant only:\n%s", strings.Join(refused, "\n"), strings.Join(wantRefused, "\n"))
	}
	for _, want := range []string{"select connection_id()", "SHOW DATABASES", "SHOW TABLES", "information_schema.columns", "INFORMATION_SCHEMA.ROUTINES"} {
		if !slices.ContainsFunc(stmts, func(st *mycliStatement) bool {
			return strings.Contains(st.sql, want) && st.errCode == 0 && st.denied == ""
		}) {
			t.Errorf("mycli's startup traffic has no successful %s statement", want)
		}
	}
	sessions := map[float64]bool{}
	for _, st := range stmts {
		sessions[st.session] = true
	}
	t.Logf("mycli %s: %d statements in %d sessions", version, len(stmts), len(sessions))

	reportCompat(t, compatRow{
		Client: "mycli", Version: version, TLS: true, Plugin: "caching_sha2_password", Prepared: false, Metadata: true, Large: false,
		Notes: "--ssl-ca with --ssl-verify-server-cert; startup and completion refresh work and complete only granted schemas, tables and columns; " +
			"its users (mysql.user) and SHOW-keyword (mysql.help_topic) completion queries are refused as MariaDB refuses them without grants on mysql, and mycli goes on without them; " +
			"Ctrl-C cancels a running query (mycli's KILL, answered by rrproxy for the same person's sessions: TestCompatPythonMycliCancel)",
	})
}
