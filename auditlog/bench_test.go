package auditlog_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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

// BenchmarkStatement records what the proxy records for one allowed
// point select, per op: an intent carrying the session's Origin and an
// outcome carrying its user and session, from many concurrent sessions with sync=batch, the
// default. It reports the process's CPU time per statement, the
// flusher's included: on a saturated machine that, not the wall time of
// one Record, is what the audit log takes from throughput.
//
//	go test -run '^$' -bench Statement -benchtime 200000x -count 5 ./auditlog
func BenchmarkStatement(b *testing.B) {
	w := benchWriter(b, auditlog.SyncBatch)
	origin, err := auditlog.NewOrigin(&auditlog.Event{User: "alice", Source: "127.0.0.1:43438", SourceIP: "127.0.0.1",
		SourcePort: 43438, IDSource: "local", Groups: []string{"data-managers"}, Host: "vm", SessionID: 74034001,
		TLS: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", Client: "mysql (libmariadb)"})
	if err != nil {
		b.Fatal(err)
	}
	// An outcome repeats only the user and the session (proxy/session.go).
	outcomeOrigin, err := auditlog.NewOrigin(&auditlog.Event{User: "alice", SessionID: 74034001})
	if err != nil {
		b.Fatal(err)
	}
	var ids atomic.Int64
	b.SetParallelism(8)
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var intent, outcome auditlog.Event
		for pb.Next() {
			id := ids.Add(1) % 100
			intent = auditlog.Event{Action: "statement", Phase: "intent", Outcome: "unknown", Origin: origin,
				Database: "study", Upstream: 12, Command: "query",
				Statement: "SELECT visit_name FROM visits WHERE visit_id = " + strconv.FormatInt(id, 10),
				Digest:    "0a96f9bccc4eb081e820e18b6063767856bc1c215d2af88f69007571b9e75d30",
				Kinds:     []string{"select"}, Tables: []string{"study.visits"}, Policy: "bdffd6480cb1312c"}
			seq, err := w.Record(&intent)
			if err != nil {
				b.Error(err)
				return
			}
			outcome = auditlog.Event{Action: "statement", Phase: "outcome", Outcome: "success", Origin: outcomeOrigin,
				Command: "query", IntentSeq: seq, Rows: 1, Bytes: 73, Duration: 601835}
			if _, err := w.Record(&outcome); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-us/statement")
}

// processCPU is this process's CPU time, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
