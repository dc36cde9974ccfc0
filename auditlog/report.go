package auditlog

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Report limits. Everything else the report keeps grows with the number of
// users, tables and hours, not with the number of records.
const (
	reportListCap   = 1000 // denied attempts and failed logins kept (the latest)
	reportStmtRunes = 200  // statement text shown per denied attempt
	reportMaxBars   = 240  // timeline bars; longer periods use wider buckets
)

// WriteReport writes a self-contained HTML page (no scripts, no external
// resources) summarising the audit log in paths for a reviewer: the
// verification result (verify and verifyErr, as Verify returned them; both
// nil means verification was not run), activity per user, tables read,
// denied attempts and failed logins. It reads the log once, as a stream.
//
// A log that cannot be read to the end still gets a page, saying where
// reading stopped; WriteReport then returns that error too.
func WriteReport(w io.Writer, paths []string, verify *Summary, verifyErr error) error {
	agg := newReportAgg()
	readErr := ReadRecords(paths, func(file string, line int, rec map[string]any) error {
		agg.add(file, rec)
		return nil
	})
	v := agg.view(verify, verifyErr, readErr, time.Now().UTC())
	if err := reportTmpl.Execute(w, v); err != nil {
		return fmt.Errorf("auditlog: report: %w", err)
	}
	if readErr != nil {
		return fmt.Errorf("auditlog: report is incomplete: %w", readErr)
	}
	return nil
}

type userStats struct {
	Name                      string
	Allowed, Denied, Failures int
	Rows                      int64
	First, Last               time.Time
}

type deniedRow struct {
	Time, User, Rule, Reason, Statement, Record string
}

type failedRow struct {
	Time, User, Source, Reason, Record string
}

type tableKey struct{ table, user string }

type hourCount struct{ allowed, denied int }

// ring keeps the last cap items appended.
type ring[T any] struct {
	items []T
	next  int
	total int
}

func (r *ring[T]) add(v T) {
	r.total++
	if len(r.items) < reportListCap {
		r.items = append(r.items, v)
		return
	}
	r.items[r.next] = v
	r.next = (r.next + 1) % reportListCap
}

// ordered returns the kept items oldest first.
func (r *ring[T]) ordered() []T {
	return append(append([]T(nil), r.items[r.next:]...), r.items[:r.next]...)
}

type reportAgg struct {
	records     int
	files       []string
	instances   map[string]bool
	first, last time.Time
	users       map[string]*userStats
	tables      map[tableKey]int
	hours       map[int64]*hourCount // Unix hour -> statements
	denied      ring[deniedRow]
	failed      ring[failedRow]
	reloads     int
	sessions    int
}

func newReportAgg() *reportAgg {
	return &reportAgg{
		instances: map[string]bool{},
		users:     map[string]*userStats{},
		tables:    map[tableKey]int{},
		hours:     map[int64]*hourCount{},
	}
}

