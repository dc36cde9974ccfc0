package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rrproxy/rrproxy/internal/testtool"
)

func TestMerge(t *testing.T) {
	rounds := []SysbenchRun{
		{Target: TargetRRProxy, Threads: 1, Seconds: 2, QPS: 4000, TPS: 4000, AvgMs: 0.25, P99Ms: 0.40, ProxyCPUSeconds: 0.2},
		{Target: TargetRRProxy, Threads: 1, Seconds: 2, QPS: 5000, TPS: 5000, AvgMs: 0.20, P99Ms: 0.30, ProxyCPUSeconds: 0.3, Errors: 1},
		{Target: TargetRRProxy, Threads: 1, Seconds: 2, QPS: 6000, TPS: 6000, AvgMs: 0.15, P99Ms: 0.90, ProxyCPUSeconds: 0.4},
		{Target: TargetRRProxy, Threads: 1, Seconds: 2, QPS: 5000, TPS: 5000, AvgMs: 0.20, P99Ms: 0.34, ProxyCPUSeconds: 0.3},
	}
	m := merge(rounds)
	// 40,000 queries in 8 s; the p99 is the median of the rounds', not
	// the mean (one slow round does not decide it).
	if m.Seconds != 8 || m.QPS != 5000 || m.Errors != 1 || math.Abs(m.ProxyCPUSeconds-1.2) > 1e-9 ||
		math.Abs(m.ProxyCPUPerQueryUs-30) > 1e-9 || math.Abs(m.P99Ms-0.37) > 1e-9 || math.Abs(m.AvgMs-0.2) > 1e-9 {
		t.Fatalf("merge = %+v", m)
	}
	if !slices.Equal(m.P99Rounds, []float64{0.40, 0.30, 0.90, 0.34}) {
		t.Fatalf("rounds kept in order: %v", m.P99Rounds)
	}
	if !slices.Equal(m.QPSRounds, []float64{4000, 5000, 6000, 5000}) {
		t.Fatalf("q/s rounds kept in order: %v", m.QPSRounds)
	}
	if one := merge(rounds[:1]); one.P99Rounds != nil || one.QPSRounds != nil || one.P99Ms != 0.40 {
		t.Fatalf("a single run is kept as it is: %+v", one)
	}
}

// TestQPSRatioPairsRounds: a configuration run in rounds is judged by
// the median of its rounds' ratios, each round's rrproxy q/s over the
// same round's HAProxy q/s; the goal is the lowest configuration's, and
// a configuration without rounds is judged by its one ratio.
func TestQPSRatioPairsRounds(t *testing.T) {
	run := func(target string, threads int, ps string, rounds ...float64) SysbenchRun {
		s := SysbenchRun{Workload: "oltp_point_select", PSMode: ps, Threads: threads, Target: target, QPSRounds: rounds}
		for _, q := range rounds {
			s.QPS += q / float64(len(rounds))
		}
		return s
	}
	r := &Results{Sysbench: []SysbenchRun{
		// Round 2 was slow for both: 90%, 50% and 95% by round, median
		// 90%; the means would give 73%.
		run(TargetHAProxy, 8, "auto", 10000, 20000, 10000),
		run(TargetRRProxy, 8, "auto", 9000, 10000, 9500),
		run(TargetHAProxy, 32, "auto", 10000, 10000, 10000),
		run(TargetRRProxy, 32, "auto", 8600, 8800, 8700),
		run(TargetHAProxy, 1, "auto", 10000),
		run(TargetRRProxy, 1, "auto", 1000), // not a thread count the goal asks for
	}}
	x, where := r.qpsRatio(TargetRRProxy, TargetHAProxy, 8, 32)
	if math.Abs(x-0.87) > 1e-9 || where != "oltp_point_select ps=auto 32 threads; median of 3 alternating rounds, each 86% 88% 87%" {
		t.Fatalf("qpsRatio = %v, %q", x, where)
	}
	r.Sysbench[3] = SysbenchRun{Workload: "oltp_point_select", PSMode: "auto", Threads: 32, Target: TargetRRProxy, QPS: 9900}
	if x, where := r.qpsRatio(TargetRRProxy, TargetHAProxy, 8, 32); math.Abs(x-0.9) > 1e-9 || where != "oltp_point_select ps=auto 8 threads; median of 3 alternating rounds, each 90% 50% 95%" {
		t.Fatalf("qpsRatio = %v, %q", x, where)
	}
	r.Sysbench[0].QPSRounds, r.Sysbench[1].QPSRounds = nil, nil // single runs
	if x, where := r.qpsRatio(TargetRRProxy, TargetHAProxy, 8, 32); math.Abs(x-9500.0/(40000.0/3)) > 1e-9 || where != "oltp_point_select ps=auto 8 threads" {
		t.Fatalf("qpsRatio = %v, %q", x, where)
	}
}

