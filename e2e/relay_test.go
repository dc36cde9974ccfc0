package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gosql "github.com/go-sql-driver/mysql"
	"github.com/rrproxy/rrproxy/internal/testtool"
)

// TestStreamMillionRowsHeapFlat streams 1,000,000 rows (~110 MB) through
// the proxy to the mariadb CLI (another process, so this process's heap is
// the proxy's) and samples the heap while it flows. The CLI logs in and
// answers a first query before the baseline is taken, so the login's
// argon2id work (19 MiB, by design) is not counted as streaming.
func TestStreamMillionRowsHeapFlat(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	host, port, _ := strings.Cut(r.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// --unbuffered: the CLI flushes after each query, so the first answer
	// arrives while the session is still open.
	cmd := exec.CommandContext(ctx, "mariadb", "--no-defaults", "-h"+host, "-P"+port, "-ualice", "-p"+alicePW, "--ssl", "--ssl-ca="+certs.CA,
		"--quick", "--batch", "--unbuffered", "--skip-column-names", "study")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReaderSize(stdout, 1<<16)
	io.WriteString(stdin, "SELECT 'ready';\n")
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("first query: %q, %v: %s", line, err, stderr.String())
	}

	// A tight GC target while measuring: garbage (per-packet buffers, the
	// race detector's shadow allocations) is collected early, so the peak
	// tracks what is retained rather than how far the collector let
	// garbage pile up (with the default target the heap may double
	// before a collection, which made this test flaky near its bound).
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	io.WriteString(stdin, "SELECT seq, REPEAT('x', 100) FROM seq_1_to_1000000;\n")
	stdin.Close()
	var n countingWriter
	_, copyErr := io.Copy(&n, out)
	err = cmd.Wait()
	close(stop)
	wg.Wait()
	if copyErr != nil || err != nil {
		t.Fatalf("mariadb: %v %v: %s", copyErr, err, stderr.String())
	}
	if n.lines != 1_000_000 {
		t.Fatalf("rows = %d, want 1000000", n.lines)
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("streamed %d MB; proxy heap in use: base %d KiB, peak %d KiB, growth %d KiB", n.n>>20, base.HeapInuse>>10, peak.Load()>>10, growth>>10)
	// The result is ~110 MB; a proxy that buffered it would grow by that.
	// What is allowed is per-session buffers and GC slack.
	if growth > 8<<20 {
		t.Fatalf("proxy heap grew by %d MiB while streaming: results are being buffered", growth>>20)
	}
}

type countingWriter struct {
	n     int64
	lines int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.lines += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

func TestBlob20MiBRoundTrip(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	blob := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16+3) // 20 MiB + 48 bytes: two 16 MiB packets each way
	for _, mode := range []string{"interpolateParams=false", "interpolateParams=true"} {
		t.Run(mode, func(t *testing.T) {
			db := r.open("alice", alicePW, "study", mode, "maxAllowedPacket=67108864")
			var got []byte
			if err := db.QueryRow("SELECT ?", blob).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, blob) {
				t.Fatalf("blob came back %d bytes, want %d identical", len(got), len(blob))
			}
		})
	}
	var n int
	if err := r.open("alice", alicePW, "").QueryRow("SELECT LENGTH(REPEAT('z', 20971520))").Scan(&n); err != nil || n != 20<<20 {
		t.Fatalf("LENGTH = %d, %v", n, err)
	}
	var big string
	if err := r.open("alice", alicePW, "").QueryRow("SELECT REPEAT('z', 20971520)").Scan(&big); err != nil || len(big) != 20<<20 {
		t.Fatalf("20 MiB value downstream: %d bytes, %v", len(big), err)
	}
}

func TestMultiStatements(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("alice", alicePW, "study", "multiStatements=true")
	rows, err := db.Query("SELECT COUNT(*) FROM subjects; SELECT COUNT(*) FROM visits; SELECT 'third'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for {
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "120,300,third" {
		t.Fatalf("results = %v", got)
	}
	// Every statement of a batch is checked: one refused statement
	// refuses the batch, and nothing of it runs.
	_, err = db.Query("SELECT 1; DELETE FROM subjects")
	mysqlErr(t, err, 1227, "read-only")
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n); err != nil || n != 120 {
		t.Fatalf("subjects after a refused batch: %d, %v", n, err)
	}
	// A batch naming an object the user may not see is answered as the
	// server answers a batch naming a missing one: the statements before
	// it run, then its error.
	rows, err = db.Query("SELECT 7; SELECT * FROM ops.site_payments")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if rows.NextResultSet() {
		t.Fatal("a second result set from a hidden table")
	}
	mysqlErr(t, rows.Err(), 1142, "SELECT command denied to user 'alice'@'localhost' for table `ops`.`site_payments`")
	rows.Close()

	// Without the client enabling multi-statements, a batch is refused.
	_, err = r.open("alice", alicePW, "study").Query("SELECT 1; SELECT 2")
	mysqlErr(t, err, 1227, "multi-statements")
}

