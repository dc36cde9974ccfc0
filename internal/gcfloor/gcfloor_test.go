package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, floor uint64
		base, want  int
	}{
		{3 * mib, 12 * mib, 100, 301},  // goal 3 × 4.01 = 12.03 MiB
		{6 * mib, 12 * mib, 100, 101},  // twice the live heap already reaches it
		{5 * mib, 12 * mib, 200, 200},  // never below the GOGC the process started with
		{12 * mib, 12 * mib, 100, 100}, // at the floor
		{80 * mib, 12 * mib, 100, 100}, // 2,000 idle connections: no effect
		{1024, 12 * mib, 100, 5000},    // a nearly empty heap: capped
		{0, 12 * mib, 100, maxPercent}, // nothing live yet
		{1024, 12 * mib, 8000, 8000},   // a larger GOGC of the operator's stays
	} {
		if got := percentFor(c.live, c.floor, c.base); got != c.want {
			t.Errorf("percentFor(live %d, floor %d, base %d) = %d, want %d", c.live, c.floor, c.base, got, c.want)
		}
	}
}

func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// waitPercent collects until the floor has set GOGC to a value ok
// accepts (the adjustment runs in a finalizer after a collection).
func waitPercent(t *testing.T, f *Floor, ok func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if p := gogc(); ok(p) && p == f.Percent() {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC stayed at %d (the floor last set %d)", gogc(), f.Percent())
		}
	}
}

// TestFloorFollowsLiveHeap: with a small live heap the runtime's GOGC is
// raised so that the goal reaches the floor; once the live heap is large,
// it goes back to the process's own GOGC; Stop restores it for good.
func TestFloorFollowsLiveHeap(t *testing.T) {
	base := gogc()
	f := Start(256 << 20)
	if f == nil {
		t.Fatal("Start returned nil with GOGC on")
	}
	defer f.Stop()
	if second := Start(1 << 30); second != nil {
		second.Stop()
		t.Fatal("a second Floor started while one runs")
	}
	p := waitPercent(t, f, func(p int) bool { return p > base })
	t.Logf("small heap: GOGC %d", p)

	live := make([]byte, 160<<20) // more than half the floor: twice it exceeds the floor
	waitPercent(t, f, func(p int) bool { return p == base })
	runtime.KeepAlive(live)
	live = nil

	f.Stop()
	if got := gogc(); got != base {
		t.Fatalf("after Stop GOGC is %d, want %d", got, base)
	}
	runtime.GC()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if got := gogc(); got != base {
		t.Fatalf("a stopped floor still changed GOGC to %d", got)
	}
}

func TestStartOffOrZero(t *testing.T) {
	if f := Start(0); f != nil {
		t.Fatal("a zero floor started")
	}
	old := debug.SetGCPercent(-1) // GOGC=off: the collector never runs
	f := Start(64 << 20)
	debug.SetGCPercent(old)
	if f != nil {
		f.Stop()
		t.Fatal("a floor started with the collector off")
	}
	if f := Start(64 << 20); f == nil {
		t.Fatal("a refused Start left the floor marked running")
	} else {
		f.Stop()
	}
	var none *Floor
	none.Stop() // a nil Floor (floor 0) may be stopped
}
