package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// plan is what one run does; quick and full differ only in sizes and
// durations, never in which targets or workloads are compared.
type plan struct {
	mode      string
	tableSize int // rows per sysbench table (4 tables)
	wideRows  int // rows of trial.observations
	// streamRounds is how many times the wide table is read through
	// each target whose ratio is a goal, alternating targets; the
	// median is reported.
	streamRounds int
	runSeconds   int // per sysbench run
	// p99Rounds splits each one-thread run into this many rounds across
	// the targets (sysbenchTargets), of p99Seconds in all.
	p99Rounds  int
	p99Seconds int
	// qpsRounds splits each run at more than one thread into this many
	// rounds of runSeconds/qpsRounds, across the targets in alternating
	// order, for the QPS ratios (sysbenchTargets).
	qpsRounds   int
	threads     []int
	psModes     map[string][]string // workload -> prepared-statement modes
	stormFor    time.Duration
	stormWorker int
	idleConns   int
	goBenchTime string
}

func quickPlan() plan {
	// One-second runs: the sixty sysbench runs are most of a quick run,
	// and the issue asks for about two minutes. Quick figures are the
	// noisier for it; the full run is what to quote.
	return plan{mode: "quick", tableSize: 20_000, wideRows: 200_000, streamRounds: 3, runSeconds: 1, threads: []int{1, 8, 32},
		psModes:  map[string][]string{"oltp_point_select": {"auto", "disable"}, "oltp_read_only": {"auto"}},
		stormFor: 3 * time.Second, stormWorker: 8, idleConns: 2000, goBenchTime: "200ms"}
}

func fullPlan() plan {
	// Three 2-second rounds per target at 8 and 32 threads keep the whole
	// run near 13 minutes (the issue asks for under 15; single 8-second
	// runs took 14.5); one thread keeps its four 2-second rounds.
	return plan{mode: "full", tableSize: 100_000, wideRows: 2_000_000, streamRounds: 3, runSeconds: 6, qpsRounds: 3, p99Rounds: 4, p99Seconds: 8, threads: []int{1, 8, 32},
		psModes:  map[string][]string{"oltp_point_select": {"auto", "disable"}, "oltp_read_only": {"auto", "disable"}},
		stormFor: 8 * time.Second, stormWorker: 8, idleConns: 2000, goBenchTime: "1s"}
}

// smokePlan checks that every part of the harness works, in about a
// minute (bench_test.go); its figures mean nothing.
func smokePlan() plan {
	return plan{mode: "smoke", tableSize: 2_000, wideRows: 20_000, streamRounds: 2, runSeconds: 2, qpsRounds: 2, p99Rounds: 2, p99Seconds: 2, threads: []int{1, 4},
		psModes:  map[string][]string{"oltp_point_select": {"auto", "disable"}, "oltp_read_only": {"auto"}},
		stormFor: time.Second, stormWorker: 4, idleConns: 200, goBenchTime: "1x"}
}

func main() {
	quick := flag.Bool("quick", false, "smaller tables and shorter runs (about 2 minutes)")
	out := flag.String("out", "bench/results", "directory for <date>.json, .md and .png")
	keep := flag.Bool("keep", false, "keep the work directory (logs, configs, audit log) after the run")
	replot := flag.String("replot", "", "write the .md and .png again from a results .json (no run)")
	parts := flag.String("only", allParts, "comma-separated parts to run (also: profile, which saves rrproxy CPU and allocation profiles under <out>/profiles)")
	flag.Parse()
	log.SetFlags(log.Ltime)

	if *replot != "" {
		if err := rewrite(*replot); err != nil {
			log.Fatalf("bench: %v", err)
		}
		return
	}
	p := fullPlan()
	if *quick {
		p = quickPlan()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, p, *out, *keep, strings.Split(*parts, ",")); err != nil {
		log.Fatalf("bench: %v", err)
	}
}

// allParts is what a run does unless -only says otherwise.
const allParts = "sysbench,stream,storm,idle,audit,gobench"

