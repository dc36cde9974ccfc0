package auditlog

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestFailedWriteWhoseCutFailsLeavesNoGarbage: a write of the log that
// fails part-way is cut back; when that cut fails too (ftruncate
// refused), nothing more is written until it succeeds. Before, the next
// records were written over the start of the failed write and the rest
// of it stayed behind them in the file, where the chain no longer
// verified. Found in review (the case was argued, not shown, there).
func TestFailedWriteWhoseCutFailsLeavesNoGarbage(t *testing.T) {
	dir := t.TempDir()
	// A small stage, so that a 20 KB statement is written to the log
	// directly rather than staged.
	w, err := OpenChain(Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncBatch, Instance: "t", StageBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	_, failCut := failingSyncAndCut(t)
	writeAtFn = func(f *os.File, b []byte, at int64) (int, error) {
		if len(b) > 10_000 {
			n, _ := f.WriteAt(b[:len(b)*9/10], at) // most of it, then the disk fails
			return n, syscall.EIO
		}
		return f.WriteAt(b, at)
	}
	t.Cleanup(func() { writeAtFn = (*os.File).WriteAt })

	if err := stmt(w, 1); err != nil {
		t.Fatal(err)
	}
	failCut.Store(true)
	big := stmtEvent(2)
	big.Statement = "SELECT '" + strings.Repeat("x", 20_000) + "' FROM study.visits WHERE visit_id = 2"
	if _, err := w.Record(big); !errors.Is(err, syscall.EIO) {
		t.Fatalf("statement 2, whose write failed: %v, want EIO", err)
	}
	if err := stmt(w, 3); !errors.Is(err, syscall.EPERM) {
		t.Fatalf("statement 3, while the failed write cannot be cut from the log: %v, want the truncate's EPERM", err)
	}
	failCut.Store(false)
	if err := stmt(w, 4); err != nil {
		t.Fatalf("statement 4, once the cut works: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	verifyStatements(t, dir, VerifyOptions{}, map[int]bool{1: true, 2: false, 3: false, 4: true})
}

// TestRecordAfterFailedClose: Record after a Close that failed (the
// staged records could not be written) says ErrClosed. Found in review:
// it retried the failed write first, on the stage Close had unmapped,
// and panicked.
func TestRecordAfterFailedClose(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenChain(Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncBatch, Instance: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Record(&Event{Action: "statement", Statement: "SELECT 1"}); err != nil {
		t.Fatal(err)
	}
	writeAtFn = func(*os.File, []byte, int64) (int, error) { return 0, syscall.ENOSPC }
	t.Cleanup(func() { writeAtFn = (*os.File).WriteAt })
	w.flush()
	if err := w.Close(); err == nil {
		t.Fatal("Close wrote the staged records to a full disk")
	}
	if _, err := w.Record(&Event{Action: "statement", Statement: "SELECT 2"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Record after a failed Close: %v, want ErrClosed", err)
	}
}

// TestCloseAfterAFailedSyncThatCannotBeCut: with SyncAlways, when the
// sync before Close's checkpoint copy fails and the log cannot be cut,
// Close writes nothing over the taken-back checkpoint: the log still
// verifies and opens again. Found in review of the take-back: audit-stop
// was written over part of the checkpoint, and the rest stayed behind it
// (verify: "not a JSON record"; OpenChain: "last record does not parse").
func TestCloseAfterAFailedSyncThatCannotBeCut(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(nil)
	o := Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncAlways, Instance: "t",
		CheckpointKey: priv, CheckpointCopy: filepath.Join(t.TempDir(), "copy.jsonl")}
	w, err := OpenChain(o)
	if err != nil {
		t.Fatal(err)
	}
	failSync, failCut := failingSyncAndCut(t)
	if err := stmt(w, 1); err != nil {
		t.Fatal(err)
	}
	failSync.Store(true)
	failCut.Store(true)
	if err := w.Close(); !errors.Is(err, syscall.EIO) {
		t.Errorf("Close, whose checkpoint's sync failed: %v, want EIO", err)
	}
	failSync.Store(false)
	failCut.Store(false)
	verifyStatements(t, dir, VerifyOptions{PublicKey: pub}, map[int]bool{1: true})
	w2, err := OpenChain(o)
	if err != nil {
		t.Fatalf("open again: %v", err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	verifyStatements(t, dir, VerifyOptions{PublicKey: pub, Checkpoints: o.CheckpointCopy}, map[int]bool{1: true})
}
