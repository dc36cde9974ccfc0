package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/internal/testtool"
)

// MariaDB Connector/J, as Debian ships it (libmariadb-java, 2.7.x), driven
// by compat/java/CompatCheck.java through rrproxy with verified TLS. The
// Java program only reports what the driver saw, as key=value lines; every
// expectation is here: the policy's view (alice: study.*, bob:
// study.subjects and study.visits, treatment_arm withheld from both, ops
// granted to nobody) and MariaDB's own answers over a direct connection.

// connectorJJar is where libmariadb-java installs the driver.
const connectorJJar = "/usr/share/java/mariadb-java-client.jar"

// connectorJOpts are added to every connection but the "driver defaults"
// one: none. (Connector/J 2.x's session setup, "set autocommit=1,
// sql_mode = concat(@@sql_mode, ',STRICT_TRANS_TABLES')", was refused by
// rrproxy at first, because sql_mode was not a literal; rrproxy now
// accepts appending harmless modes to the session's own, so the driver's
// defaults work and need no jdbcCompliantTruncation=false.)
const connectorJOpts = ""

func TestCompatJava(t *testing.T) {
	java, ok := testtool.Need(t, "java", "default-jdk-headless", "MariaDB Connector/J through rrproxy")
	if !ok {
		return
	}
	// The single-file source launch compiles CompatCheck.java in the JVM,
	// which needs a JDK (javac's module), not only a JRE.
	if _, ok := testtool.Need(t, "javac", "default-jdk-headless", "MariaDB Connector/J through rrproxy"); !ok {
		return
	}
	if _, err := os.Stat(connectorJJar); err != nil {
		if testing.Short() {
			t.Logf("%s missing; -short: MariaDB Connector/J not checked", connectorJJar)
			return
		}
		t.Fatalf("MariaDB Connector/J is not installed (apt-get install libmariadb-java, or run scripts/test.sh): %v", err)
	}

	r := startRig(t, rigOpts{requireTLS: true})
	start := time.Now()
	out := runCompatCheck(t, java, r)
	t.Logf("Connector/J %s on Java %s: CompatCheck ran in %v", out["driver.version"], out["jvm.version"], time.Since(start).Round(time.Millisecond))
	ref := direct(t)

	// Connector/J 2.7.6 with nothing but the TLS options: its first
	// statement after login is
	//   set autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')
	// which rrproxy must accept (it appends a harmless mode to the
	// session's own), or every tool using the driver fails to connect.
	t.Run("driver defaults", func(t *testing.T) {
		if out["defaults.ok"] != "true" {
			t.Errorf("Connector/J with default options cannot connect: error %s (SQLState %s): %s",
				out["defaults.code"], out["defaults.sqlstate"], out["defaults.message"])
		}
		if out["defaults.count"] != "" && out["defaults.count"] != "120" {
			t.Errorf("COUNT(*) of study.subjects = %s, want 120", out["defaults.count"])
		}
	})

	t.Run("TLS and authentication", func(t *testing.T) {
		if !out.ran(t, "login", "wire") {
			return
		}
		out.want(t, "login.ok", "true")
		out.want(t, "login.count", "120")
		// The driver's own choice (Connector/J 2.x always opens with
		// mysql_native_password) is switched by rrproxy to
		// caching_sha2_password, whose full authentication sends the
		// password inside TLS.
		used := out["wire.switch_plugin"]
		if used == "" {
			used = out.must(t, "wire.client_plugin")
		}
		if used != "caching_sha2_password" {
			t.Errorf("authentication plugin used: %q, want caching_sha2_password", used)
		}
		out.want(t, "wire.steps", "switch:caching_sha2_password,perform_full_authentication,ok")
		out.want(t, "wire.full_auth_cleartext_password", "true")
		if p := out.must(t, "wire.tls.protocol"); p != "TLSv1.2" && p != "TLSv1.3" {
			t.Errorf("TLS protocol %q, want TLSv1.2 or later", p)
		}
		cipher := out.must(t, "wire.tls.cipher")
		// rrproxy's side: every session the driver opened was TLS, with
		// the cipher the driver reports.
		logins := 0
		for _, rec := range readAuditRecords(t, r) {
			if rec["user_agent.name"] != "MariaDB Connector/J" {
				continue
			}
			if rec["tls.version"] == nil || rec["tls.cipher"] != cipher {
				t.Errorf("audit record without the driver's TLS (%v, %v, want %s): %v", rec["tls.version"], rec["tls.cipher"], cipher, rec)
			}
			if rec["event.action"] == "login" && rec["event.outcome"] == "success" {
				logins++
				// The driver's build, from its _client_version attribute.
				if v := rec["user_agent.version"]; v != out["driver.version"] {
					t.Errorf("login record's user_agent.version %v, want the driver's version %q", v, out["driver.version"])
				}
			}
		}
		if logins < 10 {
			t.Errorf("%d successful Connector/J logins audited, want at least 10", logins)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		// What each user's policy grants; treatment_arm is withheld.
		subjects := "subject_id,site_id,sex,birth_year"
		visits := "visit_id,subject_id,visit_name,visit_date,systolic_bp"
		qualify := func(table, cols string) []string {
			var l []string
			for _, c := range strings.Split(cols, ",") {
				l = append(l, "study."+table+"."+c)
			}
			return l
		}
		sorted := func(l ...[]string) string {
			var all []string
			for _, x := range l {
				all = append(all, x...)
			}
			return strings.Join(sortedCopy(all), ",")
		}
		grants := map[string]struct {
			tables string // sorted
			docs   string // columns of study.docs, "" if not granted
		}{
			"alice": {"docs,subjects,visits", "doc_id,body"},
			"bob":   {"subjects,visits", ""},
		}
		for _, user := range []string{"alice", "bob"} {
			g := grants[user]
			k := "meta." + user + "."
			var docsQualified []string
			if g.docs != "" {
				docsQualified = qualify("docs", g.docs)
			}
			allColumns := sorted(qualify("subjects", subjects), qualify("visits", visits), docsQualified)
			var tablesQualified []string
			for _, tb := range strings.Split(g.tables, ",") {
				tablesQualified = append(tablesQualified, "study."+tb)
			}
			t.Run(user, func(t *testing.T) {
				if !out.ran(t, "meta."+user) {
					return
				}
				// Databases are catalogs to Connector/J 2.x (getSchemas is
				// empty, as on a direct connection).
				out.want(t, k+"catalogs", "information_schema,study")
				out.want(t, k+"schemas", "")
				out.want(t, k+"tables.study", g.tables)
				out.want(t, k+"tables.study_typed", g.tables)
				out.want(t, k+"tables.ops", "")
				// A null catalog is the current database, and there is
				// none: empty, as on a direct connection.
				out.want(t, k+"tables.null_catalog", "")
				out.want(t, k+"tables.current", strings.Join(tablesQualified, ","))
				// Every catalog at once (nullCatalogMeansCurrent=false):
				// only the granted tables, nothing of ops or the server's
				// own schemas.
				out.want(t, k+"tables.all", strings.Join(tablesQualified, ","))
				out.want(t, k+"columns.all", allColumns)
				out.want(t, k+"columns.study.all", allColumns)
				out.want(t, k+"columns.study.subjects", subjects)
				out.want(t, k+"columns.study.visits", visits)
				out.want(t, k+"columns.study.docs", g.docs)
				out.want(t, k+"pk.study.subjects", "subject_id")
				out.want(t, k+"pk.study.visits", "visit_id")
				if g.docs != "" {
					out.want(t, k+"pk.study.docs", "doc_id")
				} else {
					out.want(t, k+"pk.study.docs", "")
				}
				out.want(t, k+"columns.ops.site_payments", "")
				out.want(t, k+"pk.ops.site_payments", "")
				out.want(t, k+"index.study.visits", "visit_id")
				out.want(t, k+"imported.study.visits", "")
			})
		}
	})

	t.Run("rows", func(t *testing.T) {
		if !out.ran(t, "rows") {
			return
		}
		out.want(t, "rows.subjects", javaRender(t, ref, "SELECT subject_id, site_id, sex, birth_year FROM study.subjects ORDER BY subject_id"))
		out.want(t, "rows.visits", javaRender(t, ref, "SELECT visit_id, subject_id, visit_name, visit_date, systolic_bp FROM study.visits ORDER BY visit_id"))
		out.want(t, "rows.visits_star_columns", "visit_id,subject_id,visit_name,visit_date,systolic_bp")
	})

	for _, mode := range []struct{ name, class string }{
		{"server", "ServerSidePreparedStatement"}, // useServerPrepStmts=true: COM_STMT_PREPARE/EXECUTE
		{"client", "ClientSidePreparedStatement"}, // useServerPrepStmts=false: parameters substituted into COM_QUERY
	} {
		t.Run("prepared "+mode.name, func(t *testing.T) {
			if !out.ran(t, "prep."+mode.name) {
				return
			}
			k := "prep." + mode.name + "."
			out.want(t, k+"class", mode.class)
			for _, site := range []int{3, 7} {
				out.want(t, k+"site"+strconv.Itoa(site), javaRender(t, ref,
					"SELECT subject_id, site_id, sex, birth_year FROM study.subjects WHERE site_id = ? ORDER BY subject_id", site))
			}
			out.want(t, k+"subject", javaRender(t, ref,
				"SELECT v.visit_id, v.visit_name, v.visit_date, v.systolic_bp FROM study.visits v WHERE v.subject_id = ? AND v.visit_date >= ? ORDER BY v.visit_id",
				"S-0042", "2025-03-01"))
			out.want(t, k+"star_metadata", "visit_id,subject_id,visit_name,visit_date,systolic_bp")
			out.want(t, k+"blinded.code", "1054")
			out.want(t, k+"blinded.sqlstate", "42S22")
			out.contains(t, k+"blinded.message", "Unknown column 'treatment_arm'")
		})
	}

	t.Run("large result streamed", func(t *testing.T) {
		if !out.ran(t, "stream") {
			return
		}
		var rows, idSum int64
		if err := ref.QueryRow("SELECT COUNT(*), SUM(v.visit_id) FROM study.visits v CROSS JOIN study.visits w").Scan(&rows, &idSum); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"stream.text.", "stream.binary."} {
			out.want(t, k+"rows", strconv.FormatInt(rows, 10))
			out.want(t, k+"idsum", strconv.FormatInt(idSum, 10))
			out.want(t, k+"bytes", strconv.FormatInt(rows*2500, 10))
			out.want(t, k+"bad_bytes", "0")
			if n, _ := strconv.ParseInt(out[k+"bytes"], 10, 64); n < 200e6 {
				t.Errorf("%sbytes = %d, want at least 200 MB", k, n)
			}
			t.Logf("%s %s rows, %s bytes in %s s (%s MB/s)", strings.TrimSuffix(k, "."), out[k+"rows"], out[k+"bytes"], out[k+"seconds"], out[k+"mb_per_s"])
		}
		out.want(t, "stream.binary.class", "ServerSidePreparedStatement")
		out.want(t, "stream.after", "42")
		// The heap the streams were read in is what -Xmx64m allows; a
		// driver that buffered the result would have run out of memory.
		if max, _ := strconv.ParseInt(out.must(t, "stream.heap_max"), 10, 64); max == 0 || max > 64<<20 {
			t.Errorf("JVM max heap %d, want at most 64 MiB (-Xmx64m)", max)
		}
		t.Logf("heap: peak at most %s of %s bytes", out["stream.heap_peak"], out["stream.heap_max"])
	})

	t.Run("errors", func(t *testing.T) {
		if !out.ran(t, "err") {
			return
		}
		// A withheld column answers as a missing one.
		out.want(t, "err.column.code", "1054")
		out.want(t, "err.column.sqlstate", "42S22")
		out.contains(t, "err.column.message", "Unknown column 'treatment_arm' in 'SELECT'")
		// An ungranted schema: the server's own refusal, naming the person.
		out.want(t, "err.ops.code", "1142")
		out.want(t, "err.ops.sqlstate", "42000")
		out.contains(t, "err.ops.message", "SELECT command denied to user 'alice'@'localhost' for table `ops`.`site_payments`")
		// An ungranted table in a granted schema: as if it did not exist.
		out.want(t, "err.bob_docs.code", "1146")
		out.want(t, "err.bob_docs.sqlstate", "42S02")
		out.contains(t, "err.bob_docs.message", "Table 'study.docs' doesn't exist")
		for _, k := range []string{"err.column.message", "err.ops.message", "err.bob_docs.message"} {
			if strings.Contains(out[k], svcUser) {
				t.Errorf("%s names the service account: %s", k, out[k])
			}
		}
		out.want(t, "err.after", "300")
		out.want(t, "err.wrongpw.code", "1045")
		out.want(t, "err.wrongpw.sqlstate", "28000")
		out.contains(t, "err.wrongpw.message", "Access denied for user 'alice'@'127.0.0.1' (using password: YES)")
		// sslMode (Connector/J 3.x syntax) means nothing to 2.x, which
		// then connects without TLS: rrproxy's refusal says what to set,
		// and what it says works.
		out.want(t, "err.notls.code", "3159")
		out.contains(t, "err.notls.message", "rrproxy requires TLS")
		out.want(t, "err.hint_ok", "true")
	})

	reportCompat(t, compatRow{
		Client:   "MariaDB Connector/J",
		Version:  out["driver.version"],
		TLS:      true,
		Plugin:   "caching_sha2_password",
		Prepared: true,
		Metadata: true,
		Large:    true,
		Notes: "2.x: TLS with useSsl=true&serverSslCert=<CA file> (2.x ignores sslMode); " +
			"the driver offers mysql_native_password and is switched to caching_sha2_password; " +
			"databases are catalogs (getSchemas is empty); stream with setFetchSize(Integer.MIN_VALUE)",
	})
}

