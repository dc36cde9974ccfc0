package sandbox

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gmclient "github.com/go-mysql-org/go-mysql/client"
	gmmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-sql-driver/mysql"
)

// start runs a sandbox for one test. Tests do not run in parallel: GMS logs
// through process-wide loggers that follow the latest Start.
func start(t *testing.T) *Upstream {
	t.Helper()
	u, err := Start(t.Context(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := u.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return u
}

// openDB connects with go-sql-driver/mysql; by default it uses server-side
// prepared statements for queries with arguments, as the brief requires.
func openDB(t *testing.T, u *Upstream, user, password string, tune func(*mysql.Config)) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = u.Addr
	cfg.User = user
	cfg.Passwd = password
	cfg.Timeout = 5 * time.Second
	if tune != nil {
		tune(cfg)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func serviceDB(t *testing.T, u *Upstream) *sql.DB {
	return openDB(t, u, u.User, u.Password, nil)
}

func queryStrings(t *testing.T, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) [][]string {
	t.Helper()
	rows, err := q.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		raw := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range raw {
			ptrs[i] = &raw[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: scan: %v", query, err)
		}
		row := make([]string, len(cols))
		for i, v := range raw {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

func firstColumn(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r[0])
	}
	return out
}

func TestSampleCounts(t *testing.T) {
	counts := SampleCounts()
	t.Logf("sample counts: %v", counts)
	want := map[string][2]int{ // brief: "~N rows"; bounds keep the data set recognisable
		"study.studies":     {3, 3},
		"study.sites":       {8, 8},
		"study.subjects":    {120, 120},
		"study.visits":      {250, 350},
		"ops.site_payments": {30, 30},
	}
	if len(counts) != len(want) {
		t.Fatalf("SampleCounts has %d tables, want %d: %v", len(counts), len(want), counts)
	}
	for table, bounds := range want {
		if n := counts[table]; n < bounds[0] || n > bounds[1] {
			t.Errorf("%s: %d rows, want %d..%d", table, n, bounds[0], bounds[1])
		}
	}

	db := serviceDB(t, start(t))
	for table, n := range counts {
		var got int
		if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&got); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		if got != n {
			t.Errorf("%s: server has %d rows, SampleCounts says %d", table, got, n)
		}
	}
}

func TestSampleDataDeterministic(t *testing.T) {
	a, b := generate(), generate()
	if !slices.Equal(a.inserts, b.inserts) {
		t.Fatal("two generations differ; the seed no longer fixes the data")
	}
	SampleCounts()["study.subjects"] = -1 // a caller's edit must not leak back
	if SampleCounts()["study.subjects"] != 120 {
		t.Fatal("SampleCounts returned shared state")
	}
}

func TestLoginRefused(t *testing.T) {
	u := start(t)
	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", u.User, "not-" + u.Password},
		{"empty password", u.User, ""},
		{"root without password", "root", ""},
		{"root with the service password", "root", u.Password},
		{"unknown user", "mallory", "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := openDB(t, u, tc.user, tc.password, nil).PingContext(t.Context())
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1045 {
				t.Fatalf("go-sql-driver: got %v, want error 1045", err)
			}
			// The proxy's upstream client is go-mysql; it must see 1045 too.
			c, err := gmclient.Connect(u.Addr, tc.user, tc.password, "")
			if err == nil {
				c.Close()
				t.Fatal("go-mysql: login accepted")
			}
			var ge *gmmysql.MyError
			if !errors.As(err, &ge) || ge.Code != 1045 {
				t.Fatalf("go-mysql: got %v, want error 1045", err)
			}
		})
	}
}

func TestServiceAccountGoMySQL(t *testing.T) {
	u := start(t)
	c, err := gmclient.Connect(u.Addr, u.User, u.Password, "study")
	if err != nil {
		t.Fatalf("go-mysql login (mysql_native_password): %v", err)
	}
	defer c.Close()
	res, err := c.Execute("SELECT COUNT(*) FROM subjects")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.GetInt(0, 0); n != int64(SampleCounts()["study.subjects"]) {
		t.Errorf("count = %d", n)
	}
}

func TestServiceAccountIsReadOnly(t *testing.T) {
	u := start(t)
	db := serviceDB(t, u)
	outfile := filepath.Join(t.TempDir(), "leak.csv")
	for _, stmt := range []string{
		"INSERT INTO study.sites VALUES (999, 'RR-CARD-301', 'x', 'DE', 'y')",
		"UPDATE study.visits SET treatment_arm = 'PLACEBO'",
		"DELETE FROM ops.site_payments",
		"CREATE TABLE study.t (id INT PRIMARY KEY)",
		"DROP TABLE study.visits",
		"CREATE DATABASE scratch",
		"CREATE USER 'x'@'%' IDENTIFIED BY 'x'",
		"SELECT User, authentication_string FROM mysql.user",
		fmt.Sprintf("SELECT * FROM study.subjects INTO OUTFILE '%s'", outfile),
	} {
		if _, err := db.ExecContext(t.Context(), stmt); err == nil {
			t.Errorf("%s: succeeded, want refusal", stmt)
		}
	}
	if _, err := os.Stat(outfile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("INTO OUTFILE wrote %s (stat: %v)", outfile, err)
	}
	if got := SampleCounts()["study.visits"]; len(queryStrings(t, db, "SELECT visit_id FROM study.visits")) != got {
		t.Error("visits changed")
	}
}

func TestClientQueries(t *testing.T) {
	u := start(t)
	db := serviceDB(t, u)
	counts := SampleCounts()

	if got := queryStrings(t, db, "SELECT COUNT(*) FROM study.subjects"); got[0][0] != fmt.Sprint(counts["study.subjects"]) {
		t.Errorf("COUNT(*) = %v", got)
	}

	rows := queryStrings(t, db, "SELECT * FROM study.visits LIMIT 5")
	if len(rows) != 5 || len(rows[0]) != 8 {
		t.Errorf("visits LIMIT 5: %d rows of %d columns, want 5 of 8", len(rows), len(rows[0]))
	}
	for _, r := range rows {
		if r[7] != "ACTIVE" && r[7] != "PLACEBO" {
			t.Errorf("treatment_arm %q", r[7])
		}
	}

	dbs := firstColumn(queryStrings(t, db, "SHOW DATABASES"))
	for _, want := range []string{"information_schema", "ops", "study"} {
		if !slices.Contains(dbs, want) {
			t.Errorf("SHOW DATABASES = %v, missing %s", dbs, want)
		}
	}

	tables := firstColumn(queryStrings(t, db, "SHOW TABLES FROM study"))
	if want := []string{"sites", "studies", "subjects", "visits"}; !slices.Equal(tables, want) {
		t.Errorf("SHOW TABLES FROM study = %v, want %v", tables, want)
	}

	if got := queryStrings(t, db, "SELECT @@version_comment LIMIT 1"); got[0][0] != versionComment {
		t.Errorf("@@version_comment = %q", got[0][0])
	}
	if got := queryStrings(t, db, "SELECT @@version"); !strings.HasPrefix(got[0][0], "8.0.") {
		t.Errorf("@@version = %q, want 8.0.x", got[0][0])
	}
	if got := queryStrings(t, db, "SELECT CURRENT_USER()"); got[0][0] != ServiceUser+"@localhost" {
		t.Errorf("CURRENT_USER() = %q", got[0][0])
	}

	// USE changes the connection's database, so it needs one connection.
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "USE study"); err != nil {
		t.Fatalf("USE study: %v", err)
	}
	if got := queryStrings(t, conn, "SELECT DATABASE(), COUNT(*) FROM visits"); got[0][0] != "study" || got[0][1] != fmt.Sprint(counts["study.visits"]) {
		t.Errorf("after USE: %v", got)
	}
}

