package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rrproxy/rrproxy/auditlog"
)

const auditUsage = `usage:
  rrproxy audit verify [-pubkey FILE] [-checkpoints FILE] PATH...
        Check the hash chain, rotation links and signed checkpoints
        (docs/audit-format.md). Exit 0 and a summary if the log is intact;
        exit 1 with the file, line and sequence number where trust ends.
  rrproxy audit search [filters] [-json] PATH...
        Print the matching records as a table, or as JSON lines with -json.
  rrproxy audit export -format csv|json [-pubkey FILE] [-checkpoints FILE] [filters] PATH...
        Verify, then write the matching records to standard output with the
        verification result at the top.
  rrproxy audit report -html FILE [-pubkey FILE] [-checkpoints FILE] PATH...
  rrproxy audit keygen [-out PREFIX]          write PREFIX.key (for rrproxy) and PREFIX.pub (for reviewers)
        Verify, then write a one-page HTML summary for reviewers.

PATH is a log file or a directory of them (audit/*.jsonl, read in chain order).
Filters (all optional; a record must match every one given):
  -user U          user.name is U
  -from T, -to T   from T (inclusive) to T (exclusive); T is 2026-11-26,
                   2026-11-26T14:30 or RFC 3339; without a zone, UTC.
                   -to with a date alone includes that whole day.
  -table S[.T]     read or denied table S.T, or any table of schema S
  -decision D      allowed (forwarded to the database) or denied (refused)
  -outcome X       event.outcome: success, failure or unknown
  -text S          statement contains S (upper/lower case ignored)
  -action A        event.action: login, statement, policy-reload, ...
`

func cmdAudit(args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", auditUsage)
	}
	switch args[0] {
	case "verify":
		return auditVerify(args[1:], out)
	case "search":
		return auditSearch(args[1:], out)
	case "export":
		return auditExport(args[1:], out)
	case "report":
		return auditReport(args[1:], out)
	case "keygen":
		return auditKeygen(args[1:], out)
	default:
		return fmt.Errorf("unknown audit command %q\n%s", args[0], auditUsage)
	}
}

// parseFlags lets flags follow the paths too (audit search audit/ -user x),
// as people who do not live in a shell will type them.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.Usage = func() { fmt.Fprint(fs.Output(), auditUsage) }
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		paths, args = append(paths, args[0]), args[1:]
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no log files or directories given\n%s", auditUsage)
	}
	return paths, nil
}

// verifyFlags registers -pubkey and -checkpoints; the returned function
// runs Verify with them.
func verifyFlags(fs *flag.FlagSet) func(paths []string) (*auditlog.Summary, error) {
	pubkey := fs.String("pubkey", "", "Ed25519 public key (PEM) that signed the checkpoints")
	copyFile := fs.String("checkpoints", "", "checkpoint copy kept elsewhere (audit.checkpoint_copy)")
	return func(paths []string) (*auditlog.Summary, error) {
		var o auditlog.VerifyOptions
		if *pubkey != "" {
			k, err := auditlog.LoadPublicKey(*pubkey)
			if err != nil {
				return nil, fmt.Errorf("public key: %w", err)
			}
			o.PublicKey = k
		}
		o.Checkpoints = *copyFile
		return auditlog.Verify(paths, o)
	}
}

// filterFlags registers the filter flags; the returned function builds
// the Filter once the flags are parsed.
func filterFlags(fs *flag.FlagSet) func() (auditlog.Filter, error) {
	var f auditlog.Filter
	var from, to string
	fs.StringVar(&f.User, "user", "", "user.name")
	fs.StringVar(&from, "from", "", "records at or after this time (UTC unless given)")
	fs.StringVar(&to, "to", "", "records before this time; a date alone includes that day")
	fs.StringVar(&f.Table, "table", "", "schema.table, or schema for all its tables")
	fs.StringVar(&f.Decision, "decision", "", "allowed or denied")
	fs.StringVar(&f.Outcome, "outcome", "", "event.outcome")
	fs.StringVar(&f.Text, "text", "", "statement contains this text (case ignored)")
	fs.StringVar(&f.Action, "action", "", "event.action")
	return func() (auditlog.Filter, error) {
		var err error
		if f.From, err = parseTime(from, false); err != nil {
			return f, fmt.Errorf("-from: %w", err)
		}
		if f.To, err = parseTime(to, true); err != nil {
			return f, fmt.Errorf("-to: %w", err)
		}
		return f, f.Validate()
	}
}

