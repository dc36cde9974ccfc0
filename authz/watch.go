package authz

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Watch reloads file into s when a signal (SIGHUP in rrproxy) arrives on
// hup, and when the file's content changes. The file is polled every
// `every`: a size or modification time that differs from the last look
// makes Watch read the file and compare a SHA-256 of its bytes, so a touch
// without a change does not reload, and an editor's write-then-rename is
// seen (the path is opened afresh each time). An edit that keeps the size
// and lands within the file system's timestamp granularity of the last
// look is caught only by a signal. every <= 0 turns polling off; hup may
// be nil.
//
// Each reload attempt calls report(p, err): p is the policy now in force
// when err is nil; otherwise err says why the previous policy keeps
// serving. A signal always reloads and reports. Polling reports only a
// change: new content (whether it loads or not) or a new reason the file
// cannot be read. A file that vanished (an editor mid-rename, say) is
// reported once and looked for again on every tick; when it comes back it
// is reloaded even if its content is what was in force.
//
// Watch returns when ctx ends. report runs on Watch's goroutine, one call
// at a time.
func (s *Store) Watch(ctx context.Context, file string, every time.Duration, hup <-chan os.Signal, report func(p *Policy, err error)) {
	var ticks <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		ticks = t.C
	}
	s.watchLoop(ctx, file, ticks, hup, report, func() {})
}

// watchLoop is Watch with the clock injected, so tests decide when a
// poll happens. handled runs after the initial look and after each tick
// or signal has been dealt with (and reported, if it was news).
func (s *Store) watchLoop(ctx context.Context, file string, ticks <-chan time.Time, hup <-chan os.Signal, report func(p *Policy, err error), handled func()) {
	w := &watcher{store: s, file: file, report: report}
	w.prime()
	handled()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			w.check(false)
		case <-hup:
			w.check(true)
		}
		handled()
	}
}

// watcher is the state of one Watch: what the file looked like when last
// read, and the last failure reported, so that a tick reports only news.
type watcher struct {
	store   *Store
	file    string
	report  func(*Policy, error)
	seen    fileState
	lastErr string
}

type fileState struct {
	ok      bool // false: nothing known, the next look reloads
	size    int64
	modTime time.Time
	sum     [sha256.Size]byte
}

// prime records the file as it is now. The policy in force was loaded
// from it a moment ago; if the file changed since, reload now.
func (w *watcher) prime() {
	st, err := w.read(fileState{})
	if err != nil {
		w.fail(err, false)
		return
	}
	w.seen = st
	// Policy.Version is the first 8 bytes of the file's SHA-256, in hex.
	if cur := w.store.Current(); cur == nil || hex.EncodeToString(st.sum[:8]) != cur.Version {
		w.reload()
	}
}

// check looks at the file and reloads it if it changed, or always if force.
func (w *watcher) check(force bool) {
	prev := w.seen
	if force {
		prev = fileState{}
	}
	st, err := w.read(prev)
	if err != nil {
		w.fail(err, force)
		return
	}
	changed := !w.seen.ok || st.sum != w.seen.sum
	w.seen = st
	if force || changed {
		w.reload()
	}
}

// read opens the file and returns its state. If size and modification
// time match prev (and prev is known), it returns prev without reading the
// content; otherwise it hashes the bytes.
func (w *watcher) read(prev fileState) (fileState, error) {
	f, err := os.Open(w.file)
	if err != nil {
		return fileState{}, fmt.Errorf("authz: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileState{}, fmt.Errorf("authz: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fileState{}, fmt.Errorf("authz: %s is not a regular file", w.file)
	}
	if prev.ok && fi.Size() == prev.size && fi.ModTime().Equal(prev.modTime) {
		return prev, nil
	}
	// The stat is taken before reading: a write that lands during the
	// read moves the modification time, and the next tick sees it.
	data, err := io.ReadAll(f)
	if err != nil {
		return fileState{}, fmt.Errorf("authz: read %s: %w", w.file, err)
	}
	return fileState{ok: true, size: fi.Size(), modTime: fi.ModTime(), sum: sha256.Sum256(data)}, nil
}

// reload puts the file in force through Store.Reload and reports.
func (w *watcher) reload() {
	p, err := w.store.Reload(w.file)
	if err != nil {
		w.lastErr = err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			// The file went away between our read and Reload's: forget
			// what we saw so the next tick tries again.
			w.seen = fileState{}
		}
		w.report(nil, err)
		return
	}
	w.lastErr = ""
	w.report(p, nil)
}

// fail handles a file that cannot be read: forget its state (so that it
// is reloaded when it is back) and report, unless this same failure was
// the last thing reported and nobody asked.
func (w *watcher) fail(err error, force bool) {
	w.seen = fileState{}
	if !force && err.Error() == w.lastErr {
		return
	}
	w.lastErr = err.Error()
	w.report(nil, err)
}