func TestMetadata(t *testing.T) {
	db := serviceDB(t, start(t))

	create := queryStrings(t, db, "SHOW CREATE TABLE study.visits")[0][1]
	for _, want := range []string{
		"PRIMARY KEY (`visit_id`)",
		"`weight_kg` decimal(5,1) NOT NULL",
		"COMMENT 'BLINDED: randomised arm, ACTIVE or PLACEBO'",
		"FOREIGN KEY (`subject_id`) REFERENCES `subjects` (`subject_id`)",
		"COMMENT='Scheduled visits and vital signs'",
	} {
		if !strings.Contains(create, want) {
			t.Errorf("SHOW CREATE TABLE study.visits lacks %q:\n%s", want, create)
		}
	}

	cols := queryStrings(t, db, "SHOW COLUMNS FROM study.visits")
	if len(cols) != 8 || cols[0][0] != "visit_id" || cols[0][3] != "PRI" {
		t.Errorf("SHOW COLUMNS FROM study.visits = %v", cols)
	}

	info := queryStrings(t, db, `SELECT COLUMN_NAME, COLUMN_KEY, COLUMN_COMMENT FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = 'study' AND TABLE_NAME = 'subjects' ORDER BY ORDINAL_POSITION`)
	if len(info) != 7 || info[0][0] != "subject_id" || info[0][1] != "PRI" {
		t.Errorf("information_schema.COLUMNS for study.subjects = %v", info)
	}
	for _, c := range info {
		if c[2] == "" {
			t.Errorf("column %s has no comment", c[0])
		}
	}
}

