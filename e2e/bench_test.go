package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/rrproxy/rrproxy/auditlog"
)

// Point selects through the proxy from concurrent clients, with the
// audit log in each sync mode: what audit durability costs a query
// (every query writes an intent and an outcome record).
//
//	source /tmp/devenv && go test -run '^$' -bench PointSelect -benchtime 5s ./e2e

// BenchmarkPointSelectAuditOff is the baseline: records are discarded.
func BenchmarkPointSelectAuditOff(b *testing.B)    { benchPointSelect(b, "off") }
func BenchmarkPointSelectAuditNone(b *testing.B)   { benchPointSelect(b, auditlog.SyncNone) }
func BenchmarkPointSelectAuditBatch(b *testing.B)  { benchPointSelect(b, auditlog.SyncBatch) }
func BenchmarkPointSelectAuditAlways(b *testing.B) { benchPointSelect(b, auditlog.SyncAlways) }

// pointSelectParallelism times GOMAXPROCS is the number of concurrent
// client connections.
const pointSelectParallelism = 8

func benchPointSelect(b *testing.B, mode string) {
	clients := pointSelectParallelism * runtime.GOMAXPROCS(0)
	o := rigOpts{requireTLS: true, auditSync: mode, maxOpen: clients}
	if mode == "off" {
		o.auditSync, o.recorder = auditlog.SyncNone, discardRecorder{}
	}
	r := startRig(b, o)
	db := r.open("alice", alicePW, "study")
	db.SetMaxOpenConns(clients)
	db.SetMaxIdleConns(clients)
	// Warm: sessions open, decisions for the 100 statements cached.
	for i := 1; i <= 100; i++ {
		var name string
		if err := db.QueryRow(fmt.Sprintf("SELECT visit_name FROM visits WHERE visit_id = %d", i)).Scan(&name); err != nil {
			b.Fatal(err)
		}
	}
	// Open every session before the timer starts: a login costs an
	// argon2id hash (tens of milliseconds by design), which is not what
	// this measures.
	conns := make([]*sql.Conn, clients)
	for i := range conns {
		c, err := db.Conn(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if err := c.PingContext(context.Background()); err != nil {
			b.Fatal(err)
		}
		conns[i] = c
	}
	for _, c := range conns {
		c.Close() // back to the pool, still logged in
	}
	var next atomic.Int64
	b.SetParallelism(pointSelectParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var name string
		for pb.Next() {
			// Text protocol, as BI tools send it; a hundred distinct
			// statements, all in the decision cache.
			id := 1 + next.Add(1)%100
			if err := db.QueryRow(fmt.Sprintf("SELECT visit_name FROM visits WHERE visit_id = %d", id)).Scan(&name); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	b.ReportMetric(float64(clients), "clients")
}

// discardRecorder accepts every record and keeps none: the proxy
// without an audit log, as the baseline the audit's cost is measured
// against.
type discardRecorder struct{}

func (discardRecorder) Record(*auditlog.Event) (uint64, error) { return 1, nil }
