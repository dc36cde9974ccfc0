package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/internal/procstat"
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
	server := serverCPU(b)
	cpu0, srv0 := processCPU(), server()
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
	b.StopTimer()
	cpu, srv := processCPU()-cpu0, server()-srv0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	b.ReportMetric(float64(clients), "clients")
	// CPU per query of this process (the proxy and its clients) and of
	// MariaDB: on a saturated machine throughput is the inverse of their
	// sum, a check on queries/s, and the difference between audit modes
	// in this process is what the audit log costs a statement
	// (./bench/run.sh reports both).
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "proxy+client-cpu-us/query")
	if srv0 >= 0 {
		b.ReportMetric(float64(srv.Microseconds())/float64(b.N), "server-cpu-us/query")
	}
}

// processCPU is this process's CPU time, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU returns a reader of the upstream MariaDB's CPU time, from its
// pid file and /proc; the reader returns -1 if the server is not a
// process on this machine that can be found that way.
func serverCPU(b *testing.B) func() time.Duration {
	none := func() time.Duration { return -1 }
	// ./bench/run.sh names the pid of the MariaDB it started.
	pid := os.Getenv("RRPROXY_TEST_MARIADB_PID")
	if pid == "" {
		db, err := sql.Open("mysql", rootDSN)
		if err != nil {
			return none
		}
		defer db.Close()
		var pidFile string
		if err := db.QueryRow("SELECT @@pid_file").Scan(&pidFile); err != nil {
			b.Logf("server CPU not measured: %v", err)
			return none
		}
		raw, err := os.ReadFile(pidFile)
		if err != nil {
			b.Logf("server CPU not measured (set RRPROXY_TEST_MARIADB_PID): %v", err)
			return none
		}
		pid = strings.TrimSpace(string(raw))
	}
	n, err := strconv.Atoi(pid)
	if err != nil {
		b.Logf("server CPU not measured: pid %q", pid)
		return none
	}
	return func() time.Duration {
		cpu, err := procstat.CPU(n)
		if err != nil {
			return -1
		}
		return cpu
	}
}

// discardRecorder accepts every record and keeps none: the proxy
// without an audit log, as the baseline the audit's cost is measured
// against.
type discardRecorder struct{}

func (discardRecorder) Record(*auditlog.Event) (uint64, error) { return 1, nil }
