package auditlog

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// scriptStmt is a statement a reviewer's browser must never run.
const scriptStmt = `SELECT name FROM clinical.patients_pii WHERE note = '<script>alert("x")</script>' AND o'k`

// writeScenario writes a chain with the real writer (rotating every couple
// of kilobytes) and returns the events it was given, as recorded. The
// scenario's times lie between 30 and 7 hours ago, away from the writer's
// own records (audit-start, checkpoints, audit-stop), which carry "now".
func writeScenario(t *testing.T, dir string, o Options) []Event {
	t.Helper()
	if o.Path == "" {
		o.Path = filepath.Join(dir, "rrproxy-audit.jsonl")
	}
	o.Sync, o.Instance = SyncNone, "t1"
	if o.RotateBytes == 0 {
		o.RotateBytes = 4 << 10
	}
	w, err := OpenChain(o)
	if err != nil {
		t.Fatal(err)
	}
	base := scenarioBase()
	var evs []Event
	rec := func(ev Event) {
		if _, err := w.Record(&ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		rec(Event{Time: base, Action: "login", Outcome: "success", User: u, Source: "10.0.0.5:40000"})
	}
	rec(Event{Time: base, Action: "policy-reload", Outcome: "success", Policy: "v2"})
	for i := 0; i < 60; i++ {
		at := base.Add(time.Duration(i) * 23 * time.Minute)
		switch i % 3 {
		case 0:
			rec(Event{Time: at, Action: "statement", Phase: "intent", Outcome: "unknown", User: "alice",
				Statement: "SELECT * FROM clinical.patients WHERE site = 'Köln'", Tables: []string{"clinical.patients"}})
			rec(Event{Time: at, Action: "statement", Phase: "outcome", Outcome: "success", User: "alice",
				Tables: []string{"clinical.patients"}, Rows: int64(i + 1), IntentSeq: evs[len(evs)-1].Seq})
		case 1:
			rec(Event{Time: at, Action: "statement", Phase: "intent", Outcome: "unknown", User: "bob",
				Statement: "SELECT v.id, r.value\nFROM clinical.visits v JOIN lab.results r\tON r.visit = v.id",
				Tables:    []string{"clinical.visits", "lab.results"}})
			rec(Event{Time: at, Action: "statement", Phase: "outcome", Outcome: "failure", User: "bob",
				Tables: []string{"clinical.visits", "lab.results"}, ErrorCode: 1146, IntentSeq: evs[len(evs)-1].Seq})
		}
		if i%5 == 2 {
			rec(Event{Time: at, Action: "statement", Phase: "denied", Outcome: "failure", User: "carol",
				Statement: scriptStmt, Tables: []string{"clinical.patients_pii"}, Rule: "no-pii",
				Reason: "table clinical.patients_pii is not granted"})
		}
		if i%7 == 3 {
			rec(Event{Time: at, Action: "login", Outcome: "failure", User: "mallory", Source: "203.0.113.9:5123",
				Reason: "bad password"})
		}
	}
	rec(Event{Time: base.Add(time.Hour), Action: "login", Outcome: "failure", User: `=HYPERLINK("http://x")`,
		Source: "203.0.113.9:5124", Reason: "unknown user"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func scenarioBase() time.Time {
	return time.Now().UTC().Truncate(time.Hour).Add(-30 * time.Hour)
}

func readAll(t *testing.T, paths []string, f Filter) []map[string]any {
	t.Helper()
	var out []map[string]any
	err := ReadRecords(paths, func(file string, line int, rec map[string]any) error {
		if f.Match(rec) {
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReadRecordsChainOrder(t *testing.T) {
	dir := t.TempDir()
	writeScenario(t, dir, Options{})
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want several rotated files, have %v (%v)", files, err)
	}
	var seen []string
	var want int64 = 1
	err = ReadRecords([]string{dir}, func(file string, line int, rec map[string]any) error {
		if got := Int(rec, "event.sequence"); got != want {
			t.Fatalf("%s:%d: sequence %d, want %d", file, line, got, want)
		}
		want++
		if len(seen) == 0 || seen[len(seen)-1] != file {
			seen = append(seen, file)
			if line != 1 {
				t.Errorf("%s starts at line %d", file, line)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(files) || filepath.Base(seen[len(seen)-1]) != "rrproxy-audit.jsonl" {
		t.Errorf("files read %v: want all %d, the active file last", seen, len(files))
	}
}

func TestReadLogFilesOrder(t *testing.T) {
	dir := t.TempDir()
	names := []string{
		"rrproxy-audit.jsonl",
		"rrproxy-audit.00000000000000000100.jsonl",
		"rrproxy-audit.00000000000000000009.jsonl",
		"other.jsonl",
		"other.00000000000000000001.jsonl",
		"notes.txt",
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	want := []string{
		"other.00000000000000000001.jsonl", "other.jsonl",
		"rrproxy-audit.00000000000000000009.jsonl", "rrproxy-audit.00000000000000000100.jsonl", "rrproxy-audit.jsonl",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if _, err := ExpandPaths([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing path must be an error")
	}
}

func TestReadRecordsBadLines(t *testing.T) {
	for name, tc := range map[string]struct{ content, want string }{
		"not JSON":     {"{\"a\":1}\nnot json\n", "x.jsonl:2: not a JSON object"},
		"array":        {"[1]\n", "x.jsonl:1: not a JSON object"},
		"two objects":  {"{} {}\n", "x.jsonl:1: not a single JSON object"},
		"empty line":   {"{}\n\n", "x.jsonl:2: not a JSON object"},
		"no last \\n":  {"{}\n{\"a\":", "x.jsonl:2: incomplete last record"},
		"complete, ok": {"{\"a\":1}\n{\"b\":[\"x\"]}\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.jsonl")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := ReadRecords([]string{path}, func(string, int, map[string]any) error { return nil })
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestReadRecordsLongLineAndNumbers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.jsonl")
	long := strings.Repeat("x", 3<<20) // far beyond bufio.Scanner's default 64 KiB
	content := `{"event.sequence":9007199254740991,"rrproxy.statement":"` + long + "\"}\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	recs := readAll(t, []string{path}, Filter{})
	if len(recs) != 1 || Int(recs[0], "event.sequence") != 1<<53-1 || len(Str(recs[0], "rrproxy.statement")) != len(long) {
		t.Fatalf("long record not read whole, or its sequence not exact")
	}
}

// TestFilter checks every Filter field alone, and one combination, against
// an oracle over the events the scenario wrote.
func TestReadFilter(t *testing.T) {
	dir := t.TempDir()
	evs := writeScenario(t, dir, Options{})
	base := scenarioBase()
	anyTable := func(e Event, pred func(string) bool) bool {
		for _, tb := range e.Tables {
			if pred(tb) {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		name   string
		f      Filter
		oracle func(Event) bool
	}{
		{"user", Filter{User: "alice"}, func(e Event) bool { return e.User == "alice" }},
		{"from/to", Filter{From: base.Add(5 * time.Hour), To: base.Add(10 * time.Hour)}, func(e Event) bool {
			return !e.Time.Before(base.Add(5*time.Hour)) && e.Time.Before(base.Add(10*time.Hour))
		}},
		{"from only", Filter{From: base.Add(20 * time.Hour)}, nil}, // checked below: writer records are "now"
		{"schema", Filter{Table: "clinical"}, func(e Event) bool {
			return anyTable(e, func(s string) bool { return strings.HasPrefix(s, "clinical.") })
		}},
		{"schema.table", Filter{Table: "lab.results"}, func(e Event) bool {
			return anyTable(e, func(s string) bool { return s == "lab.results" })
		}},
		{"table, case and no prefix match", Filter{Table: "CLINICAL.Patients"}, func(e Event) bool {
			return anyTable(e, func(s string) bool { return s == "clinical.patients" })
		}},
		{"denied", Filter{Decision: DecisionDenied}, func(e Event) bool { return e.Phase == "denied" }},
		{"allowed", Filter{Decision: DecisionAllowed}, func(e Event) bool { return e.Phase == "intent" || e.Phase == "outcome" }},
		{"outcome", Filter{Outcome: "failure"}, func(e Event) bool { return e.Outcome == "failure" }},
		{"text, case ignored", Filter{Text: "SCRIPT>"}, func(e Event) bool { return strings.Contains(e.Statement, "script>") }},
		{"text, non-ASCII", Filter{Text: "KÖLN"}, func(e Event) bool { return strings.Contains(e.Statement, "Köln") }},
		{"action", Filter{Action: "login"}, func(e Event) bool { return e.Action == "login" }},
		{"user and decision", Filter{User: "bob", Decision: DecisionAllowed, Outcome: "failure"}, func(e Event) bool {
			return e.User == "bob" && e.Phase == "outcome" && e.Outcome == "failure"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f.Validate(); err != nil {
				t.Fatal(err)
			}
			got := readAll(t, []string{dir}, tc.f)
			if tc.oracle == nil {
				for _, r := range got {
					if ts, _ := Time(r); ts.Before(tc.f.From) {
						t.Errorf("record at %s before -from", ts)
					}
				}
				return
			}
			var want []int64
			for _, e := range evs {
				if tc.oracle(e) {
					want = append(want, int64(e.Seq))
				}
			}
			if len(want) == 0 {
				t.Fatal("the oracle matches nothing: a useless case")
			}
			var seqs []int64
			for _, r := range got {
				seqs = append(seqs, Int(r, "event.sequence"))
			}
			if !reflect.DeepEqual(seqs, want) {
				t.Errorf("matched sequences %v\nwant %v", seqs, want)
			}
		})
	}
	if err := (Filter{Decision: "maybe"}).Validate(); err == nil {
		t.Error("an unknown decision must not pass Validate")
	}
	if err := (Filter{From: base, To: base}).Validate(); err == nil {
		t.Error("an empty time range must not pass Validate")
	}
}
