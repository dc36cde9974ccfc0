package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// profile takes rrproxy's CPU and allocation profiles (from /debug/pprof
// on its metrics listener), each while one workload runs against it, and
// saves them next to the results, so a change to a hot path can cite
// the profile that motivated it: go tool pprof -top bench/results/profiles/<name>.pprof
func (b *bench) profile(ctx context.Context) error {
	tlsDir, err := b.sysbenchTLSDir()
	if err != nil {
		return err
	}
	secs := max(b.plan.runSeconds, 5)
	// An allocation profile (/debug/pprof/allocs with seconds: what was
	// allocated while the load ran, not since start) shows the garbage a
	// statement leaves, which costs collector time under load.
	const cpu, allocs = "/debug/pprof/profile", "/debug/pprof/allocs"
	sysbench := func(workload, ps, target string) func() error {
		return func() error {
			_, err := b.sysbenchRun(ctx, tlsDir, workload, ps, 8, secs+1, target)
			return err
		}
	}
	cases := []struct {
		name, endpoint string
		load           func() error
	}{
		{"allocs-point-select-text-8", allocs, sysbench("oltp_point_select", "disable", TargetRRProxy)},
		{"allocs-read-only-tls-8", allocs, sysbench("oltp_read_only", "auto", TargetRRProxyTLS)},
		{"cpu-point-select-text-8", cpu, sysbench("oltp_point_select", "disable", TargetRRProxy)},
		{"cpu-point-select-prepared-8", cpu, sysbench("oltp_point_select", "auto", TargetRRProxy)},
		{"cpu-read-only-tls-8", cpu, sysbench("oltp_read_only", "auto", TargetRRProxyTLS)},
		{"cpu-storm-local-tls", cpu, func() error {
			_, err := b.stormRun(ctx, TargetRRProxyTLS, "local", offerDefault, benchUser, benchPW)
			return err
		}},
		{"cpu-stream", cpu, func() error {
			_, err := b.streamRun(ctx, TargetRRProxy)
			return err
		}},
	}
	for _, c := range cases {
		done := make(chan error, 1)
		go func() { done <- c.load() }()
		time.Sleep(500 * time.Millisecond) // past connection set-up
		if err := b.saveProfile(ctx, c.name, c.endpoint+"?seconds="+strconv.Itoa(secs-1)); err != nil {
			return err
		}
		if err := <-done; err != nil {
			return err
		}
	}
	return nil
}

// saveProfile fetches one /debug/pprof path into the profiles directory.
func (b *bench) saveProfile(ctx context.Context, name, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.rr.admin+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	dir := filepath.Join(b.outDir, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(dir, b.res.Date.Format("2006-01-02")+"-"+b.plan.mode+"-"+name+".pprof")
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	log.Printf("profile %s", file)
	return f.Close()
}
