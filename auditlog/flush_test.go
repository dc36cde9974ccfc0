package auditlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// holdFlusher makes w behave as if its background flusher were writing
// the log (busy) until releaseFlusher.
func holdFlusher(w *Writer) {
	w.mu.Lock()
	w.busy = true
	w.mu.Unlock()
}

func releaseFlusher(w *Writer) {
	w.mu.Lock()
	w.busy = false
	w.synced.Broadcast()
	w.mu.Unlock()
}

// TestStagingDoesNotWaitForFlusher: while the background flusher writes
// one half of the stage to the log outside the lock, a record that fits
// in the other half is staged at once; one that may not fit (and so has
// to write the log itself) waits for the flusher, and lands after the
// records staged before it.
func TestStagingDoesNotWaitForFlusher(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenChain(Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncBatch, StageBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	holdFlusher(w)
	staged := make(chan error, 1)
	go func() {
		_, err := w.Record(&Event{Action: "statement", Outcome: "unknown", Statement: "SELECT 'small'"})
		staged <- err
	}()
	select {
	case err := <-staged:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a record that fits waited for the flusher")
	}
	big := make(chan error, 1)
	go func() {
		_, err := w.Record(&Event{Action: "statement", Outcome: "unknown", Statement: "SELECT '" + strings.Repeat("x", 6000) + "'"})
		big <- err
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-big:
		t.Fatalf("a record too big for the stage's half was written while the flusher ran (err %v)", err)
	default:
	}
	releaseFlusher(w)
	if err := <-big; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "a.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	small, large := strings.Index(string(data), "'small'"), strings.Index(string(data), "xxxx")
	if small < 0 || large < 0 || small > large {
		t.Fatalf("want the small record before the big one (at %d, %d)", small, large)
	}
	if _, err := Verify([]string{dir}, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestFlusherKeepsOrderAcrossHalves: many flushes, each of the half the
// sessions staged into until then, interleaved with records too big for
// the stage (written directly, after everything staged): the log is one
// unbroken chain.
func TestFlusherKeepsOrderAcrossHalves(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenChain(Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncBatch, StageBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 600; i++ {
		stmt := "SELECT 1"
		if i%97 == 0 {
			stmt = "SELECT '" + strings.Repeat("y", 5000) + "'"
		}
		if _, err := w.Record(&Event{Action: "statement", Outcome: "unknown", Statement: stmt}); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			w.flush()
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sum, err := Verify([]string{dir}, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := sum.Chains[0].Records; n < 600 {
		t.Fatalf("%d records verified, want at least 600", n)
	}
}

// TestSyncedLogLeavesPageCache: once batch records are on disk, their
// pages are given back (FADV_DONTNEED), so the log does not grow the page
// cache by its own size.
func TestSyncedLogLeavesPageCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	// Every flush syncs (and so drops what it synced): the interval is
	// not what this tests, and with the default the last flush, less than
	// 50 ms after the one before, would leave its pages to a later sync.
	w, err := OpenChain(Options{Path: path, Sync: SyncBatch, SyncInterval: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stmt := "SELECT visit_date FROM trial.visits WHERE subject_id = 'S-0001' /* " + strings.Repeat("p", 900) + " */"
	for i := 0; i < 8000; i++ { // about 8 MB
		if _, err := w.Record(&Event{Action: "statement", Outcome: "unknown", Statement: stmt}); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			w.flush()
		}
	}
	w.flush()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if st.Size() < 7<<20 {
		t.Fatalf("log is %d bytes, want about 8 MB", st.Size())
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	pages := (len(mem) + os.Getpagesize() - 1) / os.Getpagesize()
	vec := make([]byte, pages)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	resident := 0
	for _, v := range vec {
		resident += int(v & 1)
	}
	t.Logf("%d of %d pages of the synced log in the page cache", resident, pages)
	if resident > pages/10 {
		t.Fatalf("%d of %d pages of the synced log are still in the page cache", resident, pages)
	}
}

// TestCrashRecoversBothHalves: a writer dies with records in both halves
// of the stage (the older half handed to the flusher but not yet in the
// log, the newer being staged into); the next OpenChain appends all of
// them, in order. The first record of the second half follows stale
// bytes of the first in the file: recovery must still read it.
func TestCrashRecoversBothHalves(t *testing.T) {
	dir := t.TempDir()
	o := Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncBatch, StageBytes: 64 << 10}
	w, err := OpenChain(o)
	if err != nil {
		t.Fatal(err)
	}
	// The test moves the halves itself: the background flusher, which a
	// quarter-full half calls early, would move them at its own times.
	close(w.done)
	w.bg.Wait()
	// Fill half 0 far, flush it, then stage less into it again so that
	// stale record bytes are left at its end.
	record := func(i int) uint64 {
		seq, err := w.Record(&Event{Action: "statement", Outcome: "unknown", Statement: fmt.Sprintf("SELECT %d /* %s */", i, strings.Repeat("s", i%300))})
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	for i := range 60 {
		record(i)
	}
	w.flush() // half 0 into the log; staging goes to half 1
	for i := range 20 {
		record(i)
	}
	w.flush() // half 1 into the log; staging back to half 0
	for i := range 10 {
		record(i)
	}
	// The flusher takes half 0 (it would write it next) and dies first.
	w.mu.Lock()
	w.stage.swap(w.seq)
	w.mu.Unlock()
	var last uint64
	for i := range 10 {
		last = record(i)
	}
	// Die: no audit-stop, nothing more written, the stage left behind.
	if err := errors.Join(syscall.Munmap(w.stage.mem), w.stage.f.Close(), w.f.Close()); err != nil {
		t.Fatal(err)
	}
	w2, err := OpenChain(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	sum, err := Verify([]string{dir}, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "20 staged records recovered") {
		t.Fatalf("want the restart record to say 20 staged records were recovered; summary %s", sum)
	}
	if c := sum.Chains[0]; c.LastSequence < last+2 {
		t.Fatalf("last acknowledged record %d, chain ends at %d", last, c.LastSequence)
	}
}

// TestRecordWithOriginWaitsWhenHalfIsFull: a record's size estimate
// (whether it may have to write the log itself, and so wait for the
// flusher) counts its Origin's members too. Without them a record that
// fills the half was taken to fit and then refused with errBusy.
func TestRecordWithOriginWaitsWhenHalfIsFull(t *testing.T) {
	dir := t.TempDir()
	w, err := OpenChain(Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncBatch, StageBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOrigin(&Event{User: "alice", Client: strings.Repeat("c", 1500), SessionID: 7})
	if err != nil {
		t.Fatal(err)
	}
	ev := func() *Event {
		return &Event{Action: "statement", Outcome: "unknown", Statement: "SELECT 1", Origin: o}
	}
	holdFlusher(w)
	// Stage records while they fit; the one after must wait, not fail.
	waited := make(chan error, 1)
	go func() {
		for {
			w.mu.Lock()
			full := !w.stage.room(1700)
			w.mu.Unlock()
			if full {
				_, err := w.Record(ev())
				waited <- err
				return
			}
			if _, err := w.Record(ev()); err != nil {
				waited <- err
				return
			}
		}
	}()
	select {
	case err := <-waited:
		t.Fatalf("a record with no room in the half returned while the flusher ran: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	releaseFlusher(w)
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify([]string{dir}, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestBatchSyncsEveryInterval: in batch mode staged records reach the log
// file every batchWindow, but fdatasync runs at most once per
// SyncInterval; records written after a sync are synced later even when
// no further record comes.
func TestBatchSyncsEveryInterval(t *testing.T) {
	var syncs atomic.Int32
	fdatasyncFn = func(f *os.File) error {
		syncs.Add(1)
		return fdatasync(f)
	}
	defer func() { fdatasyncFn = fdatasync }()
	synced := func(w *Writer, seq uint64) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.syncedSeq >= seq
	}

	t.Run("written before synced", func(t *testing.T) {
		syncs.Store(0)
		path := filepath.Join(t.TempDir(), "a.jsonl")
		w, err := OpenChain(Options{Path: path, Sync: SyncBatch, SyncInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		first, err := w.Record(&Event{Action: "statement", Statement: "SELECT 'first'"})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the first record is synced", func() bool { return synced(w, first) })
		base := syncs.Load()
		second, err := w.Record(&Event{Action: "statement", Statement: "SELECT 'second'"})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the second record is in the log file", func() bool { return fileHas(path, "'second'") })
		if synced(w, second) || syncs.Load() != base {
			t.Fatalf("the second record was synced (%d more fdatasync) within an interval of an hour", syncs.Load()-base)
		}
		// Close syncs what is left (with fsync) and ends the chain.
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify([]string{filepath.Dir(path)}, VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("synced without another record", func(t *testing.T) {
		syncs.Store(0)
		dir := t.TempDir()
		w, err := OpenChain(Options{Path: filepath.Join(dir, "a.jsonl"), Sync: SyncBatch, SyncInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		first, err := w.Record(&Event{Action: "statement", Statement: "SELECT 1"})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the first record is synced", func() bool { return synced(w, first) })
		base := syncs.Load()
		last, err := w.Record(&Event{Action: "statement", Statement: "SELECT 2"})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the last record is synced with no record after it", func() bool { return synced(w, last) })
		if n := syncs.Load() - base; n != 1 {
			t.Fatalf("%d fdatasync calls for the last record, want 1", n)
		}
	})

	t.Run("at most one sync per interval", func(t *testing.T) {
		syncs.Store(0)
		w, err := OpenChain(Options{Path: filepath.Join(t.TempDir(), "a.jsonl"), Sync: SyncBatch, SyncInterval: 250 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		began := time.Now()
		var seq uint64
		for time.Since(began) < time.Second {
			if seq, err = w.Record(&Event{Action: "statement", Statement: "SELECT 3"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
		}
		eventually(t, "the last record is synced", func() bool { return synced(w, seq) })
		// One when the chain opens, one at the first flush, then one per
		// 250 ms of the run and one after it: the writes of each window
		// did not each sync.
		limit := int32(time.Since(began)/(250*time.Millisecond)) + 3
		if n := syncs.Load(); n > limit || n < 2 {
			t.Fatalf("%d fdatasync calls in %v, want 2 to %d", n, time.Since(began).Round(time.Millisecond), limit)
		}
	})
}

// TestFlusherComesEarlyUnderLoad: staged records wait for the window
// (50 ms; an hour here) while few come, but once a quarter of the
// stage's half is staged the flusher writes them at once, so that the
// half never fills and sessions never write the log themselves.
func TestFlusherComesEarlyUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	w, err := OpenChain(Options{Path: path, Sync: SyncBatch, StageBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.window = time.Hour // before the first Record, which the flusher waits for
	if _, err := w.Record(&Event{Action: "statement", Statement: "SELECT 'first'"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if fileHas(path, "'first'") {
		t.Fatal("a lone record was written before the window ended")
	}
	// A quarter of a 32 KiB half is 8 KiB: ten records of 1 KiB.
	for i := 0; i < 10; i++ {
		if _, err := w.Record(&Event{Action: "statement", Statement: "SELECT '" + strings.Repeat("v", 1000) + "', " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "8 KiB staged in a 32 KiB half is written (the window is an hour)", func() bool { return fileHas(path, "'first'") })
}

// eventually polls cond until it holds, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s, still not: %s", what)
		}
	}
}

// fileHas reports whether the file at path holds s.
func fileHas(path, s string) bool {
	b, _ := os.ReadFile(path)
	return strings.Contains(string(b), s)
}
