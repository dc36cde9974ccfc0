package auditlog

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure a Writer. docs/audit-format.md describes what it
// writes.
type Options struct {
	Path     string // the active file; rotated files go next to it
	Sync     string // SyncAlways, SyncBatch or SyncNone
	Instance string // chain name; "" derives one from the host name
	// RotateBytes and RotateEvery start a new file when the active one
	// reaches that size or age (0: never).
	RotateBytes int64
	RotateEvery time.Duration
	// CheckpointEvery and CheckpointInterval add a signed checkpoint
	// after that many records or that much time (0: only at rotation and
	// stop). Without CheckpointKey there are no checkpoints.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	CheckpointKey      ed25519.PrivateKey
	// CheckpointCopy, if set, is a file elsewhere that every checkpoint
	// record is also appended to, so that truncating the log is visible.
	CheckpointCopy string
	// StageBytes is the size of the staging file through which batch
	// and none mode records pass (0: 2 MiB). See stage.go.
	StageBytes int
	// SyncInterval is how often SyncBatch makes the written records
	// durable with one fdatasync (0: DefaultSyncInterval). Records reach
	// the log file every batchWindow either way.
	SyncInterval time.Duration
}

// DefaultSyncInterval is SyncBatch's fdatasync cadence. Each fdatasync
// of an appended file commits the file system's journal and sends the
// disk a flush, and on a small virtual host that I/O disturbs every
// process for a moment, the proxy's sessions included:
//   - at 10 ms, one point select in 50 met it, which alone added 80 µs to
//     the p99 of a single client (1 sysbench thread: p99 0.39-0.49 ms,
//     against 0.32-0.34 at 50 ms and 0.31-0.32 with no sync at all);
//   - at 50 ms it still showed: 0.26-0.29 ms against 0.19-0.25 at 200 ms
//     in six of six alternating rounds, and a separate program writing
//     and syncing as the log does raised HAProxy's p99 by 30 µs.
//
// 200 ms is PostgreSQL's wal_writer_delay, the window its asynchronous
// commit accepts. A power loss can lose the records of the last interval;
// a killed process loses none (the stage). SyncAlways is for where that
// window matters.
const DefaultSyncInterval = 200 * time.Millisecond

// zeroHash is the prev of a chain's first record.
var zeroHash = strings.Repeat("0", 64)

// chainHash is a record's hash as it is written, 64 hex digits: kept in
// an array, not a string, so that writing a record does not allocate one.
type chainHash [64]byte

func hashOf(hex string) (h chainHash) {
	copy(h[:], hex)
	return h
}

func (h chainHash) String() string { return string(h[:]) }

// ErrClosed: Record after Close.
var ErrClosed = errors.New("auditlog: writer is closed")

// Writer appends hash-chained records. Safe for concurrent use: records
// are written in sequence order under a mutex. With SyncBatch a
// background goroutine writes them to the log within batchWindow and
// makes them durable within SyncInterval more, one fdatasync for all
// records written meanwhile (group commit).
type Writer struct {
	o Options

	mu        sync.Mutex
	synced    *sync.Cond // signalled when a sync completes
	f         *os.File
	size      int64  // bytes of complete records in f and the stage
	fileSize  int64  // bytes of complete records in f
	stage     *stage // nil with SyncAlways
	opened    time.Time
	seq       uint64
	prev      chainHash
	sinceCkpt int
	lastCkpt  time.Time
	syncedSeq uint64    // every record up to here is on disk
	lastSync  time.Time // when the flusher last synced (SyncBatch)
	lastRetry time.Time // when the flusher last retried after a failure
	written   uint64    // every record up to here is in the log file
	dropped   int64     // the log's page cache is given back up to here (dropCache)
	durable   int64     // the log file's bytes up to here are on disk
	// rewriteOwed: a sync of the log failed (SyncBatch, SyncNone), so the
	// bytes after durable may be in pages the kernel marked clean without
	// writing them; they are written again before the next sync
	// (rewriteUnsynced).
	rewriteOwed bool
	// lost: the records of a failed sync no longer read back intact
	// (rewriteUnsynced). Only an operator can help; every Record is
	// refused with it, without reading the log again.
	lost error
	// busy: the background flusher is writing the stage's other half to
	// the log, or syncing it, outside the lock. Nothing else may write
	// the log file meanwhile; Record waits (quiesce) before any step that
	// would, and the plain staging of a record never does.
	busy bool
	// SyncAlways shares one fdatasync among the records of concurrent
	// sessions (group commit): syncing is set while a session syncs
	// outside the lock, the records written meanwhile wait in wave for
	// the next sync, and syncedPos is the chain as of the last sync,
	// where a failed sync takes the log back to.
	syncing   bool
	pausing   int // sessions in quiesce: no sync starts meanwhile
	wave      *syncWave
	syncedPos chainPos
	syncErr   error // the last background sync failed: refuse records until one succeeds
	// cutOwed: the file holds bytes past its last good record that could
	// not be truncated (the records a failed SyncAlways sync took back,
	// or part of a failed write). Nothing is written until the cut is
	// made (cutBack).
	cutOwed  bool
	kick     chan struct{}
	soon     chan struct{} // the stage's current half is filling: flush before the window ends
	window   time.Duration // batchWindow (tests wait longer)
	done     chan struct{}
	bg       sync.WaitGroup
	closed   bool
	chainBuf []byte    // the chain members of the record being written
	line     []byte    // a record written to the log directly (not staged)
	last     []byte    // the last record, as written; valid while w.mu is held
	hash     hash.Hash // SHA-256, for the chain
	sum      [sha256.Size]byte
	stamp    stampCache // the record time's second, formatted
	keyID    string
}

// Open opens the log at path with default options, for callers that
// need no rotation or checkpoints.
func Open(path, syncMode string) (*Writer, error) {
	return OpenChain(Options{Path: path, Sync: syncMode})
}

