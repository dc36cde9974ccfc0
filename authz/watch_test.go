package authz

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// watchWait bounds every wait in these tests; nothing sleeps.
const watchWait = 10 * time.Second

type reloadReport struct {
	p   *Policy
	err error
}

// watchRig runs watchLoop on a policy file in a temporary directory with
// the clock and the signal channel in the test's hands.
type watchRig struct {
	t       *testing.T
	file    string
	good    []byte // the repository's policy.yaml
	store   *Store
	ticks   chan time.Time
	hup     chan os.Signal
	reports chan reloadReport
	handled chan struct{} // watchLoop finished with an event
}

func newWatchRig(t *testing.T) *watchRig {
	t.Helper()
	good, err := os.ReadFile("../policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := &watchRig{
		t:       t,
		file:    filepath.Join(t.TempDir(), "policy.yaml"),
		good:    good,
		ticks:   make(chan time.Time),
		hup:     make(chan os.Signal),
		reports: make(chan reloadReport, 16),
		handled: make(chan struct{}),
	}
	// policy.yaml names its pseudonym key relative to itself.
	if key, err := os.ReadFile("../pseudonym.key"); err == nil {
		if err := os.WriteFile(filepath.Join(filepath.Dir(r.file), "pseudonym.key"), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.write(good)
	p, err := Load(r.file)
	if err != nil {
		t.Fatal(err)
	}
	r.store = NewStore(p)
	return r
}

func (r *watchRig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.store.watchLoop(ctx, r.file, r.ticks, r.hup,
			func(p *Policy, err error) { r.reports <- reloadReport{p, err} },
			func() {
				select {
				case r.handled <- struct{}{}:
				case <-ctx.Done():
				}
			})
	}()
	r.waitHandled() // the initial look
	r.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(watchWait):
			r.t.Error("watchLoop did not return after cancel")
		}
	})
}

// write replaces the file the way editors do: write a sibling, rename it
// over the original.
func (r *watchRig) write(data []byte) {
	r.t.Helper()
	tmp := r.file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, r.file); err != nil {
		r.t.Fatal(err)
	}
}

// edit is the repository policy with old replaced by new (which must occur).
func (r *watchRig) edit(old, new string) []byte {
	r.t.Helper()
	if !strings.Contains(string(r.good), old) {
		r.t.Fatalf("policy.yaml no longer contains %q; update the test", old)
	}
	return []byte(strings.Replace(string(r.good), old, new, 1))
}

func (r *watchRig) send(ch any) {
	r.t.Helper()
	var ok bool
	switch ch := ch.(type) {
	case chan time.Time:
		select {
		case ch <- time.Now():
			ok = true
		case <-time.After(watchWait):
		}
	case chan os.Signal:
		select {
		case ch <- syscall.SIGHUP:
			ok = true
		case <-time.After(watchWait):
		}
	}
	if !ok {
		r.t.Fatal("watchLoop is not receiving")
	}
	r.waitHandled()
}

func (r *watchRig) waitHandled() {
	r.t.Helper()
	select {
	case <-r.handled:
	case <-time.After(watchWait):
		r.t.Fatal("watchLoop did not finish handling an event")
	}
}

func (r *watchRig) tick()   { r.t.Helper(); r.send(r.ticks) }
func (r *watchRig) sighup() { r.t.Helper(); r.send(r.hup) }

func (r *watchRig) next() reloadReport {
	r.t.Helper()
	select {
	case rep := <-r.reports:
		return rep
	case <-time.After(watchWait):
		r.t.Fatal("no reload reported")
		return reloadReport{}
	}
}

// quiet asserts that nothing was reported so far. tick and sighup
// return only once watchLoop has dealt with the event, reports included.
func (r *watchRig) quiet(why string) {
	r.t.Helper()
	select {
	case rep := <-r.reports:
		r.t.Fatalf("%s: unexpected report (policy %v, err %v)", why, rep.p, rep.err)
	default:
	}
}

// versionOf is the version data gets when it is the rig's policy file.
func (r *watchRig) versionOf(data []byte) string {
	r.t.Helper()
	p, err := Parse(r.file, data)
	if err != nil {
		r.t.Fatal(err)
	}
	return p.Version
}

func TestWatchReloadsChangedContent(t *testing.T) {
	r := newWatchRig(t)
	old := r.store.Current()
	r.start()
	r.tick()
	r.quiet("unchanged file")

	narrowed := r.edit("allow: [study.*]", "allow: [study.sites]")
	r.write(narrowed)
	r.tick()
	rep := r.next()
	if rep.err != nil {
		t.Fatalf("valid change: %v", rep.err)
	}
	if want := r.versionOf(narrowed); rep.p == nil || rep.p.Version != want || rep.p.Version == old.Version {
		t.Fatalf("reported policy %v, want version %s", rep.p, want)
	}
	if r.store.Current() != rep.p {
		t.Fatal("reported policy is not the one in force")
	}
	r.tick()
	r.quiet("after the reload")
}

