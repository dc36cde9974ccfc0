// Package sandbox runs an embedded, in-memory MySQL-compatible server with
// clinical-trial sample data, for `rrproxy demo` and for tests that need a
// real upstream without installing MariaDB.
//
// It is demo and test scaffolding only: no production code path imports it.
// It is also the only package that imports dolthub/go-mysql-server (GMS), so
// that dependency, its vitess fork and its global loggers stay out of the
// proxy, authz and auditlog packages; cmd/rrproxy imports sandbox for the
// demo subcommand alone.
//
// The server looks, to a client, like a locked-down MySQL 8.0 behind the
// proxy:
//
//   - it listens on 127.0.0.1 on a random port;
//   - the one account is rr_service, with a random 48-character password
//     per Start and mysql_native_password, the only method offered (GMS
//     offers caching_sha2_password over TLS or a Unix socket only);
//   - any other user name, or a wrong password, gets error 1045, as on MySQL;
//   - rr_service holds SELECT on the study and ops schemas and nothing else,
//     so writes, the mysql schema and file access are refused upstream even
//     if the proxy were to let them through;
//   - the data is generated from a fixed seed: every Start serves the same
//     rows, and SampleCounts says how many.
//
// GMS logs through logrus's standard logger and the standard library's log
// package (via vitess). Start redirects both, once per process, to the slog
// logger of the most recent Start, keeping warnings and errors only.
package sandbox