// parseTime reads the times a reviewer is likely to type. A date alone as
// an upper bound means the end of that day: "-to 2026-11-26" includes the
// 26th.
func parseTime(s string, upper bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		if upper {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use 2026-11-26, 2026-11-26T14:30 or 2026-11-26T14:30:00Z", s)
}

func describeFilter(f auditlog.Filter) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("user", f.User)
	if !f.From.IsZero() {
		add("from", f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		add("to", f.To.UTC().Format(time.RFC3339))
	}
	add("table", f.Table)
	add("decision", f.Decision)
	add("outcome", f.Outcome)
	add("text", f.Text)
	add("action", f.Action)
	if len(parts) == 0 {
		return "none (all records)"
	}
	return strings.Join(parts, " ")
}

func auditVerify(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	verify := verifyFlags(fs)
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	sum, err := verify(paths)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "OK: the audit log is intact.\n%s", sum)
	for _, c := range sum.Chains {
		fmt.Fprintf(out, "files of chain %s:\n", c.Instance)
		for _, f := range c.Files {
			fmt.Fprintf(out, "  %s\n", f)
		}
		if !c.Signed {
			fmt.Fprintf(out, "note: checkpoint signatures of chain %s were not checked (no -pubkey, or no checkpoints): "+
				"this shows no record was changed, added or removed, not that the whole log was not replaced.\n", c.Instance)
		}
	}
	return nil
}

func auditSearch(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit search", flag.ContinueOnError)
	filter := filterFlags(fs)
	asJSON := fs.Bool("json", false, "print matching records as JSON lines")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	f, err := filter()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(out)
	defer bw.Flush()
	if *asJSON {
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		return auditlog.ReadRecords(paths, func(_ string, _ int, rec map[string]any) error {
			if !f.Match(rec) {
				return nil
			}
			return enc.Encode(rec)
		})
	}
	// Fixed widths, not text/tabwriter: tabwriter holds every row until
	// the end to size its columns, and a search may match millions.
	row := func(cells ...string) {
		for i, c := range cells {
			if i == len(cells)-1 {
				bw.WriteString(c)
				break
			}
			bw.WriteString(pad(c, searchWidths[i]))
			bw.WriteString("  ")
		}
		bw.WriteByte('\n')
	}
	// INSTANCE and RECORD together name a record: several rrproxy
	// instances behind a load balancer each keep their own chain, with
	// their own sequence numbers, and a search may read them all.
	row("TIME (UTC)", "INSTANCE", "RECORD", "USER", "ACTION", "OUTCOME", "RULE", "TABLES", "STATEMENT / DETAIL")
	n := 0
	err = auditlog.ReadRecords(paths, func(_ string, _ int, rec map[string]any) error {
		if !f.Match(rec) {
			return nil
		}
		n++
		ts := auditlog.Str(rec, "@timestamp")
		if t, ok := auditlog.Time(rec); ok {
			ts = t.UTC().Format("2006-01-02 15:04:05")
		}
		action := auditlog.Str(rec, "event.action")
		if p := auditlog.Str(rec, "rrproxy.phase"); p != "" {
			action += "/" + p
		}
		row(ts, auditlog.Str(rec, "rrproxy.instance"), fmt.Sprint(auditlog.Int(rec, "event.sequence")), auditlog.Str(rec, "user.name"), action,
			auditlog.Str(rec, "event.outcome"), auditlog.Str(rec, "rule.id"),
			strings.Join(auditlog.Strs(rec, "rrproxy.tables"), ","), clip(searchText(rec), 100))
		return nil
	})
	fmt.Fprintf(bw, "(%d records)\n", n)
	return err
}

// searchText is the statement, or for an outcome (which does not repeat
// it) what became of the statement of its intent record.
func searchText(rec map[string]any) string {
	if s := auditlog.Str(rec, "rrproxy.statement"); s != "" {
		return s
	}
	intent := auditlog.Int(rec, "rrproxy.intent_sequence")
	if intent == 0 {
		return auditlog.Str(rec, "event.reason")
	}
	if code := auditlog.Int(rec, "error.code"); code != 0 {
		return fmt.Sprintf("(record %d: error %d)", intent, code)
	}
	return fmt.Sprintf("(record %d: %d rows)", intent, auditlog.Int(rec, "rrproxy.rows"))
}

// searchWidths are the column widths of audit search, in characters.
var searchWidths = []int{19, 16, 8, 24, 17, 7, 18, 28}

// pad clips s to w characters (marking the cut with …) and pads it to w.
func pad(s string, w int) string {
	s = oneLine(s)
	n := utf8.RuneCountInString(s)
	if n > w {
		return clip(s, w)
	}
	return s + strings.Repeat(" ", w-n)
}