func TestWatchIgnoresTouch(t *testing.T) {
	r := newWatchRig(t)
	r.start()
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(r.file, later, later); err != nil {
		t.Fatal(err)
	}
	r.tick()
	r.quiet("touch without a change")
	// Same bytes written afresh (new inode, new mtime): still no change.
	r.write(r.good)
	r.tick()
	r.quiet("rewrite with the same bytes")
}

func TestWatchBadFileKeepsOldPolicy(t *testing.T) {
	r := newWatchRig(t)
	old := r.store.Current()
	r.start()

	r.write(r.edit("allow: [study.*]", "allow: [study]"))
	r.tick()
	rep := r.next()
	if rep.err == nil || rep.p != nil {
		t.Fatalf("bad file: want an error and no policy, got %v, %v", rep.p, rep.err)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(r.file) + `:\d+: rules\[0\]\.allow\[0\]`).MatchString(rep.err.Error()) {
		t.Errorf("error does not name file:line and the field: %v", rep.err)
	}
	if r.store.Current() != old {
		t.Fatal("a bad file replaced the policy in force")
	}
	r.tick()
	r.quiet("the same bad file on the next tick")

	r.write([]byte("rules: [\n"))
	r.tick()
	if rep := r.next(); rep.err == nil || !strings.Contains(rep.err.Error(), r.file+":") {
		t.Fatalf("YAML syntax error: want file:line, got %v", rep.err)
	}
	if r.store.Current() != old {
		t.Fatal("unparsable YAML replaced the policy in force")
	}

	r.write(r.good)
	r.tick()
	if rep := r.next(); rep.err != nil || rep.p.Version != old.Version {
		t.Fatalf("fixed file: got %v, %v", rep.p, rep.err)
	}
}

func TestWatchSIGHUPAlwaysReloads(t *testing.T) {
	r := newWatchRig(t)
	old := r.store.Current()
	r.start()

	r.sighup()
	rep := r.next()
	if rep.err != nil || rep.p == nil || rep.p.Version != old.Version {
		t.Fatalf("SIGHUP on an unchanged file: got %v, %v", rep.p, rep.err)
	}
	inForce := r.store.Current()
	if inForce != rep.p {
		t.Fatal("SIGHUP's policy is not in force")
	}
	r.tick()
	r.quiet("tick after SIGHUP")

	// A bad file is reported on every SIGHUP, not only the first time.
	r.write(r.edit("allow: [study.*]", "allow: [study]"))
	r.sighup()
	if rep := r.next(); rep.err == nil {
		t.Fatal("SIGHUP with a bad file: no error")
	}
	r.sighup()
	if rep := r.next(); rep.err == nil {
		t.Fatal("second SIGHUP with a bad file: no error")
	}
	r.tick()
	r.quiet("tick after SIGHUP saw the bad file")
	if r.store.Current() != inForce {
		t.Fatal("a bad file replaced the policy in force")
	}
}

func TestWatchMissingFileKeepsOldPolicy(t *testing.T) {
	r := newWatchRig(t)
	old := r.store.Current()
	r.start()

	if err := os.Remove(r.file); err != nil {
		t.Fatal(err)
	}
	r.tick()
	rep := r.next()
	if rep.err == nil || !errors.Is(rep.err, fs.ErrNotExist) {
		t.Fatalf("deleted file: want a not-exist error, got %v", rep.err)
	}
	if r.store.Current() != old {
		t.Fatal("a missing file replaced the policy in force")
	}
	r.tick()
	r.quiet("still missing on the next tick") // reported once, not every tick

	r.sighup() // but a signal always answers
	if rep := r.next(); rep.err == nil {
		t.Fatal("SIGHUP with the file missing: no error")
	}

	r.write(r.good) // restored, same content: reloaded and reported
	r.tick()
	if rep := r.next(); rep.err != nil || rep.p == nil || rep.p.Version != old.Version {
		t.Fatalf("restored file: got %v, %v", rep.p, rep.err)
	}
}

// The file may change between the load that started the proxy and the
// start of Watch; Watch catches up at once.
func TestWatchReloadsChangeBeforeStart(t *testing.T) {
	r := newWatchRig(t)
	narrowed := r.edit("allow: [study.*]", "allow: [study.sites]")
	r.write(narrowed)
	r.start()
	if rep := r.next(); rep.err != nil || rep.p.Version != r.versionOf(narrowed) {
		t.Fatalf("got %v, %v", rep.p, rep.err)
	}
}

// Watch itself: a real ticker finds a change, and ctx ends it.
func TestWatchPollsAndStops(t *testing.T) {
	r := newWatchRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.store.Watch(ctx, r.file, 5*time.Millisecond, nil, func(p *Policy, err error) { r.reports <- reloadReport{p, err} })
	}()
	narrowed := r.edit("allow: [study.*]", "allow: [study.sites]")
	r.write(narrowed)
	if rep := r.next(); rep.err != nil || rep.p.Version != r.versionOf(narrowed) {
		t.Fatalf("got %v, %v", rep.p, rep.err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(watchWait):
		t.Fatal("Watch did not return after cancel")
	}
}
