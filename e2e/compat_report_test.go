package e2e

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The client compatibility matrix (README): every client test reports one
// row through reportCompat; TestMain writes the rows the run produced to
// e2e/testdata/compat-matrix.md, so the table in the README is generated
// by a test run and cannot drift from what was tested.

// compatRow is one client's line in the matrix. Each yes/no column says
// what the test exercised and checked with that client, not what the
// client could do in principle.
type compatRow struct {
	Client   string // e.g. "MariaDB Connector/J"
	Version  string // the version the test ran, as the client reports it
	TLS      bool   // connected over TLS, verifying rrproxy's certificate
	Plugin   string // authentication plugin the client logged in with
	Prepared bool   // server-side prepared statements checked
	Metadata bool   // catalog listings checked to show only granted objects
	Large    bool   // a result of 200 MB or more streamed and checked
	Notes    string // anything a BI administrator should know
}

var compat struct {
	mu   sync.Mutex
	rows []compatRow
}

// reportCompat records a client's row once its test has passed.
func reportCompat(t *testing.T, row compatRow) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		compat.mu.Lock()
		compat.rows = append(compat.rows, row)
		compat.mu.Unlock()
	})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeCompatMatrix writes the rows of this run (if any) as a Markdown
// table.
func writeCompatMatrix() error {
	compat.mu.Lock()
	defer compat.mu.Unlock()
	if len(compat.rows) == 0 {
		return nil
	}
	sort.Slice(compat.rows, func(i, j int) bool { return compat.rows[i].Client < compat.rows[j].Client })
	var b strings.Builder
	b.WriteString("| client | version tested | TLS | auth plugin | prepared statements | metadata filtered | large results | notes |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range compat.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Client, r.Version, yesNo(r.TLS), r.Plugin,
			yesNo(r.Prepared), yesNo(r.Metadata), yesNo(r.Large), r.Notes)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		return err
	}
	return os.WriteFile("testdata/compat-matrix.md", []byte(b.String()), 0o644)
}
