package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// maxPercent bounds the GOGC the floor may set: with a nearly empty heap
// (a process just started) the floor alone decides the goal anyway.
const maxPercent = 5000

// Floor holds the collector's heap goal at or above its size until Stop.
type Floor struct {
	floor   uint64
	base    int // GOGC when Start ran
	stopped atomic.Bool

	mu     sync.Mutex // serialises adjust and Stop
	cur    int        // the GOGC last set
	sample []metrics.Sample
}

// sentinel is garbage as soon as it is made: its finalizer runs after the
// next collection, adjusts the goal and makes the next sentinel. The
// pointer keeps it out of the tiny allocator, whose blocks are freed (and
// finalizers run) only when every object in them is garbage.
type sentinel struct{ f *Floor }

// active is set while a Floor runs: GOGC is one per process, and a second
// Floor would take the first one's raised GOGC for the process's own.
var active atomic.Bool

// Start holds the heap goal at floor bytes or more. It does nothing (and
// returns nil) if floor is 0, the collector is off (GOGC=off), or a Floor
// is already running in this process (the demo, tests running several
// proxies).
func Start(floor uint64) *Floor {
	if floor == 0 || !active.CompareAndSwap(false, true) {
		return nil
	}
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(sample)
	base := -1 // GOGC=off reads as 0 here: the collector never runs, nothing to raise
	if sample[0].Value.Kind() == metrics.KindUint64 && sample[0].Value.Uint64() > 0 {
		base = int(sample[0].Value.Uint64())
	}
	if base < 0 {
		active.Store(false)
		return nil
	}
	f := &Floor{floor: floor, base: base, cur: base,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	f.adjust()
	f.arm()
	return f
}

// Running reports whether a Floor runs in this process.
func Running() bool { return active.Load() }

func (f *Floor) arm() {
	runtime.SetFinalizer(&sentinel{f: f}, func(s *sentinel) {
		if s.f.stopped.Load() {
			return
		}
		s.f.adjust()
		s.f.arm()
	})
}

// percentFor is the GOGC that makes the goal, live × (1 + GOGC/100), at
// least floor: never below base, never above maxPercent.
func percentFor(live, floor uint64, base int) int {
	if live == 0 {
		return maxPercent
	}
	if floor <= live {
		return base
	}
	p := int((floor-live)*100/live) + 1
	return min(max(p, base), max(maxPercent, base))
}

func (f *Floor) adjust() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped.Load() {
		return
	}
	metrics.Read(f.sample)
	if f.sample[0].Value.Kind() != metrics.KindUint64 {
		return // unsupported by this runtime: leave GOGC alone
	}
	p := percentFor(f.sample[0].Value.Uint64(), f.floor, f.base)
	// Small changes are not worth a call into the runtime per cycle.
	if d := p - f.cur; d > f.cur/8 || -d > f.cur/8 {
		debug.SetGCPercent(p)
		f.cur = p
	}
}

// Percent is the GOGC the floor set last.
func (f *Floor) Percent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// Stop restores the GOGC the process started with.
func (f *Floor) Stop() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped.Swap(true) {
		debug.SetGCPercent(f.base)
		f.cur = f.base
		active.Store(false)
	}
}
