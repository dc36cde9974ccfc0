package main

import "time"

// Results is everything one run of the benchmark measured. It is written
// as bench/results/<date>[-quick].json, rendered as the .md next to it,
// and plotted as the .png the README shows.
type Results struct {
	Date     time.Time `json:"date"`
	Mode     string    `json:"mode"` // "quick" or "full"
	Machine  Machine   `json:"machine"`
	Versions Versions  `json:"versions"`
	Seconds  float64   `json:"seconds"` // wall time of the whole run
	// Only lists the parts run when -only named fewer than all of them
	// (empty: the whole benchmark).
	Only []string `json:"only,omitempty"`

	Sysbench []SysbenchRun `json:"sysbench"`
	Stream   []StreamRun   `json:"stream"`
	Storm    []StormRun    `json:"storm"`
	Idle     []IdleRun     `json:"idle"`
	GoBench  []GoBench     `json:"go_bench"`
	Audit    *AuditCost    `json:"audit_cost,omitempty"`
	Goals    []Goal        `json:"goals"`

	// ProxyPeakRSSMB is rrproxy's VmHWM (peak resident set) after the
	// throughput and streaming workloads, before the idle-connection test.
	ProxyPeakRSSMB float64 `json:"proxy_peak_rss_mb"`
}

// Machine describes where the figures were taken.
type Machine struct {
	CPUs   int    `json:"cpus"`
	CPU    string `json:"cpu"`
	Kernel string `json:"kernel"`
	MemGB  int    `json:"mem_gb"`
}

// Versions of every component in the run.
type Versions struct {
	RRProxy  string `json:"rrproxy"` // git describe of the tree that was built
	Go       string `json:"go"`
	MariaDB  string `json:"mariadb"`
	HAProxy  string `json:"haproxy"`
	Sysbench string `json:"sysbench"`
}

// Targets a client connects to. Every workload runs against each of them
// in the same run, so ratios compare like with like.
const (
	TargetDirect     = "direct"      // MariaDB itself
	TargetHAProxy    = "haproxy"     // HAProxy 2.6, mode tcp (the L4 floor)
	TargetRRProxy    = "rrproxy"     // policy + audit (batch), client TLS off
	TargetRRProxyTLS = "rrproxy-tls" // the same with client TLS on
	TargetNoAudit    = "rrproxy-noaudit"
	TargetDirectTLS  = "direct-tls"
	TargetHAProxyTLS = "haproxy-tls" // TLS passed through to MariaDB
	// TargetGoRelay is bench/gorelay: the smallest Go relay (io.Copy each
	// way), the floor a Go proxy starts from. Point selects only.
	TargetGoRelay = "gorelay"
)

// SysbenchRun is one sysbench run: one workload, prepared-statement mode,
// thread count and target.
type SysbenchRun struct {
	Workload string  `json:"workload"` // oltp_point_select | oltp_read_only
	PSMode   string  `json:"ps_mode"`  // auto (server-side prepared) | disable
	Threads  int     `json:"threads"`
	Target   string  `json:"target"`
	Seconds  int     `json:"seconds"`
	QPS      float64 `json:"qps"`
	TPS      float64 `json:"tps"`
	AvgMs    float64 `json:"avg_ms"`
	P99Ms    float64 `json:"p99_ms"`
	// P99Rounds holds each round's p99 when the run was made in rounds
	// (one thread: P99Ms is their median).
	P99Rounds []float64 `json:"p99_rounds_ms,omitempty"`
	// QPSRounds holds each round's q/s when the run was made in rounds
	// (QPS is their mean).
	QPSRounds []float64 `json:"qps_rounds,omitempty"`
	Errors    int       `json:"errors"`
	// ProxyCPUSeconds is the CPU time (user+system) the proxy process
	// (rrproxy or HAProxy) used during the run; 0 for direct.
	ProxyCPUSeconds float64 `json:"proxy_cpu_seconds"`
	// ProxyCPUPerQueryUs is ProxyCPUSeconds per query, in µs.
	ProxyCPUPerQueryUs float64 `json:"proxy_cpu_per_query_us"`
}