func (a *reportAgg) add(file string, rec map[string]any) {
	a.records++
	if len(a.files) == 0 || a.files[len(a.files)-1] != file {
		a.files = append(a.files, file)
	}
	inst := Str(rec, "rrproxy.instance")
	a.instances[inst] = true
	t, hasTime := Time(rec)
	if hasTime {
		if a.first.IsZero() || t.Before(a.first) {
			a.first = t
		}
		if t.After(a.last) {
			a.last = t
		}
	}
	action, phase, outcome := Str(rec, "event.action"), Str(rec, "rrproxy.phase"), Str(rec, "event.outcome")
	name := Str(rec, "user.name")
	var u *userStats
	if name != "" {
		if u = a.users[name]; u == nil {
			u = &userStats{Name: name}
			a.users[name] = u
		}
		if hasTime {
			if u.First.IsZero() || t.Before(u.First) {
				u.First = t
			}
			if t.After(u.Last) {
				u.Last = t
			}
		}
	}
	record := fmt.Sprintf("%s #%d", inst, Int(rec, "event.sequence"))
	switch {
	case action == "policy-reload":
		a.reloads++
	case action == "login" && outcome == "success":
		a.sessions++
	case action == "login" && outcome == "failure":
		if u != nil {
			u.Failures++
		}
		a.failed.add(failedRow{
			Time: fmtTime(t, hasTime), User: name, Source: Str(rec, "source.address"),
			Reason: Str(rec, "event.reason"), Record: record,
		})
	case phase == "denied":
		if u != nil {
			u.Denied++
		}
		a.hour(t, hasTime).denied++
		a.denied.add(deniedRow{
			Time: fmtTime(t, hasTime), User: name, Rule: Str(rec, "rule.id"),
			Reason: Str(rec, "event.reason"), Record: record,
			Statement: truncateRunes(Str(rec, "rrproxy.statement"), reportStmtRunes),
		})
	case action == "statement" && phase == "intent" && slices.Contains(Strs(rec, "rrproxy.statement_kinds"), "probe"):
		// What rrproxy sent to have a refused statement answered as one
		// naming missing objects: the statement is counted as denied (its
		// record comes just before), and read nothing.
	case action == "statement" && phase == "intent":
		// The intent is the decision to forward: one per allowed statement.
		if u != nil {
			u.Allowed++
		}
		a.hour(t, hasTime).allowed++
		for _, tbl := range Strs(rec, "rrproxy.tables") {
			a.tables[tableKey{tbl, name}]++
		}
	case action == "statement" && phase == "outcome":
		if u != nil {
			u.Rows += Int(rec, "rrproxy.rows")
		}
	}
}

func (a *reportAgg) hour(t time.Time, ok bool) *hourCount {
	if !ok {
		return &hourCount{} // counted nowhere: no time to place it at
	}
	h := t.Unix() / 3600
	c := a.hours[h]
	if c == nil {
		c = &hourCount{}
		a.hours[h] = c
	}
	return c
}

// The view: everything the template prints, already formatted.

type reportView struct {
	Generated   string
	Verify      verifyView
	ReadErr     string
	Files       []string
	Period      string
	Records     int
	Users       []userRow
	Tables      []tableRow
	Totals      userRow
	Sessions    int
	Reloads     int
	Chart       chartView
	Denied      []deniedRow
	DeniedTotal int
	Failed      []failedRow
	FailedTotal int
	ListCap     int
	StmtRunes   int
}

type verifyView struct {
	Class    string // ok, fail, none
	Headline string
	Lines    []string
	Notes    []string
}

type userRow struct {
	Name                      string
	Allowed, Denied, Failures int
	Rows                      int64
	First, Last               string
}

type tableRow struct {
	Table, User string
	Count       int
}

type chartView struct {
	Title         string
	Width, Height int
	PlotX, PlotY  int // plot area origin (top left)
	PlotW, PlotH  int
	Bars          []bar
	YTicks        []tick
	XTicks        []tick
	Empty         bool
}

type bar struct {
	X, W, YAllowed, HAllowed, YDenied, HDenied float64
	Tip                                        string
}

type tick struct {
	Pos   float64
	Label string
}

func (a *reportAgg) view(sum *Summary, verifyErr, readErr error, now time.Time) reportView {
	v := reportView{
		Generated:   now.Format("2006-01-02 15:04:05 UTC"),
		Verify:      verifyStatus(sum, verifyErr),
		Files:       a.files,
		Records:     a.records,
		Sessions:    a.sessions,
		Reloads:     a.reloads,
		Denied:      a.denied.ordered(),
		DeniedTotal: a.denied.total,
		Failed:      a.failed.ordered(),
		FailedTotal: a.failed.total,
		ListCap:     reportListCap,
		StmtRunes:   reportStmtRunes,
	}
	if readErr != nil {
		v.ReadErr = readErr.Error()
	}
	if !a.first.IsZero() {
		v.Period = fmtTime(a.first, true) + " to " + fmtTime(a.last, true)
	}
	names := make([]string, 0, len(a.users))
	for n := range a.users {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := a.users[n]
		v.Users = append(v.Users, userRow{
			Name: u.Name, Allowed: u.Allowed, Denied: u.Denied, Failures: u.Failures, Rows: u.Rows,
			First: fmtTime(u.First, !u.First.IsZero()), Last: fmtTime(u.Last, !u.Last.IsZero()),
		})
		v.Totals.Allowed += u.Allowed
		v.Totals.Denied += u.Denied
		v.Totals.Failures += u.Failures
		v.Totals.Rows += u.Rows
	}
	for k, n := range a.tables {
		v.Tables = append(v.Tables, tableRow{Table: k.table, User: k.user, Count: n})
	}
	sort.Slice(v.Tables, func(i, j int) bool {
		x, y := v.Tables[i], v.Tables[j]
		if x.Table != y.Table {
			return x.Table < y.Table
		}
		if x.Count != y.Count {
			return x.Count > y.Count
		}
		return x.User < y.User
	})
	v.Chart = a.chart()
	return v
}

