package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestReportVerified(t *testing.T) {
	dir := t.TempDir()
	writeScenario(t, dir, Options{})
	page := verifiedReport(t, dir)
	for _, want := range []string{
		`class="status ok"`, "Chain verified", "Instance t1:",
		"no signed checkpoint", "signatures were not checked", // no key in this scenario
		// alice: 20 allowed, rows 1+4+...+58; carol: 12 denied; mallory: failed logins.
		"<td>alice</td><td class=\"n\">20</td>", fmt.Sprint(sumRows()),
		"<td>carol</td><td class=\"n\">0</td><td class=\"n bad\">12</td>",
		"<td>mallory</td>", "203.0.113.9:5123", "bad password",
		"<td>clinical.patients</td><td>alice</td><td class=\"n\">20</td>",
		"<td>lab.results</td><td>bob</td><td class=\"n\">20</td>",
		"no-pii", "<svg", "Statements per hour",
		// The statement, escaped: visible as text, never as markup.
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "o&#39;k",
		"=HYPERLINK(&#34;http://x&#34;)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	assertSelfContained(t, page)
}

// verifiedReport verifies the log in dir, which must pass, and returns
// its report.
func verifiedReport(t *testing.T, dir string) string {
	t.Helper()
	sum, err := Verify([]string{dir}, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteReport(&b, []string{dir}, sum, nil); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sumRows() int64 {
	var n int64
	for i := 0; i < 60; i += 3 {
		n += int64(i + 1)
	}
	return n
}

// assertSelfContained: no scripts, no references to anything outside the
// page (the SVG namespace is a name, not a fetch).
func assertSelfContained(t *testing.T, page string) {
	t.Helper()
	lower := strings.ToLower(page)
	for _, bad := range []string{"<script", "javascript:", " src=", " href=", "url(", "@import", "<link", "<iframe", "<img", " on"} {
		if bad == " on" {
			if m := regexp.MustCompile(`<[^>]*\son[a-z]+=`).FindString(lower); m != "" {
				t.Errorf("event handler attribute in the page: %s", m)
			}
			continue
		}
		if strings.Contains(lower, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestReportTampered(t *testing.T) {
	dir := t.TempDir()
	writeScenario(t, dir, Options{})
	files, _ := filepath.Glob(filepath.Join(dir, "rrproxy-audit.0*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no rotated file")
	}
	data, _ := os.ReadFile(files[0])
	edited := bytes.Replace(data, []byte(`"rrproxy.rows":1,`), []byte(`"rrproxy.rows":9,`), 1)
	if bytes.Equal(data, edited) {
		t.Fatal("nothing to tamper with in the first file")
	}
	if err := os.WriteFile(files[0], edited, 0o600); err != nil {
		t.Fatal(err)
	}
	sum, verr := Verify([]string{dir}, VerifyOptions{})
	if verr == nil || !errors.Is(verr, ErrTampered) {
		t.Fatalf("Verify after tampering: %v, %v", sum, verr)
	}
	var b bytes.Buffer
	if err := WriteReport(&b, []string{dir}, sum, verr); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{`class="status fail"`, "Verification FAILED", filepath.Base(files[0]) + ":", "cannot be relied on"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(page, "Chain verified") {
		t.Error("a tampered log reported as verified")
	}
}

func TestReportNotVerifiedAndUnreadable(t *testing.T) {
	dir := t.TempDir()
	writeScenario(t, dir, Options{RotateBytes: 1 << 30})
	path := filepath.Join(dir, "rrproxy-audit.jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"event.sequence":`) // a cut-off last record
	f.Close()
	var b bytes.Buffer
	err = WriteReport(&b, []string{dir}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "incomplete last record") {
		t.Fatalf("WriteReport: %v, want the read error", err)
	}
	page := b.String()
	for _, want := range []string{`class="status none"`, "Not verified", "could not be read to the end", "incomplete last record"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestReportCapsLists(t *testing.T) {
	a := newReportAgg()
	const n = 2500
	for i := 1; i <= n; i++ {
		a.add("f.jsonl", map[string]any{
			"event.action": "statement", "rrproxy.phase": "denied", "user.name": "u",
			"@timestamp": "2026-11-26T02:43:00.000000Z", "rrproxy.instance": "t1",
			"event.sequence": float64(i), "rrproxy.statement": strings.Repeat("é", 300),
		})
		a.add("f.jsonl", map[string]any{"event.action": "login", "event.outcome": "failure", "event.sequence": float64(i)})
	}
	v := a.view(nil, nil, nil, scenarioBase())
	if len(v.Denied) != reportListCap || v.DeniedTotal != n || len(v.Failed) != reportListCap || v.FailedTotal != n {
		t.Fatalf("kept %d of %d denied, %d of %d failed", len(v.Denied), v.DeniedTotal, len(v.Failed), v.FailedTotal)
	}
	if v.Denied[0].Record != "t1 #1501" || v.Denied[reportListCap-1].Record != "t1 #2500" {
		t.Errorf("kept %s .. %s, want the last %d oldest first", v.Denied[0].Record, v.Denied[reportListCap-1].Record, reportListCap)
	}
	if s := v.Denied[0].Statement; s != strings.Repeat("é", reportStmtRunes)+"…" {
		t.Errorf("statement not cut at %d characters: %d", reportStmtRunes, len([]rune(s)))
	}
	var b bytes.Buffer
	if err := reportTmpl.Execute(&b, v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2500 denied attempts in total; only the last 1000 are listed", "2500 failed logins in total; only the last 1000"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestReportChartBuckets(t *testing.T) {
	for _, tc := range []struct {
		hours int
		title string
	}{
		{1, "Statements per hour"}, {200, "Statements per hour"}, {300, "Statements per 2 hours"},
		{24 * 60, "Statements per 6 hours"}, {24 * 200, "Statements per day"}, {24 * 365, "Statements per 2 days"},
		{24 * 7 * 200, "Statements per week"}, {24 * 365 * 5, "Statements per 8 days"},
	} {
		a := newReportAgg()
		a.hours[0] = &hourCount{allowed: 3}
		a.hours[int64(tc.hours-1)] = &hourCount{allowed: 1, denied: 7}
		c := a.chart()
		if c.Title != tc.title || len(c.Bars) != min(2, tc.hours) {
			t.Errorf("%d hours: %q with %d bars, want %q", tc.hours, c.Title, len(c.Bars), tc.title)
		}
		for _, b := range c.Bars {
			if b.YDenied < float64(c.PlotY)-0.01 || b.X+b.W > float64(c.PlotX+c.PlotW)+0.01 {
				t.Errorf("%d hours: bar %+v outside the plot", tc.hours, b)
			}
		}
	}
	for n, want := range map[int]int{1: 4, 4: 4, 5: 8, 9: 20, 37: 40, 41: 80, 1234: 2000} {
		if got := niceCeil(n); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestReportVisible(t *testing.T) {
	if got := visible("a\u202eb\x1b[31mc\nd"); got != "a[U+202E]b[U+001B][31mc\nd" {
		t.Errorf("visible = %q", got)
	}
}

// TestReportProbesAreNotReads: a statement refused for naming a hidden
// table is answered by a probe sent to the database in its place; the
// report counts the statement as denied, not the probe as allowed, and
// never lists the hidden table as read (a log written before probes
// stopped naming the refused statement's tables included).
func TestReportProbesAreNotReads(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenChain(Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncNone, Instance: "p"})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(ev Event) uint64 {
		t.Helper()
		seq, err := w.Record(&ev)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	rec(Event{Action: "login", Outcome: "success", User: "bob"})
	rec(Event{Action: "statement", Phase: "denied", Outcome: "failure", User: "bob", Rule: "default-deny",
		Statement: "SELECT * FROM ops.site_payments", Tables: []string{"ops.site_payments"}})
	probe := rec(Event{Action: "statement", Phase: "intent", Outcome: "unknown", User: "bob", Kinds: []string{"probe"},
		Statement: "SELECT * FROM rrproxy_missing_0a1b.site_payments", Tables: []string{"ops.site_payments"}})
	rec(Event{Action: "statement", Phase: "outcome", Outcome: "failure", User: "bob", IntentSeq: probe, ErrorCode: 1044})
	allowed := rec(Event{Action: "statement", Phase: "intent", Outcome: "unknown", User: "bob", Kinds: []string{"select"},
		Statement: "SELECT COUNT(*) FROM study.subjects", Tables: []string{"study.subjects"}})
	rec(Event{Action: "statement", Phase: "outcome", Outcome: "success", User: "bob", IntentSeq: allowed, Rows: 1})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	page := verifiedReport(t, dir)
	if !strings.Contains(page, `<td>bob</td><td class="n">1</td><td class="n bad">1</td>`) {
		t.Errorf("bob's row: want 1 allowed and 1 denied")
	}
	if !strings.Contains(page, "<td>study.subjects</td><td>bob</td>") {
		t.Error("tables read lacks study.subjects")
	}
	if strings.Contains(page, "<td>ops.site_payments</td><td>bob</td>") {
		t.Error("the hidden table of a refused statement is listed as read")
	}
}
