// Command bench measures rrproxy side by side with a plain L4 relay
// (HAProxy in TCP mode) and with MariaDB itself, in one run on one
// machine, so every ratio compares like with like:
//
//	./bench/run.sh            # full run, about 13 minutes
//	./bench/run.sh -quick     # about 2 minutes, smaller tables, shorter runs
//
// One run starts a private MariaDB (sysbench tables and a wide clinical
// observations table), HAProxy 2.6 (mode tcp) and rrproxy (TLS optional,
// a policy with several groups and column masks, the audit log in its
// default batch mode), then drives:
//
//   - sysbench oltp_point_select and oltp_read_only at 1, 8 and 32
//     threads, server-side prepared statements on and off;
//   - the wide table streamed through the mariadb client (MB/s, and the
//     proxy's resident memory sampled while it streams);
//   - connection storms: new TLS connections with full authentication,
//     for a local account and for an SSO-issued password;
//   - 2,000 idle connections (proxy memory per connection);
//   - the Go micro-benchmarks that guard the hot paths.
//
// It writes bench/results/<date>[-quick].json, .md and .png. Proxy CPU
// time comes from /proc/<pid>/stat, memory from /proc/<pid>/status.
// Nothing here is a pass/fail test: the report states each goal of
// issue 8 and whether this run reached it.
package main