func verifyStatus(sum *Summary, err error) verifyView {
	switch {
	case err != nil:
		msg := err.Error()
		if errors.Is(err, ErrTampered) {
			msg = strings.TrimPrefix(msg, ErrTampered.Error()+": ")
		}
		return verifyView{
			Class:    "fail",
			Headline: "Verification FAILED: this log is not exactly what rrproxy wrote",
			Lines:    []string{msg},
			Notes: []string{"The figures below are computed from the files as they are now and cannot be relied on. " +
				"The location above is where trust in the log ends; keep these files unchanged and escalate."},
		}
	case sum == nil:
		return verifyView{
			Class:    "none",
			Headline: "Not verified",
			Notes:    []string{"This report was made without checking the hash chain. Run rrproxy audit verify before relying on it."},
		}
	}
	v := verifyView{Class: "ok", Headline: "Chain verified"}
	unsigned := false
	for _, c := range sum.Chains {
		line := fmt.Sprintf("Instance %s: %d records in %d file(s), %s to %s", c.Instance, c.Records, len(c.Files), shortTime(c.First), shortTime(c.Last))
		switch {
		case c.LastCheckpoint > 0 && c.Signed:
			line += fmt.Sprintf("; last checkpoint at record %d, signature verified", c.LastCheckpoint)
		case c.LastCheckpoint > 0:
			line += fmt.Sprintf("; last checkpoint at record %d, signature not checked", c.LastCheckpoint)
			unsigned = true
		default:
			line += "; no signed checkpoint"
			unsigned = true
		}
		if !c.Stopped {
			line += "; still open (rrproxy running, or stopped without a final record)"
		}
		v.Lines = append(v.Lines, line)
	}
	v.Headline = fmt.Sprintf("Chain verified: %d chain(s)", len(sum.Chains))
	if unsigned {
		v.Notes = append(v.Notes, "Checkpoint signatures were not checked (no public key, or no checkpoints): "+
			"the hash chain shows no record was changed, added or removed, but not that the whole log was not replaced.")
	}
	return v
}

