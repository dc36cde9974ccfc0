package auditlog_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/internal/testtool"
)

// tools/verify_audit.py lets a reviewer check the audit log without
// trusting rrproxy's code. These tests hold it and auditlog.Verify to
// the same contract (docs/audit-format.md): both accept what the Go
// writer wrote, and both reject each kind of tampering at the same file,
// line and sequence.

const pyVerifier = "../tools/verify_audit.py"

// Statements that stress the canonical form: quotes, backslashes, every
// escape, U+2028/U+2029 (which encoding/json escapes and JCS does not),
// HTML characters, astral-plane characters and invalid UTF-8.
var awkwardStatements = []string{
	`SELECT * FROM study.subjects WHERE name = 'O''Brien' AND note = "say \"hi\""`,
	"SELECT 'back\\slash', 'tab\there', 'nl\nthere', 'cr\rthere', 'ff\fthere', 'bs\bthere'",
	"SELECT 'nul\x00', 'bell\x07', 'us\x1f', 'esc\x1b', 'del\x7f'",
	"SELECT 'line\u2028sep', 'para\u2029sep', 'bom\ufeff', 'nel\u0085'",
	"SELECT 'Ünïcödé', '中文', 'עברית', '🧪 trial', '<script>&amp;</script>'",
	"SELECT 'invalid \xff\xfe utf-8'",
	`SELECT '\u2028 literally', '\"', '\\\\'`,
}

const pyInstance = "pyverify-1"

type pyFixture struct {
	dir      string // the clean log
	copyFile string // its checkpoint copy
	pubFile  string // PEM public key of the checkpoint key
	pub      ed25519.PublicKey
	records  int // records the summary must report
}

func logOptions(dir, copyFile string, key ed25519.PrivateKey) auditlog.Options {
	return auditlog.Options{
		Path:            filepath.Join(dir, "rrproxy-audit.jsonl"),
		Sync:            auditlog.SyncBatch,
		Instance:        pyInstance,
		RotateBytes:     16 << 10, // a dozen files
		CheckpointEvery: 37,
		CheckpointKey:   key,
		CheckpointCopy:  copyFile,
	}
}