// StreamRun is the wide table read whole through the mariadb client.
type StreamRun struct {
	Target  string  `json:"target"`
	Rows    int     `json:"rows"`
	Bytes   int64   `json:"bytes"` // bytes of the client's output
	Seconds float64 `json:"seconds"`
	MBps    float64 `json:"mb_per_s"`
	// ProxyMaxRSSMB is the largest VmRSS of the proxy process sampled
	// every 50 ms during the read.
	ProxyMaxRSSMB   float64 `json:"proxy_max_rss_mb"`
	ProxyCPUSeconds float64 `json:"proxy_cpu_seconds"`
	// RoundsMBps is every round's MB/s in the order run, when the
	// target was read more than once; the other fields are the median
	// round's (ProxyMaxRSSMB: the largest of any round).
	RoundsMBps []float64 `json:"rounds_mb_per_s,omitempty"`
}

// StormRun is a connection storm: workers opening new connections with
// full authentication and closing them, as fast as they can.
type StormRun struct {
	Target     string `json:"target"`
	Credential string `json:"credential"` // local | sso-issued | native (MariaDB account)
	// Offer is the key exchange the client offered: "default" (Go's own
	// list, X25519MLKEM768 first) or "x25519" (X25519 alone, as Debian
	// 12's libmariadb and OpenSSL 3.0 clients offer); KeyExchange is what
	// the handshakes negotiated, as the client saw it.
	Offer       string  `json:"offer,omitempty"`
	KeyExchange string  `json:"key_exchange,omitempty"`
	TLS         bool    `json:"tls"`
	Workers     int     `json:"workers"`
	Logins      int     `json:"logins"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	PerSec      float64 `json:"logins_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	ProxyCPU    float64 `json:"proxy_cpu_seconds"`
}

// IdleRun is many connections held open after one query each. The
// proxy's figures are zero for direct; the server's are MariaDB's
// growth while the run's connections were open (through a proxy, its
// upstream connections: rrproxy holds one per session).
type IdleRun struct {
	Target            string  `json:"target"`
	Conns             int     `json:"conns"`
	RSSBeforeMB       float64 `json:"rss_before_mb"`
	RSSAfterMB        float64 `json:"rss_after_mb"`
	KBPerConn         float64 `json:"kb_per_conn"`
	ServerRSSBeforeMB float64 `json:"server_rss_before_mb"`
	ServerRSSAfterMB  float64 `json:"server_rss_after_mb"`
	ServerKBPerConn   float64 `json:"server_kb_per_conn"`
}

// Goal is one of the targets in issue 8, with what this run reached.
type Goal struct {
	Name  string  `json:"name"`
	Want  string  `json:"want"`
	Got   string  `json:"got"`
	Value float64 `json:"value"`
	Met   bool    `json:"met"`
}

// GoBench is one `go test -bench` result from the hot-path benchmarks.
type GoBench struct {
	Package string             `json:"package"`
	Name    string             `json:"name"`
	NsPerOp float64            `json:"ns_per_op"`
	Metrics map[string]float64 `json:"metrics"` // B/op, allocs/op and b.ReportMetric units
}

// AuditCost is the in-process point-select benchmark (e2e
// BenchmarkPointSelectAudit*) run alternately with the audit log off
// (records discarded) and in its default batch mode.
type AuditCost struct {
	Rounds   int       `json:"rounds"`
	OffQPS   []float64 `json:"off_qps"`
	BatchQPS []float64 `json:"batch_qps"`
	// Ratios are batch/off for each round (the off run just before the
	// batch one); Ratio is their median.
	Ratios []float64 `json:"ratios"`
	Ratio  float64   `json:"ratio"`
	// OffCPU and BatchCPU are the CPU time per query of the benchmark's
	// process (proxy and clients) plus MariaDB's, in µs, and
	// OffProxyCPU and BatchProxyCPU the process's alone; CPURatios are
	// off/batch per round (the throughput ratio of a saturated machine,
	// a check on the QPS ratio), and CPURatio their median. The
	// difference of the process's medians is what the audit log costs a
	// statement in CPU.
	OffCPU        []float64 `json:"off_cpu_us_per_query,omitempty"`
	BatchCPU      []float64 `json:"batch_cpu_us_per_query,omitempty"`
	OffProxyCPU   []float64 `json:"off_proxy_cpu_us_per_query,omitempty"`
	BatchProxyCPU []float64 `json:"batch_proxy_cpu_us_per_query,omitempty"`
	CPURatios     []float64 `json:"cpu_ratios,omitempty"`
	CPURatio      float64   `json:"cpu_ratio,omitempty"`
}
