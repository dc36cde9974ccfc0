package procstat

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestCPUOfSelf: the test's own CPU time, read from /proc, grows while
// it spins and agrees with what getrusage says to within a few ticks.
func TestCPUOfSelf(t *testing.T) {
	before, err := CPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var now time.Duration
	for deadline := time.Now().Add(10 * time.Second); now-before < 50*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("CPU time grew by only %v in 10 s of spinning", now-before)
		}
		if now, err = CPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	rusage := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if d := rusage - now; d < -30*time.Millisecond || d > 30*time.Millisecond {
		t.Fatalf("/proc says %v, getrusage %v", now, rusage)
	}
	if _, err := CPU(-1); err == nil {
		t.Fatal("CPU of pid -1: no error")
	}
}