// clip puts s on one line and shortens it to w characters.
func clip(s string, w int) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	r := []rune(s)
	return string(r[:w-1]) + "…"
}

// oneLine collapses runs of white space (newlines included) to one space
// and replaces other control characters, so that a statement cannot break
// the table or send escape sequences to the reviewer's terminal.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		case unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r):
			b.WriteRune('�')
		default:
			b.WriteRune(r)
		}
		space = false
	}
	return strings.TrimSpace(b.String())
}

// exportColumns are the CSV columns: the members a reviewer reads.
var exportColumns = []string{
	"@timestamp", "rrproxy.instance", "event.sequence", "event.action", "rrproxy.phase", "event.outcome",
	"user.name", "source.address", "rrproxy.session_id", "rrproxy.database", "rrproxy.command",
	"rrproxy.statement", "rrproxy.rewritten_statement", "rrproxy.statement_kinds", "rrproxy.tables",
	"rrproxy.columns", "rule.id", "rrproxy.policy_version", "event.reason", "rrproxy.rows", "rrproxy.bytes",
	"event.duration", "error.code", "error.message", "rrproxy.intent_sequence", "rrproxy.shadow", "tls.version",
	"user_agent.name", "user_agent.version", "rrproxy.chain.hash",
}

func auditExport(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit export", flag.ContinueOnError)
	format := fs.String("format", "", "csv or json")
	verify := verifyFlags(fs)
	filter := filterFlags(fs)
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *format != "csv" && *format != "json" {
		return fmt.Errorf("-format must be csv or json\n%s", auditUsage)
	}
	f, err := filter()
	if err != nil {
		return err
	}
	sum, verr := verify(paths)
	// Export only what was verified: records the running rrproxy appends
	// after Verify read the files are left out, not passed off as checked.
	verified := map[string]uint64{}
	if sum != nil {
		for _, c := range sum.Chains {
			verified[c.Instance] = c.LastSequence
		}
	}
	keep := func(rec map[string]any) bool {
		if !f.Match(rec) {
			return false
		}
		if verr != nil || sum == nil {
			return true // unverified: export all, under the FAILED heading
		}
		last, ok := verified[auditlog.Str(rec, "rrproxy.instance")]
		return ok && uint64(auditlog.Int(rec, "event.sequence")) <= last
	}
	bw := bufio.NewWriter(out)
	if *format == "csv" {
		err = exportCSV(bw, paths, f, sum, verr, keep)
	} else {
		err = exportJSON(bw, paths, f, sum, verr, keep)
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if verr != nil {
		return fmt.Errorf("%w (the export says so at the top)", verr)
	}
	return nil
}

// verificationLines states the verification result in words, one line
// per chain.
func verificationLines(sum *auditlog.Summary, verr error) []string {
	if verr != nil {
		return []string{"FAILED: " + verr.Error()}
	}
	lines := []string{"OK: the hash chain is intact"}
	for _, l := range strings.Split(strings.TrimSpace(sum.String()), "\n") {
		lines = append(lines, "OK: "+l)
	}
	for _, c := range sum.Chains {
		if !c.Signed {
			lines = append(lines, "NOTE: checkpoint signatures of chain "+c.Instance+" were not checked (no -pubkey, or no checkpoints)")
		}
	}
	return lines
}

func exportCSV(w *bufio.Writer, paths []string, f auditlog.Filter, sum *auditlog.Summary, verr error, keep func(map[string]any) bool) error {
	// Comment lines first: csv readers with Comment = '#' skip them,
	// spreadsheets show them above the header row.
	comment := func(format string, a ...any) {
		fmt.Fprintf(w, "# %s\n", oneLine(fmt.Sprintf(format, a...)))
	}
	comment("rrproxy audit export, %s UTC", time.Now().UTC().Format("2006-01-02 15:04:05"))
	for _, l := range verificationLines(sum, verr) {
		comment("verification: %s", l)
	}
	comment("filter: %s", describeFilter(f))
	comment("cells that begin with = + - @ are prefixed with ' so that spreadsheets show them as text instead of running them")
	cw := csv.NewWriter(w)
	if err := cw.Write(exportColumns); err != nil {
		return err
	}
	row := make([]string, len(exportColumns))
	err := auditlog.ReadRecords(paths, func(_ string, _ int, rec map[string]any) error {
		if !keep(rec) {
			return nil
		}
		for i, col := range exportColumns {
			row[i] = spreadsheetSafe(cell(rec[col]))
		}
		return cw.Write(row)
	})
	cw.Flush()
	if err != nil {
		comment("ERROR: export stopped here: %v", err)
		return err
	}
	return cw.Error()
}

// cell renders a member value; arrays are joined with ';'.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = cell(x)
		}
		return strings.Join(parts, ";")
	default:
		return fmt.Sprint(v)
	}
}