// OpenChain opens (creating it if needed, mode 0600) the chain whose
// active file is o.Path. An existing chain is continued: its last
// complete record gives the sequence and hash, an incomplete last
// record (a crash mid-write, whose statement never ran) is cut off, and
// an audit-restart record says so.
func OpenChain(o Options) (*Writer, error) {
	switch o.Sync {
	case SyncAlways, SyncBatch, SyncNone:
	default:
		return nil, fmt.Errorf("auditlog: unknown sync mode %q", o.Sync)
	}
	if o.Instance == "" {
		host, _ := os.Hostname()
		o.Instance = "rrproxy@" + host
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	w := &Writer{o: o, prev: hashOf(zeroHash), kick: make(chan struct{}, 1), soon: make(chan struct{}, 1), window: batchWindow, done: make(chan struct{}), hash: sha256.New()}
	w.synced = sync.NewCond(&w.mu)
	if o.CheckpointKey != nil {
		pub := o.CheckpointKey.Public().(ed25519.PublicKey)
		sum := sha256.Sum256(pub)
		w.keyID = hex.EncodeToString(sum[:8])
	}
	// A rotation cut short by a crash leaves its unfinished next file.
	_ = os.Remove(o.Path + ".next")
	f, err := os.OpenFile(o.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	// One writer per chain: a second rrproxy on the same file would
	// interleave two sequences.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("auditlog: %s is in use by another process (give each instance its own audit.path): %w", o.Path, err)
	}
	w.f = f
	last, cut, clean, err := recoverTail(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("auditlog: %s: %w", o.Path, err)
	}
	if last == nil {
		// A new active file: continue the chain of the newest rotated
		// file, if there is one.
		if last, err = lastOfRotated(o.Path); err != nil {
			f.Close()
			return nil, fmt.Errorf("auditlog: %w", err)
		}
	}
	st, _ := f.Stat()
	w.size, w.fileSize = st.Size(), st.Size()
	w.opened = time.Now()
	w.lastCkpt = time.Now()
	if last != nil {
		w.seq, w.prev = last.seq, hashOf(last.hash)
	}
	// Records staged by a run that died before flushing them.
	staged, err := readStage(o.Path)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	recovered := stagedContinuation(staged, w.seq, w.prev.String())
	for _, e := range recovered {
		if err := w.writeFile(e.raw); err != nil {
			f.Close()
			return nil, fmt.Errorf("auditlog: recovering staged records: %w", err)
		}
		w.size += int64(len(e.raw))
		w.seq, w.prev = e.seq, hashOf(e.hash)
		last, clean = &tailRecord{seq: e.seq, hash: e.hash}, false
	}
	if len(recovered) > 0 {
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("auditlog: recovering staged records: %w", err)
		}
	}
	if o.Sync != SyncAlways {
		if w.stage, err = openStage(o.Path, cmp.Or(o.StageBytes, defaultStageBytes)); err != nil {
			f.Close()
			return nil, err
		}
	} else if staged != nil {
		_ = os.Remove(stagePath(o.Path))
	}
	ev := &Event{Action: "audit-start", Outcome: "success"}
	if last != nil {
		ev.Action = "audit-restart"
		switch {
		case cut > 0 || len(recovered) > 0:
			ev.Reason = "previous run ended without audit-stop"
			if cut > 0 {
				// A record cut short in the log was either being written
				// directly (and was never acknowledged, so its statement
				// never ran) or being flushed from the staging file (and
				// is recovered whole below).
				ev.Reason += fmt.Sprintf("; discarded %d bytes of an incomplete last record", cut)
				if len(recovered) == 0 {
					ev.Reason += " (never acknowledged: its statement was never run)"
				}
			}
			if len(recovered) > 0 {
				ev.Reason += fmt.Sprintf("; %d staged records recovered from %s", len(recovered), filepath.Base(stagePath(o.Path)))
			}
		case !clean:
			ev.Reason = "previous run ended without audit-stop"
		default:
			ev.Reason = "previous run stopped cleanly"
		}
	}
	w.markSynced()
	w.written = w.seq
	if o.Sync == SyncAlways {
		w.wave = &syncWave{}
	}
	// The start or restart record comes first, before any rotation or
	// checkpoint the previous run left due: after an audit-stop only an
	// audit-restart may follow (docs/audit-format.md).
	w.mu.Lock()
	_, err = w.append(ev)
	if err == nil {
		err = w.syncLocked(w.seq)
	}
	w.mu.Unlock()
	if err != nil {
		w.closeFiles(false)
		return nil, err
	}
	if w.stage != nil {
		w.bg.Add(1)
		go w.backgroundSync()
	}
	// A signed checkpoint at once: a chain with none could be anyone's.
	w.mu.Lock()
	err = w.checkpoint()
	if err == nil {
		err = w.syncLocked(w.seq)
	}
	w.mu.Unlock()
	if err != nil {
		close(w.done)
		w.bg.Wait()
		w.closeFiles(false)
		return nil, err
	}
	if tick := maintainTick(o); tick > 0 {
		w.bg.Add(1)
		go w.maintainLoop(tick)
	}
	return w, nil
}

// maintainTick is how often maintainLoop looks whether a time-based
// checkpoint or rotation is due: a quarter of the shorter interval,
// between 10 ms and a minute (0: nothing is time-based).
func maintainTick(o Options) time.Duration {
	var d time.Duration
	for _, v := range []time.Duration{o.RotateEvery, o.CheckpointInterval} {
		if v > 0 && (d == 0 || v < d) {
			d = v
		}
	}
	if d == 0 || (o.CheckpointKey == nil && o.RotateEvery == 0) {
		return 0
	}
	return min(max(d/4, 10*time.Millisecond), time.Minute)
}

// maintainLoop writes the checkpoints and rotations that fall due by
// time while no record arrives to trigger them (Record checks due on
// every record). Without it an idle proxy would leave its last records
// unsigned, where a cut of the log's tail is not detectable, for as
// long as it stays idle. A checkpoint is written only if records came
// after the last one. A failure is left for the next record, which
// finds the same work due, tries it again and is refused if it fails.
func (w *Writer) maintainLoop(tick time.Duration) {
	defer w.bg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
		}
		w.mu.Lock()
		w.quiesce()
		rotate, ckpt := w.due()
		ckpt = ckpt && w.sinceCkpt > 0
		if w.closed || w.syncErr != nil || (!rotate && !ckpt) {
			w.mu.Unlock()
			continue
		}
		if err := w.maintain(rotate, ckpt); err == nil {
			switch w.o.Sync {
			case SyncAlways:
				if err := w.syncLocked(w.seq); err != nil {
					w.syncErr = err // the next record syncs first, or is refused
				}
			default:
				w.wakeFlusher() // it writes and syncs what was staged
			}
		}
		w.mu.Unlock()
	}
}

// closeFiles closes the log and the staging file, removing the latter if
// everything staged is in the log.
func (w *Writer) closeFiles(drained bool) error {
	var err error
	if w.stage != nil {
		err = w.stage.close(drained)
	}
	return errors.Join(err, w.f.Close())
}

type tailRecord struct {
	seq  uint64
	hash string
}

