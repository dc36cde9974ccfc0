package auditlog

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ErrTampered wraps every verification failure: the log is not what
// rrproxy wrote.
var ErrTampered = errors.New("audit log verification failed")

// VerifyOptions are the optional checks of Verify.
type VerifyOptions struct {
	// PublicKey verifies checkpoint signatures.
	PublicKey ed25519.PublicKey
	// Checkpoints is the checkpoint copy kept elsewhere: every record in
	// it must be in the log, byte for byte.
	Checkpoints string
}

// Summary describes verified chains.
type Summary struct {
	Chains []ChainSummary
}

// ChainSummary describes one instance's chain.
type ChainSummary struct {
	Instance       string
	Files          []string
	Records        int
	First, Last    string // @timestamp of the first and last record
	LastSequence   uint64
	LastCheckpoint uint64 // sequence the last checkpoint covers (0: none)
	Signed         bool   // checkpoints verified with a public key
	Stopped        bool   // the chain ends with audit-stop
	// Staged counts records in the active file's staging file that
	// continue the chain but are not in the log yet: rrproxy is running
	// (they are flushed within 50 ms) or crashed (its next start appends
	// them). They are not verified as part of the chain.
	Staged   int
	lastHash string
}

func (s *Summary) String() string {
	var b strings.Builder
	for _, c := range s.Chains {
		sig := "unsigned check"
		if c.Signed {
			sig = "signature verified"
		}
		fmt.Fprintf(&b, "chain %s: %d records in %d file(s), %s .. %s, sequence 1..%d", c.Instance, c.Records, len(c.Files), c.First, c.Last, c.LastSequence)
		if c.LastCheckpoint > 0 {
			fmt.Fprintf(&b, ", last checkpoint at %d (%s)", c.LastCheckpoint, sig)
		} else {
			b.WriteString(", no checkpoint")
		}
		if !c.Stopped {
			b.WriteString(", open (no audit-stop yet)")
		}
		if c.Staged > 0 {
			fmt.Fprintf(&b, "; %d further record(s) in %s, not in the log yet (flushed within 50 ms while rrproxy runs; after a crash, appended when it starts again)",
				c.Staged, filepath.Base(stagePath(c.Files[len(c.Files)-1])))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// entry is what verification keeps of a record: the one just read, and
// the one before it, which the next is checked against.
type entry struct {
	file       string
	line       int
	seq        uint64
	hash, prev string
	action     string
	time       string
	rec        map[string]any
	raw        []byte // staged records only: the line as it goes into the log
}

func (e *entry) fail(format string, args ...any) error {
	return fmt.Errorf("%w: %s:%d: sequence %d: %s", ErrTampered, e.file, e.line, e.seq, fmt.Sprintf(format, args...))
}

// Verify checks the chains in paths as docs/audit-format.md specifies.
//
// It reads the first record of every file to learn which chain the file
// belongs to and where in it the file starts, then walks each chain's
// files in that order one record at a time, keeping only the previous
// record (and, for Checkpoints, the checkpoint lines): memory does not
// grow with the size of the log.
func Verify(paths []string, o VerifyOptions) (*Summary, error) {
	files, err := ExpandPaths(paths)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no audit files in %v", ErrTampered, paths)
	}
	byChain := map[string][]fileStart{}
	for _, file := range files {
		st, ok, err := firstRecordOf(file)
		if err != nil {
			return nil, err
		}
		if ok {
			byChain[st.inst] = append(byChain[st.inst], st)
		}
	}
	names := make([]string, 0, len(byChain))
	for n := range byChain {
		names = append(names, n)
	}
	sort.Strings(names)
	checkpoints := map[string]bool{} // every checkpoint line of the log
	var sum Summary
	for _, inst := range names {
		cs, err := verifyChain(inst, byChain[inst], o.PublicKey, checkpoints)
		if err != nil {
			return nil, err
		}
		if n := len(cs.Files); n > 0 && !cs.Stopped {
			staged, err := readStage(cs.Files[n-1])
			if err != nil {
				return nil, fmt.Errorf("auditlog: %w", err)
			}
			cs.Staged = len(stagedContinuation(staged, cs.LastSequence, cs.lastHash))
		}
		sum.Chains = append(sum.Chains, cs)
	}
	if o.Checkpoints != "" {
		if err := verifyCopy(o.Checkpoints, checkpoints); err != nil {
			return nil, err
		}
	}
	return &sum, nil
}

// fileStart is where a file's first record puts it: which chain, at
// which sequence.
type fileStart struct {
	file, inst string
	seq        uint64
}

// firstRecordOf reads the first record of file; ok is false for an empty
// file.
func firstRecordOf(file string) (st fileStart, ok bool, err error) {
	err = eachLine(file, func(line int, b []byte) error {
		at := &entry{file: file, line: line, seq: 1}
		rec, err := recordLine(at, b)
		if err != nil {
			return err
		}
		n, _ := rec["event.sequence"].(json.Number)
		seq, err := n.Int64()
		if err != nil || seq <= 0 {
			return at.fail("no valid event.sequence")
		}
		inst, _ := rec["rrproxy.instance"].(string)
		st, ok = fileStart{file: file, inst: inst, seq: uint64(seq)}, true
		return errStop
	})
	if err == errStop {
		err = nil
	}
	return st, ok, err
}

// errStop ends an eachLine early.
var errStop = errors.New("stop")

// recordLine decodes one line as eachLine gives it (newline included),
// or says where and why it is not a record.
func recordLine(at *entry, b []byte) (map[string]any, error) {
	if b[len(b)-1] != '\n' {
		return nil, at.fail("incomplete last line (the file was cut mid-record)")
	}
	rec, err := decodeLine(b[:len(b)-1])
	if err != nil {
		return nil, at.fail("not a JSON record: %v", err)
	}
	return rec, nil
}

// checkRecord checks one record on its own: canonical form and hash.
func checkRecord(at *entry, line []byte, rec map[string]any, buf *[]byte) (*entry, error) {
	n, _ := rec["event.sequence"].(json.Number)
	seq, err := n.Int64()
	if err != nil || seq <= 0 {
		return nil, at.fail("no valid event.sequence")
	}
	at.seq = uint64(seq)
	canon, err := canonical((*buf)[:0], rec)
	if err != nil {
		return nil, at.fail("%v", err)
	}
	*buf = canon
	if !bytes.Equal(canon, line) {
		return nil, at.fail("line is not in canonical form (edited by hand?)")
	}
	if err := checkCore(rec); err != nil {
		return nil, at.fail("%v", err)
	}
	hash, _ := rec["rrproxy.chain.hash"].(string)
	delete(rec, "rrproxy.chain.hash")
	body, _ := canonical(nil, rec)
	rec["rrproxy.chain.hash"] = hash
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != hash {
		return nil, at.fail("record hash does not match its content (record modified)")
	}
	at.hash = hash
	at.prev, _ = rec["rrproxy.chain.prev"].(string)
	at.action, _ = rec["event.action"].(string)
	at.time, _ = rec["@timestamp"].(string)
	at.rec = rec
	return at, nil
}

// checkCore checks what every record must hold, as
// docs/audit-format.md specifies and tools/verify_audit.py checks too: a
// record that is well-formed JSON, canonical and correctly hashed can
// still be malformed (a forger's, or a buggy writer's), and the two
// verifiers must agree on it.
func checkCore(rec map[string]any) error {
	for name := range rec {
		for i := 0; i < len(name); i++ {
			if name[i] >= 0x80 {
				return fmt.Errorf("member name %q is not ASCII", name)
			}
		}
	}
	for _, m := range []struct {
		name string
		ok   func(string) bool
	}{
		{"@timestamp", timestampRE.MatchString},
		{"event.action", func(v string) bool { return v != "" }},
		{"rrproxy.instance", func(string) bool { return true }},
		{"rrproxy.chain.prev", hex64RE.MatchString},
		{"rrproxy.chain.hash", hex64RE.MatchString},
	} {
		v, present := rec[m.name]
		if !present {
			return fmt.Errorf("no %s", m.name)
		}
		if s, ok := v.(string); !ok || !m.ok(s) {
			return fmt.Errorf("%s %v is malformed", m.name, v)
		}
	}
	return nil
}

var (
	timestampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$`)
	hex64RE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// verifyChain walks one chain's files in chain order (by their first
// record; a reordering is reported at the first line out of place),
// checking each record on its own and against the one before it, which
// must give sequence 1, 2, 3... linked by hash. It adds the chain's
// checkpoint lines to checkpoints.
func verifyChain(inst string, files []fileStart, pub ed25519.PublicKey, checkpoints map[string]bool) (ChainSummary, error) {
	cs := ChainSummary{Instance: inst}
	sort.SliceStable(files, func(i, j int) bool { return files[i].seq < files[j].seq })
	var keyID string
	if pub != nil {
		sum := sha256.Sum256(pub)
		keyID = hex.EncodeToString(sum[:8])
	}
	var prev, first *entry
	stopped := false // the chain was closed by audit-stop (and its checkpoint)
	var buf []byte
	for _, fs := range files {
		err := eachLine(fs.file, func(line int, b []byte) error {
			at := &entry{file: fs.file, line: line, seq: 1}
			if prev != nil && prev.file == fs.file {
				at.seq = prev.seq + 1
			}
			rec, err := recordLine(at, b)
			if err != nil {
				return err
			}
			b = b[:len(b)-1]
			e, err := checkRecord(at, b, rec, &buf)
			if err != nil {
				return err
			}
			if in, _ := rec["rrproxy.instance"].(string); in != inst {
				return e.fail("a record of chain %q in a file of chain %q", in, inst)
			}
			if err := linkRecord(inst, e, prev, &stopped, pub, keyID); err != nil {
				return err
			}
			if e.action == "checkpoint" {
				checkpoints[string(b)] = true
				cs.LastCheckpoint, cs.Signed = prev.seq, pub != nil
			}
			if len(cs.Files) == 0 || cs.Files[len(cs.Files)-1] != e.file {
				cs.Files = append(cs.Files, e.file)
			}
			if cs.First == "" {
				cs.First = e.time
			}
			cs.Last = e.time
			cs.Records++
			e.rec = nil
			if first == nil {
				first = e
			}
			prev = e
			return nil
		})
		if err != nil {
			return cs, err
		}
	}
	if pub != nil && cs.LastCheckpoint == 0 && first != nil {
		// Anyone can write a well-formed chain; only the key holder can
		// sign one.
		return cs, first.fail("no signed checkpoint in this chain: it cannot be told from a forgery")
	}
	if prev != nil {
		cs.LastSequence = prev.seq
		cs.Stopped = prev.action == "audit-stop"
		cs.lastHash = prev.hash
	}
	return cs, nil
}

// eachLine calls fn with every line of file and its number, newline
// included (a cut last line has none).
func eachLine(file string, fn func(line int, b []byte) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if len(b) == 0 {
			if err == io.EOF {
				return nil
			}
			return err
		}
		if err := fn(line, b); err != nil {
			return err
		}
	}
}

// linkRecord checks e against the record before it in the chain (nil for
// the first): sequence, hash link, rotation, restarts and checkpoints.
func linkRecord(inst string, e, prev *entry, stopped *bool, pub ed25519.PublicKey, keyID string) error {
	if *stopped && e.action != "audit-restart" && e.action != "checkpoint" {
		return e.fail("%s after audit-stop: only audit-restart may follow a clean stop", e.action)
	}
	*stopped = e.action == "audit-stop" || (*stopped && e.action == "checkpoint")
	switch {
	case (e.seq == 1) != (e.action == "audit-start"):
		if e.seq == 1 {
			return e.fail("the chain's first record is %s, not audit-start (earlier files missing?)", e.action)
		}
		return e.fail("audit-start after sequence 1: a chain starts only once")
	case e.action == "audit-file-start" && (prev == nil || e.file == prev.file || e.line != 1):
		return e.fail("audit-file-start that does not start a file following another")
	}
	switch {
	case prev == nil:
		if e.seq != 1 || e.prev != zeroHash {
			return e.fail("the chain starts here, not at sequence 1 (earlier records or files missing)")
		}
	case e.seq <= prev.seq:
		return e.fail("out of order: sequence %d comes after %d (%s:%d)", e.seq, prev.seq, prev.file, prev.line)
	case e.seq != prev.seq+1:
		return e.fail("sequence jumps from %d (records missing)", prev.seq)
	case e.prev != prev.hash:
		return e.fail("does not link to the previous record (%s:%d): a record was changed, inserted or removed", prev.file, prev.line)
	case e.file != prev.file:
		if e.line != 1 {
			return e.fail("the chain continues in the middle of a file")
		}
		if e.action != "audit-file-start" && e.action != "audit-restart" {
			return e.fail("a new file starts without audit-file-start")
		}
		if e.action == "audit-file-start" {
			p, _ := e.rec["rrproxy.file.previous"].(string)
			n, _ := e.rec["rrproxy.file.previous_last_sequence"].(json.Number)
			last, _ := n.Int64()
			if p != filepath.Base(prev.file) || uint64(last) != prev.seq {
				return e.fail("rotation link names %s up to %d, but the previous record is %s sequence %d", p, last, filepath.Base(prev.file), prev.seq)
			}
		}
	}
	if e.action == "checkpoint" {
		return checkCheckpoint(inst, e, prev, pub, keyID)
	}
	return nil
}

func checkCheckpoint(inst string, e, prev *entry, pub ed25519.PublicKey, keyID string) error {
	n, _ := e.rec["rrproxy.checkpoint.sequence"].(json.Number)
	seq, _ := n.Int64()
	hash, _ := e.rec["rrproxy.checkpoint.hash"].(string)
	if prev == nil || uint64(seq) != prev.seq || hash != prev.hash {
		return e.fail("checkpoint does not cover the record before it")
	}
	if pub == nil {
		return nil
	}
	if id, _ := e.rec["rrproxy.checkpoint.key_id"].(string); id != keyID {
		return e.fail("checkpoint signed with key %s, not the given public key %s", id, keyID)
	}
	sigText, _ := e.rec["rrproxy.checkpoint.signature"].(string)
	sig, err := base64.StdEncoding.DecodeString(sigText)
	msg := fmt.Sprintf("rrproxy-audit-checkpoint-v1\n%s\n%d\n%s\n", inst, seq, hash)
	if err != nil || !ed25519.Verify(pub, []byte(msg), sig) {
		return e.fail("checkpoint signature does not verify")
	}
	return nil
}

// verifyCopy requires every checkpoint of the copy to be in the log.
func verifyCopy(file string, have map[string]bool) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	for i, line := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !have[string(line)] {
			rec, _ := decodeLine(line)
			n, _ := rec["event.sequence"].(json.Number)
			return fmt.Errorf("%w: %s:%d: sequence %s: this checkpoint is missing from the log (records after the log's last checkpoint were cut off, or the log was replaced)", ErrTampered, file, i+1, n)
		}
	}
	return nil
}
