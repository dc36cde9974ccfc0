// Package e2e holds rrproxy's end-to-end tests: a real MariaDB (started by
// scripts/test.sh, DSN in RRPROXY_TEST_MARIADB), rrproxy wired in-process
// exactly as cmd/rrproxy wires it, and real clients (go-sql-driver/mysql,
// the mariadb CLI, raw protocol packets for what drivers never send).
//
// The tests fail, never skip, when the DSN is missing, unless -short is
// given: CI must not be able to pass them by not running them.
package e2e