// recoverTail finds the last complete record of f, truncating an
// incomplete one after it. clean reports whether that record is an
// audit-stop (or a checkpoint right after one).
func recoverTail(f *os.File) (last *tailRecord, cut int64, clean bool, err error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, false, err
	}
	size := st.Size()
	if size == 0 {
		return nil, 0, false, nil
	}
	// Read backwards in blocks until a complete line is found.
	const block = 64 << 10
	end := size
	var tail []byte
	for {
		start := max(end-block, 0)
		b := make([]byte, end-start)
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, false, err
		}
		tail = append(b, tail...)
		end = start
		if bytes.Count(tail, []byte("\n")) >= 2 || start == 0 {
			break
		}
	}
	// Bytes after the last newline are an incomplete record.
	nl := bytes.LastIndexByte(tail, '\n')
	cut = int64(len(tail) - (nl + 1))
	if cut > 0 {
		if err := f.Truncate(size - cut); err != nil {
			return nil, 0, false, fmt.Errorf("cut incomplete record: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, 0, false, err
		}
	}
	if nl < 0 {
		return nil, cut, false, nil
	}
	lines := bytes.Split(tail[:nl], []byte("\n"))
	rec, err := decodeLine(lines[len(lines)-1])
	if err != nil {
		return nil, 0, false, fmt.Errorf("last record does not parse: %w", err)
	}
	t, err := tailOf(rec)
	if err != nil {
		return nil, 0, false, err
	}
	action, _ := rec["event.action"].(string)
	return t, cut, action == "audit-stop", nil
}

func tailOf(rec map[string]any) (*tailRecord, error) {
	n, _ := rec["event.sequence"].(json.Number)
	seq, err := n.Int64()
	h, _ := rec["rrproxy.chain.hash"].(string)
	if err != nil || seq <= 0 || len(h) != 64 {
		return nil, fmt.Errorf("last record has no sequence or hash")
	}
	return &tailRecord{seq: uint64(seq), hash: h}, nil
}

// rotatedName is the name a file takes when rotated: its first
// sequence number, zero-padded so names sort in chain order.
func rotatedName(active string, firstSeq uint64) string {
	ext := filepath.Ext(active)
	return fmt.Sprintf("%s.%020d%s", strings.TrimSuffix(active, ext), firstSeq, ext)
}

// rotatedFiles lists the rotated files of active, oldest first.
func rotatedFiles(active string) ([]string, error) {
	ext := filepath.Ext(active)
	matches, err := filepath.Glob(strings.TrimSuffix(active, ext) + ".[0-9]*" + ext)
	if err != nil {
		return nil, err
	}
	return matches, nil // Glob sorts; the zero-padded numbers sort numerically
}

func lastOfRotated(active string) (*tailRecord, error) {
	files, err := rotatedFiles(active)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	f, err := os.Open(files[len(files)-1])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lastLine []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 128<<20)
	for sc.Scan() {
		lastLine = append(lastLine[:0], sc.Bytes()...)
	}
	if err := sc.Err(); err != nil || lastLine == nil {
		return nil, fmt.Errorf("%s: cannot read its last record: %v", files[len(files)-1], err)
	}
	rec, err := decodeLine(lastLine)
	if err != nil {
		return nil, err
	}
	return tailOf(rec)
}