func (a *reportAgg) chart() chartView {
	c := chartView{Width: 1100, Height: 236, PlotX: 60, PlotY: 14, PlotW: 1020, PlotH: 190}
	if len(a.hours) == 0 {
		c.Empty, c.Title = true, "Statements per hour"
		return c
	}
	lo, hi := int64(1<<62), int64(-1<<62)
	for h := range a.hours {
		lo, hi = min(lo, h), max(hi, h)
	}
	// Buckets of whole hours, wide enough for at most reportMaxBars bars.
	step := int64(1)
	for _, s := range []int64{1, 2, 3, 6, 12, 24, 48, 168} {
		step = s
		if (hi-lo)/s+1 <= reportMaxBars {
			break
		}
	}
	if (hi-lo)/step+1 > reportMaxBars { // years: whole days
		step = ((hi-lo)/(reportMaxBars-1)/24 + 1) * 24
	}
	switch {
	case step == 1:
		c.Title = "Statements per hour"
	case step == 24:
		c.Title = "Statements per day"
	case step == 168:
		c.Title = "Statements per week"
	case step%24 == 0:
		c.Title = fmt.Sprintf("Statements per %d days", step/24)
	default:
		c.Title = fmt.Sprintf("Statements per %d hours", step)
	}
	lo -= lo % step // align to the step, counting from the Unix epoch (UTC)
	n := int((hi-lo)/step + 1)
	buckets := make([]hourCount, n)
	for h, cnt := range a.hours {
		b := &buckets[(h-lo)/step]
		b.allowed += cnt.allowed
		b.denied += cnt.denied
	}
	peak := 1
	for _, b := range buckets {
		peak = max(peak, b.allowed+b.denied)
	}
	top := niceCeil(peak)
	w := float64(c.PlotW) / float64(n)
	gap := min(2, w/5)
	base := float64(c.PlotY + c.PlotH)
	scale := float64(c.PlotH) / float64(top)
	for i, b := range buckets {
		if b.allowed+b.denied == 0 {
			continue
		}
		start := time.Unix((lo+int64(i)*step)*3600, 0).UTC()
		ha, hd := float64(b.allowed)*scale, float64(b.denied)*scale
		c.Bars = append(c.Bars, bar{
			X: float64(c.PlotX) + float64(i)*w + gap/2, W: w - gap,
			YAllowed: base - ha, HAllowed: ha,
			YDenied: base - ha - hd, HDenied: hd,
			Tip: fmt.Sprintf("%s: %d allowed, %d denied", start.Format("2006-01-02 15:04"), b.allowed, b.denied),
		})
	}
	for i := 0; i <= 4; i++ {
		val := top * i / 4
		c.YTicks = append(c.YTicks, tick{Pos: base - float64(val)*scale, Label: fmt.Sprint(val)})
	}
	// At most 8 time labels, on bucket boundaries.
	every := max(1, (n+7)/8)
	layout := "01-02 15:00"
	if step%24 == 0 {
		layout = "2006-01-02"
	}
	for i := 0; i < n; i += every {
		t := time.Unix((lo+int64(i)*step)*3600, 0).UTC()
		c.XTicks = append(c.XTicks, tick{Pos: float64(c.PlotX) + float64(i)*w, Label: t.Format(layout)})
	}
	return c
}

// niceCeil returns the top of a four-gridline axis over n: four times a
// step of 1, 2 or 5 times a power of ten, so every label is round.
func niceCeil(n int) int {
	want := (n + 3) / 4
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= want {
				return 4 * m * p
			}
		}
	}
}

// shortTime shows an @timestamp to the second, as the rest of the page.
func shortTime(ts string) string {
	t, err := time.Parse(time.RFC3339Nano, ts)
	return fmtTime(t, err == nil)
}

func fmtTime(t time.Time, ok bool) string {
	if !ok {
		return "(no time)"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k] + "…"
		}
		i++
	}
	return s
}

