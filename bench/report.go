package main

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

func (r *Results) sysbenchRun(workload, ps string, threads int, target string) (SysbenchRun, bool) {
	for _, s := range r.Sysbench {
		if s.Workload == workload && s.PSMode == ps && s.Threads == threads && s.Target == target {
			return s, true
		}
	}
	return SysbenchRun{}, false
}

func (r *Results) streamRun(target string) (StreamRun, bool) {
	for _, s := range r.Stream {
		if s.Target == target {
			return s, true
		}
	}
	return StreamRun{}, false
}

// streamRatio is s's MB/s over base's. With rounds (the two read one
// after the other in each round) it is the median of the rounds'
// ratios, as the audit part pairs its rounds: a round the machine was
// slow in is slow for both. It also says how it was reached.
func streamRatio(s, base StreamRun) (float64, string) {
	each := pairedRatios(s.RoundsMBps, base.RoundsMBps)
	if len(each) < 2 {
		x := s.MBps / base.MBps
		return x, fmt.Sprintf("%.0f%% (%.0f / %.0f MB/s)", 100*x, s.MBps, base.MBps)
	}
	x := median(each)
	return x, fmt.Sprintf("%.0f%% (median of %d paired rounds, each %s; median MB/s %.0f / %.0f)", 100*x, len(each), pcts(each), s.MBps, base.MBps)
}

// pairedRatios divides each round's figure by the base's of the same
// round, skipping rounds where the base has none.
func pairedRatios(x, base []float64) []float64 {
	var each []float64
	for i := range min(len(x), len(base)) {
		if base[i] > 0 {
			each = append(each, x[i]/base[i])
		}
	}
	return each
}

// qpsRatio is the lowest QPS ratio of target to base over every sysbench
// configuration at the given thread counts, and where it occurred. A
// configuration run in rounds is judged by the median of its rounds'
// ratios (the two targets' runs of a round are minutes apart at most), as
// the stream and audit goals are; without rounds, by the one ratio.
func (r *Results) qpsRatio(target, base string, threads ...int) (float64, string) {
	lowest, where := math.Inf(1), ""
	for _, s := range r.Sysbench {
		if s.Target != target || !slices.Contains(threads, s.Threads) {
			continue
		}
		b, ok := r.sysbenchRun(s.Workload, s.PSMode, s.Threads, base)
		if !ok || b.QPS == 0 {
			continue
		}
		x, how := s.QPS/b.QPS, ""
		if each := pairedRatios(s.QPSRounds, b.QPSRounds); len(each) >= 2 {
			x, how = median(each), fmt.Sprintf("; median of %d alternating rounds, each %s", len(each), pcts(each))
		}
		if x < lowest {
			lowest, where = x, fmt.Sprintf("%s ps=%s %d threads%s", s.Workload, s.PSMode, s.Threads, how)
		}
	}
	if math.IsInf(lowest, 1) {
		return 0, ""
	}
	return lowest, where
}

