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
	if err := os.WriteFile("testdata/compat-matrix.md", []byte(b.String()), 0o644); err != nil {
		return err
	}
	if len(compat.rows) < len(compatClients) {
		return nil // a partial run (-run): nothing to compare the README with
	}
	return checkReadmeMatrix(compat.rows)
}

// compatClients are the matrix's clients; a run that reports all of them
// is compared with the README's copy of the table.
var compatClients = []string{"MariaDB Connector/J", "MariaDB ODBC (unixODBC isql)", "PyMySQL", "go-sql-driver/mysql", "mariadb CLI",
	"mycli", "mysqlclient (MySQLdb)", "node mysql2", "sysbench"}

// checkReadmeMatrix fails if the README's table says something else than
// this run about any client: the yes/no columns and the plugin. Versions
// and notes may differ from machine to machine and are not compared.
func checkReadmeMatrix(rows []compatRow) error {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		return err
	}
	text := string(readme)
	a := strings.Index(text, "| client | version tested |")
	if a < 0 {
		return fmt.Errorf("README.md has no client compatibility table")
	}
	got := map[string]string{}
	for _, line := range strings.Split(text[a:], "\n")[2:] {
		if !strings.HasPrefix(line, "| ") {
			break
		}
		f := strings.Split(line, " | ")
		if len(f) < 8 {
			continue
		}
		got[strings.TrimPrefix(f[0], "| ")] = strings.Join([]string{f[2], f[3], f[4], f[5], f[6]}, " ")
	}
	var stale []string
	for _, r := range rows {
		want := strings.Join([]string{yesNo(r.TLS), r.Plugin, yesNo(r.Prepared), yesNo(r.Metadata), yesNo(r.Large)}, " ")
		if got[r.Client] != want {
			stale = append(stale, fmt.Sprintf("%s: README %q, this run %q", r.Client, got[r.Client], want))
		}
	}
	if len(stale) > 0 || len(got) != len(rows) {
		return fmt.Errorf("README.md's client compatibility table differs from this run (copy e2e/testdata/compat-matrix.md into it):\n%s",
			strings.Join(stale, "\n"))
	}
	return nil
}
