// Package procstat reads a process's CPU time from /proc, for the
// benchmark harness and the end-to-end benchmarks that charge CPU time to
// the proxy and to MariaDB.
package procstat
