package auditlog

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// failedBatchSync opens a SyncBatch log, records statement 1 and waits
// until it is synced, then makes fdatasync fail and records statements
// 2 to 6, which the flusher writes and fails to sync. It returns the
// writer, the log's path and where statement 2's bytes start (the end
// of what the failed sync left on disk); later syncs succeed. Writes of the log
// at or before that offset after the failure are counted in rewrites.
func failedBatchSync(t *testing.T) (w *Writer, path string, durable int64, rewrites *atomic.Int32, recover func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "a.jsonl")
	w, err := OpenChain(Options{Path: path, Sync: SyncBatch, SyncInterval: time.Millisecond, Instance: "t"})
	if err != nil {
		t.Fatal(err)
	}
	w.window = time.Millisecond // before the first Record, which the flusher waits for
	t.Cleanup(func() { w.Close() })
	if err := stmt(w, 1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, w, "statement 1 is synced", func() bool { return w.syncedSeq == w.seq })

	failing, _ := failingSyncAndCut(t)
	failing.Store(true)
	rewrites = new(atomic.Int32)
	var mu sync.Mutex
	end := int64(1 << 62) // the log's size after the failed sync
	writeAtFn = func(f *os.File, b []byte, at int64) (int, error) {
		mu.Lock()
		if !failing.Load() && at >= durable && at < end {
			rewrites.Add(1)
		}
		mu.Unlock()
		return f.WriteAt(b, at)
	}
	t.Cleanup(func() { writeAtFn = (*os.File).WriteAt })

	w.mu.Lock()
	mu.Lock()
	durable = w.durable
	mu.Unlock()
	w.mu.Unlock()
	for n := 2; n <= 6; n++ {
		if err := stmt(w, n); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, w, "the flusher's sync of statements 2 to 6 fails", func() bool { return w.syncErr != nil })
	if !fileHas(path, "visit_id = 6\"") {
		t.Fatal("statement 6 is not in the log file after the failed sync")
	}
	w.mu.Lock()
	mu.Lock()
	end = w.fileSize
	mu.Unlock()
	w.mu.Unlock()
	return w, path, durable, rewrites, func() { failing.Store(false) }
}

// lostBatchSync is failedBatchSync whose unsynced records are then
// damaged in the file (40 bytes zeroed, as when the kernel has let a
// clean page go and the disk never got it) before the disk recovers.
func lostBatchSync(t *testing.T) (w *Writer, path string, rewrites *atomic.Int32) {
	t.Helper()
	w, path, durable, rewrites, recover := failedBatchSync(t)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 40), durable+10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	recover()
	return w, path, rewrites
}