func run(ctx context.Context, p plan, outDir string, keep bool, parts []string) error {
	began := time.Now()
	for _, bin := range []string{"mariadbd", "mariadb", "mariadb-install-db", "haproxy", "sysbench"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is not installed (bench/run.sh installs it): %w", bin, err)
		}
	}
	work, err := os.MkdirTemp("", "rrbench-")
	if err != nil {
		return err
	}
	if keep {
		log.Printf("work directory: %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	var procs procGroup
	defer procs.stopAll()

	r := &Results{Date: began.UTC(), Mode: p.mode, Machine: machine(), Versions: versions()}
	if strings.Join(parts, ",") != allParts {
		r.Only = parts
	}

	log.Printf("building rrproxy")
	bin := filepath.Join(work, "rrproxy")
	if err := command(ctx, "go", "build", "-tags", "nodemo", "-o", bin, "./cmd/rrproxy").Run(); err != nil { // as the Dockerfile builds it
		return fmt.Errorf("go build: %w", err)
	}
	certs := filepath.Join(work, "certs")
	if err := command(ctx, bin, "certs", "-dir", certs).Run(); err != nil {
		return fmt.Errorf("rrproxy certs: %w", err)
	}

	log.Printf("starting MariaDB and loading %d×%d sysbench rows and %d observations", 4, p.tableSize, p.wideRows)
	db, err := startMariaDB(ctx, &procs, work, certs)
	if err != nil {
		return err
	}
	r.Versions.MariaDB = db.version
	if err := db.load(ctx, p); err != nil {
		return err
	}
	hap, err := startHAProxy(ctx, &procs, work, db.port)
	if err != nil {
		return err
	}
	rr, err := startRRProxy(ctx, &procs, work, bin, certs, db)
	if err != nil {
		return err
	}
	defer rr.close()
	relay, relayAddr, err := startGoRelay(ctx, &procs, work, db.addr())
	if err != nil {
		return err
	}
	env := &bench{plan: p, work: work, certs: certs, db: db, hap: hap, rr: rr, res: r, outDir: outDir, relay: relay, relayAddr: relayAddr}

	env.profiling = slices.Contains(parts, "profile")
	for _, part := range parts {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var err error
		switch strings.TrimSpace(part) {
		case "sysbench":
			err = env.sysbench(ctx)
		case "stream":
			err = env.stream(ctx)
		case "storm":
			err = env.storm(ctx)
		case "idle":
			if st, e := readProc(rr.pid()); e == nil {
				r.ProxyPeakRSSMB = st.hwmMB
			}
			err = env.idle(ctx)
		case "serve":
			// For working on the proxy: leave everything running and
			// say where, until interrupted.
			log.Printf("serving until interrupted: direct %s, haproxy %s, rrproxy %s (admin %s, pid %d), user %s password %s, work %s",
				db.addr(), hap.addr(), rr.addr, rr.admin, rr.pid(), benchUser, benchPW, work)
			<-ctx.Done()
			return nil
		case "profile":
			err = env.profile(ctx)
		case "audit":
			err = env.auditCost(ctx)
		case "gobench":
			err = env.goBench(ctx)
		case "":
		default:
			err = fmt.Errorf("unknown part %q", part)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", part, err)
		}
	}
	if r.ProxyPeakRSSMB == 0 {
		if st, e := readProc(rr.pid()); e == nil {
			r.ProxyPeakRSSMB = st.hwmMB
		}
	}
	r.Goals = goals(r)
	r.Seconds = time.Since(began).Seconds()
	return write(outDir, r)
}

// bench holds everything the workloads need.
type bench struct {
	plan  plan
	work  string
	certs string
	db    *mariaDB
	hap   *haProxy
	rr    *rrProxy
	res   *Results
	// outDir receives the results and, with -only ...,profile, the
	// CPU and heap profiles.
	outDir    string
	profiling bool
	relay     *exec.Cmd // bench/gorelay
	relayAddr string
}

func write(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	name := r.Date.Format("2006-01-02")
	if r.Mode != "full" {
		name += "-" + r.Mode
	}
	base := filepath.Join(dir, name)
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(base+".md", []byte(markdown(r, filepath.Base(base)+".png")), 0o644); err != nil {
		return err
	}
	if err := writePlot(base+".png", r); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	log.Printf("wrote %s.{json,md,png} in %.0f s", base, r.Seconds)
	fmt.Print(goalTable(r.Goals))
	return nil
}

// rewrite renders a results file's report and plot again, next to it.
func rewrite(jsonFile string) error {
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		return err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	r.Goals = goals(&r)
	base := strings.TrimSuffix(jsonFile, ".json")
	if err := os.WriteFile(base+".md", []byte(markdown(&r, filepath.Base(base)+".png")), 0o644); err != nil {
		return err
	}
	return writePlot(base+".png", &r)
}

func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Stderr = os.Stderr
	return c
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		m.MemGB = (kb + 512*1024) / (1024 * 1024)
	}
	return m
}

func versions() Versions {
	v := Versions{Go: runtime.Version()}
	first := func(name string, args ...string) string {
		b, _ := exec.Command(name, args...).CombinedOutput()
		return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	}
	v.RRProxy = first("git", "describe", "--always", "--dirty")
	v.HAProxy = first("haproxy", "-v")
	v.Sysbench = first("sysbench", "--version")
	return v
}