// TestSmoke runs the whole harness with tiny tables and one-second runs:
// every part must produce its figures against real MariaDB, HAProxy and
// rrproxy, with no client errors, and write the report. It checks that
// the README's benchmark command works, not how fast anything is (no
// figure is compared with a threshold).
func TestSmoke(t *testing.T) {
	for _, bin := range []string{"mariadbd", "haproxy", "sysbench", "mariadb"} {
		if _, ok := testtool.Need(t, bin, bin, "the benchmark smoke test"); !ok {
			return
		}
	}
	t.Chdir("..") // the harness builds ./cmd/rrproxy and ./e2e from the repository root
	out := t.TempDir()
	parts := []string{"sysbench", "stream", "storm", "idle", "audit", "gobench"}
	if err := run(context.Background(), smokePlan(), out, false, parts); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(out, "*-smoke.json"))
	if len(matches) != 1 {
		t.Fatalf("results: %v", matches)
	}
	base := strings.TrimSuffix(matches[0], ".json")
	b, err := os.ReadFile(base + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	p := smokePlan()
	want := 0
	for w, ps := range p.psModes {
		want += len(ps) * len(p.threads) * len(targetsFor(w))
	}
	if len(r.Sysbench) != want {
		t.Errorf("%d sysbench runs, want %d", len(r.Sysbench), want)
	}
	for _, s := range r.Sysbench {
		if s.QPS <= 0 || s.Errors != 0 || (s.Target != TargetDirect && s.Target != TargetDirectTLS && s.ProxyCPUSeconds <= 0) {
			t.Errorf("sysbench run without figures: %+v", s)
		}
		// Every configuration is run in rounds across the targets: one
		// thread in p99Rounds, more in qpsRounds.
		wantRounds, wantSecs := p.qpsRounds, p.qpsRounds*(p.runSeconds/p.qpsRounds)
		if s.Threads == 1 {
			wantRounds, wantSecs = p.p99Rounds, p.p99Rounds*(p.p99Seconds/p.p99Rounds)
		}
		if len(s.P99Rounds) != wantRounds || len(s.QPSRounds) != wantRounds || s.Seconds != wantSecs ||
			s.P99Ms < slices.Min(s.P99Rounds) || s.P99Ms > slices.Max(s.P99Rounds) {
			t.Errorf("sysbench %s %d threads: p99 %.2f of rounds %v, q/s rounds %v, over %d s; want %d rounds over %d s", s.Target, s.Threads, s.P99Ms, s.P99Rounds, s.QPSRounds, s.Seconds, wantRounds, wantSecs)
		} else if mean := (slices.Min(s.QPSRounds) + slices.Max(s.QPSRounds)) / 2; wantRounds == 2 && math.Abs(s.QPS-mean) > 1e-6*mean {
			t.Errorf("sysbench %s %d threads: q/s %.1f is not the mean of its rounds %v", s.Target, s.Threads, s.QPS, s.QPSRounds)
		}
	}
	if len(r.Stream) != 6 {
		t.Errorf("%d stream runs, want 6", len(r.Stream))
	}
	for _, s := range r.Stream {
		if s.Rows != p.wideRows || s.MBps <= 0 {
			t.Errorf("stream run: %+v", s)
		}
		// The goal targets are read in rounds; HAProxy (TLS or not) once.
		wantRounds := p.streamRounds
		if s.Target == TargetHAProxy || s.Target == TargetHAProxyTLS {
			wantRounds = 0
		}
		if len(s.RoundsMBps) != wantRounds || (wantRounds > 0 && !slices.Contains(s.RoundsMBps, s.MBps)) {
			t.Errorf("stream %s: rounds %v, want %d holding the median %.1f", s.Target, s.RoundsMBps, wantRounds, s.MBps)
		}
	}
	if len(r.Storm) != 5 {
		t.Errorf("%d storm runs, want 5", len(r.Storm))
	}
	for _, s := range r.Storm {
		if s.Logins == 0 || s.Errors != 0 {
			t.Errorf("storm run: %+v", s)
		}
		// What the report says about key exchange is what the
		// handshakes negotiated: OpenSSL 3.0 (MariaDB, HAProxy) has no
		// ML-KEM, rrproxy takes the hybrid whenever it is offered.
		want := "X25519"
		if s.Target == TargetRRProxyTLS && s.Offer == offerDefault {
			want = "X25519MLKEM768"
		}
		if s.KeyExchange != want {
			t.Errorf("storm %s %s offering %s negotiated %q, want %q", s.Target, s.Credential, s.Offer, s.KeyExchange, want)
		}
	}
	if len(r.Idle) != 3 || r.Idle[0].Target != TargetDirectTLS || r.Idle[0].RSSAfterMB != 0 || r.Idle[0].ServerRSSAfterMB <= 0 ||
		r.Idle[2].Target != TargetRRProxyTLS || r.Idle[2].Conns != p.idleConns || r.Idle[2].RSSAfterMB <= 0 || r.Idle[2].ServerRSSAfterMB <= 0 {
		t.Errorf("idle runs (direct, HAProxy, rrproxy; the proxy's memory and MariaDB's): %+v", r.Idle)
	}
	if r.Audit == nil || len(r.Audit.OffQPS) != 1 || r.Audit.Ratio <= 0 ||
		len(r.Audit.OffProxyCPU) != 1 || r.Audit.OffProxyCPU[0] <= 0 || r.Audit.CPURatio <= 0 {
		t.Errorf("audit cost (QPS and CPU per query): %+v", r.Audit)
	}
	names := map[string]bool{}
	for _, g := range r.GoBench {
		names[g.Name] = true
	}
	for _, want := range []string{"BenchmarkDecideCached/point", "BenchmarkLoginCached", "BenchmarkRecord/sync=batch/sessions=32"} {
		if !names[want] {
			t.Errorf("go benchmarks lack %s: %v", want, names)
		}
	}
	if len(r.Goals) < 8 {
		t.Errorf("%d goals stated, want every goal of issue 8: %+v", len(r.Goals), r.Goals)
	}
	md, err := os.ReadFile(base + ".md")
	if err != nil || !strings.Contains(string(md), "## Goals") || !strings.Contains(string(md), "oltp_read_only") {
		t.Errorf("report: %v\n%s", err, md)
	}
	if st, err := os.Stat(base + ".png"); err != nil || st.Size() < 10_000 {
		t.Errorf("plot: %v", err)
	}
}

