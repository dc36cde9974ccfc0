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
// Stale lines from earlier batches stay in the mapping behind the
// current offset; recovery ignores them because they do not continue the
// log's chain (each was flushed before it was overwritten).

// defaultStageBytes is the staging area's size: at 30,000 records a
// second of about 700 bytes, two batch windows' worth. A batch that fills
// it is flushed by the record that does not fit.
const defaultStageBytes = 2 << 20

type stage struct {
	path string
	f    *os.File
	mem  []byte // the mapping
	off  int    // staged bytes not yet in the log
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
	return &stage{path: p, f: f, mem: mem}, nil
}

// fits reports whether line can be staged at all (bigger records are
// written to the log directly, after the staged ones).
func (s *stage) fits(line []byte) bool { return len(line) <= len(s.mem)/2 }

// room reports whether line fits after what is staged.
func (s *stage) room(line []byte) bool { return s.off+len(line) <= len(s.mem) }

func (s *stage) put(line []byte) {
	copy(s.mem[s.off:], line)
	s.off += len(line)
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
