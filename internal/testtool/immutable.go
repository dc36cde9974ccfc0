package testtool

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"unsafe"
)

// Linux's inode flags ioctls (linux/fs.h) and its immutable flag, the
// one chattr +i sets.
const (
	fsIocGetFlags = 0x80086601
	fsIocSetFlags = 0x40086602
	fsImmutableFl = 0x00000010
)

// ErrNoImmutable is returned by SetImmutable where the filesystem has
// no immutable flag or the process may not set it.
var ErrNoImmutable = errors.New("the immutable flag cannot be set here")

// SetImmutable sets or clears path's immutable flag (chattr +i / -i).
// An immutable file refuses every write, even through a descriptor
// opened before the flag was set, and even to root (which permission
// bits do not stop); an immutable directory refuses new entries. That
// makes it the way a test running as root can turn a log unwritable
// under a running process, as a remount read-only would, without a
// mount. Setting the flag registers a cleanup that clears it, so that
// the test's temporary directory can be removed.
func SetImmutable(t testing.TB, path string, on bool) error {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var flags uint32
	if err := ioctl(f, fsIocGetFlags, &flags); err != nil {
		return fmt.Errorf("%w: %s: FS_IOC_GETFLAGS: %v", ErrNoImmutable, path, err)
	}
	if on {
		flags |= fsImmutableFl
	} else {
		flags &^= fsImmutableFl
	}
	if err := ioctl(f, fsIocSetFlags, &flags); err != nil {
		return fmt.Errorf("%w: %s: FS_IOC_SETFLAGS: %v", ErrNoImmutable, path, err)
	}
	if on {
		t.Cleanup(func() {
			if err := SetImmutable(t, path, false); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("clearing the immutable flag: %v", err)
			}
		})
	}
	return nil
}

func ioctl(f *os.File, req uintptr, flags *uint32) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(unsafe.Pointer(flags))); errno != 0 {
		return errno
	}
	return nil
}

// Unwritable makes each of paths immutable (SetImmutable) and returns the
// function that makes them writable again. Where the flag cannot be set
// (a filesystem without it, a process without CAP_LINUX_IMMUTABLE) the
// test fails, saying why, as tests needing a missing program do: a
// skipped fault test would read as a passed one. Under -short it is
// skipped instead.
func Unwritable(t testing.TB, paths ...string) (writable func()) {
	t.Helper()
	for _, p := range paths {
		if err := SetImmutable(t, p, true); err != nil {
			if errors.Is(err, ErrNoImmutable) && testing.Short() {
				t.Skipf("-short: this filesystem or process cannot make %s unwritable, so the case did not run: %v", p, err)
			}
			t.Fatalf("cannot make %s unwritable for this fault test (run as root on a filesystem with chattr +i, such as ext4, xfs or tmpfs): %v", p, err)
		}
	}
	return func() {
		t.Helper()
		for _, p := range paths {
			if err := SetImmutable(t, p, false); err != nil {
				t.Fatal(err)
			}
		}
	}
}
