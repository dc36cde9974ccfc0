// Package auditlog appends one JSON object per line for every connection,
// login and statement that passes through rrproxy, before the statement is
// forwarded ("intent") and after it completes ("outcome").
//
// The contract the proxy relies on: Record returns only after the record
// is in the page cache, where it survives the process being killed: with
// sync always, written to the log and fdatasync'ed; with batch and none,
// copied into a memory-mapped staging file that a background flush moves
// into the log within 50 ms, sooner under load (stage.go), and with
// batch syncs every
// SyncInterval. If Record fails, the statement is
// not run. No audit, no query.
//
// Records form a hash chain over their RFC 8785 canonical form, with
// signed checkpoints, rotation that continues the chain, and crash
// recovery; docs/audit-format.md specifies the format, Verify checks it,
// and ReadRecords/Filter serve search, export and report.
package auditlog