// spreadsheetSafe keeps a spreadsheet from running a cell as a formula: a
// user name or statement from a client could otherwise start with =.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

type exportVerification struct {
	OK         bool          `json:"ok"`
	Result     []string      `json:"result"`
	Error      string        `json:"error,omitempty"`
	Chains     []exportChain `json:"chains,omitempty"`
	ExportedAt string        `json:"exported_at"`
	Filter     string        `json:"filter"`
}

type exportChain struct {
	Instance       string   `json:"instance"`
	Files          []string `json:"files"`
	Records        int      `json:"records"`
	First          string   `json:"first"`
	Last           string   `json:"last"`
	LastSequence   uint64   `json:"last_sequence"`
	LastCheckpoint uint64   `json:"last_checkpoint"`
	Signed         bool     `json:"checkpoints_signature_verified"`
	Stopped        bool     `json:"stopped"`
}

func exportJSON(w *bufio.Writer, paths []string, f auditlog.Filter, sum *auditlog.Summary, verr error, keep func(map[string]any) bool) error {
	v := exportVerification{
		OK:         verr == nil && sum != nil,
		Result:     verificationLines(sum, verr),
		ExportedAt: time.Now().UTC().Format(time.RFC3339),
		Filter:     describeFilter(f),
	}
	if verr != nil {
		v.Error = verr.Error()
	} else if sum != nil {
		for _, c := range sum.Chains {
			v.Chains = append(v.Chains, exportChain{
				Instance: c.Instance, Files: c.Files, Records: c.Records, First: c.First, Last: c.Last,
				LastSequence: c.LastSequence, LastCheckpoint: c.LastCheckpoint, Signed: c.Signed, Stopped: c.Stopped,
			})
		}
	}
	head, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "{\"verification\":%s,\n\"records\":[", head)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	sep := "\n"
	err = auditlog.ReadRecords(paths, func(_ string, _ int, rec map[string]any) error {
		if !keep(rec) {
			return nil
		}
		w.WriteString(sep)
		sep = ","
		return enc.Encode(rec) // ends the line
	})
	if err != nil {
		// Keep the document valid JSON, saying where it stopped.
		msg, _ := json.Marshal(err.Error())
		fmt.Fprintf(w, "],\n\"error\":%s}\n", msg)
		return err
	}
	w.WriteString("]}\n")
	return nil
}

func auditReport(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit report", flag.ContinueOnError)
	htmlFile := fs.String("html", "", "write the report to this file")
	verify := verifyFlags(fs)
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if *htmlFile == "" {
		return fmt.Errorf("-html FILE is required\n%s", auditUsage)
	}
	sum, verr := verify(paths)
	// Write next to the target and rename, so that a reviewer never opens
	// half a report. The report quotes statements: keep it as private as
	// the log (0600).
	tmp, err := os.CreateTemp(filepath.Dir(*htmlFile), ".rrproxy-report-*.html")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	rerr := auditlog.WriteReport(bw, paths, sum, verr)
	if err := errors.Join(bw.Flush(), tmp.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *htmlFile); err != nil {
		return err
	}
	switch {
	case verr != nil:
		fmt.Fprintf(out, "wrote %s (verification FAILED)\n", *htmlFile)
		return fmt.Errorf("%w (the report says so at the top)", verr)
	case rerr != nil:
		fmt.Fprintf(out, "wrote %s (incomplete)\n", *htmlFile)
		return rerr
	}
	fmt.Fprintf(out, "wrote %s (chain verified)\n", *htmlFile)
	return nil
}

// auditKeygen writes a checkpoint key pair: PREFIX.key for rrproxy
// (audit.checkpoint_key), PREFIX.pub for reviewers and verifiers.
func auditKeygen(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit keygen", flag.ContinueOnError)
	prefix := fs.String("out", "audit-checkpoint", "path prefix of the key files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	priv, pub := *prefix+".key", *prefix+".pub"
	for _, f := range []string{priv, pub} {
		if _, err := os.Stat(f); err == nil {
			return fmt.Errorf("%s exists; not overwriting a key (a new key cannot verify old checkpoints)", f)
		}
	}
	if err := auditlog.GenerateKeyFiles(priv, pub); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s (private: audit.checkpoint_key, keep it readable by rrproxy only)\nwrote %s (public: give it to reviewers for audit verify -pubkey)\n", priv, pub)
	return nil
}
