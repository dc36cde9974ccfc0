package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// streamColumns are the observations columns every target returns
// unchanged (the masked and withheld ones are left out), so each target
// sends the same bytes.
const streamColumns = "obs_id, study_id, subject_id, site_id, visit_no, visit_date, systolic_bp, diastolic_bp, heart_rate, weight_kg, alt_u_l, ast_u_l, comment"

// stream reads the whole observations table through the mariadb client
// (--quick: row by row, as a dump or an ELT job would) and counts what it
// prints, while sampling the proxy's resident memory.
//
// One read says little on these shared cores (the TLS ratio of two
// consecutive full runs was 97% and 86%), so the targets whose ratio is
// a goal are read streamRounds times, alternating, and each reports its
// median round; HAProxy, with and without TLS, a reference here, is read
// once.
func (b *bench) stream(ctx context.Context) error {
	targets := []string{TargetDirect, TargetHAProxy, TargetRRProxy, TargetDirectTLS, TargetHAProxyTLS, TargetRRProxyTLS}
	rounds := make(map[string][]StreamRun)
	for round := range max(b.plan.streamRounds, 1) {
		for _, t := range targets {
			if round > 0 && (t == TargetHAProxy || t == TargetHAProxyTLS) {
				continue
			}
			run, err := b.streamRun(ctx, t)
			if err != nil {
				return err
			}
			log.Printf("stream %-12s round %d: %d rows %.0f MB in %.2f s: %.0f MB/s, proxy RSS max %.1f MB",
				t, round+1, run.Rows, float64(run.Bytes)/1e6, run.Seconds, run.MBps, run.ProxyMaxRSSMB)
			rounds[t] = append(rounds[t], run)
		}
	}
	for _, t := range targets {
		b.res.Stream = append(b.res.Stream, medianStream(rounds[t]))
	}
	return nil
}

// medianStream is the round with the median MB/s, listing every
// round's MB/s in the order run and the largest RSS of any round.
func medianStream(runs []StreamRun) StreamRun {
	byRate := slices.Clone(runs)
	slices.SortFunc(byRate, func(a, b StreamRun) int { return cmp.Compare(a.MBps, b.MBps) })
	m := byRate[(len(byRate)-1)/2]
	m.RoundsMBps = nil
	if len(runs) > 1 {
		for _, r := range runs {
			m.RoundsMBps = append(m.RoundsMBps, r.MBps)
			m.ProxyMaxRSSMB = max(m.ProxyMaxRSSMB, r.ProxyMaxRSSMB)
		}
	}
	return m
}

type lineCounter struct {
	bytes int64
	lines int
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.bytes += int64(len(p))
	for _, x := range p {
		if x == '\n' {
			c.lines++
		}
	}
	return len(p), nil
}

func (b *bench) mariadbArgs(target, user, pw string) []string {
	host, port := splitAddr(b.addr(target))
	args := []string{"--no-defaults", "-h", host, "-P", port, "-u", user, "-p" + pw}
	if isTLS(target) {
		args = append(args, "--ssl", "--ssl-ca="+filepath.Join(b.certs, "ca.pem"), "--ssl-verify-server-cert")
	} else {
		args = append(args, "--skip-ssl")
	}
	return args
}

