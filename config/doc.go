// Package config loads rrproxy.yaml, the server configuration: where to
// listen, which certificate to present, which upstream replica to relay to
// and with which service-account secret, pool sizes, timeouts, and where the
// policy and audit files live.
//
// Loading is strict (unknown keys, missing required values and bad values
// are errors with file:line) and complete (every problem is reported at
// once, so an administrator fixes the file in one pass). Secrets are never
// values in the file: they are references to a file or an environment
// variable, resolved at start and held in Secret, which never prints.
package config
