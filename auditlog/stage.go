package auditlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// The staging file is how batch and none mode keep "written before the
// statement runs" without a write(2) per record. A record is copied into
// a memory-mapped file next to the log (<log>.stage) before Record
// returns: a shared file mapping lives in the kernel's page cache, so the
// record survives the process being killed exactly as a written one
// would, at the cost of a memory copy. The background flusher moves the
// staged records into the log with one write per batch, then syncs. On
// the next start, OpenChain appends any staged records that continue the
// log's chain and are missing from it (a crash between the copy and the
// flush).
//
// The mapping is two halves. Records are staged into one while the
// flusher writes the other to the log outside the writer's lock, so a
// session never waits for the flusher's write(2) (which, for a batch of a
// few hundred records, takes longer than a statement). The half being
// written holds records that precede every record of the current half.
//
// Stale lines from earlier batches stay in the mapping behind the
// current offsets; recovery ignores them because they do not continue the
// log's chain (a half is reused only once its records are in the log).

// defaultStageBytes is the staging area's size: at 30,000 records a
// second of about 900 bytes, a half holds about 37 ms of them, and the
// flusher is called when a quarter of it is staged (flushShare). A
// record that does not fit in the current half is written, with
// everything staged before it, by the session that brings it.
const defaultStageBytes = 2 << 20

type stage struct {
	path    string
	f       *os.File
	mem     []byte // the mapping: two halves
	half    int    // the half records are staged into (0 or 1)
	off     int    // bytes staged in that half
	pend    int    // bytes of the other half not yet in the log; they precede the current half's
	pendSeq uint64 // the last sequence number in them
}

// stagePath is the staging file of the active log file path.
func stagePath(active string) string { return active + ".stage" }

// readStage returns what the staging file of active holds (nil if there
// is none), for recovery.
func readStage(active string) ([]byte, error) {
	b, err := os.ReadFile(stagePath(active))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// openStage creates (or reuses) the staging file, with every block
// written so that a store into the mapping can never need disk space
// (which a full disk would turn into SIGBUS), and maps it.
func openStage(active string, size int) (*stage, error) {
	size = max(size&^1, 4<<10) // two halves of equal size
	p := stagePath(active)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("auditlog: staging file: %w", err)
	}
	fail := func(err error) (*stage, error) {
		f.Close()
		_ = os.Remove(p)
		return nil, fmt.Errorf("auditlog: staging file %s: %w", p, err)
	}
	zeros := make([]byte, 64<<10)
	for at := 0; at < size; at += len(zeros) {
		n := min(len(zeros), size-at)
		if _, err := f.WriteAt(zeros[:n], int64(at)); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fail(err)
	}
	mem[0], mem[size/2] = '\n', '\n' // see halfBytes
	return &stage{path: p, f: f, mem: mem}, nil
}

// halfBytes is what one half holds. Each half begins with a newline of
// its own, outside that room: recovery reads the file as one run of
// lines, and without it the first record of the second half would be
// read as the end of whatever stale bytes end the first.
func (s *stage) halfBytes() int { return len(s.mem)/2 - 1 }

// cur is the half being staged into, other the half being flushed.
func (s *stage) cur() []byte   { return s.halfAt(s.half) }
func (s *stage) other() []byte { return s.halfAt(1 - s.half) }

func (s *stage) halfAt(i int) []byte {
	start := i*len(s.mem)/2 + 1
	return s.mem[start : start+s.halfBytes()]
}

// fits reports whether a line of n bytes can be staged at all (bigger
// records are written to the log directly, after the staged ones).
func (s *stage) fits(n int) bool { return n <= s.halfBytes()/2 }

// room reports whether a line of n bytes fits after what is staged.
func (s *stage) room(n int) bool { return s.off+n <= s.halfBytes() }

// swap hands the current half to the flusher (seq is the last sequence
// number staged in it) and stages into the other, which must be empty.
func (s *stage) swap(seq uint64) {
	s.pend, s.pendSeq = s.off, seq
	s.half, s.off = 1-s.half, 0
}

// close unmaps and closes the staging file, and removes it if remove is
// set (everything staged is in the log).
func (s *stage) close(remove bool) error {
	err := errors.Join(syscall.Munmap(s.mem), s.f.Close())
	s.mem = nil
	if remove {
		err = errors.Join(err, os.Remove(s.path))
	}
	return err
}

// stagedContinuation returns the staged records that continue the chain
// after (seq, hash), in order: complete canonical lines whose own hash
// verifies and that link one to the next. Each entry's raw is its line,
// newline included, as it goes into the log.
func stagedContinuation(data []byte, seq uint64, hash string) []*entry {
	byPrev := map[string]*entry{}
	var buf []byte
	for len(data) > 0 {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			break // an incomplete copy: the record was never acknowledged
		}
		line := data[:nl]
		data = data[nl+1:]
		if len(line) == 0 || line[0] != '{' {
			continue // zero fill, or the rest of an older, longer record
		}
		rec, err := decodeLine(line)
		if err != nil {
			continue
		}
		e, err := checkRecord(&entry{}, line, rec, &buf)
		if err != nil {
			continue
		}
		// A copy of the line with its newline (the staged bytes are
		// overwritten once flushed); the decoded record is not kept.
		e.raw, e.rec = append(line[:len(line):len(line)], '\n'), nil
		byPrev[e.prev] = e
	}
	var out []*entry
	for {
		e := byPrev[hash]
		if e == nil || e.seq != seq+1 {
			return out
		}
		out = append(out, e)
		seq, hash = e.seq, e.hash
	}
}
