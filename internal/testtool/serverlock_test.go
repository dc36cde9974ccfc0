package testtool

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestServerLockExcludes: while one process holds the lock exclusively,
// another process's shared lock waits until it is released, and two
// shared holders do not wait for each other.
func TestServerLockExcludes(t *testing.T) {
	if os.Getenv("SERVERLOCK_CHILD") != "" {
		t.Run("child", func(t *testing.T) { ServerLock(t, os.Getenv("SERVERLOCK_CHILD"), false) })
		return
	}
	dsn := "lock-test-" + time.Now().Format(time.RFC3339Nano)
	child := func() time.Duration {
		start := time.Now()
		cmd := exec.Command(os.Args[0], "-test.run", "^TestServerLockExcludes$")
		cmd.Env = append(os.Environ(), "SERVERLOCK_CHILD="+dsn)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		return time.Since(start)
	}
	t.Run("shared beside shared", func(t *testing.T) {
		ServerLock(t, dsn, false)
		if d := child(); d > 5*time.Second {
			t.Errorf("a shared lock waited %v beside another shared one", d)
		}
	})
	t.Run("shared waits for exclusive", func(t *testing.T) {
		done := make(chan time.Duration, 1)
		t.Run("held", func(t *testing.T) {
			ServerLock(t, dsn, true)
			go func() { done <- child() }()
			select {
			case d := <-done:
				t.Fatalf("a shared lock was taken after %v while the exclusive one was held", d)
			case <-time.After(500 * time.Millisecond):
			}
		}) // the exclusive lock is released here: the child then finishes
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the shared lock was never taken after the exclusive one ended")
		}
	})
}