// javaOutput is CompatCheck's report: key → value.
type javaOutput map[string]string

// runCompatCheck runs the Java program against the rig and returns its
// report; a program that did not get to the end fails the test.
func runCompatCheck(t *testing.T, java string, r *rig) javaOutput {
	t.Helper()
	host, port, _ := strings.Cut(r.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// -Xmx64m: the 225 MB results must be streamed, not held.
	cmd := exec.CommandContext(ctx, java, "-Xmx64m", "-cp", connectorJJar, filepath.Join("..", "compat", "java", "CompatCheck.java"))
	cmd.Env = append(os.Environ(), "RR_HOST="+host, "RR_PORT="+port, "RR_CA="+certs.CA,
		"ALICE_PW="+alicePW, "BOB_PW="+bobPW, "RR_JDBC_OPTS="+connectorJOpts)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	out := javaOutput{}
	sc := bufio.NewScanner(strings.NewReader(string(stdout)))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			out[k] = unescapeJava(v)
		}
	}
	if err != nil || out["done"] != "true" {
		t.Fatalf("CompatCheck did not finish: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr.String())
	}
	if testing.Verbose() && stderr.Len() > 0 {
		t.Logf("CompatCheck stderr (stack traces of failed checks):\n%s", stderr.String())
	}
	return out
}