// Record stamps ev (sequence, time, instance, chain links) and appends
// it. It returns once the record is staged or written and, with
// SyncAlways, on disk; on error nothing of the record is kept, and the
// caller must not run the statement it announces.
func (w *Writer) Record(ev *Event) (uint64, error) {
	pr, err := prepare(ev, w.o.Instance)
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	// Whether a rotation or checkpoint is due is decided once, here: a
	// time limit passing between this and maintain below must not make
	// maintain write the log while the flusher does.
	rotate, ckpt := w.due()
	// With SyncAlways, records are written while a sync is under way
	// (that is how they come to share the next); what replaces or
	// truncates the file waits for it.
	for (w.busy && w.mustWrite(pr, rotate || ckpt)) || (w.syncing && (rotate || ckpt || w.syncErr != nil)) {
		w.quiesce()
		rotate, ckpt = w.due()
	}
	if w.closed {
		// Before the retry below: after a Close that failed, the stage
		// is unmapped.
		w.mu.Unlock()
		pr.release()
		return 0, ErrClosed
	}
	if w.syncErr != nil {
		// The disk refused a sync: nothing is acknowledged until it
		// takes one again (and, with SyncAlways, until the records that
		// sync took back are out of the file).
		if err := w.retryLocked(); err != nil {
			w.mu.Unlock()
			pr.release()
			return 0, err
		}
	}
	// Checkpoints and rotation due from earlier records come first: if
	// they fail, nothing of this record is written, and the statement it
	// announces is not run.
	err = w.maintain(rotate, ckpt)
	var seq uint64
	if err == nil {
		seq, err = w.appendPrepared(ev, pr)
	}
	pr.release()
	if err != nil {
		w.mu.Unlock()
		return 0, err
	}
	switch w.o.Sync {
	case SyncAlways:
		err = w.awaitSync()
	case SyncBatch, SyncNone:
		w.wakeFlusher() // unless a flush is already due
		if w.stage != nil && w.stage.off >= w.stage.halfBytes()/flushShare {
			select {
			case w.soon <- struct{}{}:
			default:
			}
		}
	}
	w.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// retryLocked tries again, after a failed write or sync, to bring the
// log to where it can take records: the cut a failure left owed, the
// staged records written, the records of a failed sync written again,
// and one sync of all of it. It clears syncErr if that worked; w.mu is
// held, and the flusher is not writing (quiesce).
func (w *Writer) retryLocked() error {
	err := w.cutBack()
	if err == nil {
		err = w.syncLocked(w.seq)
	}
	if err == nil {
		w.syncErr = nil
	}
	return err
}

// mustWrite reports whether recording pr may write the log file itself
// rather than only stage the record: a failed sync to retry, a
// checkpoint or rotation due, or a record that may not fit in the
// current half of the stage. w.mu is held.
func (w *Writer) mustWrite(pr *prepared, maintain bool) bool {
	n := pr.maxLine()
	return w.syncErr != nil || maintain || w.stage == nil || !w.stage.fits(n) || !w.stage.room(n)
}

// quiesce waits until the background flusher is done with the log file.
// It lets go of w.mu while it waits, so callers use it before they
// start changing the chain, never in the middle. w.mu is held.
//
// With SyncAlways it also waits for a session's sync, and no new one
// starts while it waits (pausing): under load one starts as soon as the
// last ends, and what waits for the file (a rotation, a checkpoint,
// Close) would otherwise wait for ever.
func (w *Writer) quiesce() {
	if !w.busy && !w.syncing {
		return
	}
	w.pausing++
	for w.busy || w.syncing {
		w.synced.Wait()
	}
	w.pausing--
	if w.pausing == 0 {
		w.synced.Broadcast() // the sessions waiting to start a sync
	}
}

// prepared is a record encoded except for the members that depend on
// its place in the chain (time, sequence, previous hash, hash), which
// are added under the lock. Encoding is most of a record's cost; doing
// it before taking the lock lets concurrent sessions do it in parallel.
type prepared struct {
	members    []member // in rank order
	buf        []byte   // holds every member's encoding
	origin     []member // the Origin's members, if the event had one
	originSize int
}

// preparedPool recycles prepared records (and their buffers) between
// records: two per statement.
var preparedPool = sync.Pool{New: func() any {
	return &prepared{members: make([]member, 0, 32), buf: make([]byte, 0, 1024)}
}}

// maxLine bounds the length of pr's line once the chain members (time,
// sequence, previous hash, hash) are added: each is at most 96 bytes.
// The members are counted one by one: an Origin's are not in pr.buf.
func (pr *prepared) maxLine() int {
	n := 4*96 + 3 + pr.originSize
	for _, m := range pr.members {
		n += len(m.enc) + 1
	}
	return n
}

// release returns pr to the pool; pr must not be used afterwards.
func (pr *prepared) release() {
	if cap(pr.buf) > 64<<10 {
		return // an outsized statement: let it go
	}
	pr.origin = nil
	preparedPool.Put(pr)
}

func prepare(ev *Event, instance string) (*prepared, error) {
	ev.Instance = instance
	pr := preparedPool.Get().(*prepared)
	pr.members = pr.members[:0]
	if err := encodeMembers(pr, ev); err != nil {
		return nil, err
	}
	return pr, nil
}

// join appends the members of a, b and c (each in rank order, no rank
// in two of them) to dst as one canonical object. Before the first
// member ranked after mark it leaves gap bytes for a member to be
// filled in later, and returns their offset in dst (-1 if no member
// ranks after mark).
func join(dst []byte, a, b, c []member, mark rank, gap int) ([]byte, int) {
	dst = append(dst, '{')
	at := -1
	for first := true; len(a)+len(b)+len(c) > 0; first = false {
		var m member
		switch {
		case len(a) > 0 && (len(b) == 0 || a[0].rank < b[0].rank) && (len(c) == 0 || a[0].rank < c[0].rank):
			m, a = a[0], a[1:]
		case len(b) > 0 && (len(c) == 0 || b[0].rank < c[0].rank):
			m, b = b[0], b[1:]
		default:
			m, c = c[0], c[1:]
		}
		if !first {
			dst = append(dst, ',')
		}
		if at < 0 && m.rank > mark {
			at = len(dst)
			dst = slices.Grow(dst, gap)[:at+gap]
		}
		dst = append(dst, m.enc...)
	}
	return append(dst, '}'), at
}

// append writes one record; w.mu is held.
func (w *Writer) append(ev *Event) (uint64, error) {
	pr, err := prepare(ev, w.o.Instance)
	if err != nil {
		return 0, err
	}
	defer pr.release()
	return w.appendPrepared(ev, pr)
}

// appendTimestamp writes t as the canonical record time,
// "2006-01-02T15:04:05.000000Z" (UTC, microseconds), without the
// general-purpose formatter.
func appendTimestamp(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	us := t.Nanosecond() / 1000
	dst = appendPadded(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPadded(dst, int(mo), 2)
	dst = append(dst, '-')
	dst = appendPadded(dst, d, 2)
	dst = append(dst, 'T')
	dst = appendPadded(dst, h, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, mi, 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, s, 2)
	dst = append(dst, '.')
	dst = appendPadded(dst, us, 6)
	return append(dst, 'Z')
}

// stampCache keeps the formatted second of the last record's time:
// records come thousands a second, and differ in their microseconds.
type stampCache struct {
	sec  int64
	text [20]byte // "2006-01-02T15:04:05."
	ok   bool
}

// append writes t as appendTimestamp does.
func (c *stampCache) append(dst []byte, t time.Time) []byte {
	if sec := t.Unix(); !c.ok || sec != c.sec {
		var b [32]byte
		copy(c.text[:], appendTimestamp(b[:0], t))
		c.sec, c.ok = sec, true
	}
	dst = append(dst, c.text[:]...)
	dst = appendPadded(dst, t.Nanosecond()/1000, 6)
	return append(dst, 'Z')
}

// appendPadded writes v (0 <= v < 10^width, width <= 8) in decimal,
// zero-padded to width digits.
func appendPadded(dst []byte, v, width int) []byte {
	var b [8]byte
	for i := width - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, b[:width]...)
}

// appendPrepared adds the chain members to pr and writes it; w.mu is
// held. The line is built where it is kept: in the stage's mapping (or,
// for a record that is written to the log at once, in w.line), with
// room left for the hash member, which is filled in once the rest is
// hashed. A record is copied once, not once per step.
func (w *Writer) appendPrepared(ev *Event, pr *prepared) (uint64, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Seq, ev.Instance = w.seq+1, w.o.Instance
	if y := ev.Time.UTC().Year(); y < 1 || y > 9999 {
		return 0, fmt.Errorf("auditlog: encode: time %v is outside years 1-9999", ev.Time)
	}
	// The chain members go into one scratch buffer owned by the writer.
	ch := w.chainBuf[:0]
	ch = append(ch, `"@timestamp":"`...)
	ch = w.stamp.append(ch, ev.Time)
	ch = append(ch, '"')
	ts := len(ch)
	ch = append(ch, `"event.sequence":`...)
	ch = strconv.AppendUint(ch, ev.Seq, 10)
	sq := len(ch)
	ch = append(ch, `"rrproxy.chain.prev":"`...)
	ch = append(ch, w.prev[:]...)
	ch = append(ch, '"')
	w.chainBuf = ch
	extra := [3]member{
		{mTimestamp, ch[:ts]},
		{mEventSequence, ch[ts:sq]},
		{mChainPrev, ch[sq:]},
	}

	// Where the line goes. A record that does not fit in the stage is
	// written to the log itself, after everything staged.
	n := pr.maxLine()
	s := w.stage
	staged := s != nil && s.fits(n)
	if !staged || !s.room(n) {
		if err := w.drainLocked(); err != nil {
			return 0, err
		}
	}
	var dst []byte
	if staged {
		cur := s.cur()
		dst = cur[s.off:s.off:len(cur)]
	} else {
		dst = slices.Grow(w.line[:0], n)
	}

	// The record is hashed without its hash member (the canonical form
	// the chain covers), which then goes into the room join left for it:
	// "rrproxy.chain.hash" sorts before "rrproxy.chain.prev", so that
	// room is always inside the line.
	const hashName = `"rrproxy.chain.hash":"`
	const hashBytes = len(hashName) + 64 + 2 // name, hex digits, `",`
	line, at := join(dst, pr.members, pr.origin, extra[:], mChainHash, hashBytes)
	h := w.hash
	h.Reset()
	h.Write(line[:at])
	h.Write(line[at+hashBytes:])
	sum := h.Sum(w.sum[:0])
	k := at + copy(line[at:], hashName)
	hex.Encode(line[k:k+64], sum)
	line[k+64], line[k+65] = '"', ','
	line = append(line, '\n')
	if staged {
		if &line[0] != &s.cur()[s.off] {
			// maxLine is an upper bound: a line that outgrew it would
			// have been built outside the mapping.
			return 0, errors.New("auditlog: internal error: record longer than its bound")
		}
		s.off += len(line)
	} else {
		w.line = line
		if err := w.writeFile(line); err != nil {
			return 0, err
		}
		w.written = ev.Seq
	}
	w.last = line
	w.size += int64(len(line))
	w.seq = ev.Seq
	copy(w.prev[:], line[k:k+64])
	w.sinceCkpt++
	return ev.Seq, nil
}

// errBusy is an internal error: a step that writes the log file was
// reached while the background flusher was writing it. Record quiesces
// before every such step, so it is never expected; if it happens the
// record is refused rather than written out of order.
var errBusy = errors.New("auditlog: internal error: log written while the flusher is running")

// drainLocked writes the staged records, both halves in order, to the
// log (not synced); w.mu is held. On error they stay staged.
func (w *Writer) drainLocked() error {
	s := w.stage
	if s == nil || (s.pend == 0 && s.off == 0) {
		return nil
	}
	if w.busy {
		return errBusy
	}
	if s.pend > 0 {
		if err := w.writeFile(s.other()[:s.pend]); err != nil {
			return err
		}
		s.pend, w.written = 0, s.pendSeq
	}
	if s.off > 0 {
		if err := w.writeFile(s.cur()[:s.off]); err != nil {
			return err
		}
		s.off = 0
	}
	w.written = w.seq
	return nil
}

// writeFile appends b, whole records, to the log; w.mu is held.
func (w *Writer) writeFile(b []byte) error {
	// Nothing may follow bytes still owed a cut: a record written over
	// part of them would leave the rest behind it.
	if err := w.cutBack(); err != nil {
		return err
	}
	if cut, err := writeRecords(w.f, b, w.fileSize); err != nil {
		w.oweCut(cut, err)
		return err
	}
	w.fileSize += int64(len(b))
	return nil
}

// oweCut notes, after a failed write, whether the file could be cut
// back to its last complete record; w.mu is held. If not, part of the
// failed write may follow it, and a later, shorter write would leave the
// rest behind as garbage in the log: nothing more is written until the
// cut is made (Record's retry, cutBack).
func (w *Writer) oweCut(cut bool, err error) {
	if !cut {
		w.cutOwed, w.syncErr = true, err
		w.wakeFlusher()
	}
}

// wakeFlusher makes the flusher (batch, none) come round, if it is not
// already due: to write what was staged, or to retry a failure that a
// Record, maintainLoop or Close ran into while it was idle; w.mu is
// held.
func (w *Writer) wakeFlusher() {
	if w.stage == nil {
		return
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// writeRecords writes b, whole records, to f at offset at (the end of
// its complete records). After a failed or short write it cuts f back
// to at, so that no partial record stays for the next to follow; cut
// reports whether it could (if not, the writer owes the cut: oweCut).
func writeRecords(f *os.File, b []byte, at int64) (cut bool, err error) {
	if n, err := writeAtFn(f, b, at); err != nil || n != len(b) {
		return truncateFn(f, at) == nil, fmt.Errorf("auditlog: write: %w", cmp.Or(err, io.ErrShortWrite))
	}
	return true, nil
}

// due reports whether a rotation and a checkpoint are due; w.mu is held.
func (w *Writer) due() (rotate, ckpt bool) {
	o := w.o
	rotate = (o.RotateBytes > 0 && w.size >= o.RotateBytes) || (o.RotateEvery > 0 && time.Since(w.opened) >= o.RotateEvery)
	ckpt = o.CheckpointKey != nil && ((o.CheckpointEvery > 0 && w.sinceCkpt >= o.CheckpointEvery) ||
		(o.CheckpointInterval > 0 && time.Since(w.lastCkpt) >= o.CheckpointInterval))
	return rotate, ckpt
}

// maintain writes a checkpoint or rotates, as due says; w.mu is held.
func (w *Writer) maintain(rotate, ckpt bool) error {
	o := w.o
	if ckpt || (rotate && o.CheckpointKey != nil) {
		if err := w.checkpoint(); err != nil {
			return err
		}
	}
	if rotate {
		return w.rotate()
	}
	return nil
}

// checkpoint appends a signed checkpoint covering the last record.
func (w *Writer) checkpoint() error {
	if w.o.CheckpointKey == nil {
		return nil
	}
	msg := fmt.Sprintf("rrproxy-audit-checkpoint-v1\n%s\n%d\n%s\n", w.o.Instance, w.seq, w.prev.String())
	sig := ed25519.Sign(w.o.CheckpointKey, []byte(msg))
	ev := &Event{Action: "checkpoint", Outcome: "success", CheckpointSeq: w.seq, CheckpointHash: w.prev.String(),
		CheckpointKeyID: w.keyID, CheckpointSig: base64.StdEncoding.EncodeToString(sig)}
	if _, err := w.append(ev); err != nil {
		return err
	}
	w.sinceCkpt, w.lastCkpt = 0, time.Now()
	line := append([]byte(nil), w.last...) // w.last is reused by the next record
	if w.o.CheckpointCopy != "" {
		// The copy lives elsewhere so that cutting the log's tail is
		// visible; a failure to keep it is a failure to audit. The log
		// is synced first: a copy must never hold a checkpoint that a
		// power loss took from the log. (The lock stays held, so copies
		// are written in chain order.)
		if err := w.syncLocked(w.seq); err != nil {
			return err
		}
		c, err := os.OpenFile(w.o.CheckpointCopy, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("auditlog: checkpoint copy: %w", err)
		}
		_, err = c.Write(line)
		err = errors.Join(err, c.Sync(), c.Close())
		if err != nil {
			return fmt.Errorf("auditlog: checkpoint copy: %w", err)
		}
	}
	return nil
}

// rotate closes the active file under its rotated name and starts a new
// one whose first record links back to it. The new file is prepared under
// a temporary name with its audit-file-start record on disk before
// anything is renamed, so a failure (a full disk) leaves the active file
// as it was.
func (w *Writer) rotate() error {
	// Record quiesced the flusher (or the SyncAlways sync) before
	// maintain: it is not using the old file.
	if w.busy || w.syncing {
		return errBusy
	}
	if err := w.drainLocked(); err != nil {
		return fmt.Errorf("auditlog: rotate: %w", err)
	}
	first, err := firstSeq(w.f)
	if err != nil {
		return fmt.Errorf("auditlog: rotate: %w", err)
	}
	if err := w.rewriteUnsynced(); err != nil {
		return fmt.Errorf("auditlog: rotate: %w", err)
	}
	if err := fsyncFn(w.f); err != nil {
		return w.syncFailed(fmt.Errorf("auditlog: rotate: %w", err))
	}
	w.markSynced()
	w.dropCache(w.f, w.fileSize)
	name := rotatedName(w.o.Path, first)
	tmp := w.o.Path + ".next"
	nf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		err = syscall.Flock(int(nf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		return fmt.Errorf("auditlog: rotate: %w", err)
	}
	old, oldPos, oldDropped := w.f, w.pos(), w.dropped
	undo := func(err error) error {
		nf.Close()
		_ = os.Remove(tmp)
		w.f, w.dropped = old, oldDropped
		w.setPos(oldPos)
		w.written = w.seq
		return fmt.Errorf("auditlog: rotate: %w", err)
	}
	w.f, w.size, w.fileSize, w.dropped = nf, 0, 0, 0
	// The new file's first record is written into it directly, never
	// staged: the stage outlives a kill, and a staged audit-file-start
	// from a rotation killed before the renames below would be appended
	// by the next start to the old file, in the middle of a file, where
	// the chain no longer verifies (TestKilledUnderLoadRecovers failed
	// so once in CI).
	stage := w.stage
	w.stage = nil
	_, err = w.append(&Event{Action: "audit-file-start", Outcome: "success",
		FilePrevious: filepath.Base(name), FilePreviousLast: oldPos.seq})
	w.stage = stage
	if err != nil {
		return undo(err)
	}
	if err := nf.Sync(); err != nil {
		return undo(err)
	}
	if err := os.Rename(w.o.Path, name); err != nil {
		return undo(err)
	}
	if err := os.Rename(tmp, w.o.Path); err != nil {
		_ = os.Rename(name, w.o.Path)
		return undo(err)
	}
	_ = old.Close()
	syncDir(filepath.Dir(w.o.Path))
	w.markSynced()
	w.opened = time.Now()
	return nil
}

func firstSeq(f *os.File) (uint64, error) {
	r := bufio.NewReader(io.NewSectionReader(f, 0, 1<<62))
	line, err := r.ReadBytes('\n')
	if err != nil {
		return 0, err
	}
	rec, err := decodeLine(line)
	if err != nil {
		return 0, err
	}
	n, _ := rec["event.sequence"].(json.Number)
	v, err := n.Int64()
	return uint64(v), err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// syncLocked makes every written record durable; w.mu is held.
func (w *Writer) syncLocked(seq uint64) error {
	if err := w.drainLocked(); err != nil {
		return err
	}
	if w.syncedSeq >= seq && !w.rewriteOwed {
		return nil
	}
	if err := w.rewriteUnsynced(); err != nil {
		return err
	}
	if err := fdatasyncFn(w.f); err != nil {
		return w.syncFailed(fmt.Errorf("auditlog: sync: %w", err))
	}
	w.markSynced()
	if w.fileSize-w.dropped >= dropEvery {
		w.dropCache(w.f, w.fileSize)
	}
	return nil
}

// chainPos is where the chain stands: what a failed SyncAlways sync
// takes the log back to.
type chainPos struct {
	size, fileSize int64
	seq            uint64
	prev           chainHash
	sinceCkpt      int
	// lastCkpt: a checkpoint taken back is due again as soon as it was.
	lastCkpt time.Time
}

func (w *Writer) pos() chainPos {
	return chainPos{size: w.size, fileSize: w.fileSize, seq: w.seq, prev: w.prev, sinceCkpt: w.sinceCkpt,
		lastCkpt: w.lastCkpt}
}

// setPos puts the chain back where pos found it (the file is the
// caller's to truncate or replace).
func (w *Writer) setPos(p chainPos) {
	w.size, w.fileSize, w.seq, w.prev, w.sinceCkpt, w.lastCkpt = p.size, p.fileSize, p.seq, p.prev, p.sinceCkpt, p.lastCkpt
}

// syncFailed is what a failed sync of the log does; w.mu is held, and
// err is returned. With SyncBatch and SyncNone the records stay (their
// statements have run), are written again before the next sync
// (rewriteUnsynced), and records are refused until a sync succeeds.
// With SyncAlways no statement of a record written since the last good
// sync has run, and none will: the chain goes back to that sync, the
// file is cut there (the kernel may have marked the failed pages clean,
// so a later sync that succeeds would not mean they are on disk), and
// every session waiting for a sync gets err. Every failed SyncAlways
// sync comes here, whoever ran it (a session's, a checkpoint's,
// rotation's, Close's), so that no session still waiting for its record
// can be acknowledged by a later sync that covers the same bytes.
func (w *Writer) syncFailed(err error) error {
	w.syncErr = err
	if w.o.Sync != SyncAlways {
		w.rewriteOwed = true
		w.wakeFlusher()
		return err
	}
	w.setPos(w.syncedPos)
	w.last = nil
	w.cutOwed = true
	_ = w.cutBack() // if the file cannot be cut now, the next Record tries again
	if w.wave != nil {
		w.endWave(err)
	}
	return err
}

// cutBack truncates the log to the end of its last good record after a
// failed SyncAlways sync (syncFailed) or a failed write whose own cut
// failed (oweCut); w.mu is held. Until it has succeeded, records are
// refused: appending after records whose statements were refused would
// let a later sync make them part of the log, and a write shorter than
// the failed one would leave the rest of it behind.
func (w *Writer) cutBack() error {
	if !w.cutOwed {
		return nil
	}
	if err := truncateFn(w.f, w.fileSize); err != nil {
		return fmt.Errorf("auditlog: the log cannot be cut back to its last good record (after a failed write or sync), so nothing more is recorded until it can be: %w", err)
	}
	w.cutOwed = false
	return nil
}

// truncateFn is the log's ftruncate(2); tests replace it to make the cut
// after a failed sync or write fail.
var truncateFn = (*os.File).Truncate

// rewriteUnsynced writes the log's bytes after the last good sync again,
// as they read back, once a sync has failed (SyncBatch, SyncNone; with
// SyncAlways such records are cut instead); w.mu is held. Their
// statements have run, so they must reach the disk: but when write-back
// fails, Linux may mark the pages clean without writing them, and a
// later fdatasync that succeeds says nothing about them. Written again,
// they are dirty again, and the next sync covers them or fails.
//
// What reads back is checked as it goes: whole records, each with its
// own hash correct, in sequence from the last synced record to the last
// one written, each linked to the one before. If the kernel has
// meanwhile let a page go and the disk gave back something else, the
// records are lost to the disk; nothing after them is written again,
// the rewrite stays owed (so no record is acknowledged), and the error
// says what an operator must look at. The range is read, checked and
// written back a piece at a time: with SyncNone it can be the whole
// active file.
func (w *Writer) rewriteUnsynced() error {
	if !w.rewriteOwed {
		return nil
	}
	if w.lost != nil {
		return w.lost
	}
	c := unsyncedCheck{seq: w.syncedSeq}
	buf := make([]byte, min(w.fileSize-w.durable, rewriteChunk))
	for at := w.durable; at < w.fileSize; {
		n := int(min(int64(len(buf)), w.fileSize-at))
		if _, err := w.f.ReadAt(buf[:n], at); err != nil {
			return fmt.Errorf("auditlog: reading back the records written since the last good sync, to write them again: %w", err)
		}
		// Whole lines only; the rest is read again with the next piece.
		whole := bytes.LastIndexByte(buf[:n], '\n') + 1
		if whole == 0 && n == len(buf) {
			buf = make([]byte, 2*len(buf)) // a record longer than the piece
			continue
		}
		if err := c.lines(buf[:whole]); err != nil {
			return w.lostRecords(err)
		}
		if whole == 0 {
			return w.lostRecords(fmt.Errorf("the last %d bytes are not a whole record", n))
		}
		if _, err := writeAtFn(w.f, buf[:whole], at); err != nil {
			return fmt.Errorf("auditlog: writing again the records of a failed sync: %w", err)
		}
		at += int64(whole)
	}
	switch {
	case c.seq != w.written:
		return w.lostRecords(fmt.Errorf("they end at sequence %d, not %d", c.seq, w.written))
	case w.written == w.seq && c.seq > w.syncedSeq && c.prev != w.prev.String():
		return w.lostRecords(fmt.Errorf("the last of them is not the record last written (its hash differs)"))
	}
	w.rewriteOwed = false
	return nil
}

// rewriteChunk is how much of the log rewriteUnsynced reads at a time,
// unless a record is longer.
var rewriteChunk int64 = 4 << 20 // a variable for tests

// lostRecords notes that the records of a failed sync are lost to the
// disk, and returns the error every later Record gets.
func (w *Writer) lostRecords(err error) error {
	w.lost = fmt.Errorf("auditlog: records %d to %d of %s were in a failed sync and no longer read back intact (%v), so they may never reach the disk; nothing more is recorded: stop rrproxy, keep the log and its stage file, and run rrproxy audit verify",
		w.syncedSeq+1, w.written, w.o.Path, err)
	return w.lost
}

// unsyncedCheck follows the records after the last good sync as
// rewriteUnsynced reads them back: seq and prev are the last one's.
type unsyncedCheck struct {
	seq  uint64
	prev string
	line int
	buf  []byte
}

// lines checks b, whole lines, as the next records of the chain.
func (c *unsyncedCheck) lines(b []byte) error {
	for len(b) > 0 {
		c.line++
		nl := bytes.IndexByte(b, '\n')
		line := b[:nl]
		b = b[nl+1:]
		rec, err := decodeLine(line)
		if err != nil {
			return fmt.Errorf("line %d after the last good sync: %v", c.line, err)
		}
		e, err := checkRecord(&entry{line: c.line}, line, rec, &c.buf)
		if err != nil {
			return err
		}
		if e.seq != c.seq+1 || (c.prev != "" && e.prev != c.prev) {
			return fmt.Errorf("line %d after the last good sync does not continue the chain", c.line)
		}
		c.seq, c.prev = e.seq, e.hash
	}
	return nil
}

// fsyncFn is the fsync(2) of the log before rotation and at Close; tests
// replace it to make one fail.
var fsyncFn = (*os.File).Sync

// markSynced notes that every record written is on disk; w.mu is held.
// With SyncAlways that ends the wave of records waiting for a sync.
func (w *Writer) markSynced() {
	w.syncedSeq, w.syncedPos, w.durable = w.seq, w.pos(), w.fileSize
	if w.wave != nil {
		w.endWave(nil)
	}
}

// endWave ends the open wave (SyncAlways) with err, nil if its records
// are on disk, and opens the next.
func (w *Writer) endWave(err error) {
	w.wave.done, w.wave.err = true, err
	w.wave = &syncWave{}
	w.synced.Broadcast()
}

// syncWave is the records written (SyncAlways) since the last sync
// began; done and err are set, under w.mu, when the sync that covers
// them ends.
type syncWave struct {
	done bool
	err  error
}

// awaitSync returns once the record just written (SyncAlways) is on disk,
// or with the error that took it back out of the log; w.mu is held, and
// let go while waiting or syncing. Group commit: if no sync is under way
// the session syncs everything written so far itself; if one is, it
// waits for that one and then, unless another session got there first,
// syncs its own wave. So concurrent sessions share one fdatasync per
// wave, and each record is still on disk before its Record returns.
//
// A failed sync takes the log back to where the last good sync left it
// (the records of the failed wave are in the file but not known to be
// on disk, and their statements will not run: the log must not announce
// them), which also removes the records written while it ran; both
// waves fail, and records are refused until a sync succeeds again.
func (w *Writer) awaitSync() error {
	wv := w.wave
	for !wv.done {
		if w.closed {
			return ErrClosed // Close marks the waves it synced done; this one it could not
		}
		if w.syncing || w.pausing > 0 {
			w.synced.Wait()
			continue
		}
		// No sync under way and this wave not done: it is the open one.
		w.syncing = true
		w.wave = &syncWave{}
		f, at := w.f, w.pos()
		w.mu.Unlock()
		err := fdatasyncFn(f)
		w.mu.Lock()
		w.syncing = false
		if err != nil {
			// The records written while it ran are gone too.
			err = w.syncFailed(fmt.Errorf("auditlog: sync: %w", err))
		} else {
			w.syncedSeq, w.syncedPos, w.durable = at.seq, at, at.fileSize
			if w.fileSize-w.dropped >= dropEvery {
				w.dropCache(w.f, at.fileSize)
			}
		}
		wv.done, wv.err = true, err
		w.synced.Broadcast()
	}
	return wv.err
}

// dropEvery: with SyncAlways, the synced part of the log is dropped from
// the page cache in steps of this size rather than after every record.
const dropEvery = 1 << 20

// dropCache tells the kernel that the log's bytes up to upto, which are
// on disk, will not be read again, so their page cache is given back
// and reused for the next records. An audit log is written once and
// read only by a reviewer's tools: without this it would grow the page
// cache by its own size (counted against a container's memory limit),
// and every new record would land in a page the kernel has to find
// and, in a VM, the host to back. Advice only: an error changes
// nothing. Called with w.mu held, or by the flusher while busy.
func (w *Writer) dropCache(f *os.File, upto int64) {
	// The last, partly written page stays: dropping it would make the
	// next write read it back from disk first.
	upto &^= int64(os.Getpagesize() - 1)
	if upto <= w.dropped {
		return
	}
	_ = unix.Fadvise(int(f.Fd()), w.dropped, upto-w.dropped, unix.FADV_DONTNEED)
	w.dropped = upto
}

// batchWindow is how long the flusher waits after the first staged
// record before it writes the staged records to the log, so that the
// records of concurrent sessions share one write(2) (and, every
// SyncInterval, one fdatasync). It frees the stage's half for reuse.
// Under load the flusher comes sooner, once 1/flushShare of the half is
// staged, so the half never fills. A write of the log every 10 ms, as it
// was, delayed one point select in fifty at one client: at 50 ms, the
// p99 of 1 sysbench thread was lower in five of five alternating rounds,
// by 10-60 µs.
const batchWindow = 50 * time.Millisecond

// flushShare: the flusher is called early once a half is this fraction
// full (256 KiB of the default stage: about 9 ms at 30,000 records/s).
const flushShare = 4

// backgroundSync moves staged records into the log and, with
// SyncBatch, makes them durable: within batchWindow of a record being
// staged, one write and one fdatasync cover it and every record staged
// with it. The write and the sync run outside the lock (w.busy), on the
// half of the stage that was current until then, while sessions stage
// into the other half. A failed write or sync makes Record refuse
// further records until one succeeds.
func (w *Writer) backgroundSync() {
	defer w.bg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-w.kick:
		case <-w.soon:
		}
		// Write what is staged every batchWindow while records come, and
		// keep coming back while written records are not yet synced.
		for {
			t.Reset(w.window)
			select {
			case <-w.done:
				return
			case <-t.C:
			case <-w.soon:
				t.Stop()
			}
			if !w.flush() {
				break
			}
		}
	}
}

// flush is one round of backgroundSync: it writes the staged records to
// the log and, once SyncInterval has passed since the last sync, syncs.
// It reports whether written records wait for a sync.
func (w *Writer) flush() (unsynced bool) {
	w.mu.Lock()
	w.quiesce()
	s := w.stage
	if w.closed {
		w.mu.Unlock()
		return false
	}
	if w.syncErr != nil {
		// After a failure the next Record retries under the lock, and so
		// does the flusher once per SyncInterval meanwhile: on an idle
		// proxy, records acknowledged before the failure would otherwise
		// wait for the next statement to reach the disk.
		if time.Since(w.lastRetry) >= w.o.SyncInterval {
			w.lastRetry = time.Now()
			w.retryLocked()
		}
		failing := w.syncErr != nil
		w.mu.Unlock()
		return failing // come back while it fails
	}
	if s.pend == 0 && s.off > 0 {
		s.swap(w.seq)
	}
	batch := w.o.Sync == SyncBatch
	now := time.Now()
	syncNow := batch && now.Sub(w.lastSync) >= w.o.SyncInterval
	if s.pend == 0 && (!syncNow || w.syncedSeq >= w.written) {
		unsynced = batch && w.syncedSeq < w.written
		w.mu.Unlock()
		return unsynced
	}
	f, at, data, target := w.f, w.fileSize, s.other()[:s.pend], w.written
	if s.pend > 0 {
		target = s.pendSeq
	}
	w.busy = true
	w.mu.Unlock()

	// Nobody else writes the log, moves its size or replaces the file
	// while busy: Record quiesces first.
	var werr, serr error
	cut := true
	if len(data) > 0 {
		cut, werr = writeRecords(f, data, at)
	}
	if werr == nil && syncNow {
		if err := fdatasyncFn(f); err != nil {
			serr = fmt.Errorf("auditlog: sync: %w", err)
		} else {
			w.dropCache(f, at+int64(len(data)))
		}
	}

	w.mu.Lock()
	w.busy = false
	switch {
	case werr != nil:
		// The records stay staged in the other half; the next Record
		// writes them under the lock or refuses.
		w.syncErr = werr
		w.oweCut(cut, werr)
	default:
		if len(data) > 0 {
			w.fileSize += int64(len(data))
			s.pend, w.written = 0, target
		}
		if serr != nil {
			_ = w.syncFailed(serr)
		} else if syncNow {
			w.lastSync = now
			if target > w.syncedSeq {
				w.syncedSeq, w.durable = target, at+int64(len(data))
			}
		}
	}
	// After a failure, the flusher comes back to retry (above).
	unsynced = w.syncErr != nil || (batch && w.syncedSeq < w.written)
	w.synced.Broadcast()
	w.mu.Unlock()
	return unsynced
}

// writeAtFn is the log's pwrite(2); tests replace it to make writes fail
// (EIO, ENOSPC) where no small filesystem can be mounted to fill.
var writeAtFn = (*os.File).WriteAt

// fdatasyncFn is fdatasync; tests replace it to make a sync fail, which
// a real filesystem cannot be made to do on demand.
var fdatasyncFn = fdatasync

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Close writes a final checkpoint and an audit-stop record, syncs and
// closes the file. Safe to call more than once.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	// The flusher finishes first: from audit-stop on, w.mu is not let go
	// until the writer is closed, so nothing can follow audit-stop.
	w.quiesce()
	if w.closed {
		return nil
	}
	// Records a failed sync took back must be out of the file before
	// anything follows them; if they cannot be, nothing is appended.
	err := w.cutBack()
	if err == nil && w.rewriteOwed {
		// Records a failed sync left unsure of are written again, or
		// found lost, before anything follows them.
		if err = w.drainLocked(); err == nil {
			err = w.rewriteUnsynced()
		}
	}
	if err == nil {
		err = w.checkpoint()
		if _, e := w.append(&Event{Action: "audit-stop", Outcome: "success"}); e != nil {
			err = errors.Join(err, e)
		}
	}
	w.closed = true
	derr := w.drainLocked()
	if w.lost == nil && w.rewriteOwed {
		// A sync that failed since (the checkpoint copy's), or a rewrite
		// not yet tried (the drain or cut above failed): the final fsync
		// must cover the records it left unsure of too.
		derr = errors.Join(derr, w.rewriteUnsynced())
	}
	serr := fsyncFn(w.f)
	switch {
	case serr != nil:
		// With SyncAlways this takes back the records of the sessions
		// still waiting (they get the error) and the final records.
		serr = w.syncFailed(fmt.Errorf("auditlog: close: sync: %w", serr))
	case derr == nil && !w.rewriteOwed:
		w.markSynced() // with SyncAlways, the records waiting for a sync are on disk
	}
	// The stage is kept while records may be lost: it holds another
	// copy of them (the refusal tells the operator to keep it).
	err = errors.Join(err, derr, serr, w.closeFiles(derr == nil && !w.rewriteOwed))
	w.synced.Broadcast()
	close(w.done)
	w.mu.Unlock()
	w.bg.Wait()
	w.mu.Lock() // for the deferred Unlock
	return err
}

// Instance is the chain's name.
func (w *Writer) Instance() string { return w.o.Instance }
