package testtool

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// ServerLock serialises tests of different packages that share the test
// MariaDB named by dsn (go test runs packages side by side, each in its
// own process). A test that changes the server's global state, such as
// e2e's SET GLOBAL sql_mode with ANSI_QUOTES, holds it exclusively; a
// test whose connections read that state (every pooled dial vets
// sql_mode) holds it shared. Without it, proxy's dial tests once ran
// while e2e had ANSI_QUOTES set globally, and failed. The lock is an
// flock on a file in the temporary directory, released when t ends.
func ServerLock(t testing.TB, dsn string, exclusive bool) {
	t.Helper()
	sum := sha256.Sum256([]byte(dsn))
	path := filepath.Join(os.TempDir(), "rrproxy-test-server-"+hex.EncodeToString(sum[:8])+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("test server lock: %v", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		t.Fatalf("test server lock %s: %v", path, err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