// TestBatchRewritesTheRecordsOfAFailedSync: with sync: batch, a record
// whose fdatasync failed stays in the log (its statement has run), but
// Linux may have marked its pages clean without writing them, so the
// sync that later succeeds would not have put it on disk. Before that
// sync, whether a Record or Close runs it, the bytes since the last good
// sync are written again, and the log verifies with statement 2 in it.
//
// The bytes are read back and written again a piece at a time (with
// SyncNone they can be the whole active file): "pieces" reads them in
// pieces shorter than the five records, "grow" in pieces shorter than
// one record, which must grow rather than find no whole record.
func TestBatchRewritesTheRecordsOfAFailedSync(t *testing.T) {
	for _, next := range []string{"record", "close", "pieces", "grow"} {
		t.Run(next, func(t *testing.T) {
			switch next {
			case "pieces":
				rewriteChunk = 700
			case "grow":
				rewriteChunk = 100
			}
			t.Cleanup(func() { rewriteChunk = 4 << 20 })
			w, path, _, rewrites, recover := failedBatchSync(t)
			recover()
			if next != "close" {
				if err := stmt(w, 7); err != nil {
					t.Fatalf("statement 7 after the disk took a sync again: %v", err)
				}
				if next == "pieces" && rewrites.Load() < 2 {
					t.Fatalf("the records of the failed sync were written again in %d piece(s), want several", rewrites.Load())
				}
				if rewrites.Load() == 0 {
					t.Fatal("the records of the failed sync were not written again before the sync that acknowledged statement 7")
				}
				w.mu.Lock()
				synced, owed := w.syncedSeq, w.rewriteOwed
				w.mu.Unlock()
				if synced < 7 || owed {
					t.Fatalf("after the retry: synced up to sequence %d (statement 6 is 7), a rewrite still owed %v", synced, owed)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if next == "close" && rewrites.Load() == 0 {
				t.Fatal("Close synced without writing again the records of the failed sync")
			}
			want := map[int]bool{1: true, 2: true, 6: true, 7: next != "close"}
			verifyStatements(t, filepath.Dir(path), VerifyOptions{}, want)
		})
	}
}

// TestBatchRefusesWhenAFailedSyncsRecordsAreGone: if what the failed
// sync covered no longer reads back as those records (here zeroed
// behind the writer's back, as when the kernel has let the clean page
// go and the disk never got it), they are not written again nor made
// part of a chain that continues after them: Record and Close are
// refused, with an error that names the records and tells the operator
// what to do.
func TestBatchRefusesWhenAFailedSyncsRecordsAreGone(t *testing.T) {
	w, path, rewrites := lostBatchSync(t)
	for range 2 {
		_, err := w.Record(stmtEvent(7))
		if err == nil || !strings.Contains(err.Error(), "no longer read back intact") || !strings.Contains(err.Error(), "records 3 to 7") {
			t.Fatalf("Record after the failed sync's records were lost: %v, want a refusal naming records 3 to 7", err)
		}
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "no longer read back intact") {
		t.Fatalf("Close: %v, want the same refusal", err)
	}
	if rewrites.Load() != 0 {
		t.Fatal("records that did not read back intact were written again")
	}
	if fileHas(path, "visit_id = 7\"") || fileHas(path, "audit-stop") {
		t.Fatal("a record was appended after the lost ones")
	}
	if _, err := Verify([]string{filepath.Dir(path)}, VerifyOptions{}); !errors.Is(err, ErrTampered) {
		t.Fatalf("verify of the damaged log: %v, want it to report where trust breaks", err)
	}
}

// TestCloseRewritesAfterItsCheckpointCopySyncFails: with sync: batch
// and a checkpoint copy, Close's checkpoint syncs the log first; when
// that fdatasync fails, the records since the last good sync may sit in
// pages the kernel marked clean. Close then appends audit-stop and runs
// its final fsync: that fsync must be preceded by a rewrite of
// [durable, fileSize), as the comment in Close says ("A sync that failed
// since (the checkpoint copy's): the final fsync must cover the records
// it left unsure of too").
func TestCloseRewritesAfterItsCheckpointCopySyncFails(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(nil)
	path := filepath.Join(dir, "a.jsonl")
	w, err := OpenChain(Options{Path: path, Sync: SyncBatch, SyncInterval: time.Hour, Instance: "t",
		CheckpointKey: priv, CheckpointCopy: filepath.Join(t.TempDir(), "copy.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	w.window = time.Millisecond
	if err := stmt(w, 1); err != nil {
		t.Fatal(err)
	}
	// The flusher's first round syncs (lastSync is zero); the next
	// comes in an hour.
	waitUntil(t, w, "statement 1 is synced", func() bool { return w.syncedSeq == w.seq })
	if err := stmt(w, 2); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, w, "statement 2 is in the log file, not synced", func() bool { return w.written == w.seq && w.syncedSeq < w.seq })
	w.mu.Lock()
	durable := w.durable
	w.mu.Unlock()

	var failed atomic.Bool
	fdatasyncFn = func(f *os.File) error {
		if failed.CompareAndSwap(false, true) {
			return syscall.EIO // the checkpoint copy's sync in Close
		}
		return fdatasync(f)
	}
	var rewrites atomic.Int32
	writeAtFn = func(f *os.File, b []byte, at int64) (int, error) {
		if failed.Load() && at <= durable {
			rewrites.Add(1)
		}
		return f.WriteAt(b, at)
	}
	var owedAtFsync, fsyncs atomic.Int32
	fsyncFn = func(f *os.File) error {
		fsyncs.Add(1)
		if w.rewriteOwed { // Close holds w.mu while it calls fsyncFn
			owedAtFsync.Add(1)
		}
		return f.Sync()
	}
	t.Cleanup(func() { fdatasyncFn, writeAtFn, fsyncFn = fdatasync, (*os.File).WriteAt, (*os.File).Sync })

	err = w.Close()
	t.Logf("Close: %v", err)
	if !failed.Load() || fsyncs.Load() == 0 {
		t.Fatal("the scenario did not happen (no failed fdatasync, or no final fsync)")
	}
	if owedAtFsync.Load() > 0 || rewrites.Load() == 0 {
		t.Fatalf("Close's final fsync ran after the checkpoint copy's fdatasync failed without writing again the bytes from %d (rewrite owed at fsync: %v, rewrites: %d)",
			durable, owedAtFsync.Load() > 0, rewrites.Load())
	}
}

// TestRefusedCloseKeepsTheStageFile: when the records of a failed
// sync no longer read back intact, the error tells the operator to
// "stop rrproxy, keep the log and its stage file"; stopping rrproxy
// calls Close, which must not delete the stage file (it still holds a
// copy of the lost records).
func TestRefusedCloseKeepsTheStageFile(t *testing.T) {
	w, path, _ := lostBatchSync(t)
	if _, err := w.Record(stmtEvent(7)); err == nil || !strings.Contains(err.Error(), "keep the log and its stage file") {
		t.Fatalf("Record: %v, want the refusal", err)
	}
	if !fileHas(stagePath(path), "visit_id = 2\"") {
		t.Fatal("setup: the stage file does not hold statement 2")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close succeeded")
	}
	if _, err := os.Stat(stagePath(path)); err != nil {
		t.Fatalf("after the refusal told the operator to keep the stage file, Close removed it: %v", err)
	}
}

// TestSyncFailuresAmongCheckpointsAndRotation: with sync: none and
// batch, syncs of checkpoint copies, rotations and the flusher fail now
// and then among 60 statements: the log verifies, with its checkpoint
// copies, and holds exactly the statements that were acknowledged.
func TestSyncFailuresAmongCheckpointsAndRotation(t *testing.T) {
	for _, mode := range []string{SyncNone, SyncBatch} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			pub, priv, _ := ed25519.GenerateKey(nil)
			path := filepath.Join(dir, "a.jsonl")
			cp := filepath.Join(t.TempDir(), "copy.jsonl")
			w, err := OpenChain(Options{Path: path, Sync: mode, SyncInterval: time.Hour, Instance: "t",
				CheckpointKey: priv, CheckpointCopy: cp, CheckpointEvery: 3, RotateBytes: 6000})
			if err != nil {
				t.Fatal(err)
			}
			w.window = time.Millisecond
			var fail atomic.Bool
			fdatasyncFn = func(f *os.File) error {
				if fail.CompareAndSwap(true, false) {
					return syscall.EIO
				}
				return fdatasync(f)
			}
			fsyncFn = func(f *os.File) error {
				if fail.CompareAndSwap(true, false) {
					return syscall.EIO
				}
				return f.Sync()
			}
			t.Cleanup(func() { fdatasyncFn, fsyncFn = fdatasync, (*os.File).Sync })
			want := map[int]bool{}
			for i := 1; i <= 60; i++ {
				if i%7 == 0 {
					fail.Store(true)
				}
				if err := stmt(w, i); err == nil {
					want[i] = true
				} else if i%7 != 0 {
					t.Logf("statement %d: %v", i, err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			t.Logf("acked %d of 60", len(want))
			verifyStatements(t, dir, VerifyOptions{PublicKey: pub, Checkpoints: cp}, want)
		})
	}
}

// TestBatchFlusherSyncFailuresWithCheckpointsAndRotation: every third
// fdatasync fails, with a checkpoint every 2 records and rotation at 5
// KB: the acknowledged statements, and only they, are in a log that
// verifies.
func TestBatchFlusherSyncFailuresWithCheckpointsAndRotation(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := ed25519.GenerateKey(nil)
	path := filepath.Join(dir, "a.jsonl")
	w, err := OpenChain(Options{Path: path, Sync: SyncBatch, SyncInterval: time.Millisecond, Instance: "t",
		CheckpointKey: priv, CheckpointEvery: 2, RotateBytes: 5000})
	if err != nil {
		t.Fatal(err)
	}
	w.window = time.Millisecond
	var calls atomic.Int64
	fdatasyncFn = func(f *os.File) error {
		if calls.Add(1)%3 == 0 {
			return syscall.EIO
		}
		return fdatasync(f)
	}
	t.Cleanup(func() { fdatasyncFn = fdatasync })
	want := map[int]bool{}
	for i := 1; i <= 80; i++ {
		if err := stmt(w, i); err == nil {
			want[i] = true
		} else if testing.Verbose() {
			t.Logf("statement %d: %v", i, err)
		}
		time.Sleep(time.Duration(i%4) * time.Millisecond)
	}
	fdatasyncFn = fdatasync
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("acked %d of 80, %d syncs", len(want), calls.Load())
	verifyStatements(t, dir, VerifyOptions{PublicKey: pub}, want)
}

// TestFlusherRetriesAfterAFailedSyncWhileIdle: after the flusher's sync
// fails, no statement comes; once the disk takes syncs again, the
// flusher itself writes the failed sync's records again and syncs them,
// within a few sync intervals, and records are accepted again.
// Before, they waited for the next statement to reach the disk.
func TestFlusherRetriesAfterAFailedSyncWhileIdle(t *testing.T) {
	w, path, _, rewrites, recover := failedBatchSync(t)
	recover()
	waitUntil(t, w, "the flusher has synced the failed sync's records again, with no Record", func() bool {
		return w.syncErr == nil && !w.rewriteOwed && w.syncedSeq >= 7
	})
	if rewrites.Load() == 0 {
		t.Fatal("the flusher synced the failed sync's records without writing them again")
	}
	if err := stmt(w, 7); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	verifyStatements(t, filepath.Dir(path), VerifyOptions{}, map[int]bool{1: true, 2: true, 6: true, 7: true})
}

// TestNoneFlusherRetriesAfterARotationSyncFailsWhileIdle: a failed sync
// that the flusher did not run itself (here a rotation's, in a Record,
// with sync: none, while the flusher sleeps with nothing staged) wakes
// it, so that it retries once the disk recovers though no statement
// comes. (Found by review: the retry ran only if the flusher was awake.)
func TestNoneFlusherRetriesAfterARotationSyncFailsWhileIdle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	w, err := OpenChain(Options{Path: path, Sync: SyncNone, SyncInterval: 5 * time.Millisecond, Instance: "t", RotateBytes: 4000})
	if err != nil {
		t.Fatal(err)
	}
	w.window = time.Millisecond
	t.Cleanup(func() { w.Close() })
	var failing atomic.Bool
	fsyncFn = func(f *os.File) error {
		if failing.Load() {
			return syscall.EIO
		}
		return f.Sync()
	}
	t.Cleanup(func() { fsyncFn = (*os.File).Sync })
	n := 1
	for ; ; n++ { // statements until a rotation is due at the next one
		if err := stmt(w, n); err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		rotate, _ := w.due()
		w.mu.Unlock()
		if rotate {
			break
		}
	}
	waitUntil(t, w, "the staged statements are in the log and the flusher is idle", func() bool {
		return w.written == w.seq && !w.busy
	})
	time.Sleep(50 * time.Millisecond)
	failing.Store(true)
	if err := stmt(w, n+1); err == nil {
		t.Fatal("setup: the statement whose rotation failed was acknowledged")
	}
	w.mu.Lock()
	owed := w.rewriteOwed
	w.mu.Unlock()
	if !owed {
		t.Fatal("setup: the rotation's sync did not fail")
	}
	failing.Store(false) // the disk recovers; no statement comes
	waitUntil(t, w, "the flusher has retried the rotation's failed sync, with no statement", func() bool {
		return w.syncErr == nil && !w.rewriteOwed
	})
}

// TestBatchFlusherRetriesAfterAMaintainLoopSyncFailsWhileIdle: the same
// for the sync before a time-based checkpoint's copy, run by the
// maintenance loop on an idle proxy in batch mode.
func TestBatchFlusherRetriesAfterAMaintainLoopSyncFailsWhileIdle(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	path := filepath.Join(t.TempDir(), "a.jsonl")
	w, err := OpenChain(Options{Path: path, Sync: SyncBatch, SyncInterval: 5 * time.Millisecond, Instance: "t",
		CheckpointKey: priv, CheckpointCopy: filepath.Join(t.TempDir(), "copy.jsonl"), CheckpointInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.window = time.Millisecond
	t.Cleanup(func() { w.Close() })
	if err := stmt(w, 1); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, w, "statement 1 is synced", func() bool { return w.syncedSeq == w.seq })
	failing, _ := failingSyncAndCut(t)
	failing.Store(true)
	waitUntil(t, w, "the maintenance loop's checkpoint sync fails", func() bool { return w.syncErr != nil })
	failing.Store(false)
	waitUntil(t, w, "the flusher has retried the checkpoint's failed sync, with no statement", func() bool {
		return w.syncErr == nil && !w.rewriteOwed
	})
}