func TestPreparedStatement(t *testing.T) {
	u := start(t)
	db := openDB(t, u, u.User, u.Password, func(c *mysql.Config) { c.ParseTime = true })

	// go-sql-driver prepares server-side (COM_STMT_PREPARE/EXECUTE, binary
	// rows) unless interpolateParams is set.
	stmt, err := db.PrepareContext(t.Context(), "SELECT COUNT(*) FROM study.subjects WHERE site_id = ?")
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	defer stmt.Close()
	var n int
	if err := stmt.QueryRowContext(t.Context(), 101).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != subjectsPerSite {
		t.Errorf("subjects at site 101 = %d, want %d", n, subjectsPerSite)
	}

	// Binary-protocol DATE and DECIMAL values agree with the text protocol.
	var (
		date   time.Time
		weight string
	)
	if err := db.QueryRowContext(t.Context(), "SELECT visit_date, weight_kg FROM study.visits WHERE visit_id = ?", 1).Scan(&date, &weight); err != nil {
		t.Fatal(err)
	}
	// Without arguments and parseTime, go-sql-driver uses COM_QUERY and
	// hands back the text-protocol bytes.
	text := queryStrings(t, serviceDB(t, u), "SELECT visit_date, weight_kg FROM study.visits WHERE visit_id = 1")[0]
	if date.Format(time.DateOnly) != text[0] || weight != text[1] {
		t.Errorf("binary (%s, %s) != text %v", date.Format(time.DateOnly), weight, text)
	}
}