func TestPreparedStatementsMatchDirect(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("bob", bobPW, "study")
	ref := direct(t)
	q := "SELECT visit_id, subject_id, visit_name, visit_date, systolic_bp FROM study.visits WHERE systolic_bp > ? ORDER BY visit_id"
	got := dump(t, db, q, 130)
	want := dump(t, ref, q, 130)
	if got != want || len(got) < 100 {
		t.Fatalf("prepared result through proxy differs from direct (%d vs %d bytes)", len(got), len(want))
	}
	// The same statement prepared once and executed many times.
	st, err := db.Prepare("SELECT COUNT(*) FROM subjects WHERE site_id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	total := 0
	for site := 1; site <= 8; site++ {
		var n int
		if err := st.QueryRow(site).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != 120 {
		t.Fatalf("sum over sites = %d, want 120", total)
	}
	// Preparing a refused statement is refused at PREPARE.
	_, err = db.Prepare("SELECT amount_eur FROM ops.site_payments WHERE site_id = ?")
	mysqlErr(t, err, 1142, "SELECT command denied to user 'bob'@'localhost' for table `ops`.`site_payments`")
}

func dump(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			fmt.Fprintf(&b, "%s\t", v)
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSessionIsolationOnSharedUpstream: with a pool of one connection,
// alice's USE and session variables must not be visible to bob, who gets
// the same upstream connection next.
func TestSessionIsolationOnSharedUpstream(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true, maxOpen: 1})
	ctx := context.Background()

	adb := r.open("alice", alicePW, "")
	a, err := adb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var aliceUp int64
	for _, q := range []string{"USE study", "SET @secret = 'alice-was-here'", "SET SESSION sql_select_limit = 3"} {
		if _, err := a.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := a.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&aliceUp); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT subject_id FROM subjects) x").Scan(&n); err != nil {
		t.Fatal(err)
	}
	a.Close()
	adb.Close() // ends alice's proxy session; her upstream connection is reset and pooled

	bdb := r.open("bob", bobPW, "")
	bdb.SetMaxIdleConns(0)
	b, err := bdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var bobUp int64
	var dbName, secret sql.NullString
	var limit uint64
	if err := b.QueryRowContext(ctx, "SELECT CONNECTION_ID(), DATABASE(), @secret, @@SESSION.sql_select_limit").Scan(&bobUp, &dbName, &secret, &limit); err != nil {
		t.Fatal(err)
	}
	if bobUp != aliceUp {
		t.Logf("note: bob got upstream %d, alice had %d (the pool re-dialled)", bobUp, aliceUp)
	}
	if dbName.Valid || secret.Valid || limit < 1<<32 {
		t.Fatalf("bob inherited alice's session: db=%v @secret=%v sql_select_limit=%d", dbName, secret, limit)
	}
	// And bob's policy is his own: alice's current database does not
	// widen his access.
	_, err = b.ExecContext(ctx, "SELECT * FROM sites")
	mysqlErr(t, err, 1046, "No database selected")
}

func TestRefusedStatementsKeepSessionUsable(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	db := r.open("alice", alicePW, "study")
	db.SetMaxOpenConns(1)
	for _, c := range []struct {
		q    string
		code uint16
		want string
	}{
		{"INSERT INTO subjects VALUES ('X', 1, 'F', 2000)", 1227, "read-only"},
		{"SELECT treatment_arm FROM visits", 1054, "Unknown column 'treatment_arm'"},
		{"SELECT SLEEP(5)", 1227, "sleep"},
		{"SELECT LOAD_FILE('/etc/passwd')", 1227, "load_file"},
		{"SET GLOBAL max_connections = 1", 1227, "session-variables"},
		{"SELECT * FROM mysql.user", 1142, "SELECT command denied to user 'alice'@'localhost' for table `mysql`.`user`"},
		{"/*M! DROP TABLE x */ SELECT 1", 1064, "could not analyse"},
		{"SHOW GRANTS", 1227, "SHOW GRANTS"},
		{"SELECT 1 FROM subjects FOR UPDATE", 1227, "locking"},
	} {
		_, err := db.Exec(c.q)
		mysqlErr(t, err, c.code, c.want)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n); err != nil || n != 120 {
		t.Fatalf("session unusable after refusals: %d, %v", n, err)
	}
	// Every refusal is in the audit log with its rule.
	r.audit.Close()
	log, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{"read-only", "treatment-blinding", "dangerous-functions", "session-variables", "system-schemas"} {
		if !strings.Contains(string(log), `"rule.id":"`+rule+`"`) {
			t.Errorf("audit log has no denial with rule %s", rule)
		}
	}
}