// writeEvents records n events from four goroutines.
func writeEvents(t testing.TB, w *auditlog.Writer, n int) {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 4 {
				ev := &auditlog.Event{Action: "statement", Phase: "intent", Outcome: "unknown", User: "alice",
					Source: "10.0.0.7:51234", Statement: awkwardStatements[i%len(awkwardStatements)],
					Kinds: []string{"select"}, Tables: []string{"study.subjects", "étude.sujets"}, Rows: int64(i)}
				if i == 5 {
					ev.Rows = 1<<53 - 1
				}
				if _, err := w.Record(ev); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// writeForged writes a whole chain in dir as someone without the real
// key would: another key, or none.
func writeForged(t *testing.T, dir string, key ed25519.PrivateKey) {
	w, err := auditlog.OpenChain(logOptions(dir, "", key))
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(t, w, 300)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPyVerifyHelperProcess is the child that newPyFixture kills: it
// writes records and waits, without Close, for the SIGKILL.
func TestPyVerifyHelperProcess(t *testing.T) {
	spec := os.Getenv("RRPROXY_PYVERIFY_CHILD")
	if spec == "" {
		return // not a child; nothing to test
	}
	var c struct {
		Dir, Copy string
		Seed      []byte
		N         int
	}
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		t.Fatal(err)
	}
	w, err := auditlog.OpenChain(logOptions(c.Dir, c.Copy, ed25519.NewKeyFromSeed(c.Seed)))
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(t, w, c.N)
	fmt.Println("written")
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed
	os.Exit(3)
}

// newPyFixture writes a chain the way production does over its life: a
// run that stops cleanly, a run killed mid-write (SIGKILL, then half a
// record appended, as a crash inside write(2) leaves it), and a run that
// recovers from that.
func newPyFixture(t *testing.T) *pyFixture {
	f := &pyFixture{dir: t.TempDir()}
	keyDir := t.TempDir()
	f.copyFile = filepath.Join(keyDir, "checkpoints.jsonl")
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.pub = pub
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	f.pubFile = filepath.Join(keyDir, "checkpoint.pub.pem")
	if err := os.WriteFile(f.pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	o := logOptions(f.dir, f.copyFile, priv)

	w, err := auditlog.OpenChain(o)
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(t, w, 300)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	spec, _ := json.Marshal(map[string]any{"Dir": f.dir, "Copy": f.copyFile, "Seed": priv.Seed(), "N": 100})
	cmd := exec.Command(os.Args[0], "-test.run=^TestPyVerifyHelperProcess$")
	cmd.Env = append(os.Environ(), "RRPROXY_PYVERIFY_CHILD="+string(spec))
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	written := false
	for sc := bufio.NewScanner(stdout); !written && sc.Scan(); {
		written = sc.Text() == "written"
	}
	if !written {
		_ = cmd.Wait()
		t.Fatalf("child writer failed: %v", cmd.ProcessState)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	stdin.Close()
	active, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	const partial = `{"@timestamp":"2026-11-26T02:43:00.1234`
	if _, err := active.WriteString(partial); err != nil {
		t.Fatal(err)
	}
	active.Close()

	w, err = auditlog.OpenChain(o)
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(t, w, 60)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	l := loadLog(t, f.dir)
	var restarts []string
	for _, r := range l.refs() {
		line := l.line(r)
		if bytes.Contains(line, []byte(`"event.action":"audit-restart"`)) {
			restarts = append(restarts, string(line))
		}
		f.records++
	}
	if len(restarts) != 2 || !strings.Contains(restarts[1], fmt.Sprintf("discarded %d bytes", len(partial))) {
		t.Fatalf("want two audit-restart records, the second reporting %d discarded bytes:\n%s", len(partial), strings.Join(restarts, "\n"))
	}
	if len(l.files) < 5 {
		t.Fatalf("only %d files: rotation did not happen", len(l.files))
	}
	return f
}

// logDir is an audit directory loaded for editing. A tamper that
// rewrites the directory itself sets files to nil so it is not saved.
type logDir struct {
	dir   string
	files []string   // base names, chain order
	lines [][][]byte // lines of each file, without newlines
}

type lineRef struct{ file, line int } // 0-based

func loadLog(t *testing.T, dir string) *logDir {
	names, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names) // rrproxy-audit.<20 digits>.jsonl, then rrproxy-audit.jsonl
	l := &logDir{dir: dir}
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		l.files = append(l.files, filepath.Base(n))
		l.lines = append(l.lines, bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")))
	}
	return l
}

func (l *logDir) save(t *testing.T) {
	for i, name := range l.files {
		data := append(bytes.Join(l.lines[i], []byte("\n")), '\n')
		if len(l.lines[i]) == 0 {
			data = nil
		}
		if err := os.WriteFile(filepath.Join(l.dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func (l *logDir) refs() []lineRef {
	var out []lineRef
	for fi := range l.files {
		for li := range l.lines[fi] {
			out = append(out, lineRef{fi, li})
		}
	}
	return out
}

func (l *logDir) line(r lineRef) []byte { return l.lines[r.file][r.line] }

func (l *logDir) set(r lineRef, b []byte) { l.lines[r.file][r.line] = b }

// loc is where a verifier must say trust ends.
func (l *logDir) loc(r lineRef) failLoc {
	return failLoc{l.files[r.file], r.line + 1, seqOf(l.line(r))}
}

// find returns the first line at or after the middle of file fi that
// holds s (and is not the file's first or last line).
func (l *logDir) find(t *testing.T, fi int, s string) lineRef {
	lines := l.lines[fi]
	for li := len(lines) / 2; li < len(lines)-1; li++ {
		if bytes.Contains(lines[li], []byte(s)) {
			return lineRef{fi, li}
		}
	}
	// Not every file has it after its middle (records vary in size):
	// any inner line of this rotated file, or of a later one, will do.
	for f := fi; f < len(l.files)-1; f++ {
		for li := 1; li < len(l.lines[f])-1; li++ {
			if bytes.Contains(l.lines[f][li], []byte(s)) {
				return lineRef{f, li}
			}
		}
	}
	t.Fatalf("%s: no %s in an inner line of it or a later rotated file", l.files[fi], s)
	return lineRef{}
}

// checkpoints lists the checkpoint records in chain order.
func (l *logDir) checkpoints() []lineRef {
	var out []lineRef
	for _, r := range l.refs() {
		if bytes.Contains(l.line(r), []byte(`"event.action":"checkpoint"`)) {
			out = append(out, r)
		}
	}
	return out
}

var (
	seqRE      = regexp.MustCompile(`"event\.sequence":(\d+)`)
	hashRE     = regexp.MustCompile(`"rrproxy\.chain\.hash":"([0-9a-f]{64})",`)
	prevRE     = regexp.MustCompile(`"rrproxy\.chain\.prev":"[0-9a-f]{64}"`)
	ckptHashRE = regexp.MustCompile(`"rrproxy\.checkpoint\.hash":"[0-9a-f]{64}"`)
	sigRE      = regexp.MustCompile(`"rrproxy\.checkpoint\.signature":"([^"]+)"`)
)

func seqOf(line []byte) uint64 {
	m := seqRE.FindSubmatch(line)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(string(m[1]), 10, 64)
	return n
}

func hashOf(line []byte) string { return string(hashRE.FindSubmatch(line)[1]) }

// rehash recomputes a canonical line's rrproxy.chain.hash, as a forger
// would. Without that member a canonical line is still canonical (the
// member is never last: rrproxy.chain.prev sorts after it), so its
// canonical form is the line with the member cut out.
func rehash(line []byte) []byte {
	sum := sha256.Sum256(hashRE.ReplaceAll(line, nil))
	return hashRE.ReplaceAll(line, []byte(`"rrproxy.chain.hash":"`+hex.EncodeToString(sum[:])+`",`))
}

// rechain re-links every record after r to its new predecessor, with
// checkpoint hashes updated to match: everything a forger without the
// key can do.
func (l *logDir) rechain(r lineRef) {
	refs := l.refs()
	i := 0
	for refs[i] != r {
		i++
	}
	for _, next := range refs[i+1:] {
		prev := hashOf(l.line(refs[i]))
		b := prevRE.ReplaceAll(l.line(next), []byte(`"rrproxy.chain.prev":"`+prev+`"`))
		b = ckptHashRE.ReplaceAll(b, []byte(`"rrproxy.checkpoint.hash":"`+prev+`"`))
		l.set(next, rehash(b))
		i++
	}
}

// failLoc is "<file>:<line>: sequence <n>", the file as a base name.
type failLoc struct {
	file string
	line int
	seq  uint64
}

func (f failLoc) String() string { return fmt.Sprintf("%s:%d: sequence %d", f.file, f.line, f.seq) }

var failRE = regexp.MustCompile(`^(.+?):(\d+): sequence (\d+): `)

func parseFailLoc(s string) (failLoc, bool) {
	m := failRE.FindStringSubmatch(s)
	if m == nil {
		return failLoc{}, false
	}
	line, _ := strconv.Atoi(m[2])
	seq, _ := strconv.ParseUint(m[3], 10, 64)
	return failLoc{filepath.Base(m[1]), line, seq}, true
}

type verifyWith struct{ pubkey, copy bool }

// runPython runs tools/verify_audit.py on dir: its output and exit code.
func runPython(t *testing.T, f *pyFixture, dir string, v verifyWith) (string, int) {
	args := []string{pyVerifier}
	if v.pubkey {
		args = append(args, "--pubkey", f.pubFile)
	}
	if v.copy {
		args = append(args, "--checkpoints", f.copyFile)
	}
	return testtool.Output(t, exec.Command("python3", append(args, dir)...))
}

func runGo(f *pyFixture, dir string, v verifyWith) (*auditlog.Summary, error) {
	var o auditlog.VerifyOptions
	if v.pubkey {
		o.PublicKey = f.pub
	}
	if v.copy {
		o.Checkpoints = f.copyFile
	}
	return auditlog.Verify([]string{dir}, o)
}

func requirePython(t *testing.T) {
	t.Helper()
	// scripts/test.sh guarantees python3: without it the independent
	// verifier is untested, which must not pass quietly.
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 is required to test %s: %v", pyVerifier, err)
	}
}

func TestPyVerifyUsage(t *testing.T) {
	requirePython(t)
	out, code := runPython(t, &pyFixture{}, "--help", verifyWith{})
	if code != 0 || !strings.Contains(out, "--checkpoints") {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{}, {"--bogus", "x"}, {filepath.Join(t.TempDir(), "nonexistent")}} {
		cmd := exec.Command("python3", append([]string{pyVerifier}, args...)...)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("%v: want exit 2 (usage), got %v\n%s", args, err, out)
		}
	}
}

func TestPyVerifyAgreesWithVerify(t *testing.T) {
	requirePython(t)
	f := newPyFixture(t)
	all := verifyWith{pubkey: true, copy: true}

	t.Run("clean", func(t *testing.T) {
		for _, v := range []verifyWith{{}, {pubkey: true}, {copy: true}, all} {
			out, code := runPython(t, f, f.dir, v)
			if code != 0 || !strings.Contains(out, fmt.Sprintf("%d records", f.records)) {
				t.Errorf("python %+v rejects the clean log (exit %d):\n%s", v, code, out)
			}
			if v.pubkey && !strings.Contains(out, "signature verified") {
				t.Errorf("python %+v: no verified checkpoint in the summary:\n%s", v, out)
			}
			sum, err := runGo(f, f.dir, v)
			if err != nil {
				t.Errorf("Verify %+v rejects the clean log: %v", v, err)
				continue
			}
			if c := sum.Chains; len(c) != 1 || c[0].Records != f.records || c[0].Signed != v.pubkey || !c[0].Stopped {
				t.Errorf("Verify %+v summary, want %d records: %+v", v, f.records, sum)
			}
		}
		start := time.Now()
		out, _ := runPython(t, f, f.dir, all)
		pyTime := time.Since(start)
		start = time.Now()
		_, _ = runGo(f, f.dir, all)
		t.Logf("python (%v, process included) and Verify (%v) on %d records with -pubkey -checkpoints; python summary:\n%s",
			pyTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), f.records, out)
	})

	// Each case edits a copy of the clean log and says where trust ends;
	// zero want means both verifiers must accept (a documented limit).
	cases := []struct {
		name   string
		with   verifyWith
		tamper func(t *testing.T, l *logDir) failLoc
	}{
		{"modify a field value", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"user.name":"alice"`)
			l.set(r, bytes.Replace(l.line(r), []byte(`"user.name":"alice"`), []byte(`"user.name":"mallory"`), 1))
			return l.loc(r)
		}},
		{"modify and re-hash a record, not the next", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"user.name":"alice"`)
			l.set(r, rehash(bytes.Replace(l.line(r), []byte(`"user.name":"alice"`), []byte(`"user.name":"bob"`), 1)))
			return l.loc(lineRef{r.file, r.line + 1})
		}},
		{"escape U+2028: same value and hash, not canonical", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, "\u2028")
			l.set(r, bytes.Replace(l.line(r), []byte("\u2028"), []byte(`\u2028`), 1))
			return l.loc(r)
		}},
		{"integer written with .0, re-hashed", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"rrproxy.rows":`)
			l.set(r, rehash(regexp.MustCompile(`"rrproxy\.rows":(\d+)`).ReplaceAll(l.line(r), []byte(`"rrproxy.rows":$1.0`))))
			return l.loc(r)
		}},
		// Malformed but canonical and re-hashed: only the record checks
		// of the format find them, and both verifiers must.
		{"event.action an integer, re-hashed", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"event.action":"statement"`)
			l.set(r, rehash(bytes.Replace(l.line(r), []byte(`"event.action":"statement"`), []byte(`"event.action":7`), 1)))
			return l.loc(r)
		}},
		{"@timestamp not a timestamp, re-hashed", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"event.action":"statement"`)
			l.set(r, rehash(regexp.MustCompile(`"@timestamp":"[^"]*"`).ReplaceAll(l.line(r), []byte(`"@timestamp":"yesterday"`))))
			return l.loc(r)
		}},
		{"no rrproxy.instance, re-hashed", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"event.action":"statement"`)
			l.set(r, rehash(regexp.MustCompile(`,"rrproxy\.instance":"[^"]*"`).ReplaceAll(l.line(r), nil)))
			return l.loc(r)
		}},
		{"a member name that is not ASCII, re-hashed", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"event.action":"statement"`)
			b := l.line(r)
			l.set(r, rehash(append(append([]byte{}, b[:len(b)-1]...), []byte(`,"étude":"x"}`)...)))
			return l.loc(r)
		}},
		{"the first record not audit-start, re-hashed and re-chained", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := lineRef{0, 0}
			l.set(r, rehash(bytes.Replace(l.line(r), []byte(`"event.action":"audit-start"`), []byte(`"event.action":"audit-restart"`), 1)))
			l.rechain(r)
			return l.loc(r)
		}},
		{"audit-start in the middle, re-hashed", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"event.action":"statement"`)
			l.set(r, rehash(bytes.Replace(l.line(r), []byte(`"event.action":"statement"`), []byte(`"event.action":"audit-start"`), 1)))
			return l.loc(r)
		}},
		{"audit-file-start in the middle of a file, re-hashed", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"event.action":"statement"`)
			l.set(r, rehash(bytes.Replace(l.line(r), []byte(`"event.action":"statement"`), []byte(`"event.action":"audit-file-start"`), 1)))
			return l.loc(r)
		}},
		{"a value nested 100,000 deep", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"rrproxy.tables":[`)
			deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
			l.set(r, regexp.MustCompile(`"rrproxy\.tables":\[[^\]]*\]`).ReplaceAll(l.line(r), []byte(`"rrproxy.tables":`+deep)))
			return l.loc(r)
		}},
		{"delete a line", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"event.action":"statement"`)
			l.lines[r.file] = append(l.lines[r.file][:r.line], l.lines[r.file][r.line+1:]...)
			return l.loc(r)
		}},
		{"insert a duplicated line", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"event.action":"statement"`)
			lines := l.lines[r.file]
			l.lines[r.file] = append(lines[:r.line+1], append([][]byte{lines[r.line]}, lines[r.line+1:]...)...)
			return l.loc(lineRef{r.file, r.line + 1})
		}},
		{"swap two lines", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			r := l.find(t, len(l.files)/2, `"event.action":"statement"`)
			lines := l.lines[r.file]
			lines[r.line], lines[r.line+1] = lines[r.line+1], lines[r.line]
			return l.loc(r) // the first line out of place, holding the later record
		}},
		{"cut the active file mid-record", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			last := len(l.files) - 1
			r := lineRef{last, len(l.lines[last]) - 1}
			want := l.loc(r)
			l.save(t)
			cut := l.line(r)[:len(l.line(r))/2]
			data := append(bytes.Join(l.lines[last][:r.line], []byte("\n")), '\n')
			if err := os.WriteFile(filepath.Join(l.dir, l.files[last]), append(data, cut...), 0o600); err != nil {
				t.Fatal(err)
			}
			l.files = nil // saved already
			return want
		}},
		{"cut the active file before its last checkpoint, with the copy", verifyWith{copy: true}, cutBeforeLastCheckpoint},
		{"cut the active file before its last checkpoint, with the key", verifyWith{pubkey: true}, func(t *testing.T, l *logDir) failLoc {
			cutBeforeLastCheckpoint(t, l)
			return failLoc{} // limit: nothing signed is missing without the copy
		}},
		{"cut audit-stop, after the last checkpoint", verifyWith{pubkey: true, copy: true}, func(t *testing.T, l *logDir) failLoc {
			last := len(l.files) - 1
			l.lines[last] = l.lines[last][:len(l.lines[last])-1]
			return failLoc{} // limit: audit-stop follows the stop's checkpoint
		}},
		{"delete a rotated file", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			want := l.loc(lineRef{3, 0})
			removeFile(t, l, 2)
			return want
		}},
		{"delete the first file", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			want := l.loc(lineRef{1, 0})
			removeFile(t, l, 0)
			return want
		}},
		{"rename a rotated file", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			want := l.loc(lineRef{3, 0}) // its successor's audit-file-start names it
			if err := os.Rename(filepath.Join(l.dir, l.files[2]), filepath.Join(l.dir, "renamed.jsonl")); err != nil {
				t.Fatal(err)
			}
			l.files = nil
			return want
		}},
		{"forged chain signed by another key", verifyWith{pubkey: true}, func(t *testing.T, l *logDir) failLoc {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			return forge(t, l, other, func(fl *logDir) failLoc { return fl.loc(fl.checkpoints()[0]) })
		}},
		{"forged chain signed by another key, without the key", verifyWith{}, func(t *testing.T, l *logDir) failLoc {
			_, other, _ := ed25519.GenerateKey(rand.Reader)
			forge(t, l, other, nil)
			return failLoc{} // limit: only the key tells chains apart
		}},
		{"forged chain without checkpoints", verifyWith{pubkey: true}, func(t *testing.T, l *logDir) failLoc {
			return forge(t, l, nil, func(fl *logDir) failLoc { return fl.loc(lineRef{0, 0}) })
		}},
		{"alter a checkpoint signature, re-chain the rest", verifyWith{pubkey: true}, func(t *testing.T, l *logDir) failLoc {
			cps := l.checkpoints()
			r := cps[len(cps)/2]
			m := sigRE.FindSubmatch(l.line(r))
			sig, err := base64.StdEncoding.DecodeString(string(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			sig[40] ^= 0x10
			b := bytes.Replace(l.line(r), m[1], []byte(base64.StdEncoding.EncodeToString(sig)), 1)
			l.set(r, rehash(b))
			l.rechain(r)
			return l.loc(r)
		}},
		{"rewrite a record, re-chain the rest", verifyWith{pubkey: true}, rewriteAndRechain},
		{"rewrite a record, re-chain the rest, with the copy", verifyWith{copy: true}, func(t *testing.T, l *logDir) failLoc {
			return inCopy(rewriteAndRechain(t, l).seq) // the first checkpoint after it differs
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := copyLog(t, f.dir)
			want := tc.tamper(t, l)
			if l.files != nil {
				l.save(t)
			}
			out, code := runPython(t, f, l.dir, tc.with)
			sum, goErr := runGo(f, l.dir, tc.with)
			if want == (failLoc{}) {
				if code != 0 {
					t.Errorf("python rejects (exit %d), want accepted (a documented limit):\n%s", code, out)
				}
				if goErr != nil {
					t.Errorf("Verify rejects, want accepted (a documented limit): %v", goErr)
				}
				t.Logf("accepted by both, as documented; Verify: %v", sum)
				return
			}
			want = resolveCopyLoc(f, want)
			t.Logf("want %v\npython: %s\nVerify: %v", want, strings.TrimSpace(out), goErr)
			pyLoc, ok := parseFailLoc(strings.TrimPrefix(strings.TrimSpace(out), "FAIL "))
			switch {
			case code != 1 || !strings.HasPrefix(out, "FAIL ") || !ok:
				t.Errorf("python: want exit 1 and one FAIL line, got exit %d:\n%s", code, out)
			case pyLoc != want:
				t.Errorf("python fails at %v, want %v", pyLoc, want)
			}
			goLoc, ok := failLoc{}, false
			if goErr != nil {
				goLoc, ok = parseFailLoc(strings.TrimPrefix(goErr.Error(), auditlog.ErrTampered.Error()+": "))
			}
			switch {
			case !errors.Is(goErr, auditlog.ErrTampered) || !ok:
				t.Errorf("Verify: want ErrTampered naming file:line: sequence n, got %v", goErr)
			case goLoc != want:
				t.Errorf("Verify fails at %v, want %v", goLoc, want)
			}
		})
	}
}