func (b *bench) streamRun(ctx context.Context, target string) (StreamRun, error) {
	run := StreamRun{Target: target}
	args := append(b.mariadbArgs(target, benchUser, benchPW), "--quick", "--batch", "--skip-column-names",
		"-e", "SELECT "+streamColumns+" FROM trial.observations")
	c := exec.CommandContext(ctx, "mariadb", args...)
	var out lineCounter
	var errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	pid := b.proxyPID(target)
	stop := make(chan struct{})
	var sampled sync.WaitGroup
	if pid != 0 {
		sampled.Add(1)
		go func() {
			defer sampled.Done()
			t := time.NewTicker(50 * time.Millisecond)
			defer t.Stop()
			for {
				if st, err := readProc(pid); err == nil && st.rssMB > run.ProxyMaxRSSMB {
					run.ProxyMaxRSSMB = st.rssMB
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
	}
	cpu0 := cpuOf(pid)
	start := time.Now()
	err := c.Run()
	run.Seconds = time.Since(start).Seconds()
	close(stop)
	sampled.Wait()
	run.ProxyCPUSeconds = cpuOf(pid) - cpu0
	if err != nil {
		return run, fmt.Errorf("mariadb against %s: %v: %s", target, err, errb.String())
	}
	run.Rows, run.Bytes = out.lines, out.bytes
	if run.Rows != b.plan.wideRows {
		return run, fmt.Errorf("mariadb against %s: %d rows, want %d", target, run.Rows, b.plan.wideRows)
	}
	run.MBps = float64(run.Bytes) / 1e6 / run.Seconds
	return run, nil
}

// clientTLS trusts the run's CA, as a configured client would.
func (b *bench) clientTLS() (*tls.Config, error) {
	pem, err := os.ReadFile(filepath.Join(b.certs, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in ca.pem")
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, nil
}

func (b *bench) connector(target, user, pw string) (*mysql.Config, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, pw, "tcp", b.addr(target)
	cfg.Timeout = 30 * time.Second
	if isTLS(target) {
		tc, err := b.clientTLS()
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	return cfg, nil
}

// storm opens and closes connections as fast as workers can: a TLS
// handshake and a full authentication every time (go-sql-driver keeps no
// session tickets here, and rrproxy always asks for full
// caching_sha2_password authentication).
//
// Which key exchange a handshake uses depends on both ends. MariaDB and
// HAProxy here use Debian 12's OpenSSL 3.0, which has no ML-KEM, so they
// settle on X25519 whatever the client offers; rrproxy (Go) prefers the
// post-quantum hybrid X25519MLKEM768 and gets it from a Go client, which
// costs both ends more (about a third of the logins a second here). So
// rrproxy is measured both ways: with a client offering X25519 alone,
// like the baselines' handshakes and like the BI clients of issue 8
// (libmariadb, Connector/J and ODBC on OpenSSL 3.0), and with Go's
// default offer.
func (b *bench) storm(ctx context.Context) error {
	cases := []struct{ target, cred, offer, user, pw string }{
		{TargetDirectTLS, "native", offerDefault, benchUser, benchPW},
		{TargetHAProxyTLS, "native", offerDefault, benchUser, benchPW},
		{TargetRRProxyTLS, "local", offerX25519, benchUser, benchPW},
		{TargetRRProxyTLS, "sso-issued", offerX25519, ssoUser, b.rr.ssoPW},
		{TargetRRProxyTLS, "local", offerDefault, benchUser, benchPW},
	}
	for _, c := range cases {
		run, err := b.stormRun(ctx, c.target, c.cred, c.offer, c.user, c.pw)
		if err != nil {
			return err
		}
		log.Printf("storm %-12s %-10s %-22s %6.0f logins/s  p50 %.2f ms  p99 %.2f ms  (%d logins, %d errors)",
			c.target, c.cred, run.KeyExchange, run.PerSec, run.P50Ms, run.P99Ms, run.Logins, run.Errors)
		b.res.Storm = append(b.res.Storm, run)
	}
	return nil
}

// The key exchanges a storm client offers (StormRun.Offer).
const (
	offerDefault = "default" // Go's list: X25519MLKEM768 first
	offerX25519  = "x25519"  // X25519 alone
)

// kexSeen collects the key exchange groups a client's handshakes
// negotiated, from tls.Config.VerifyConnection, which runs after the
// usual certificate checks.
type kexSeen struct {
	mu   sync.Mutex
	seen []string
}

func (k *kexSeen) verify(cs tls.ConnectionState) error {
	name := cs.CurveID.String()
	k.mu.Lock()
	if !slices.Contains(k.seen, name) {
		k.seen = append(k.seen, name)
	}
	k.mu.Unlock()
	return nil
}

func (k *kexSeen) String() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return strings.Join(k.seen, "+")
}

func (b *bench) stormRun(ctx context.Context, target, cred, offer, user, pw string) (StormRun, error) {
	run := StormRun{Target: target, Credential: cred, TLS: isTLS(target), Workers: b.plan.stormWorker}
	cfg, err := b.connector(target, user, pw)
	if err != nil {
		return run, err
	}
	var kex kexSeen
	if cfg.TLS != nil {
		run.Offer = offer
		if offer == offerX25519 {
			cfg.TLS.CurvePreferences = []tls.CurveID{tls.X25519}
		}
		cfg.TLS.VerifyConnection = kex.verify
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return run, err
	}
	// One login first: a refused credential is a setup error, not a figure.
	if c, err := conn.Connect(ctx); err != nil {
		return run, fmt.Errorf("login to %s as %s: %w", target, user, err)
	} else {
		c.Close()
	}
	pid := b.proxyPID(target)
	cpu0 := cpuOf(pid)
	var (
		mu      sync.Mutex
		times   []time.Duration
		errs    int
		lastErr error
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(b.plan.stormFor)
	for range run.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			var last error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				c, err := conn.Connect(ctx)
				if err != nil {
					bad++
					last = err
					continue
				}
				mine = append(mine, time.Since(t0))
				c.Close()
			}
			mu.Lock()
			times = append(times, mine...)
			errs += bad
			if last != nil {
				lastErr = last
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	run.Seconds = time.Since(start).Seconds()
	run.ProxyCPU = cpuOf(pid) - cpu0
	run.Logins, run.Errors = len(times), errs
	run.KeyExchange = kex.String()
	if lastErr != nil {
		log.Printf("storm %s %s: %d failed logins, last: %v", target, cred, errs, lastErr)
	}
	if len(times) == 0 {
		return run, fmt.Errorf("storm against %s: no login succeeded: %v", target, lastErr)
	}
	slices.Sort(times)
	run.PerSec = float64(len(times)) / run.Seconds
	run.P50Ms = ms(times[len(times)/2])
	run.P99Ms = ms(times[len(times)*99/100])
	return run, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// idle holds many connections open after one query each, as a pool of BI
// workers between dashboard refreshes does, and reports what each costs
// the proxy and MariaDB in resident memory: directly, through HAProxy and
// through rrproxy, one after the other.
func (b *bench) idle(ctx context.Context) error {
	for _, t := range []string{TargetDirectTLS, TargetHAProxyTLS, TargetRRProxyTLS} {
		run, err := b.idleRun(ctx, t)
		if err != nil {
			return err
		}
		log.Printf("idle %-12s %d connections: proxy RSS %.1f → %.1f MB, %.1f KB each; MariaDB RSS %.1f → %.1f MB, %.1f KB each",
			t, run.Conns, run.RSSBeforeMB, run.RSSAfterMB, run.KBPerConn, run.ServerRSSBeforeMB, run.ServerRSSAfterMB, run.ServerKBPerConn)
		b.res.Idle = append(b.res.Idle, run)
	}
	return nil
}

func (b *bench) idleRun(ctx context.Context, target string) (IdleRun, error) {
	run := IdleRun{Target: target, Conns: b.plan.idleConns}
	cfg, err := b.connector(target, benchUser, benchPW)
	if err != nil {
		return run, err
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return run, err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxOpenConns(run.Conns)
	db.SetMaxIdleConns(run.Conns)
	// rss reads the proxy's (none for direct) and MariaDB's resident
	// memory.
	pid, server := b.proxyPID(target), b.db.cmd.Process.Pid
	rss := func() (proxy, srv float64, err error) {
		if pid != 0 {
			st, err := readProc(pid)
			if err != nil {
				return 0, 0, err
			}
			proxy = st.rssMB
		}
		st, err := readProc(server)
		return proxy, st.rssMB, err
	}
	if run.RSSBeforeMB, run.ServerRSSBeforeMB, err = rss(); err != nil {
		return run, err
	}
	conns := make([]*sql.Conn, run.Conns)
	var wg sync.WaitGroup
	errc := make(chan error, run.Conns)
	sem := make(chan struct{}, 32)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := db.Conn(ctx)
			if err != nil {
				errc <- err
				return
			}
			var one int
			if err := c.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				errc <- err
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return run, fmt.Errorf("opening %d connections to %s: %w", run.Conns, target, err)
	}
	time.Sleep(2 * time.Second) // let the proxy settle
	if run.RSSAfterMB, run.ServerRSSAfterMB, err = rss(); err != nil {
		return run, err
	}
	if pid != 0 {
		run.KBPerConn = (run.RSSAfterMB - run.RSSBeforeMB) * 1024 / float64(run.Conns)
	}
	run.ServerKBPerConn = (run.ServerRSSAfterMB - run.ServerRSSBeforeMB) * 1024 / float64(run.Conns)
	if b.profiling && target == TargetRRProxyTLS {
		if err := b.saveProfile(ctx, "heap-idle", "/debug/pprof/heap"); err != nil {
			return run, err
		}
	}
	for _, c := range conns {
		c.Close()
	}
	// The next run starts with MariaDB's threads for these gone (its
	// thread cache keeps some, which the next run's growth then omits).
	db.Close()
	time.Sleep(time.Second)
	return run, nil
}

// goBench runs the Go micro-benchmarks that guard the hot paths and keeps
// their figures with the run's.
func (b *bench) goBench(ctx context.Context) error {
	c := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-benchmem", "-benchtime", b.plan.goBenchTime,
		"-bench", goBenchPattern, "./authz", "./auditlog", "./proxy")
	c.Stderr = os.Stderr
	out, err := c.Output()
	if err != nil {
		return fmt.Errorf("go test -bench: %v\n%s", err, out)
	}
	b.res.GoBench = parseGoBench(string(out))
	for _, g := range b.res.GoBench {
		log.Printf("%-40s %10.0f ns/op", g.Name, g.NsPerOp)
	}
	return nil
}

const goBenchPattern = `^(BenchmarkDecideCached|BenchmarkDecideCold|BenchmarkLoginCached|BenchmarkLoginCold|BenchmarkRecord|BenchmarkRelay.*)$`

var goBenchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op(.*)$`)

func parseGoBench(out string) []GoBench {
	var res []GoBench
	pkg := ""
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		m := goBenchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		g := GoBench{Package: pkg, Name: m[1], Metrics: map[string]float64{}}
		g.NsPerOp, _ = strconv.ParseFloat(m[3], 64)
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				g.Metrics[f[i+1]] = v
			}
		}
		res = append(res, g)
	}
	return res
}