// TestResetVetsSessionAgain: a reset takes the session's variables from
// the global ones as they are now. A DBA who sets ANSI_QUOTES globally
// while a session runs must not hand the next user a connection on which
// the server reads "..." as a name where the analyser read a string:
// after a reset, the proxy's or a client's own, the session gets back
// the sql_mode vetted when the connection was opened.
func TestResetVetsSessionAgain(t *testing.T) {
	// The global change below would fail other packages' tests that dial
	// the same server meanwhile (their dials vet sql_mode).
	testtool.ServerLock(t, rootDSN, true)
	root := direct(t)
	var global string
	if err := root.QueryRow("SELECT @@GLOBAL.sql_mode").Scan(&global); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = root.Exec("SET GLOBAL sql_mode = ?", global) })
	r := startRig(t, rigOpts{requireTLS: true, maxOpen: 1})
	ctx := context.Background()

	// The proxy's reset when a session ends.
	adb := r.open("alice", alicePW, "study")
	a, err := adb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	execAll(t, root, "SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',ANSI_QUOTES')")
	a.Close()
	adb.Close()
	// The pool has one connection: the next session waits for alice's
	// to end, and gets it reset.
	bdb := r.open("alice", alicePW, "study")
	bdb.SetMaxOpenConns(1)
	var mode, s string
	if err := bdb.QueryRow("SELECT @@SESSION.sql_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(mode, "ANSI_QUOTES") {
		t.Fatalf("the next session got a pooled connection with sql_mode %s", mode)
	}
	bdb.Close()
	// A client's own reset (go-sql-driver does not send one: raw).
	c := rawConn(t, r, "alice", alicePW, "study")
	command(t, c, mysql.COM_RESET_CONNECTION)
	if p := read(t, c); p[0] != 0 {
		t.Fatalf("reset: % x", p)
	}
	command(t, c, append([]byte{mysql.COM_QUERY}, `SELECT "x" AS s`...)...)
	for range 3 { // column count, column definition, EOF
		read(t, c)
	}
	row := read(t, c)
	if s = string(row[1:]); row[0] != 1 || s != "x" {
		t.Fatalf(`after a client's reset, SELECT "x" returned % x: the server reads "x" as a name`, row)
	}
}

// TestLoginOnlySessionSkipsReset: a session that logged in and quit
// without sending anything upstream (a pool's probe, a health check)
// gives its connection back without a reset round trip; a session that
// sent anything, a single SET included, is reset before the next user
// gets the connection. The upstream's general log shows which: each
// reset is followed, in the same round trip, by the proxy's restore
// statement.
func TestLoginOnlySessionSkipsReset(t *testing.T) {
	const account = "rr_reset_probe"
	root := direct(t)
	copyServiceAccount(t, root, account)
	since := generalLogOn(t, root)
	r := startRig(t, rigOpts{requireTLS: true, maxOpen: 1, upstreamUser: account, upstreamPassword: svcPassword})
	ctx := context.Background()

	cfg, err := gosql.ParseDSN(r.dsn("alice", alicePW, ""))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := gosql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Each session's close runs after the client's COM_QUIT; with one
	// upstream connection, the next login waits for it.
	for range 3 {
		c, err := conn.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	db := r.open("alice", alicePW, "")
	db.SetMaxIdleConns(0)
	if _, err := db.Exec("SET @left_behind = 'alice'"); err != nil {
		t.Fatal(err)
	}
	var left sql.NullString
	if err := db.QueryRow("SELECT @left_behind").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left.Valid {
		t.Fatalf("a session saw the previous session's @left_behind = %q", left.String)
	}
	db.Close()
	shutCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if forced, err := r.srv.Shutdown(shutCtx); err != nil || forced != 0 {
		t.Fatalf("shutdown: %d sessions forced, %v", forced, err)
	}

	var threads = map[uint32]bool{}
	var restores, selects int
	for _, row := range readGeneralLog(t, root, account, since) {
		threads[row.thread] = true
		switch {
		case strings.HasPrefix(row.arg, "SET NAMES utf8mb4, SESSION sql_mode"):
			restores++
		case strings.Contains(row.arg, "@left_behind"):
			selects++
		}
		t.Logf("%d %s %q", row.thread, row.cmd, row.arg)
	}
	if len(threads) != 1 || selects != 2 {
		t.Fatalf("want one upstream connection carrying both statements, got %d connections and %d statements", len(threads), selects)
	}
	// The first SELECT's connection was reset after the SET's session
	// (database/sql closed the SET's connection: SetMaxIdleConns(0)), and
	// after the SELECT's; the three login-only sessions add none.
	if restores != 2 {
		t.Fatalf("want 2 resets (after each session that sent a statement), the general log shows %d", restores)
	}
}
