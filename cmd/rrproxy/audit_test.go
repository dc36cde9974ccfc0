package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/internal/testtool"
)

const auditScript = `SELECT * FROM clinical.patients_pii WHERE note = '<script>alert("x")</script>'`

// auditLog is a signed, rotated chain written by the real writer.
type auditLog struct {
	dir, pub, copy string
	base           time.Time
}

// writeAuditLog records a small day of activity: three users reading,
// one being denied (with markup and quotes in the statement), failed
// logins (one whose user name is a spreadsheet formula), a statement with
// a newline and a terminal escape.
func writeAuditLog(t *testing.T) auditLog {
	t.Helper()
	root := t.TempDir()
	l := auditLog{
		dir: filepath.Join(root, "audit"), pub: filepath.Join(root, "ckpt.pub"),
		copy: filepath.Join(root, "elsewhere", "checkpoints.jsonl"),
		base: time.Now().UTC().Truncate(time.Hour).Add(-30 * time.Hour),
	}
	keyFile := filepath.Join(root, "ckpt.key")
	if err := auditlog.GenerateKeyFiles(keyFile, l.pub); err != nil {
		t.Fatal(err)
	}
	key, err := auditlog.LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(l.copy), 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := auditlog.OpenChain(auditlog.Options{
		Path: filepath.Join(l.dir, "rrproxy-audit.jsonl"), Sync: "none", Instance: "t1",
		RotateBytes: 6 << 10, CheckpointKey: key, CheckpointEvery: 25, CheckpointCopy: l.copy,
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(ev auditlog.Event) uint64 {
		seq, err := w.Record(&ev)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		rec(auditlog.Event{Time: l.base, Action: "login", Outcome: "success", User: u, Source: "10.0.0.5:40000",
			Client: "mysql (libmariadb)", ClientVersion: "3.3.20"})
	}
	for i := 0; i < 80; i++ {
		at := l.base.Add(time.Duration(i) * 17 * time.Minute)
		users := []string{"alice", "bob", "alice", "carol"}
		u := users[i%4]
		tables := map[string][]string{"alice": {"clinical.patients"}, "bob": {"clinical.visits", "lab.results"}, "carol": {"lab.results"}}[u]
		columns := map[string][]string{"alice": {"clinical.patients.*"}, "bob": {"clinical.visits.visit_date", "lab.results.alt_u_l"},
			"carol": {"lab.results.*"}}[u]
		stmt := fmt.Sprintf("SELECT * FROM %s LIMIT %d", tables[0], i)
		if i == 5 {
			stmt = "SELECT 1 -- first line\nFROM lab.results \x1b[31mred"
		}
		intent := rec(auditlog.Event{Time: at, Action: "statement", Phase: "intent", Outcome: "unknown", User: u, Statement: stmt,
			Tables: tables, Columns: columns})
		rec(auditlog.Event{Time: at.Add(time.Second), Action: "statement", Phase: "outcome", Outcome: "success", User: u,
			Tables: tables, Rows: int64(10 + i), IntentSeq: intent})
		if i%6 == 1 {
			rec(auditlog.Event{Time: at.Add(2 * time.Second), Action: "statement", Phase: "denied", Outcome: "failure", User: "carol",
				Statement: auditScript, Tables: []string{"clinical.patients_pii"}, Rule: "no-pii", Reason: "not granted"})
		}
		if i%11 == 4 {
			rec(auditlog.Event{Time: at, Action: "login", Outcome: "failure", User: "mallory", Source: "203.0.113.9:5123", Reason: "bad password"})
		}
	}
	rec(auditlog.Event{Time: l.base.Add(3 * time.Hour), Action: "login", Outcome: "failure", User: `=HYPERLINK("http://x")`,
		Source: "203.0.113.9:5124", Reason: "unknown user"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return l
}

// tamper changes one statement in the oldest rotated file, keeping the
// line valid JSON, and returns that file's name.
func (l auditLog) tamper(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(l.dir, "rrproxy-audit.0*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no rotated file to tamper with")
	}
	data, _ := os.ReadFile(files[0])
	edited := bytes.Replace(data, []byte("LIMIT 2\""), []byte("LIMIT 3\""), 1)
	if bytes.Equal(data, edited) {
		t.Fatal("nothing to tamper with")
	}
	if err := os.WriteFile(files[0], edited, 0o600); err != nil {
		t.Fatal(err)
	}
	return filepath.Base(files[0])
}

func runAudit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := cmdAudit(args, &out)
	return out.String(), err
}

func TestAuditVerify(t *testing.T) {
	l := writeAuditLog(t)
	out, err := runAudit(t, "verify", "-pubkey", l.pub, "-checkpoints", l.copy, l.dir)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	for _, want := range []string{"OK: the audit log is intact", "chain t1:", "signature verified", "rrproxy-audit.jsonl"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q:\n%s", want, out)
		}
	}
	// Without a key it still verifies the chain, and says what it did not check.
	if out, err := runAudit(t, "verify", l.dir); err != nil || !strings.Contains(out, "were not checked") {
		t.Errorf("verify without -pubkey: %v\n%s", err, out)
	}
	file := l.tamper(t)
	out, err = runAudit(t, "verify", "-pubkey", l.pub, l.dir)
	if err == nil || !errors.Is(err, auditlog.ErrTampered) {
		t.Fatalf("verify after tampering: %v\n%s", err, out)
	}
	if msg := err.Error(); !strings.Contains(msg, file+":") || !strings.Contains(msg, "sequence ") {
		t.Errorf("error %q does not name the file, line and sequence", msg)
	}
}

func TestAuditSearch(t *testing.T) {
	l := writeAuditLog(t)
	count := func(args ...string) []map[string]any {
		t.Helper()
		out, err := runAudit(t, append(append([]string{"search", "-json"}, args...), l.dir)...)
		if err != nil {
			t.Fatalf("search %v: %v", args, err)
		}
		var recs []map[string]any
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r map[string]any
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("search -json line %q: %v", sc.Text(), err)
			}
			recs = append(recs, r)
		}
		return recs
	}
	all := count()
	check := func(name string, args []string, pred func(r map[string]any) bool) {
		t.Run(name, func(t *testing.T) {
			got := count(args...)
			want := 0
			for _, r := range all {
				if pred(r) {
					want++
				}
			}
			if want == 0 || want == len(all) || len(got) != want {
				t.Fatalf("%v: %d records, want %d of %d (and a filter that selects)", args, len(got), want, len(all))
			}
			for _, r := range got {
				if !pred(r) {
					t.Errorf("%v matched %v", args, r)
				}
			}
		})
	}
	s := func(r map[string]any, k string) string { v, _ := r[k].(string); return v }
	has := func(r map[string]any, k, v string) bool {
		a, _ := r[k].([]any)
		for _, x := range a {
			if x == v || strings.HasPrefix(x.(string), v+".") {
				return true
			}
		}
		return false
	}
	inRange := func(r map[string]any, from, to time.Time) bool {
		ts, _ := time.Parse(time.RFC3339Nano, s(r, "@timestamp"))
		return !ts.Before(from) && ts.Before(to)
	}
	from, to := l.base.Add(2*time.Hour), l.base.Add(4*time.Hour)
	check("user", []string{"-user", "bob"}, func(r map[string]any) bool { return s(r, "user.name") == "bob" })
	check("from/to", []string{"-from", from.Format("2006-01-02T15:04"), "-to", to.Format(time.RFC3339)},
		func(r map[string]any) bool { return inRange(r, from, to) })
	check("schema", []string{"-table", "lab"}, func(r map[string]any) bool { return has(r, "rrproxy.tables", "lab") })
	check("table", []string{"-table", "clinical.patients"}, func(r map[string]any) bool {
		return has(r, "rrproxy.tables", "clinical.patients") && !has(r, "rrproxy.tables", "clinical.patients_pii")
	})
	check("denied", []string{"-decision", "denied"}, func(r map[string]any) bool { return s(r, "rrproxy.phase") == "denied" })
	check("allowed", []string{"-decision", "allowed"}, func(r map[string]any) bool {
		return s(r, "rrproxy.phase") == "intent" || s(r, "rrproxy.phase") == "outcome"
	})
	check("outcome", []string{"-outcome", "failure"}, func(r map[string]any) bool { return s(r, "event.outcome") == "failure" })
	check("text", []string{"-text", "LIMIT 7"}, func(r map[string]any) bool {
		return strings.Contains(s(r, "rrproxy.statement"), "LIMIT 7") // 7, 70..79
	})
	check("action", []string{"-action", "checkpoint"}, func(r map[string]any) bool { return s(r, "event.action") == "checkpoint" })
	// Flags after the path work too.
	if out, err := runAudit(t, "search", l.dir, "-user", "carol", "-decision", "denied", "-json"); err != nil || strings.Count(out, "\n") != 14 {
		t.Errorf("flags after the path: %v, %d lines", err, strings.Count(out, "\n"))
	}

	// The table: aligned, one line per record, nothing that drives a terminal.
	out, err := runAudit(t, "search", "-user", "bob", "-text", "first line", l.dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME (UTC)") || lines[2] != "(1 records)" {
		t.Fatalf("table:\n%s", out)
	}
	if strings.ContainsRune(out, '\x1b') || !strings.Contains(lines[1], "SELECT 1 -- first line FROM lab.results �[31mred") {
		t.Errorf("statement not put on one safe line: %q", lines[1])
	}
	if h, r := strings.Index(lines[0], "STATEMENT"), strings.Index(lines[1], "SELECT"); h != r {
		t.Errorf("columns not aligned: header STATEMENT at %d, row at %d", h, r)
	}

	for _, bad := range [][]string{{"-decision", "maybe"}, {"-from", "yesterday"}, {}} {
		args := append([]string{"search"}, bad...)
		if len(bad) > 0 {
			args = append(args, l.dir)
		}
		if _, err := runAudit(t, args...); err == nil {
			t.Errorf("search %v: no error", bad)
		}
	}
}

