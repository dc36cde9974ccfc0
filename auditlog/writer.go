package auditlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Event is one audit record. Field names follow the Elastic Common Schema
// so that SIEMs ingest the file as is.
type Event struct {
	Seq       uint64    `json:"event.sequence"`
	Time      time.Time `json:"@timestamp"`
	Action    string    `json:"event.action"`            // connect, login, statement, disconnect, ...
	Outcome   string    `json:"event.outcome,omitempty"` // success, failure, unknown (intent)
	Phase     string    `json:"rrproxy.phase,omitempty"` // intent | outcome for statements
	User      string    `json:"user.name,omitempty"`
	Source    string    `json:"source.address,omitempty"`
	SessionID uint32    `json:"rrproxy.session_id,omitempty"`
	Upstream  uint32    `json:"rrproxy.upstream_connection_id,omitempty"`
	TLS       string    `json:"tls.version,omitempty"`
	Client    string    `json:"user_agent.name,omitempty"`
	Database  string    `json:"rrproxy.database,omitempty"`
	Command   string    `json:"rrproxy.command,omitempty"`
	Statement string    `json:"rrproxy.statement,omitempty"`
	Rewritten string    `json:"rrproxy.rewritten_statement,omitempty"` // what was sent upstream instead
	Shadow    string    `json:"rrproxy.shadow,omitempty"`              // what shadow-mode rules would have done
	Kinds     []string  `json:"rrproxy.statement_kinds,omitempty"`
	Tables    []string  `json:"rrproxy.tables,omitempty"`
	Rule      string    `json:"rule.id,omitempty"`
	Policy    string    `json:"rrproxy.policy_version,omitempty"`
	Reason    string    `json:"event.reason,omitempty"`
	Rows      int64     `json:"rrproxy.rows,omitempty"`
	Bytes     int64     `json:"rrproxy.bytes,omitempty"`
	Duration  int64     `json:"event.duration,omitempty"` // nanoseconds, as ECS
	ErrorCode uint16    `json:"error.code,omitempty"`
	IntentSeq uint64    `json:"rrproxy.intent_sequence,omitempty"`
}

// Sync modes.
const (
	SyncAlways = "always" // fsync after every record
	SyncBatch  = "batch"  // fsync at most every batchWindow, in the background
	SyncNone   = "none"   // leave it to the OS
)

const batchWindow = 20 * time.Millisecond

// Writer appends events to a file. Safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	f     *os.File
	seq   uint64
	sync  string
	dirty bool
	done  chan struct{}
	wg    sync.WaitGroup
	buf   []byte
	once  sync.Once
}

// Open opens (creating if needed, mode 0600) the log at path for appending.
func Open(path, syncMode string) (*Writer, error) {
	switch syncMode {
	case SyncAlways, SyncBatch, SyncNone:
	default:
		return nil, fmt.Errorf("auditlog: unknown sync mode %q", syncMode)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	w := &Writer{f: f, sync: syncMode, done: make(chan struct{})}
	if syncMode == SyncBatch {
		w.wg.Add(1)
		go w.batchSyncer()
	}
	return w, nil
}

// Record stamps ev with the next sequence number and time and appends it.
func (w *Writer) Record(ev *Event) (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, errors.New("auditlog: writer is closed")
	}
	w.seq++
	ev.Seq = w.seq
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	b, err := json.Marshal(ev)
	if err != nil {
		w.seq--
		return 0, fmt.Errorf("auditlog: encode: %w", err)
	}
	w.buf = append(append(w.buf[:0], b...), '\n')
	if _, err := w.f.Write(w.buf); err != nil {
		w.seq--
		return 0, fmt.Errorf("auditlog: write: %w", err)
	}
	switch w.sync {
	case SyncAlways:
		if err := w.f.Sync(); err != nil {
			return 0, fmt.Errorf("auditlog: sync: %w", err)
		}
	case SyncBatch:
		w.dirty = true
	}
	return ev.Seq, nil
}

func (w *Writer) batchSyncer() {
	defer w.wg.Done()
	t := time.NewTicker(batchWindow)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			w.mu.Lock()
			if w.dirty && w.f != nil {
				_ = w.f.Sync()
				w.dirty = false
			}
			w.mu.Unlock()
		}
	}
}

// Close syncs and closes the file.
func (w *Writer) Close() error {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := errors.Join(w.f.Sync(), w.f.Close())
	w.f = nil
	return err
}
