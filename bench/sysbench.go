package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// sysbenchTargets are compared in every sysbench configuration, one after
// another, so slow drift (page cache, CPU frequency) spreads over all.
var sysbenchTargets = []string{TargetDirect, TargetHAProxy, TargetGoRelay, TargetRRProxy, TargetDirectTLS, TargetHAProxyTLS, TargetRRProxyTLS}

// targetsFor leaves the Go relay out of read_only: one workload shows
// where a Go proxy starts, in less time.
func targetsFor(workload string) []string {
	if workload == "oltp_point_select" {
		return sysbenchTargets
	}
	return slices.DeleteFunc(slices.Clone(sysbenchTargets), func(t string) bool { return t == TargetGoRelay })
}

func (b *bench) sysbench(ctx context.Context) error {
	tlsDir, err := b.sysbenchTLSDir()
	if err != nil {
		return err
	}
	// Warm every target once: buffer pool, pools, the login cache.
	for _, t := range targetsFor("oltp_point_select") {
		if _, err := b.sysbenchRun(ctx, tlsDir, "oltp_point_select", "auto", 8, 1, t); err != nil {
			return err
		}
	}
	for _, w := range []string{"oltp_point_select", "oltp_read_only"} {
		for _, ps := range b.plan.psModes[w] {
			for _, th := range b.plan.threads {
				runs, err := b.sysbenchTargets(ctx, tlsDir, w, ps, th, targetsFor(w))
				if err != nil {
					return err
				}
				for _, run := range runs {
					log.Printf("%-17s ps=%-7s %2d threads %-12s %8.0f q/s  p99 %.2f ms  proxy CPU %.1f µs/q",
						w, ps, th, run.Target, run.QPS, run.P99Ms, run.ProxyCPUPerQueryUs)
				}
				b.res.Sysbench = append(b.res.Sysbench, runs...)
			}
		}
	}
	return nil
}

// sysbenchTargets runs one workload, mode and thread count against each
// target, in rounds that visit the targets in alternating order, and
// merges each target's rounds (merge). At one thread the time is split
// into plan.p99Rounds rounds: the p99 of a single run of one thread moved
// by 100 µs or more from one run to the next (writeback, the host), and
// the added p99 compares two targets' runs made at different times. At
// more threads it is split into plan.qpsRounds rounds: single runs one
// after the other put the host's drift into the QPS ratios (HAProxy's
// own q/s moved by 15% between runs minutes apart), and the goal took
// the lowest of eight such ratios, which drift and noise pull down.
func (b *bench) sysbenchTargets(ctx context.Context, tlsDir, w, ps string, threads int, targets []string) ([]SysbenchRun, error) {
	rounds, secs := 1, b.plan.runSeconds
	switch {
	case threads == 1 && b.plan.p99Rounds > 1:
		rounds = b.plan.p99Rounds
		secs = max(1, b.plan.p99Seconds/rounds)
	case threads > 1 && b.plan.qpsRounds > 1:
		rounds = b.plan.qpsRounds
		secs = max(1, b.plan.runSeconds/rounds)
	}
	byTarget := make(map[string][]SysbenchRun, len(targets))
	for r := range rounds {
		order := slices.Clone(targets)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			run, err := b.sysbenchRun(ctx, tlsDir, w, ps, threads, secs, t)
			if err != nil {
				return nil, err
			}
			byTarget[t] = append(byTarget[t], run)
		}
	}
	out := make([]SysbenchRun, 0, len(targets))
	for _, t := range targets {
		out = append(out, merge(byTarget[t]))
	}
	return out, nil
}

// merge combines rounds of equal length against one target: rates and
// averages are means, CPU and errors add up, and the p99 is the median of
// the rounds' (each round's own p99 and q/s are kept in P99Rounds and
// QPSRounds).
func merge(runs []SysbenchRun) SysbenchRun {
	if len(runs) == 1 {
		return runs[0]
	}
	m := runs[0]
	m.Seconds, m.QPS, m.TPS, m.AvgMs, m.Errors, m.ProxyCPUSeconds = 0, 0, 0, 0, 0, 0
	var queries float64
	p99 := make([]float64, 0, len(runs))
	qps := make([]float64, 0, len(runs))
	for _, r := range runs {
		m.Seconds += r.Seconds
		m.QPS += r.QPS / float64(len(runs))
		m.TPS += r.TPS / float64(len(runs))
		m.AvgMs += r.AvgMs / float64(len(runs))
		m.Errors += r.Errors
		m.ProxyCPUSeconds += r.ProxyCPUSeconds
		queries += r.QPS * float64(r.Seconds)
		p99 = append(p99, r.P99Ms)
		qps = append(qps, r.QPS)
	}
	m.P99Rounds, m.P99Ms, m.QPSRounds = p99, median(p99), qps
	m.ProxyCPUPerQueryUs = 0
	if queries > 0 {
		m.ProxyCPUPerQueryUs = m.ProxyCPUSeconds * 1e6 / queries
	}
	return m
}