func TestAuditExportCSV(t *testing.T) {
	l := writeAuditLog(t)
	out, err := runAudit(t, "export", "-format", "csv", "-pubkey", l.pub, "-checkpoints", l.copy, "-action", "login", l.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "# rrproxy audit export") || !strings.Contains(out, "\n# verification: OK: the hash chain is intact\n") ||
		!strings.Contains(out, "signature verified") || !strings.Contains(out, "# filter: action=login\n") {
		t.Errorf("comment lines:\n%s", out[:min(len(out), 800)])
	}
	r := csv.NewReader(strings.NewReader(out))
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	if strings.Join(rows[0], ",") != strings.Join(exportColumns, ",") {
		t.Fatalf("header %v", rows[0])
	}
	col := map[string]int{}
	for i, c := range rows[0] {
		col[c] = i
	}
	// 3 logins, 7 failed (i%11==4 for i<80), 1 with a formula for a name.
	if got := len(rows) - 1; got != 3+7+1 {
		t.Errorf("%d rows, want 11", got)
	}
	var formula bool
	for _, row := range rows[1:] {
		if row[col["event.action"]] != "login" {
			t.Errorf("row %v is not a login", row)
		}
		if row[col["user.name"]] == `'=HYPERLINK("http://x")` {
			formula = true
		}
		if strings.HasPrefix(row[col["user.name"]], "=") {
			t.Errorf("a cell a spreadsheet would run: %q", row[col["user.name"]])
		}
	}
	if !formula {
		t.Error("the formula user name is missing or not neutralised")
	}
	if row := rows[1]; row[col["user_agent.name"]] != "mysql (libmariadb)" || row[col["user_agent.version"]] != "3.3.20" {
		t.Errorf("login row's client: %q %q", row[col["user_agent.name"]], row[col["user_agent.version"]])
	}

	// Arrays joined with ';'.
	out, err = runAudit(t, "export", "-format", "csv", "-user", "bob", "-decision", "allowed", l.dir)
	if err != nil || !strings.Contains(out, ",clinical.visits;lab.results,clinical.visits.visit_date;lab.results.alt_u_l,") {
		t.Errorf("bob's tables and the columns read not joined with ';': %v\n%s", err, out[:min(len(out), 1500)])
	}

	file := l.tamper(t)
	out, err = runAudit(t, "export", "-format", "csv", "-pubkey", l.pub, l.dir)
	if err == nil || !errors.Is(err, auditlog.ErrTampered) {
		t.Fatalf("export of a tampered log: %v", err)
	}
	first := strings.SplitN(out, "\n", 3)[1]
	if !strings.HasPrefix(first, "# verification: FAILED: ") || !strings.Contains(first, file+":") {
		t.Errorf("second line %q does not say verification failed where", first)
	}
	r = csv.NewReader(strings.NewReader(out))
	r.Comment = '#'
	if rows, err := r.ReadAll(); err != nil || len(rows) < 100 {
		t.Errorf("the failed export must still hold the records: %d rows, %v", len(rows), err)
	}
}