// goals states each target of issue 8 and what this run reached.
func goals(r *Results) []Goal {
	var g []Goal
	pct := func(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }
	add := func(name, want string, value float64, got string, met bool) {
		g = append(g, Goal{Name: name, Want: want, Value: value, Got: got, Met: met})
	}
	if len(r.Sysbench) > 0 {
		x, where := r.qpsRatio(TargetRRProxy, TargetHAProxy, 8, 32)
		add("QPS rrproxy / HAProxy (8 and 32 threads, lowest)", "≥ 90%", x, pct(x)+" ("+where+")", x >= 0.9)
		x, where = r.qpsRatio(TargetRRProxyTLS, TargetHAProxyTLS, 8, 32)
		add("QPS rrproxy-tls / HAProxy-tls (8 and 32 threads, lowest)", "≥ 90%", x, pct(x)+" ("+where+")", x >= 0.9)
		worst, where := 0.0, ""
		for _, s := range r.Sysbench {
			// sysbench's latency is per event: one query for
			// point_select, 14 for read_only.
			if s.Target != TargetRRProxy || s.Threads != 1 || s.Workload != "oltp_point_select" {
				continue
			}
			d, ok := r.sysbenchRun(s.Workload, s.PSMode, 1, TargetDirect)
			if !ok {
				continue
			}
			if added := (s.P99Ms - d.P99Ms) * 1000; added > worst || where == "" {
				worst, where = added, fmt.Sprintf("%s ps=%s", s.Workload, s.PSMode)
			}
		}
		add("Added p99 latency per point select at 1 thread (rrproxy − direct, worst)", "≤ 150 µs", worst, fmt.Sprintf("%.0f µs (%s)", worst, where), worst <= 150)
	}
	if d, ok := r.streamRun(TargetDirect); ok && d.MBps > 0 {
		if s, ok := r.streamRun(TargetRRProxy); ok {
			x, how := streamRatio(s, d)
			add("Bulk stream MB/s rrproxy / direct", "≥ 90%", x, how, x >= 0.9)
		}
	}
	if d, ok := r.streamRun(TargetDirectTLS); ok && d.MBps > 0 {
		if s, ok := r.streamRun(TargetRRProxyTLS); ok {
			x, how := streamRatio(s, d)
			add("Bulk stream MB/s rrproxy-tls / direct-tls", "≥ 90%", x, how, x >= 0.9)
		}
	}
	if len(r.Stream) > 0 {
		peak := 0.0
		for _, s := range r.Stream {
			if s.Target == TargetRRProxy || s.Target == TargetRRProxyTLS {
				peak = math.Max(peak, s.ProxyMaxRSSMB)
			}
		}
		add("rrproxy RSS while streaming", "< 64 MB", peak, fmt.Sprintf("%.1f MB (%d rows); VmHWM of the whole run before the idle test %.1f MB", peak, r.Stream[0].Rows, r.ProxyPeakRSSMB), peak < 64)
	}
	for _, i := range r.Idle {
		if i.Target == TargetRRProxyTLS {
			add("Proxy memory per idle connection", "≤ 64 KB", i.KBPerConn, fmt.Sprintf("%.1f KB (%d TLS connections)", i.KBPerConn, i.Conns), i.KBPerConn <= 64)
		}
	}
	for _, b := range r.GoBench {
		if b.Name == "BenchmarkDecideCached/point" {
			add("Policy decision, cache hit", "≤ 5 µs", b.NsPerOp/1000, fmt.Sprintf("%.2f µs", b.NsPerOp/1000), b.NsPerOp <= 5000)
		}
	}
	if a := r.Audit; a != nil && a.Ratio > 0 {
		add("Audit (batch) QPS / audit off, in-process point selects", "≥ 95%", a.Ratio,
			fmt.Sprintf("%.0f%% (median of %d alternating rounds, each %s; medians %.0f / %.0f q/s)", 100*a.Ratio, a.Rounds, pcts(a.Ratios), median(a.BatchQPS), median(a.OffQPS)), a.Ratio >= 0.95)
	}
	if a := r.Audit; a != nil && a.CPURatio > 0 {
		add("Audit (batch) / audit off by CPU per query (proxy, clients and MariaDB: the QPS ratio of a saturated machine)", "≥ 95%", a.CPURatio,
			fmt.Sprintf("%.0f%% (median of %d rounds, each %s; medians %.1f / %.1f µs per query; the audit log's share, batch − off in the proxy's process: %.1f µs per statement)",
				100*a.CPURatio, len(a.CPURatios), pcts(a.CPURatios), median(a.OffCPU), median(a.BatchCPU), median(a.BatchProxyCPU)-median(a.OffProxyCPU)), a.CPURatio >= 0.95)
	}
	// The storm goal is judged on the handshake the baselines make
	// (X25519: their OpenSSL has no ML-KEM); a run with Go's default,
	// post-quantum offer is reported beside it, not hidden.
	for _, s := range r.Storm {
		if s.Target != TargetRRProxyTLS || s.Offer == offerDefault {
			continue
		}
		name, got := "Connection storm, TLS + full auth ("+s.Credential+")", fmt.Sprintf("%.0f logins/s, p50 %.2f ms, p99 %.2f ms", s.PerSec, s.P50Ms, s.P99Ms)
		if s.Offer != "" {
			name = "Connection storm, TLS + full auth (" + s.Credential + ", " + s.KeyExchange + " as with the baselines)"
			for _, h := range r.Storm {
				if h.Target == s.Target && h.Credential == s.Credential && h.Offer == offerDefault {
					got += fmt.Sprintf("; with Go's default offer (%s): %.0f logins/s, p99 %.2f ms", h.KeyExchange, h.PerSec, h.P99Ms)
				}
			}
		}
		add(name, "≥ 1,000 logins/s", s.PerSec, got, s.PerSec >= 1000)
	}
	return g
}