// TestStormGoals: the storm goal is judged on the runs whose handshake is
// the baselines' (X25519), one row per credential, and the run with Go's
// default post-quantum offer is quoted in the local row, never dropped;
// results from before the offer was recorded keep their rows.
func TestStormGoals(t *testing.T) {
	r := &Results{Storm: []StormRun{
		{Target: TargetDirectTLS, Credential: "native", Offer: offerDefault, KeyExchange: "X25519", PerSec: 1400},
		{Target: TargetRRProxyTLS, Credential: "local", Offer: offerX25519, KeyExchange: "X25519", PerSec: 1250, P50Ms: 6, P99Ms: 12},
		{Target: TargetRRProxyTLS, Credential: "sso-issued", Offer: offerX25519, KeyExchange: "X25519", PerSec: 990, P50Ms: 7, P99Ms: 14},
		{Target: TargetRRProxyTLS, Credential: "local", Offer: offerDefault, KeyExchange: "X25519MLKEM768", PerSec: 930, P99Ms: 18.5},
	}}
	var rows []Goal
	for _, g := range goals(r) {
		if strings.HasPrefix(g.Name, "Connection storm") {
			rows = append(rows, g)
		}
	}
	if len(rows) != 2 {
		t.Fatalf("storm goal rows: %+v", rows)
	}
	local, sso := rows[0], rows[1]
	if !strings.Contains(local.Name, "local, X25519") || !local.Met ||
		!strings.Contains(local.Got, "1250 logins/s") || !strings.Contains(local.Got, "with Go's default offer (X25519MLKEM768): 930 logins/s, p99 18.50 ms") {
		t.Errorf("local row: %+v", local)
	}
	if !strings.Contains(sso.Name, "sso-issued, X25519") || sso.Met || strings.Contains(sso.Got, "default offer") {
		t.Errorf("sso row: %+v", sso)
	}

	old := &Results{Storm: []StormRun{{Target: TargetRRProxyTLS, Credential: "local", PerSec: 1100}}}
	if g := goals(old); len(g) != 1 || g[0].Name != "Connection storm, TLS + full auth (local)" || !g[0].Met {
		t.Errorf("goals of a run without offers: %+v", g)
	}
}

// TestPartialRunSaysSo: a report of a run with -only names the parts in
// its title and command, and shows no plot when sysbench did not run
// (the plot is of its figures).
func TestPartialRunSaysSo(t *testing.T) {
	r := &Results{Mode: "full", Only: []string{"audit"}, Audit: &AuditCost{Rounds: 1}}
	md := markdown(r, "x.png")
	for _, want := range []string{"full run of 0001-01-01 00:00 UTC, only audit\n", "`./bench/run.sh -only audit`"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "x.png") {
		t.Errorf("a run without sysbench shows the plot:\n%s", md)
	}
	full := markdown(&Results{Mode: "full", Sysbench: []SysbenchRun{{Workload: "oltp_point_select", PSMode: "auto", Threads: 1, Target: TargetDirect}}}, "x.png")
	if !strings.Contains(full, "![QPS per target](x.png)") || strings.Contains(full, "UTC, only") {
		t.Errorf("a whole run's report:\n%s", full)
	}
}