func TestAuditExportJSON(t *testing.T) {
	l := writeAuditLog(t)
	out, err := runAudit(t, "export", "-format", "json", "-pubkey", l.pub, "-decision", "denied", l.dir)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Verification struct {
			OK     bool
			Chains []struct {
				Instance string
				Records  int
				Signed   bool `json:"checkpoints_signature_verified"`
			}
		}
		Records []map[string]any
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !doc.Verification.OK || len(doc.Verification.Chains) != 1 || !doc.Verification.Chains[0].Signed || doc.Verification.Chains[0].Records < 200 {
		t.Errorf("verification %+v", doc.Verification)
	}
	if len(doc.Records) != 14 { // i%6==1 for i<80
		t.Errorf("%d denied records, want 14", len(doc.Records))
	}
	if len(doc.Records) > 0 && doc.Records[0]["rrproxy.statement"] != auditScript {
		t.Errorf("statement altered: %v", doc.Records[0]["rrproxy.statement"])
	}
	if !strings.Contains(out, `<script>`) {
		t.Error("JSON export must keep statements as written (no \\u003c escapes)")
	}

	l.tamper(t)
	out, err = runAudit(t, "export", "-format", "json", l.dir)
	if err == nil {
		t.Fatal("export of a tampered log did not fail")
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Verification.OK {
		t.Errorf("failed export: %v, ok=%v", err, doc.Verification.OK)
	}
}

func TestAuditReport(t *testing.T) {
	l := writeAuditLog(t)
	html := filepath.Join(t.TempDir(), "report.html")
	out, err := runAudit(t, "report", "-html", html, "-pubkey", l.pub, "-checkpoints", l.copy, l.dir)
	if err != nil || !strings.Contains(out, "chain verified") {
		t.Fatalf("report: %v\n%s", err, out)
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Chain verified", "signature verified", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "<svg"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	if bytes.Contains(bytes.ToLower(page), []byte("<script")) {
		t.Error("report contains a script element")
	}
	// What a reviewer sees, counted in the rendered pixels: the green
	// "verified" banner, and the timeline's bars of allowed and denied
	// statements (the log has both), each far more than the legend's
	// swatches of the same colours.
	if shot := screenshot(t, html); shot != nil {
		for _, c := range []struct {
			what, rgb string
			min       int
		}{{"verified banner", "e7f5ea", 40000}, {"allowed bars", "3b7dd8", 20000}, {"denied bars", "d9534f", 3000}} {
			n := countColor(shot, c.rgb)
			t.Logf("verified report: %d pixels of the %s (#%s)", n, c.what, c.rgb)
			if n < c.min {
				t.Errorf("verified report: %d pixels of the %s (#%s), want at least %d", n, c.what, c.rgb, c.min)
			}
		}
		if n := countColor(shot, "fdecec"); n > 0 {
			t.Errorf("verified report: %d pixels of the failed banner (#fdecec)", n)
		}
	}

	l.tamper(t)
	out, err = runAudit(t, "report", "-html", html, "-pubkey", l.pub, l.dir)
	if err == nil || !strings.Contains(out, "verification FAILED") {
		t.Fatalf("report of a tampered log: %v\n%s", err, out)
	}
	if page, _ := os.ReadFile(html); !bytes.Contains(page, []byte("Verification FAILED")) {
		t.Error("the report of a tampered log does not say so")
	}
	if shot := screenshot(t, html); shot != nil {
		if ok, bad := countColor(shot, "e7f5ea"), countColor(shot, "fdecec"); ok > 0 || bad < 40000 {
			t.Errorf("tampered report: %d pixels of the verified banner, %d of the failed one; want none and at least 40000", ok, bad)
		}
	}
}

// countColor counts img's pixels of exactly the colour rgb ("rrggbb").
func countColor(img image.Image, rgb string) int {
	v, err := strconv.ParseUint(rgb, 16, 32)
	if err != nil {
		panic(rgb)
	}
	want := color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == want {
				n++
			}
		}
	}
	return n
}

