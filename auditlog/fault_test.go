package auditlog_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/internal/testtool"
)

// The audit log under real faults: a full filesystem, a read-only one,
// a directory the process may not write, and SIGKILL in the middle of a
// load. What must hold in every case is the proxy's contract with
// Record: an error means nothing of the record is in the file (so the
// statement it announces is not run and not claimed), a success means
// the record is there, and the chain verifies from its first record to
// its last, across the fault.

// faultEvent is a statement intent of realistic size.
func faultEvent(i int) *auditlog.Event {
	return &auditlog.Event{Action: "statement", Phase: "intent", Outcome: "unknown", User: "alice", Source: "10.1.2.3:50000",
		SessionID: uint32(1000 + i%7), Command: "query", Statement: fmt.Sprintf("SELECT visit_id, visit_name FROM study.visits WHERE visit_id = %d", i),
		Tables: []string{"study.visits"}, Kinds: []string{"select"}}
}

// smallFS mounts a tmpfs of size bytes on a new directory for the test.
// It is the only way in this file to run out of space for real: an
// *os.File cannot be handed a failing writer.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rrproxy-fault-")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		os.Remove(dir)
		t.Skipf("cannot mount a %s tmpfs to fill (mount(2): %v; needs root or CAP_SYS_ADMIN): the full and read-only filesystem cases did not run", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
		os.Remove(dir)
	})
	return dir
}

// fill writes a filler file until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte("x"), 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling: %v", err)
			}
			return
		}
	}
}

