package auditlog

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// slowSyncs replaces fdatasync for the test: each call takes at least
// delay (so that concurrent sessions' records gather behind a sync, as
// they do behind a real disk's), fails with EIO while fail says so, and
// is counted.
func slowSyncs(t *testing.T, delay time.Duration, fail func(call int64) bool) *atomic.Int64 {
	var calls atomic.Int64
	fdatasyncFn = func(f *os.File) error {
		n := calls.Add(1)
		time.Sleep(delay)
		if fail(n) {
			return syscall.EIO
		}
		return fdatasync(f)
	}
	t.Cleanup(func() { fdatasyncFn = fdatasync })
	return &calls
}

// alwaysLoad has sessions record numbered statements concurrently and
// returns the numbers acknowledged and refused. After each acknowledged
// Record it checks, under the writer's lock, that a completed sync
// covers the record: with SyncAlways a record is on disk before Record
// returns, whoever's sync put it there.
func alwaysLoad(t *testing.T, w *Writer, sessions, each int) (acked, refused map[int]bool) {
	var mu sync.Mutex
	acked, refused = map[int]bool{}, map[int]bool{}
	var wg sync.WaitGroup
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := s*each + i
				seq, err := w.Record(&Event{Action: "statement", Phase: "intent", User: "alice",
					Statement: "SELECT visit_name FROM study.visits WHERE visit_id = " + strconv.Itoa(n)})
				if err == nil {
					w.mu.Lock()
					synced := w.syncedSeq
					w.mu.Unlock()
					if synced < seq {
						t.Errorf("Record returned record %d while the last sync covers %d", seq, synced)
					}
				} else if !errors.Is(err, syscall.EIO) {
					t.Errorf("Record: %v", err)
				}
				mu.Lock()
				if err == nil {
					acked[n] = true
				} else {
					refused[n] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return acked, refused
}

// StatementNumbers returns the numbers that end the statements of the
// records in dir's log (the tests number their statements so). Exported
// for the external fault tests.
func StatementNumbers(t *testing.T, dir string) map[int]bool {
	t.Helper()
	seen := map[int]bool{}
	for _, rec := range readAll(t, []string{dir}, Filter{}) {
		if stmt := Str(rec, "rrproxy.statement"); stmt != "" {
			n, err := strconv.Atoi(stmt[strings.LastIndexByte(stmt, ' ')+1:])
			if err != nil {
				t.Fatalf("statement %q does not end in its number", stmt)
			}
			seen[n] = true
		}
	}
	return seen
}

// TestAlwaysSharesSyncs: with SyncAlways, concurrent sessions' records
// share fdatasyncs (group commit), and each is still on disk before its
// Record returns. Before, each record was synced by itself under the
// writer's lock: 16 clients made 820-870 point selects a second through
// the proxy, two syncs each.
func TestAlwaysSharesSyncs(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenChain(Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncAlways, Instance: "t", RotateBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	calls := slowSyncs(t, time.Millisecond, func(int64) bool { return false })
	const sessions, each = 32, 40
	acked, refused := alwaysLoad(t, w, sessions, each)
	syncs := calls.Load()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(refused) > 0 || len(acked) != sessions*each {
		t.Fatalf("%d acknowledged, %d refused; want all %d acknowledged", len(acked), len(refused), sessions*each)
	}
	t.Logf("%d records from %d sessions, %d syncs (rotations included)", len(acked), sessions, syncs)
	if syncs > int64(len(acked))/4 {
		t.Errorf("%d syncs for %d records from %d concurrent sessions: they do not share syncs", syncs, len(acked), sessions)
	}
	if _, err := Verify([]string{dir}, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	if seen := StatementNumbers(t, dir); len(seen) != len(acked) {
		t.Errorf("%d statements in the log, %d acknowledged", len(seen), len(acked))
	}
}

// TestAlwaysFailedSyncTakesBackTheWave: a sync that fails takes the log
// back to where the last good sync left it: every record of its wave, and
// every record written while it ran, is refused and out of the log;
// records acknowledged before stay; recording resumes by itself once
// syncs work; the chain verifies.
func TestAlwaysFailedSyncTakesBackTheWave(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenChain(Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncAlways, Instance: "t"})
	if err != nil {
		t.Fatal(err)
	}
	// Syncs 20 to 24 of the load fail (the first calls are the writer's
	// own, at open).
	base := int64(0)
	calls := slowSyncs(t, time.Millisecond, func(n int64) bool {
		n -= atomic.LoadInt64(&base)
		return n >= 20 && n < 25
	})
	atomic.StoreInt64(&base, calls.Load())
	acked, refused := alwaysLoad(t, w, 16, 60)
	t.Logf("%d acknowledged, %d refused, %d syncs", len(acked), len(refused), calls.Load()-atomic.LoadInt64(&base))
	if len(refused) < 2 {
		t.Errorf("%d records refused: the failed syncs took back no wave of several", len(refused))
	}
	if len(acked) < 16*60/2 {
		t.Errorf("only %d records acknowledged: recording did not resume after the failures", len(acked))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify([]string{dir}, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := StatementNumbers(t, dir)
	for n := range acked {
		if !seen[n] {
			t.Errorf("acknowledged statement %d is not in the log", n)
		}
	}
	for n := range refused {
		if seen[n] {
			t.Errorf("statement %d was refused (its sync failed) but is in the log", n)
		}
	}
}