// screenshot renders the report in headless Chromium and returns the
// picture. Without Chromium the test fails (scripts/test.sh installs
// it), except under -short, where it returns nil.
func screenshot(t *testing.T, html string) image.Image {
	t.Helper()
	bin, ok := testtool.Need(t, "chromium", "chromium", "the rendering of the report")
	if !ok {
		return nil
	}
	dir := t.TempDir()
	png := filepath.Join(dir, "report.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--screenshot="+png, "--window-size=1280,2000",
		"file://"+html)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	st, err := os.Stat(png)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, stderr.String())
	}
	if st.Size() <= 10<<10 {
		t.Errorf("screenshot is %d bytes: the page did not render", st.Size())
	}
	return testtool.DecodePNG(t, png)
}

func TestAuditKeygen(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "ck")
	var out bytes.Buffer
	if err := cmdAudit([]string{"keygen", "-out", prefix}, &out); err != nil {
		t.Fatal(err)
	}
	priv, err := auditlog.LoadPrivateKey(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := auditlog.LoadPublicKey(prefix + ".pub")
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("public key does not match: %v", err)
	}
	if st, _ := os.Stat(prefix + ".key"); st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", st.Mode().Perm())
	}
	if err := cmdAudit([]string{"keygen", "-out", prefix}, &out); err == nil {
		t.Fatal("keygen overwrote an existing key")
	}
}