// sysbenchTLSDir holds the files sysbench 1.0's --mysql-ssl=on passes to
// the client library by fixed names in its working directory. The
// library always sends the client certificate, and MariaDB (given
// --ssl-ca) checks any it receives, so the run's CA signs one.
func (b *bench) sysbenchTLSDir() (string, error) {
	dir := filepath.Join(b.work, "sysbench-tls")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	caPEM, err := os.ReadFile(filepath.Join(b.certs, "ca.pem"))
	if err != nil {
		return "", err
	}
	cert, key, err := clientCert(b.certs)
	if err != nil {
		return "", err
	}
	for name, data := range map[string][]byte{"cacert.pem": caPEM, "client-cert.pem": cert, "client-key.pem": key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// clientCert issues a client certificate from the run's CA.
func clientCert(certs string) (certPEM, keyPEM []byte, err error) {
	caCertPEM, err := os.ReadFile(filepath.Join(certs, "ca.pem"))
	if err != nil {
		return nil, nil, err
	}
	caKeyPEM, err := os.ReadFile(filepath.Join(certs, "ca-key.pem"))
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(caCertPEM)
	kb, _ := pem.Decode(caKeyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("no PEM in %s", certs)
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	caKey, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		if caKey, err = x509.ParseECPrivateKey(kb.Bytes); err != nil {
			return nil, nil, fmt.Errorf("CA key: %w", err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "sysbench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

var (
	sbQueries = regexp.MustCompile(`queries:\s+(\d+)\s+\(([\d.]+) per sec`)
	sbTrx     = regexp.MustCompile(`transactions:\s+(\d+)\s+\(([\d.]+) per sec`)
	sbErrors  = regexp.MustCompile(`ignored errors:\s+(\d+)`)
	sbAvg     = regexp.MustCompile(`avg:\s+([\d.]+)`)
	sbP99     = regexp.MustCompile(`99th percentile:\s+([\d.]+)`)
)

func (b *bench) sysbenchRun(ctx context.Context, tlsDir, workload, ps string, threads, seconds int, target string) (SysbenchRun, error) {
	host, port := splitAddr(b.addr(target))
	args := []string{workload, "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=" + benchUser, "--mysql-password=" + benchPW, "--mysql-db=" + benchSchema,
		"--tables=4", "--table-size=" + strconv.Itoa(b.plan.tableSize), "--threads=" + strconv.Itoa(threads),
		"--time=" + strconv.Itoa(seconds), "--percentile=99", "--db-ps-mode=" + ps, "--rand-type=uniform"}
	if isTLS(target) {
		args = append(args, "--mysql-ssl=on")
	}
	c := exec.CommandContext(ctx, "sysbench", append(args, "run")...)
	c.Dir = tlsDir
	pid := b.proxyPID(target)
	cpu0 := cpuOf(pid)
	out, err := c.CombinedOutput()
	cpu := cpuOf(pid) - cpu0
	run := SysbenchRun{Workload: workload, PSMode: ps, Threads: threads, Target: target, Seconds: seconds, ProxyCPUSeconds: cpu}
	if err != nil {
		return run, fmt.Errorf("sysbench %s against %s: %v\n%s", workload, target, err, out)
	}
	m := sbQueries.FindSubmatch(out)
	if m == nil {
		return run, fmt.Errorf("sysbench %s against %s: no query count in\n%s", workload, target, out)
	}
	queries, _ := strconv.Atoi(string(m[1]))
	run.QPS, _ = strconv.ParseFloat(string(m[2]), 64)
	if m := sbTrx.FindSubmatch(out); m != nil {
		run.TPS, _ = strconv.ParseFloat(string(m[2]), 64)
	}
	if m := sbErrors.FindSubmatch(out); m != nil {
		run.Errors, _ = strconv.Atoi(string(m[1]))
	}
	if m := sbAvg.FindSubmatch(out); m != nil {
		run.AvgMs, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := sbP99.FindSubmatch(out); m != nil {
		run.P99Ms, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if queries > 0 {
		run.ProxyCPUPerQueryUs = cpu * 1e6 / float64(queries)
	}
	if run.Errors > 0 {
		return run, fmt.Errorf("sysbench %s against %s: %d errors\n%s", workload, target, run.Errors, out)
	}
	return run, nil
}

func splitAddr(addr string) (string, string) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:]
		}
	}
	return addr, ""
}