func TestPing(t *testing.T) {
	u := start(t)
	conn, err := serviceDB(t, u).Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.PingContext(t.Context()); err != nil { // COM_PING
		t.Fatal(err)
	}

	c, err := gmclient.Connect(u.Addr, u.User, u.Password, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(); err != nil {
		t.Fatalf("go-mysql COM_PING: %v", err)
	}
}

func TestMultiStatements(t *testing.T) {
	u := start(t)
	db := openDB(t, u, u.User, u.Password, func(c *mysql.Config) { c.MultiStatements = true })
	rows, err := db.QueryContext(t.Context(), "SELECT COUNT(*) FROM study.studies; SELECT COUNT(*) FROM study.sites")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for {
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			got = append(got, n)
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []int{len(studies), len(sites)}; !slices.Equal(got, want) {
		t.Errorf("result sets = %v, want %v", got, want)
	}
}

// TestResetConnection pins down what GMS does with COM_RESET_CONNECTION,
// which the proxy sends before handing a pooled connection to another user.
func TestResetConnection(t *testing.T) {
	u := start(t)
	c, err := gmclient.Connect(u.Addr, u.User, u.Password, "study")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Execute("SET @leak = 'previous user'"); err != nil {
		t.Fatal(err)
	}
	if err := c.UseDB("ops"); err != nil {
		t.Fatal(err)
	}
	stmt, err := c.Prepare("SELECT ?")
	if err != nil {
		t.Fatal(err)
	}

	c.ResetSequence()
	if err := c.WritePacket([]byte{1, 0, 0, 0, gmmysql.COM_RESET_CONNECTION}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadOKPacket(); err != nil {
		t.Fatalf("COM_RESET_CONNECTION: %v", err)
	}

	res, err := c.Execute("SELECT @leak IS NULL, DATABASE()")
	if err != nil {
		t.Fatalf("query after reset: %v", err)
	}
	if cleared, _ := res.GetInt(0, 0); cleared != 1 {
		t.Error("user variable survived COM_RESET_CONNECTION")
	}
	// GMS keeps the current database across a reset (it re-applies it to
	// the new session); a proxy that wants a neutral default must USE one.
	if db, _ := res.GetString(0, 1); db != "ops" {
		t.Errorf("DATABASE() after reset = %q, want ops", db)
	}
	if _, err := stmt.Execute(1); err == nil {
		t.Error("prepared statement survived COM_RESET_CONNECTION")
	}
}

func TestFieldList(t *testing.T) {
	u := start(t)
	c, err := gmclient.Connect(u.Addr, u.User, u.Password, "study")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fields, err := c.FieldList("visits", "") // COM_FIELD_LIST
	if err != nil {
		t.Fatalf("COM_FIELD_LIST: %v", err)
	}
	var names []string
	for _, f := range fields {
		names = append(names, string(f.Name))
	}
	want := []string{"visit_id", "subject_id", "visit_name", "visit_date", "systolic_bp", "diastolic_bp", "weight_kg", "treatment_arm"}
	if !slices.Equal(names, want) {
		t.Errorf("fields = %v, want %v", names, want)
	}
}

func TestMariaDBCLI(t *testing.T) {
	bin, err := exec.LookPath("mariadb")
	if err != nil {
		// scripts/test.sh installs mariadb-client: its absence is a
		// broken setup, not a reason to pass.
		t.Fatalf("mariadb client not installed: %v", err)
	}
	u := start(t)
	host, port, _ := net.SplitHostPort(u.Addr)
	run := func(user, password, script string) (string, error) {
		cmd := exec.CommandContext(t.Context(), bin, "--no-defaults", "--protocol=TCP", "-h", host, "-P", port,
			"-u", user, "--batch", "--skip-column-names", "-e", script)
		cmd.Env = append(os.Environ(), "MYSQL_PWD="+password) // keeps the password off the process list
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run(u.User, u.Password, `SELECT COUNT(*) FROM study.subjects;
USE study;
SHOW TABLES;
SELECT @@version_comment LIMIT 1;
SELECT COUNT(*) FROM visits WHERE treatment_arm = 'ACTIVE' AND visit_name = 'Baseline' AND visit_date > '2000-01-01';`)
	if err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{fmt.Sprint(SampleCounts()["study.subjects"]), "sites", "studies", "subjects", "visits", versionComment}
	if len(lines) != len(want)+1 || !slices.Equal(lines[:len(want)], want) {
		t.Errorf("mariadb output:\n%s\nwant lines %q then a count", out, want)
	}

	out, err = run("root", "", "SELECT 1")
	if err == nil || !strings.Contains(out, "1045") {
		t.Errorf("mariadb as root: err %v, output %q; want ERROR 1045", err, out)
	}
}

func TestCloseEndsSessionsAndFreesPort(t *testing.T) {
	before := runtime.NumGoroutine()
	u, err := Start(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// go-mysql's client runs no goroutines of its own, so any goroutine
	// left after Close is the server's.
	c, err := gmclient.Connect(u.Addr, u.User, u.Password, "study")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Execute("SELECT COUNT(*) FROM visits"); err != nil {
		t.Fatal(err)
	}

	if err := u.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := u.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Execute("SELECT 1"); err == nil {
		t.Error("session survived Close")
	}
	ln, err := net.Listen("tcp", u.Addr)
	if err != nil {
		t.Fatalf("port still taken after Close: %v", err)
	}
	ln.Close()
	// Close has waited for every server goroutine to finish its work, but
	// one may still be between its last deferred call and its exit, where
	// NumGoroutine counts it. Yield (not sleep) until they are gone.
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(2 * time.Second); after > before && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		runtime.Gosched()
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before Start, %d after Close\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

func TestTwoSandboxesAreIndependent(t *testing.T) {
	a, b := start(t), start(t)
	if a.Addr == b.Addr || a.Password == b.Password {
		t.Fatalf("shared address or password: %s %s", a.Addr, b.Addr)
	}
	if len(a.Password) != passwordLen || strings.Trim(a.Password, passwordAlphabet) != "" {
		t.Errorf("password %d chars, want %d from the alphabet", len(a.Password), passwordLen)
	}
	if err := openDB(t, b, a.User, a.Password, nil).PingContext(t.Context()); err == nil {
		t.Error("one sandbox's password opens the other")
	}
}

// syncBuffer is an io.Writer safe for the server's goroutines to log into.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsStayQuietAndRedacted(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	u, err := Start(t.Context(), log)
	if err != nil {
		t.Fatal(err)
	}
	db := serviceDB(t, u)
	const marker = "needle-4f1c"
	if _, err := db.ExecContext(t.Context(), "SELECT '"+marker+"' FROM mysql.user"); err == nil {
		t.Error("query on mysql.user succeeded")
	}
	_ = openDB(t, u, "root", "", nil).PingContext(t.Context())
	_ = db.Close()
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}

	out := buf.String()
	if strings.Contains(out, u.Password) {
		t.Error("password in logs")
	}
	if strings.Contains(out, marker) {
		t.Error("SQL text in logs; it belongs in the audit log")
	}
	if strings.Contains(out, "\n\ngithub.com/") || strings.Contains(out, ".go:") {
		t.Error("stack trace in logs")
	}
	if !strings.Contains(out, "Error authenticating user root") {
		t.Errorf("failed login not logged:\n%s", out)
	}
	if testing.Verbose() {
		_, _ = io.WriteString(os.Stderr, out)
	}
}