// TestAuditSearchSeveralInstances: two rrproxy instances (behind one
// load balancer) each keep their own chain, with their own sequence
// numbers; one search over both names each record by instance and
// sequence, and the two chains' record 2 are told apart.
func TestAuditSearchSeveralInstances(t *testing.T) {
	root := t.TempDir()
	var dirs []string
	for _, inst := range []string{"rrproxy-a", "rrproxy-b"} {
		dir := filepath.Join(root, inst)
		w, err := auditlog.OpenChain(auditlog.Options{Path: filepath.Join(dir, "rrproxy-audit.jsonl"), Sync: "none", Instance: inst})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Record(&auditlog.Event{Action: "login", Outcome: "success", User: "alice-on-" + inst}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	out, err := runAudit(t, append([]string{"search"}, dirs...)...)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string // the header and the two logins
	for i, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if i == 0 || strings.Contains(l, "alice-on-") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 || !strings.Contains(lines[0], "INSTANCE") {
		t.Fatalf("table:\n%s", out)
	}
	for i, inst := range []string{"rrproxy-a", "rrproxy-b"} {
		f := strings.Fields(lines[1+i])
		// TIME is two fields (date, time): instance, record, user follow.
		if len(f) < 6 || f[2] != inst || f[4] != "alice-on-"+inst {
			t.Errorf("row %d: %q, want instance %s and its own record", i, lines[1+i], inst)
		}
	}
	if h, r := strings.Index(lines[0], "INSTANCE"), strings.Index(lines[1], "rrproxy-a"); h != r {
		t.Errorf("columns not aligned: header INSTANCE at %d, row at %d", h, r)
	}
}
