package auditlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxLine bounds one record. rrproxy caps statements long before this; the
// bound only keeps a corrupt file without newlines from exhausting memory.
const maxLine = 256 << 20

// ReadRecords calls each for every record of the audit log files in paths,
// one line at a time, so memory stays at one record whatever the log size.
// A path that is a directory stands for its *.jsonl files in chain order:
// rotated files (<base>.<20-digit first sequence>.jsonl) by sequence, then
// the active file <base>.jsonl. Files named directly are read in the order
// given.
//
// Numbers in rec are json.Number, so sequence numbers and row counts keep
// every digit. ReadRecords does not check the hash chain (Verify does): it
// stops at the first line that is not a JSON object, reporting file and
// line, and at the first error from each.
func ReadRecords(paths []string, each func(file string, line int, rec map[string]any) error) error {
	files, err := ExpandPaths(paths)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := readLogFile(f, each); err != nil {
			return err
		}
	}
	return nil
}

// ExpandPaths turns files and directories into the audit files to read:
// a directory stands for its *.jsonl files, in chain order (rotated
// files by first sequence, then the active one); files named directly
// keep the order given.
func ExpandPaths(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("auditlog: %w", err)
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(readGlobEscape(p), "*.jsonl"))
		if err != nil {
			return nil, fmt.Errorf("auditlog: %s: %w", p, err)
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("auditlog: %s: no *.jsonl files", p)
		}
		sort.Slice(matches, func(i, j int) bool { return readChainLess(matches[i], matches[j]) })
		out = append(out, matches...)
	}
	return out, nil
}

// readGlobEscape quotes the glob metacharacters of a directory name.
func readGlobEscape(dir string) string {
	var b strings.Builder
	for _, r := range dir {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readChainKey splits a log file name into the active file's base name and its
// rank in the chain: a rotated file ranks by its first sequence, the active
// file after all of them.
func readChainKey(path string) (base string, active bool, seq string) {
	name := strings.TrimSuffix(filepath.Base(path), ".jsonl")
	if i := strings.LastIndexByte(name, '.'); i >= 0 && len(name)-i-1 == 20 {
		if _, err := strconv.ParseUint(name[i+1:], 10, 64); err == nil {
			return name[:i], false, name[i+1:]
		}
	}
	return name, true, ""
}

func readChainLess(a, b string) bool {
	ab, aact, aseq := readChainKey(a)
	bb, bact, bseq := readChainKey(b)
	switch {
	case ab != bb:
		return ab < bb
	case aact != bact:
		return !aact // rotated files come before the active one
	default:
		return aseq < bseq // zero-padded: string order is numeric order
	}
}

func readLogFile(path string, each func(string, int, map[string]any) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("auditlog: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var partial bool
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			partial = true
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	line := 0
	for sc.Scan() {
		line++
		if partial {
			// Every record ends in a newline, written with it in one write:
			// a last line without one is being written now, or was cut off
			// by a crash (and its statement never ran).
			return fmt.Errorf("auditlog: %s:%d: incomplete last record (no newline at end of file)", path, line)
		}
		rec, err := decodeLine(sc.Bytes())
		if err != nil {
			return fmt.Errorf("auditlog: %s:%d: %w", path, line, err)
		}
		if err := each(path, line, rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("auditlog: %s:%d: line longer than %d bytes", path, line+1, maxLine)
		}
		return fmt.Errorf("auditlog: %s: %w", path, err)
	}
	return nil
}

// Filter selects records. Zero fields match everything; set fields must all
// match.
type Filter struct {
	User     string    // user.name, exactly
	From, To time.Time // @timestamp in [From, To); zero means open
	// Table is "schema" (any table of it) or "schema.table", compared
	// without regard to case with the entries of rrproxy.tables.
	Table string
	// Decision is "allowed" (rrproxy.phase intent or outcome: the
	// statement was forwarded) or "denied" (rrproxy.phase denied).
	Decision string
	Outcome  string // event.outcome, exactly
	Text     string // substring of rrproxy.statement, without regard to case
	Action   string // event.action, exactly
}

// Decisions accepted by Filter.Decision.
const (
	DecisionAllowed = "allowed"
	DecisionDenied  = "denied"
)

// Validate reports a filter that can match nothing by mistake.
func (f Filter) Validate() error {
	switch f.Decision {
	case "", DecisionAllowed, DecisionDenied:
	default:
		return fmt.Errorf("auditlog: decision %q: want %q or %q", f.Decision, DecisionAllowed, DecisionDenied)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return fmt.Errorf("auditlog: from %s is not before to %s", f.From.Format(time.RFC3339), f.To.Format(time.RFC3339))
	}
	return nil
}

// Match reports whether rec passes every set field of f.
func (f Filter) Match(rec map[string]any) bool {
	if f.User != "" && Str(rec, "user.name") != f.User {
		return false
	}
	if f.Action != "" && Str(rec, "event.action") != f.Action {
		return false
	}
	if f.Outcome != "" && Str(rec, "event.outcome") != f.Outcome {
		return false
	}
	if !f.From.IsZero() || !f.To.IsZero() {
		t, ok := Time(rec)
		if !ok || (!f.From.IsZero() && t.Before(f.From)) || (!f.To.IsZero() && !t.Before(f.To)) {
			return false
		}
	}
	switch phase := Str(rec, "rrproxy.phase"); f.Decision {
	case DecisionDenied:
		if phase != "denied" {
			return false
		}
	case DecisionAllowed:
		if phase != "intent" && phase != "outcome" {
			return false
		}
	}
	if f.Table != "" && !matchTables(Strs(rec, "rrproxy.tables"), f.Table) {
		return false
	}
	if f.Text != "" && !strings.Contains(strings.ToLower(Str(rec, "rrproxy.statement")), strings.ToLower(f.Text)) {
		return false
	}
	return true
}

func matchTables(tables []string, want string) bool {
	schemaOnly := !strings.Contains(want, ".")
	for _, t := range tables {
		if strings.EqualFold(t, want) {
			return true
		}
		if schema, _, ok := strings.Cut(t, "."); ok && schemaOnly && strings.EqualFold(schema, want) {
			return true
		}
	}
	return false
}

// Str returns the string member name of rec, or "".
func Str(rec map[string]any, name string) string {
	s, _ := rec[name].(string)
	return s
}

// Int returns the integer member name of rec, or 0.
func Int(rec map[string]any, name string) int64 {
	switch v := rec[name].(type) {
	case json.Number:
		n, _ := v.Int64()
		return n
	case float64:
		return int64(v)
	}
	return 0
}

// Strs returns the string-array member name of rec, or nil.
func Strs(rec map[string]any, name string) []string {
	a, _ := rec[name].([]any)
	out := make([]string, 0, len(a))
	for _, v := range a {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Time returns the @timestamp of rec.
func Time(rec map[string]any) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, Str(rec, "@timestamp"))
	return t, err == nil
}