func goalTable(gs []Goal) string {
	var b strings.Builder
	b.WriteString("| Goal | Target | This run | Met |\n|---|---|---|---|\n")
	for _, g := range gs {
		met := "no"
		if g.Met {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.Name, g.Want, g.Got, met)
	}
	return b.String()
}

func markdown(r *Results, png string) string {
	var b strings.Builder
	cmd := "./bench/run.sh"
	if r.Mode == "quick" {
		cmd += " -quick"
	}
	if len(r.Only) > 0 {
		// A partial run says so, in its title and its command.
		cmd += " -only " + strings.Join(r.Only, ",")
		fmt.Fprintf(&b, "# rrproxy benchmark, %s run of %s, only %s\n\n", r.Mode, r.Date.Format("2006-01-02 15:04 UTC"), strings.Join(r.Only, ", "))
	} else {
		fmt.Fprintf(&b, "# rrproxy benchmark, %s run of %s\n\n", r.Mode, r.Date.Format("2006-01-02 15:04 UTC"))
	}
	fmt.Fprintf(&b, "Produced by `%s` in %.0f s on %d CPUs (%s, %d GiB, Linux %s).\n", cmd, r.Seconds, r.Machine.CPUs, r.Machine.CPU, r.Machine.MemGB, r.Machine.Kernel)
	fmt.Fprintf(&b, "rrproxy %s (%s), %s, MariaDB %s, %s.\n", r.Versions.RRProxy, r.Versions.Go, r.Versions.HAProxy, r.Versions.MariaDB, "sysbench "+r.Versions.Sysbench)
	b.WriteString("Clients, MariaDB, HAProxy and rrproxy share the same cores: every figure is from the same run, and the ratios are what to compare.\n\n")
	if len(r.Sysbench) > 0 {
		fmt.Fprintf(&b, "![QPS per target](%s)\n\n", png) // the plot is of sysbench's figures
	}
	fmt.Fprintf(&b, "## Goals (issue 8)\n\n%s\n", goalTable(r.Goals))

	if len(r.Sysbench) > 0 {
		b.WriteString("## sysbench\n\nQueries per second, p99 latency in ms, and the proxy's CPU time per query. `auto` uses server-side prepared statements, `disable` sends text queries. Runs made in rounds that visit the targets in alternating order show the mean q/s and the median p99 of their rounds, and the ratio columns divide those means; the goals above take the median of the rounds' own ratios.\n\n")
		targets := []string{}
		for _, t := range sysbenchTargets {
			for _, s := range r.Sysbench {
				if s.Target == t {
					targets = append(targets, t)
					break
				}
			}
		}
		b.WriteString("| workload | ps | threads |")
		for _, t := range targets {
			fmt.Fprintf(&b, " %s q/s (p99) |", t)
		}
		b.WriteString(" rrproxy/haproxy | rrproxy/direct | rrproxy-tls/haproxy-tls | gorelay/haproxy | rrproxy µs CPU/q | haproxy µs CPU/q | gorelay µs CPU/q |\n|---|---|---|")
		b.WriteString(strings.Repeat("---|", len(targets)+7) + "\n")
		seen := map[string]bool{}
		for _, s := range r.Sysbench {
			key := fmt.Sprintf("%s/%s/%d", s.Workload, s.PSMode, s.Threads)
			if seen[key] {
				continue
			}
			seen[key] = true
			fmt.Fprintf(&b, "| %s | %s | %d |", s.Workload, s.PSMode, s.Threads)
			q := map[string]SysbenchRun{}
			for _, t := range targets {
				x, ok := r.sysbenchRun(s.Workload, s.PSMode, s.Threads, t)
				q[t] = x
				if !ok {
					b.WriteString(" – |")
					continue
				}
				fmt.Fprintf(&b, " %.0f (%.2f) |", x.QPS, x.P99Ms)
			}
			ratio := func(a, c string) string {
				if q[c].QPS == 0 || q[a].QPS == 0 {
					return "–"
				}
				return fmt.Sprintf("%.0f%%", 100*q[a].QPS/q[c].QPS)
			}
			cpu := func(t string) string {
				if q[t].QPS == 0 {
					return "–"
				}
				return fmt.Sprintf("%.1f", q[t].ProxyCPUPerQueryUs)
			}
			fmt.Fprintf(&b, " %s | %s | %s | %s | %s | %s | %s |\n", ratio(TargetRRProxy, TargetHAProxy), ratio(TargetRRProxy, TargetDirect),
				ratio(TargetRRProxyTLS, TargetHAProxyTLS), ratio(TargetGoRelay, TargetHAProxy), cpu(TargetRRProxy), cpu(TargetHAProxy), cpu(TargetGoRelay))
		}
		b.WriteString("\n")
	}
	if len(r.Stream) > 0 {
		fmt.Fprintf(&b, "## Bulk streaming\n\n`mariadb --quick --batch -e 'SELECT %s FROM trial.observations'`, output counted by the harness.\n\n", streamColumns)
		b.WriteString("Targets read more than once (alternating, round by round) show their median round; each round's MB/s is listed in the order run.\n\n")
		b.WriteString("| target | rows | MB | seconds | MB/s | rounds MB/s | proxy max RSS MB | proxy CPU s |\n|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.Stream {
			rounds := make([]string, len(s.RoundsMBps))
			for i, x := range s.RoundsMBps {
				rounds[i] = fmt.Sprintf("%.0f", x)
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f | %.0f | %s | %.1f | %.2f |\n", s.Target, s.Rows, float64(s.Bytes)/1e6, s.Seconds, s.MBps,
				strings.Join(rounds, " "), s.ProxyMaxRSSMB, s.ProxyCPUSeconds)
		}
		b.WriteString("\n")
	}
	if len(r.Storm) > 0 {
		b.WriteString("## Connection storm\n\nNew connections, each with a TLS handshake and a full authentication, opened and closed by concurrent workers (go-sql-driver). " +
			"The client offers either Go's default key exchanges (X25519MLKEM768 first) or X25519 alone; the key exchange column is what the handshakes negotiated: " +
			"MariaDB and HAProxy (OpenSSL 3.0) settle on X25519 either way, rrproxy on the post-quantum hybrid when it is offered.\n\n")
		b.WriteString("| target | credential | client offers | key exchange | workers | logins | errors | logins/s | p50 ms | p99 ms | proxy CPU s | proxy CPU µs/login |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.Storm {
			perLogin := "–"
			if s.Logins > 0 && s.ProxyCPU > 0 {
				perLogin = fmt.Sprintf("%.0f", s.ProxyCPU*1e6/float64(s.Logins))
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %d | %.0f | %.2f | %.2f | %.2f | %s |\n", s.Target, s.Credential, cmp.Or(s.Offer, "–"), cmp.Or(s.KeyExchange, "–"),
				s.Workers, s.Logins, s.Errors, s.PerSec, s.P50Ms, s.P99Ms, s.ProxyCPU, perLogin)
		}
		b.WriteString("\n")
	}
	if len(r.Idle) > 0 {
		b.WriteString("## Idle connections\n\nConnections opened with TLS, one `SELECT 1` each, then held; the proxy's and MariaDB's VmRSS before and after, one target after the other. MariaDB's growth through a proxy is that of the proxy's upstream connections (rrproxy holds one per session; HAProxy relays each); MariaDB's thread cache keeps some threads of a run for the next, whose growth then omits them.\n\n")
		b.WriteString("| target | connections | proxy RSS before MB | proxy RSS after MB | proxy KB per connection | MariaDB RSS before MB | MariaDB RSS after MB | MariaDB KB per connection |\n|---|---|---|---|---|---|---|---|\n")
		for _, s := range r.Idle {
			proxy := "– | – | –"
			if s.RSSAfterMB > 0 {
				proxy = fmt.Sprintf("%.1f | %.1f | %.1f", s.RSSBeforeMB, s.RSSAfterMB, s.KBPerConn)
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %.1f | %.1f | %.1f |\n", s.Target, s.Conns, proxy, s.ServerRSSBeforeMB, s.ServerRSSAfterMB, s.ServerKBPerConn)
		}
		b.WriteString("\n")
	}
	if len(r.GoBench) > 0 {
		b.WriteString("## Go micro-benchmarks\n\n| package | benchmark | ns/op | other |\n|---|---|---|---|\n")
		for _, g := range r.GoBench {
			var extra []string
			for k, v := range g.Metrics {
				extra = append(extra, fmt.Sprintf("%g %s", v, k))
			}
			slices.Sort(extra)
			fmt.Fprintf(&b, "| %s | %s | %.0f | %s |\n", strings.TrimPrefix(g.Package, "github.com/rrproxy/rrproxy/"), g.Name, g.NsPerOp, strings.Join(extra, ", "))
		}
	}
	return b.String()
}

func pcts(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmt.Sprintf("%.0f%%", 100*x))
	}
	return strings.Join(parts, " ")
}