// recordAt returns the event.action of the record with sequence seq in
// dir's files.
func recordAt(t *testing.T, dir string, seq uint64) string {
	t.Helper()
	files, err := auditlog.ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var rec struct {
				Seq    uint64 `json:"event.sequence"`
				Action string `json:"event.action"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Seq == seq {
				return rec.Action
			}
		}
	}
	return ""
}

// statementSeqs returns the sequence numbers of the statement records in
// dir's files.
func statementSeqs(t *testing.T, dir string) map[uint64]bool {
	t.Helper()
	out := map[uint64]bool{}
	err := auditlog.ReadRecords([]string{dir}, func(_ string, _ int, rec map[string]any) error {
		if auditlog.Str(rec, "event.action") == "statement" {
			out[uint64(auditlog.Int(rec, "event.sequence"))] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameRecords fails t unless the records in the log are exactly the
// acknowledged ones: none lost, none that was refused.
func sameRecords[K comparable](t *testing.T, acked, inLog map[K]bool) {
	t.Helper()
	for k := range acked {
		if !inLog[k] {
			t.Errorf("acknowledged record %v is not in the log", k)
		}
	}
	for k := range inLog {
		if !acked[k] {
			t.Errorf("record %v is in the log but was never acknowledged", k)
		}
	}
}

func mustVerify(t *testing.T, o auditlog.VerifyOptions, paths ...string) *auditlog.Summary {
	t.Helper()
	sum, err := auditlog.Verify(paths, o)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return sum
}

func TestAuditOnSmallFilesystem(t *testing.T) {
	dir := smallFS(t, "256k")
	pub, priv, _ := ed25519.GenerateKey(nil)
	cases := []struct {
		name string
		o    auditlog.Options
	}{
		{"plain", auditlog.Options{Sync: auditlog.SyncBatch}},
		{"sync always", auditlog.Options{Sync: auditlog.SyncAlways}},
		// A checkpoint or a rotation after a record is more to write,
		// and can be what runs out of space.
		{"checkpoints", auditlog.Options{Sync: auditlog.SyncBatch, CheckpointEvery: 3, CheckpointKey: priv}},
		{"rotation", auditlog.Options{Sync: auditlog.SyncBatch, RotateBytes: 3000}},
	}
	for i, c := range cases {
		t.Run("full/"+c.name, func(t *testing.T) {
			sub := filepath.Join(dir, strconv.Itoa(i))
			defer os.RemoveAll(sub) // room for the next case
			o := c.o
			o.Path, o.Instance = filepath.Join(sub, "audit.jsonl"), "fault-"+strconv.Itoa(i)
			o.StageBytes = 32 << 10 // the whole filesystem is 256 KiB
			vo := auditlog.VerifyOptions{}
			if o.CheckpointKey != nil {
				vo.PublicKey = pub
			}
			w, err := auditlog.OpenChain(o)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var preludeSeq uint64
			for j := 0; j < 5; j++ {
				seq, err := w.Record(faultEvent(j))
				if err != nil {
					t.Fatal(err)
				}
				preludeSeq = seq
			}
			filler := filepath.Join(dir, "filler")
			fill(t, filler)
			defer os.Remove(filler)

			// Concurrent sessions write until the disk refuses them all.
			var (
				mu     sync.Mutex
				acked  []uint64
				failed []error
				wg     sync.WaitGroup
			)
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < 10000; j++ {
						seq, err := w.Record(faultEvent(j))
						mu.Lock()
						if err != nil {
							failed = append(failed, err)
							mu.Unlock()
							return
						}
						acked = append(acked, seq)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if len(failed) != 4 {
				t.Fatalf("%d writers failed on a full disk, want 4", len(failed))
			}
			for _, err := range failed {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Errorf("Record on a full disk: %v, want ENOSPC", err)
				}
			}
			// The log verifies as it is. Acknowledged records that the
			// full disk kept out of it are still in the staging file
			// (batch mode); nothing beyond the last acknowledged record
			// is in the log.
			maxAck := preludeSeq
			for _, s := range acked {
				maxAck = max(maxAck, s)
			}
			sum := mustVerify(t, vo, sub)
			if got := sum.Chains[0].LastSequence; got > maxAck {
				t.Errorf("after the failures the chain ends at sequence %d (%s); the last acknowledged record is %d: "+
					"a Record that returned an error left its record in the log", got, recordAt(t, sub, got), maxAck)
			}
			t.Logf("%d records acknowledged after the disk filled (the log holds up to %d, the rest staged); then every writer got %v",
				len(acked), sum.Chains[0].LastSequence, failed[0])

			// Still full: still refused, still intact.
			if _, err := w.Record(faultEvent(0)); !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("Record on a still-full disk: %v", err)
			}
			mustVerify(t, vo, sub)

			// Space comes back: the chain continues without a gap.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			seq, err := w.Record(faultEvent(1))
			if err != nil {
				t.Fatalf("Record after space was freed: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			sum = mustVerify(t, vo, sub)
			if c := sum.Chains[0]; !c.Stopped || c.LastSequence < seq {
				t.Fatalf("summary after recovery: %s", sum)
			}
			// Every acknowledged statement record is in the log, and
			// none of the refused ones: the refused records took no
			// sequence number, and the statements in the log are exactly
			// the acknowledged ones.
			want := map[uint64]bool{seq: true}
			for _, s := range acked {
				want[s] = true
			}
			for j := uint64(1); j <= preludeSeq; j++ {
				if recordAt(t, sub, j) == "statement" {
					want[j] = true
				}
			}
			sameRecords(t, want, statementSeqs(t, sub))
		})
	}

	// A filesystem that turns read-only (remounted after an I/O error,
	// say): rrproxy cannot start on it, and says why; once it is writable
	// again the chain continues.
	t.Run("read-only", func(t *testing.T) {
		sub := filepath.Join(dir, "ro")
		o := auditlog.Options{Path: filepath.Join(sub, "audit.jsonl"), Sync: auditlog.SyncBatch, Instance: "fault-ro", StageBytes: 32 << 10}
		w, err := auditlog.OpenChain(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Record(faultEvent(0)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		remount := func(flags uintptr) {
			t.Helper()
			if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|flags, ""); err != nil {
				t.Fatalf("remount: %v", err)
			}
		}
		remount(syscall.MS_RDONLY)
		defer remount(0)
		_, err = auditlog.OpenChain(o)
		if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), o.Path) {
			t.Fatalf("OpenChain on a read-only filesystem: %v; want EROFS naming the file", err)
		}
		t.Logf("OpenChain says: %v", err)
		_, err = auditlog.OpenChain(auditlog.Options{Path: filepath.Join(sub, "new", "audit.jsonl"), Sync: auditlog.SyncBatch, StageBytes: 32 << 10})
		if !errors.Is(err, syscall.EROFS) {
			t.Fatalf("OpenChain of a new log on a read-only filesystem: %v; want EROFS", err)
		}
		t.Logf("OpenChain (new directory) says: %v", err)
		remount(0)
		w, err = auditlog.OpenChain(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if sum := mustVerify(t, auditlog.VerifyOptions{}, sub); sum.Chains[0].Records != 5 {
			t.Fatalf("summary: %s", sum)
		}
	})
}

// TestOpenRefusesUnwritableLog: a log the process may not write is
// refused at start with an error that names the file and the reason.
// Root ignores permission bits, so as root the check runs in a child
// process with the credentials of nobody.
func TestOpenRefusesUnwritableLog(t *testing.T) {
	// The tree is readable by everyone, so that only the log file or its
	// directory can be what is refused.
	base, err := os.MkdirTemp("", "rrproxy-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(base, "audit.jsonl")
	w, err := auditlog.OpenChain(auditlog.Options{Path: existing, Sync: auditlog.SyncBatch, Instance: "perm"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(existing, 0o400); err != nil {
		t.Fatal(err)
	}
	roDir := filepath.Join(base, "ro")
	if err := os.Mkdir(roDir, 0o555); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(roDir, "audit.jsonl")

	open := func(path string) string {
		if os.Geteuid() != 0 {
			_, err := auditlog.OpenChain(auditlog.Options{Path: path, Sync: auditlog.SyncBatch})
			if err == nil {
				t.Fatalf("OpenChain(%s) succeeded", path)
			}
			if !errors.Is(err, os.ErrPermission) {
				t.Errorf("OpenChain(%s): %v, want permission denied", path, err)
			}
			return err.Error()
		}
		return openAsNobody(t, base, path)
	}
	for _, path := range []string{existing, fresh} {
		msg := open(path)
		t.Logf("OpenChain(%s): %s", path, msg)
		if !strings.Contains(msg, path) || !strings.Contains(msg, "permission denied") {
			t.Errorf("OpenChain(%s): %q; want the path and \"permission denied\"", path, msg)
		}
	}
	// The refused attempts changed nothing.
	if sum := mustVerify(t, auditlog.VerifyOptions{}, existing); sum.Chains[0].Records != 2 {
		t.Fatalf("summary: %s", sum)
	}
}

// openAsNobody runs OpenChain(path) in a copy of the test binary as
// user nobody and returns its error text.
func openAsNobody(t *testing.T, dir, path string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "auditlog.test")
	if _, err := os.Stat(bin); err != nil {
		// The go build cache is not readable by nobody; a copy here is.
		if err := copyFile(self, bin, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestFaultHelperProcess$")
	cmd.Env = append(os.Environ(), "RRPROXY_FAULT_CHILD=open", "RRPROXY_FAULT_PATH="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child as nobody: %v\n%s", err, out)
	}
	msg, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "open error: ")
	if !ok {
		t.Fatalf("child as nobody: OpenChain(%s) did not fail:\n%s", path, out)
	}
	msg, _, _ = strings.Cut(msg, "\n")
	return msg
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// crashKeySeed makes the checkpoint key of the crash test, so that the
// child and the parent share it without a file.
var crashKeySeed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

func crashOptions(dir string) auditlog.Options {
	return auditlog.Options{Path: filepath.Join(dir, "audit.jsonl"), Sync: auditlog.SyncBatch, Instance: "crash-1",
		RotateBytes: 64 << 10, CheckpointEvery: 50, CheckpointKey: ed25519.NewKeyFromSeed(crashKeySeed),
		CheckpointCopy: filepath.Join(dir, "copy", "checkpoints.jsonl")}
}

// TestFaultHelperProcess is the child of the fault tests. With
// RRPROXY_FAULT_CHILD=open it tries OpenChain and prints the error; with
// =load it records from several goroutines, printing each acknowledged
// sequence number, until it is killed.
func TestFaultHelperProcess(t *testing.T) {
	switch os.Getenv("RRPROXY_FAULT_CHILD") {
	case "":
		return // not a child; nothing to test
	case "open":
		w, err := auditlog.OpenChain(auditlog.Options{Path: os.Getenv("RRPROXY_FAULT_PATH"), Sync: auditlog.SyncBatch})
		if err != nil {
			fmt.Println("open error:", err)
			os.Exit(0)
		}
		w.Close()
		fmt.Println("opened")
		os.Exit(0)
	case "load":
		w, err := auditlog.OpenChain(crashOptions(os.Getenv("RRPROXY_FAULT_PATH")))
		if err != nil {
			fmt.Println("open error:", err)
			os.Exit(1)
		}
		acks := make(chan uint64, 1024)
		for g := 0; g < 8; g++ {
			go func() {
				for i := 0; ; i++ {
					seq, err := w.Record(faultEvent(i))
					if err != nil {
						fmt.Println("record error:", err)
						os.Exit(1)
					}
					acks <- seq
				}
			}()
		}
		out := bufio.NewWriter(os.Stdout)
		for seq := range acks {
			fmt.Fprintln(out, seq)
			if len(acks) == 0 {
				out.Flush() // acknowledged means printed only once flushed
			}
		}
	}
}

// TestKilledUnderLoadRecovers: SIGKILL a writer (sync batch, eight
// concurrent sessions, rotation and signed checkpoints on) at a
// different point each round; the next OpenChain recovers the tail,
// says so in an audit-restart record, and the whole chain, every round
// included, verifies with the checkpoint signatures and the checkpoint
// copy. Every record the child acknowledged before it died is in the
// log. (A SIGKILL leaves the page cache intact, so this tests the
// recovery logic, not durability against power loss.)
func TestKilledUnderLoadRecovers(t *testing.T) {
	dir := t.TempDir()
	o := crashOptions(dir)
	if err := os.MkdirAll(filepath.Dir(o.CheckpointCopy), 0o700); err != nil {
		t.Fatal(err)
	}
	pub := o.CheckpointKey.Public().(ed25519.PublicKey)
	vo := auditlog.VerifyOptions{PublicKey: pub, Checkpoints: o.CheckpointCopy}
	kills := []int{1, 40, 300, 1200, 2500}
	for round, after := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFaultHelperProcess$")
		cmd.Env = append(os.Environ(), "RRPROXY_FAULT_CHILD=load", "RRPROXY_FAULT_PATH="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		var maxAck uint64
		acked := map[uint64]bool{}
		n := 0
		for n < after && sc.Scan() {
			seq, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: child says %q\n%s", round, sc.Text(), stderr.String())
			}
			maxAck = max(maxAck, seq)
			acked[seq] = true
			n++
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, stdout) // let Wait finish
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, not SIGKILL\n%s", round, err, stderr.String())
		}
		if n < after {
			t.Fatalf("round %d: child stopped after %d records\n%s", round, n, stderr.String())
		}

		// The dead child's chain must verify as it is (it is open: no
		// audit-stop); with the records still in its staging file it
		// must hold every acknowledged record once the next writer has
		// recovered them; and that writer continues it.
		files, err := auditlog.ExpandPaths([]string{dir})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := auditlog.Verify(files, vo)
		if err != nil {
			// A record cut in half by the kill is what OpenChain repairs;
			// anything else is a bug.
			if !strings.Contains(err.Error(), "incomplete last line") {
				t.Fatalf("round %d: the log as the killed writer left it: %v", round, err)
			}
			t.Logf("round %d: killed mid-record: %v", round, err)
		} else if c := sum.Chains[0]; c.Stopped {
			t.Fatalf("round %d: killed, yet the log ends with audit-stop", round)
		} else if c.LastSequence+uint64(c.Staged) < maxAck {
			t.Fatalf("round %d: killed after acknowledging %d; the log ends at %d with %d more staged", round, maxAck, c.LastSequence, c.Staged)
		} else {
			t.Logf("round %d: the killed writer's log ends at %d, %d more staged (%s); %d acknowledged", round, c.LastSequence, c.Staged, strings.TrimSpace(sum.String()), maxAck)
		}
		w, err := auditlog.OpenChain(o)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		sum = mustVerify(t, vo, dir)
		c := sum.Chains[0]
		if c.LastSequence <= maxAck || !c.Stopped {
			t.Fatalf("round %d: after recovery: %s", round, sum)
		}
		inLog := statementSeqs(t, dir)
		for seq := range acked {
			if !inLog[seq] {
				t.Fatalf("round %d: acknowledged statement record %d is not in the recovered log", round, seq)
			}
		}
		t.Logf("round %d: killed after %d acknowledged records (highest %d); chain now %d records in %d files",
			round, n, maxAck, c.Records, len(c.Files))
	}
	// One unclean restart per kill, each saying so; the child's own
	// opens follow a clean stop by the parent.
	reasons := restartReasons(t, dir)
	unclean := 0
	for _, r := range reasons {
		if strings.Contains(r, "without audit-stop") {
			unclean++
		}
	}
	if unclean != len(kills) || len(reasons) != 2*len(kills)-1 {
		t.Fatalf("%d audit-restart records say the previous run ended without audit-stop, want %d: %q", unclean, len(kills), reasons)
	}
}

// restartReasons returns the event.reason of every audit-restart record
// in dir.
func restartReasons(t *testing.T, dir string) []string {
	t.Helper()
	files, err := auditlog.ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if !bytes.Contains(line, []byte(`"event.action":"audit-restart"`)) {
				continue
			}
			var rec struct {
				Reason string `json:"event.reason"`
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatal(err)
			}
			out = append(out, rec.Reason)
		}
	}
	return out
}

// TestLogTurnsUnwritableWhileRunning: the log's file, then its
// directory, stop accepting writes under an open writer, as when the
// filesystem is remounted read-only after an I/O error. The kernel does
// the refusing (the immutable flag, which stops root too and needs no
// mount). While the file is unwritable every record is refused with the
// cause; while only the directory is, records go on until a rotation
// needs a new file there, and from then on are refused. In both cases
// recording resumes by itself once writing works, no acknowledged
// record is lost, no refused one is in the log, and the chain (across
// the rotation) verifies.
func TestLogTurnsUnwritableWhileRunning(t *testing.T) {
	for _, mode := range []string{auditlog.SyncBatch, auditlog.SyncAlways} {
		for _, what := range []string{"file", "directory"} {
			t.Run(mode+"/"+what, func(t *testing.T) {
				dir := t.TempDir()
				o := auditlog.Options{Path: filepath.Join(dir, "audit.jsonl"), Sync: mode, Instance: "fault-ro-live",
					RotateBytes: 16 << 10, StageBytes: 32 << 10}
				w, err := auditlog.OpenChain(o)
				if err != nil {
					t.Fatal(err)
				}
				acked := map[int]bool{}
				i := 0
				rec := func() error {
					i++
					_, err := w.Record(faultEvent(i))
					if err == nil {
						acked[i] = true
					}
					return err
				}
				for range 10 {
					if err := rec(); err != nil {
						t.Fatal(err)
					}
				}
				target := o.Path
				if what == "directory" {
					target = dir
				}
				writable := testtool.Unwritable(t, target)
				// Until the refusal: the flusher's first failed write
				// (batch), the next record (always), or the rotation
				// into the read-only directory (about 16 KiB on).
				var refusal error
				deadline := time.Now().Add(5 * time.Second)
				for refusal == nil {
					if time.Now().After(deadline) {
						t.Fatalf("records still accepted 5 s after the log became unwritable (%d acknowledged)", len(acked))
					}
					refusal = rec()
					time.Sleep(time.Millisecond)
				}
				if !errors.Is(refusal, syscall.EPERM) {
					t.Fatalf("Record while the log is unwritable: %v; want the cause (EPERM)", refusal)
				}
				refusedFirst := i
				if err := rec(); !errors.Is(err, syscall.EPERM) {
					t.Fatalf("the next Record: %v; want EPERM", err)
				}
				t.Logf("refused after %d records: %v", refusedFirst-1, refusal)
				writable()
				for range 50 {
					if err := rec(); err != nil {
						t.Fatalf("writes work again: Record %v", err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				sum := mustVerify(t, auditlog.VerifyOptions{}, dir)
				t.Logf("%s", sum)
				if what == "directory" && len(sum.Chains[0].Files) < 2 {
					t.Errorf("the log never rotated: %s", sum)
				}
				seen := auditlog.StatementNumbers(t, dir) // faultEvent numbers its statements
				sameRecords(t, acked, seen)
			})
		}
	}
}