// visible makes text safe to read: control characters and the invisible
// direction overrides that can make text display differently from what it
// is (U+202E and friends) are shown as [U+XXXX]. Newlines and tabs stay.
func visible(s string) string {
	if strings.IndexFunc(s, hidden) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if hidden(r) {
			fmt.Fprintf(&b, "[U+%04X]", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func hidden(r rune) bool {
	if r == '\n' || r == '\t' {
		return false
	}
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == utf8.RuneError ||
		r == '\u200b' || r == '\u2028' || r == '\u2029' || r == '\ufeff'
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"visible": visible,
	"f1":      func(x float64) string { return fmt.Sprintf("%.1f", x) },
	"add":     func(a, b int) int { return a + b },
}).Parse(reportHTML))

const reportHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rrproxy audit report</title>
<style>
body { font-family: -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color: #1d2733; background: #f4f6f8; margin: 0; font-size: 14px; line-height: 1.45; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 6px; border-bottom: 1px solid #d5dbe1; padding-bottom: 4px; }
p.sub, p.help { color: #566270; margin: 0 0 10px; }
.status { border-radius: 6px; padding: 14px 18px; margin: 18px 0 8px; border: 1px solid; }
.status h2 { border: 0; margin: 0 0 6px; padding: 0; font-size: 20px; }
.status ul { margin: 4px 0; padding-left: 20px; }
.status p { margin: 6px 0 0; }
.status.ok { background: #e7f5ea; border-color: #6cb57c; color: #14532d; }
.status.fail { background: #fdecec; border-color: #d9534f; color: #7f1d1d; }
.status.none { background: #fff6e0; border-color: #e0a800; color: #6b4e00; }
.status .loc { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 13px; overflow-wrap: anywhere; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 14px 0; }
.card { background: #fff; border: 1px solid #d5dbe1; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.card b { display: block; font-size: 20px; }
.card span { color: #566270; font-size: 12px; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #d5dbe1; }
th, td { text-align: left; padding: 5px 9px; border-bottom: 1px solid #e6eaee; vertical-align: top; }
th { background: #eaeef2; font-weight: 600; font-size: 13px; }
tr:nth-child(even) td { background: #fafbfc; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.t { white-space: nowrap; font-variant-numeric: tabular-nums; }
td.sql { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
td.bad { color: #b42318; font-weight: 600; }
tfoot td { font-weight: 600; background: #eaeef2; }
.chart { background: #fff; border: 1px solid #d5dbe1; border-radius: 6px; padding: 8px; }
.legend { font-size: 12px; color: #566270; margin: 4px 0 0 8px; }
.sw { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; vertical-align: -1px; }
.note { color: #566270; font-size: 13px; }
.files { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 12px; color: #566270; }
@media print { body { background: #fff; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
</style>
</head>
<body>
<main>
<h1>rrproxy audit report</h1>
<p class="sub">Generated {{.Generated}}. All times are UTC.{{if .Period}} Records from {{.Period}}.{{end}}</p>

<section class="status {{.Verify.Class}}">
<h2>{{.Verify.Headline}}</h2>
{{if .Verify.Lines}}<ul>{{range .Verify.Lines}}<li{{if eq $.Verify.Class "fail"}} class="loc"{{end}}>{{visible .}}</li>{{end}}</ul>{{end}}
{{range .Verify.Notes}}<p>{{.}}</p>{{end}}
</section>
{{if .ReadErr}}<section class="status fail"><h2>The log could not be read to the end</h2>
<p class="loc">{{visible .ReadErr}}</p><p>The figures below cover only the records before that point.</p></section>{{end}}

<div class="cards">
<div class="card"><b>{{.Records}}</b><span>records read</span></div>
<div class="card"><b>{{len .Users}}</b><span>users</span></div>
<div class="card"><b>{{.Sessions}}</b><span>successful logins</span></div>
<div class="card"><b>{{.Totals.Allowed}}</b><span>statements allowed</span></div>
<div class="card"><b>{{.Totals.Denied}}</b><span>statements denied</span></div>
<div class="card"><b>{{.FailedTotal}}</b><span>failed logins</span></div>
<div class="card"><b>{{.Reloads}}</b><span>policy reloads</span></div>
</div>

<h2>{{.Chart.Title}}</h2>
<p class="help">Statements rrproxy let through to the database and statements it refused, over time.</p>
<div class="chart">
{{if .Chart.Empty}}<p class="note">No statements in this log.</p>{{else}}
<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {{.Chart.Width}} {{.Chart.Height}}" role="img" aria-label="{{.Chart.Title}}">
{{$c := .Chart}}
{{range .Chart.YTicks}}<line x1="{{$c.PlotX}}" x2="{{add $c.PlotX $c.PlotW}}" y1="{{f1 .Pos}}" y2="{{f1 .Pos}}" stroke="#e1e6eb" stroke-width="1"/>
<text x="{{add $c.PlotX -6}}" y="{{f1 .Pos}}" dy="4" text-anchor="end" font-size="11" fill="#566270">{{.Label}}</text>
{{end}}
{{range .Chart.Bars}}<g><title>{{.Tip}}</title>
<rect x="{{f1 .X}}" y="{{f1 .YAllowed}}" width="{{f1 .W}}" height="{{f1 .HAllowed}}" fill="#3b7dd8"/>
{{if .HDenied}}<rect x="{{f1 .X}}" y="{{f1 .YDenied}}" width="{{f1 .W}}" height="{{f1 .HDenied}}" fill="#d9534f"/>{{end}}</g>
{{end}}
<line x1="{{$c.PlotX}}" x2="{{add $c.PlotX $c.PlotW}}" y1="{{add $c.PlotY $c.PlotH}}" y2="{{add $c.PlotY $c.PlotH}}" stroke="#8895a3" stroke-width="1"/>
{{range .Chart.XTicks}}<line x1="{{f1 .Pos}}" x2="{{f1 .Pos}}" y1="{{add $c.PlotY $c.PlotH}}" y2="{{add (add $c.PlotY $c.PlotH) 5}}" stroke="#8895a3"/>
<text x="{{f1 .Pos}}" y="{{add (add $c.PlotY $c.PlotH) 20}}" font-size="11" fill="#566270">{{.Label}}</text>
{{end}}
</svg>
<div class="legend"><span class="sw" style="background:#3b7dd8"></span>allowed<span class="sw" style="background:#d9534f"></span>denied</div>
{{end}}
</div>

<h2>Activity per user</h2>
<p class="help">Allowed: statements sent to the database. Denied: statements refused by the access policy (never run; where rrproxy asked the database how it answers a statement naming missing objects instead, that probe is not counted as allowed). Rows returned: rows the database sent back.</p>
{{if .Users}}<table>
<thead><tr><th>User</th><th class="n">Statements allowed</th><th class="n">Statements denied</th><th class="n">Failed logins</th><th class="n">Rows returned</th><th>First seen</th><th>Last seen</th></tr></thead>
<tbody>{{range .Users}}<tr><td>{{visible .Name}}</td><td class="n">{{.Allowed}}</td><td class="n{{if .Denied}} bad{{end}}">{{.Denied}}</td><td class="n{{if .Failures}} bad{{end}}">{{.Failures}}</td><td class="n">{{.Rows}}</td><td class="t">{{.First}}</td><td class="t">{{.Last}}</td></tr>
{{end}}</tbody>
<tfoot><tr><td>All users</td><td class="n">{{.Totals.Allowed}}</td><td class="n">{{.Totals.Denied}}</td><td class="n">{{.Totals.Failures}}</td><td class="n">{{.Totals.Rows}}</td><td></td><td></td></tr></tfoot>
</table>{{else}}<p class="note">No user activity in this log.</p>{{end}}

<h2>Tables read</h2>
<p class="help">How many allowed statements read each table, per user.</p>
{{if .Tables}}<table>
<thead><tr><th>Table (schema.table)</th><th>User</th><th class="n">Statements</th></tr></thead>
<tbody>{{range .Tables}}<tr><td>{{visible .Table}}</td><td>{{visible .User}}</td><td class="n">{{.Count}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="note">No tables were read.</p>{{end}}

<h2>Denied attempts</h2>
<p class="help">Statements the access policy refused; they never reached the database. Rule: the policy rule that decided. Record: instance and sequence number of the log record.
{{if gt .DeniedTotal (len .Denied)}}<br><strong>{{.DeniedTotal}} denied attempts in total; only the last {{.ListCap}} are listed.</strong> Use rrproxy audit search -decision denied for all of them.{{end}}
Statements longer than {{.StmtRunes}} characters are shortened (…).</p>
{{if .Denied}}<table>
<thead><tr><th>Time</th><th>User</th><th>Rule</th><th>Statement</th><th>Record</th></tr></thead>
<tbody>{{range .Denied}}<tr><td class="t">{{.Time}}</td><td>{{visible .User}}</td><td>{{visible .Rule}}{{if .Reason}}<br><span class="note">{{visible .Reason}}</span>{{end}}</td><td class="sql">{{visible .Statement}}</td><td class="t">{{visible .Record}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="note">No denied attempts.</p>{{end}}

<h2>Failed logins</h2>
<p class="help">Login attempts that were refused. The user is the name the client gave.
{{if gt .FailedTotal (len .Failed)}}<br><strong>{{.FailedTotal}} failed logins in total; only the last {{.ListCap}} are listed.</strong> Use rrproxy audit search -action login -outcome failure for all of them.{{end}}</p>
{{if .Failed}}<table>
<thead><tr><th>Time</th><th>User</th><th>Source</th><th>Reason</th><th>Record</th></tr></thead>
<tbody>{{range .Failed}}<tr><td class="t">{{.Time}}</td><td>{{visible .User}}</td><td>{{visible .Source}}</td><td>{{visible .Reason}}</td><td class="t">{{visible .Record}}</td></tr>
{{end}}</tbody></table>{{else}}<p class="note">No failed logins.</p>{{end}}

<h2>Files read</h2>
<p class="files">{{range .Files}}{{visible .}}<br>{{end}}</p>
</main>
</body>
</html>
`