// cutBeforeLastCheckpoint cuts the active file at a record boundary just
// before its last checkpoint; the copy still has that checkpoint.
func cutBeforeLastCheckpoint(t *testing.T, l *logDir) failLoc {
	cps := l.checkpoints()
	r := cps[len(cps)-1]
	if r.file != len(l.files)-1 {
		t.Fatalf("last checkpoint is not in the active file")
	}
	want := inCopy(seqOf(l.line(r)))
	l.lines[r.file] = l.lines[r.file][:r.line]
	return want
}

// rewriteAndRechain changes a record and re-links everything after it;
// the first checkpoint after the change no longer verifies.
func rewriteAndRechain(t *testing.T, l *logDir) failLoc {
	r := l.find(t, len(l.files)/2, `"user.name":"alice"`)
	l.set(r, rehash(bytes.Replace(l.line(r), []byte(`"user.name":"alice"`), []byte(`"user.name":"nobody"`), 1)))
	l.rechain(r)
	for _, c := range l.checkpoints() {
		if c.file > r.file || (c.file == r.file && c.line > r.line) {
			return l.loc(c)
		}
	}
	t.Fatal("no checkpoint after the rewritten record")
	return failLoc{}
}

// inCopy stands for the checkpoint copy's line holding sequence seq;
// resolveCopyLoc fills in which line that is.
func inCopy(seq uint64) failLoc { return failLoc{file: copyMarker, seq: seq, line: -1} }

