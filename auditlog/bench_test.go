package auditlog_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"

	"github.com/rrproxy/rrproxy/auditlog"
)

// BenchmarkRecord measures one statement intent record per op, in each
// sync mode, from one goroutine and from many concurrent sessions (where
// SyncBatch shares one fdatasync among the records waiting for it).
// The file lives in the benchmark's temporary directory; the
// filesystem type is logged, since fdatasync's cost is the
// filesystem's and the disk's:
//
//	go test -run '^$' -bench Record -benchtime 3s ./auditlog
func BenchmarkRecord(b *testing.B) {
	sessions := 16 * runtime.GOMAXPROCS(0)
	for _, mode := range []string{auditlog.SyncNone, auditlog.SyncBatch, auditlog.SyncAlways} {
		b.Run("sync="+mode+"/sessions=1", func(b *testing.B) {
			w := benchWriter(b, mode)
			ev := faultEvent(1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e := *ev
				if _, err := w.Record(&e); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(fmt.Sprintf("sync=%s/sessions=%d", mode, sessions), func(b *testing.B) {
			w := benchWriter(b, mode)
			b.SetParallelism(16)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ev := faultEvent(2)
				for pb.Next() {
					e := *ev
					if _, err := w.Record(&e); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

var logFSOnce sync.Once

func benchWriter(b *testing.B, mode string) *auditlog.Writer {
	b.Helper()
	dir := b.TempDir()
	logFSOnce.Do(func() {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err == nil {
			b.Logf("audit file in %s: filesystem %s", dir, fsName(st.Type))
		}
	})
	// Rotation as in production, so that sync=none does not grow one
	// file without bound.
	w, err := auditlog.OpenChain(auditlog.Options{Path: filepath.Join(dir, "audit.jsonl"), Sync: mode, Instance: "bench",
		RotateBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	return w
}

func fsName(magic int64) string {
	switch magic {
	case 0xEF53:
		return "ext2/ext3/ext4"
	case 0x01021994:
		return "tmpfs"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794c7630:
		return "overlayfs"
	}
	return fmt.Sprintf("magic 0x%x", magic)
}
