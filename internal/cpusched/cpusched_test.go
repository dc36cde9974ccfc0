package cpusched

import (
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBatchCoversLaterThreads: after Batch, every thread of the process
// is SCHED_BATCH, including threads the runtime starts afterwards (here
// forced by goroutines that each hold an OS thread of their own).
func TestBatchCoversLaterThreads(t *testing.T) {
	if err := Batch(); err != nil {
		t.Fatal(err)
	}
	before, err := Policies()
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var started, done sync.WaitGroup
	for range 8 {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread() // kept to the end: the thread exits with the goroutine
			started.Done()
			<-release
		}()
	}
	started.Wait()
	after, err := Policies()
	close(release)
	done.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) < 8 {
		t.Fatalf("only %d threads seen with 8 goroutines holding one each", len(after))
	}
	added := 0
	for tid, p := range after {
		if _, ok := before[tid]; !ok {
			added++
		}
		if p != unix.SCHED_BATCH {
			t.Errorf("thread %d has policy %d, want SCHED_BATCH (%d)", tid, p, unix.SCHED_BATCH)
		}
	}
	t.Logf("%d threads, %d of them started after Batch", len(after), added)
}