const copyMarker = "<checkpoint copy>"

func resolveCopyLoc(f *pyFixture, want failLoc) failLoc {
	if want.file != copyMarker {
		return want
	}
	data, _ := os.ReadFile(f.copyFile)
	for i, line := range bytes.Split(data, []byte("\n")) {
		if seqOf(line) == want.seq {
			return failLoc{filepath.Base(f.copyFile), i + 1, want.seq}
		}
	}
	return want
}

func removeFile(t *testing.T, l *logDir, fi int) {
	if err := os.Remove(filepath.Join(l.dir, l.files[fi])); err != nil {
		t.Fatal(err)
	}
	l.files = append(l.files[:fi], l.files[fi+1:]...)
	l.lines = append(l.lines[:fi], l.lines[fi+1:]...)
}

// forge replaces the log in l.dir with a chain written afresh with key
// (nil: no checkpoints), and returns where want says it fails.
func forge(t *testing.T, l *logDir, key ed25519.PrivateKey, want func(*logDir) failLoc) failLoc {
	for _, n := range l.files {
		if err := os.Remove(filepath.Join(l.dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	writeForged(t, l.dir, key)
	l.files = nil
	if want == nil {
		return failLoc{}
	}
	return want(loadLog(t, l.dir))
}

func copyLog(t *testing.T, src string) *logDir {
	dst := t.TempDir()
	names, _ := filepath.Glob(filepath.Join(src, "*.jsonl"))
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(n)), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return loadLog(t, dst)
}
