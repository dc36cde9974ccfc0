package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
)

// auditCost runs the end-to-end point-select benchmark of package e2e
// against this run's MariaDB, alternating audit off (records discarded,
// which no configuration of rrproxy allows) and the default batch mode,
// and keeps the median of each: what issue 5's "within 5% of audit-off"
// is measured by. Alternating, in ABBA order, spreads slow drift over
// both.
func (b *bench) auditCost(ctx context.Context) error {
	test := filepath.Join(b.work, "e2e.test")
	if err := command(ctx, "go", "test", "-c", "-o", test, "./e2e").Run(); err != nil {
		return fmt.Errorf("go test -c ./e2e: %w", err)
	}
	if err := b.db.root(ctx, `CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '`+loaderPW+`';
GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;`); err != nil {
		return err
	}
	rounds, benchtime := 5, "3s"
	switch b.plan.mode {
	case "quick":
		rounds, benchtime = 2, "1s"
	case "smoke":
		rounds, benchtime = 1, "100x"
	}
	res := &AuditCost{Rounds: rounds}
	for round := range rounds {
		// ABBA: the order flips every round, so that whatever the first
		// run of a pair pays (a warmer or colder machine) falls on each
		// mode alike.
		order := []string{"Off", "Batch"}
		if round%2 == 1 {
			order = []string{"Batch", "Off"}
		}
		for _, mode := range order {
			qps, proxyCPU, cpu, err := b.runAuditBench(ctx, test, mode, benchtime)
			if err != nil {
				return err
			}
			log.Printf("audit %-5s %8.0f q/s  CPU per query %6.1f µs proxy and clients, %6.1f µs with MariaDB", mode, qps, proxyCPU, cpu)
			if mode == "Off" {
				res.OffQPS, res.OffCPU, res.OffProxyCPU = append(res.OffQPS, qps), append(res.OffCPU, cpu), append(res.OffProxyCPU, proxyCPU)
			} else {
				res.BatchQPS, res.BatchCPU, res.BatchProxyCPU = append(res.BatchQPS, qps), append(res.BatchCPU, cpu), append(res.BatchProxyCPU, proxyCPU)
			}
		}
	}
	// Each batch run is compared with the off run of its round (just
	// before or just after it), and the median of those ratios taken:
	// drift between rounds (other load, CPU frequency) then cancels
	// instead of deciding the result.
	for i := range res.OffQPS {
		res.Ratios = append(res.Ratios, res.BatchQPS[i]/res.OffQPS[i])
		if res.OffCPU[i] > 0 && res.BatchCPU[i] > 0 {
			res.CPURatios = append(res.CPURatios, res.OffCPU[i]/res.BatchCPU[i])
		}
	}
	res.Ratio, res.CPURatio = median(res.Ratios), median(res.CPURatios)
	b.res.Audit = res
	return nil
}

var (
	queriesPerSec = regexp.MustCompile(`([\d.]+) queries/s`)
	clientCPU     = regexp.MustCompile(`([\d.]+) proxy\+client-cpu-us/query`)
	serverCPU     = regexp.MustCompile(`([\d.]+) server-cpu-us/query`)
)

// runAuditBench returns queries per second and the CPU time per query
// (µs) of the proxy and its clients, and of those and MariaDB together
// (0 if the benchmark could not measure MariaDB's).
func (b *bench) runAuditBench(ctx context.Context, test, mode, benchtime string) (qps, proxyCPU, cpu float64, err error) {
	c := exec.CommandContext(ctx, test, "-test.run", "^$", "-test.bench", "^BenchmarkPointSelectAudit"+mode+"$", "-test.benchtime", benchtime)
	c.Dir = "e2e"
	c.Env = append(os.Environ(), fmt.Sprintf("RRPROXY_TEST_MARIADB=root:%s@tcp(%s)/", loaderPW, b.db.addr()),
		"RRPROXY_TEST_MARIADB_CA="+filepath.Join(b.certs, "ca.pem"),
		"RRPROXY_TEST_MARIADB_PID="+strconv.Itoa(b.db.cmd.Process.Pid))
	out, err := c.CombinedOutput()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("e2e benchmark %s: %v\n%s", mode, err, out)
	}
	m := queriesPerSec.FindSubmatch(out)
	if m == nil {
		return 0, 0, 0, fmt.Errorf("e2e benchmark %s: no queries/s in\n%s", mode, out)
	}
	qps, err = strconv.ParseFloat(string(m[1]), 64)
	cm, sm := clientCPU.FindSubmatch(out), serverCPU.FindSubmatch(out)
	if err != nil || cm == nil {
		return qps, 0, 0, err
	}
	cc, _ := strconv.ParseFloat(string(cm[1]), 64)
	if sm == nil {
		return qps, cc, 0, nil
	}
	sc, _ := strconv.ParseFloat(string(sm[1]), 64)
	return qps, cc, cc + sc, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
