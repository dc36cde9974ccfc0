// Package auditlog appends one JSON object per line for every connection,
// login and statement that passes through rrproxy, before the statement is
// forwarded ("intent") and after it completes ("outcome").
//
// The contract the proxy relies on: Record returns only after the record
// is written (and, with sync: always, on disk). If Record fails, the
// statement is not run. No audit, no query.
//
// This is the first version: a sequence-numbered JSON-lines file with
// three durability modes. Hash chaining, signed checkpoints, rotation and
// the verifier are the audit-log issue's work.
package auditlog