// unescapeJava undoes CompatCheck.out's escaping of \, newline and CR.
func unescapeJava(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// failure names the Java check that failed before reporting key, if one
// did: "meta.alice.failed" covers "meta.alice.tables.all".
func (o javaOutput) failure(key string) string {
	for i := len(key); i > 0; i = strings.LastIndexByte(key[:i], '.') {
		if f, ok := o[key[:i]+".failed"]; ok {
			return "; the Java check failed: " + f
		}
	}
	return ""
}

func (o javaOutput) must(t *testing.T, key string) string {
	t.Helper()
	v, ok := o[key]
	if !ok {
		t.Errorf("%s: not reported%s", key, o.failure(key))
	}
	return v
}

// ran reports whether the Java checks named ran to the end; a failed one
// fails t once, with the driver's error, instead of once per key.
func (o javaOutput) ran(t *testing.T, checks ...string) bool {
	t.Helper()
	ok := true
	for _, c := range checks {
		if f, failed := o[c+".failed"]; failed {
			t.Errorf("Java check %s failed: %s", c, f)
			ok = false
		}
	}
	return ok
}

func (o javaOutput) want(t *testing.T, key, want string) {
	t.Helper()
	v, ok := o[key]
	switch {
	case !ok:
		t.Errorf("%s: not reported%s", key, o.failure(key))
	case v == want:
	case strings.Contains(want, "\n"):
		// Row dumps: name the first row that differs.
		got, exp := strings.Split(strings.TrimSuffix(v, "\n"), "\n"), strings.Split(strings.TrimSuffix(want, "\n"), "\n")
		i := 0
		for i < len(got) && i < len(exp) && got[i] == exp[i] {
			i++
		}
		line := func(l []string) string {
			if i < len(l) {
				return strconv.Quote(l[i])
			}
			return "(end)"
		}
		t.Errorf("%s: %d rows through rrproxy, %d directly; row %d is %s through rrproxy, %s directly",
			key, len(got), len(exp), i+1, line(got), line(exp))
	default:
		t.Errorf("%s through rrproxy:\n%s\nwant:\n%s", key, v, want)
	}
}

func (o javaOutput) contains(t *testing.T, key, want string) {
	t.Helper()
	if v, ok := o[key]; !ok {
		t.Errorf("%s: not reported%s", key, o.failure(key))
	} else if !strings.Contains(v, want) {
		t.Errorf("%s: %q does not contain %q", key, v, want)
	}
}

// javaRender runs q on db and renders the rows as CompatCheck.render
// does: |-separated values, NULL as NULL, one line per row.
func javaRender(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var b strings.Builder
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if i > 0 {
				b.WriteByte('|')
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				b.Write(v)
			}
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sortedCopy(l []string) []string {
	c := append([]string(nil), l...)
	slices.Sort(c)
	return c
}
