package auditlog

import (
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
// until it is synced, then makes fdatasync fail and records statement
// 2, which the flusher writes and fails to sync. It returns the writer,
// the log's path and where statement 2's bytes start (the end of what
// the failed sync left on disk); later syncs succeed. Writes of the log
// at or before that offset after the failure are counted in rewrites.
func failedBatchSync(t *testing.T) (w *Writer, path string, durable int64, rewrites *atomic.Int32) {
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

	var failing atomic.Bool
	failing.Store(true)
	fdatasyncFn = func(f *os.File) error {
		if failing.Load() {
			return syscall.EIO
		}
		return fdatasync(f)
	}
	rewrites = new(atomic.Int32)
	var mu sync.Mutex
	writeAtFn = func(f *os.File, b []byte, at int64) (int, error) {
		mu.Lock()
		if !failing.Load() && at <= durable {
			rewrites.Add(1)
		}
		mu.Unlock()
		return f.WriteAt(b, at)
	}
	t.Cleanup(func() { fdatasyncFn, writeAtFn = fdatasync, (*os.File).WriteAt })

	w.mu.Lock()
	mu.Lock()
	durable = w.durable
	mu.Unlock()
	w.mu.Unlock()
	if err := stmt(w, 2); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, w, "the flusher's sync of statement 2 fails", func() bool { return w.syncErr != nil })
	if !fileHas(path, "visit_id = 2\"") {
		t.Fatal("statement 2 is not in the log file after the failed sync")
	}
	failing.Store(false)
	return w, path, durable, rewrites
}

// TestBatchRewritesTheRecordsOfAFailedSync: with sync: batch, a record
// whose fdatasync failed stays in the log (its statement has run), but
// Linux may have marked its pages clean without writing them, so the
// sync that later succeeds would not have put it on disk. Before that
// sync, whether a Record or Close runs it, the bytes since the last good
// sync are written again, and the log verifies with statement 2 in it.
func TestBatchRewritesTheRecordsOfAFailedSync(t *testing.T) {
	for _, next := range []string{"record", "close"} {
		t.Run(next, func(t *testing.T) {
			w, path, _, rewrites := failedBatchSync(t)
			if next == "record" {
				if err := stmt(w, 3); err != nil {
					t.Fatalf("statement 3 after the disk took a sync again: %v", err)
				}
				if rewrites.Load() == 0 {
					t.Fatal("the records of the failed sync were not written again before the sync that acknowledged statement 3")
				}
				w.mu.Lock()
				synced, owed := w.syncedSeq, w.rewriteOwed
				w.mu.Unlock()
				if synced < 3 || owed {
					t.Fatalf("after the retry: synced up to sequence %d (statement 2 is 3), a rewrite still owed %v", synced, owed)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if next == "close" && rewrites.Load() == 0 {
				t.Fatal("Close synced without writing again the records of the failed sync")
			}
			want := map[int]bool{1: true, 2: true}
			if next == "record" {
				want[3] = true
			}
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
	w, path, durable, rewrites := failedBatchSync(t)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 40), durable+10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for range 2 {
		_, err := w.Record(stmtEvent(3))
		if err == nil || !strings.Contains(err.Error(), "no longer read back intact") || !strings.Contains(err.Error(), "records 3 to 3") {
			t.Fatalf("Record after the failed sync's records were lost: %v, want a refusal naming records 3 to 3", err)
		}
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "no longer read back intact") {
		t.Fatalf("Close: %v, want the same refusal", err)
	}
	if rewrites.Load() != 0 {
		t.Fatal("records that did not read back intact were written again")
	}
	if fileHas(path, "visit_id = 3\"") || fileHas(path, "audit-stop") {
		t.Fatal("a record was appended after the lost ones")
	}
	if _, err := Verify([]string{filepath.Dir(path)}, VerifyOptions{}); !errors.Is(err, ErrTampered) {
		t.Fatalf("verify of the damaged log: %v, want it to report where trust breaks", err)
	}
}
