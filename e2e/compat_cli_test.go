package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/internal/testtool"
)

// TestCompatMariadbCLI is the mariadb command-line client's row of the
// matrix: TLS with the CA, the default plugin, an option file, -e and
// batch mode, catalog listings filtered to the grants, rows equal to a
// direct connection's, a 225 MB result streamed with --quick, a readable
// refusal and 1045 for a wrong password. (The CLI is also used throughout
// the other end-to-end tests.)
func TestCompatMariadbCLI(t *testing.T) {
	bin, ok := testtool.Need(t, "mariadb", "mariadb-client", "the mariadb CLI through rrproxy")
	if !ok {
		return
	}
	r := startRig(t, rigOpts{requireTLS: true})
	host, port, _ := strings.Cut(r.addr, ":")
	cnf := filepath.Join(t.TempDir(), "my.cnf")
	if err := os.WriteFile(cnf, []byte("[client]\nuser=alice\npassword="+alicePW+"\nhost="+host+"\nport="+port+
		"\nssl=1\nssl-ca="+certs.CA+"\nssl-verify-server-cert=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(extra ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"--defaults-extra-file=" + cnf, "--batch", "--skip-column-names"}, extra...)...).CombinedOutput()
		return string(out), err
	}
	version, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}

	// TLS as the client sees it (the CLI's status command), and who
	// rrproxy says the session belongs to. (SHOW STATUS LIKE 'Ssl%' would
	// describe the upstream connection, not this one.)
	out, err := cli("-e", "status")
	if err != nil || !strings.Contains(out, "Cipher in use is TLS") || !strings.Contains(out, "alice") {
		t.Fatalf("login: %v\n%s", err, out)
	}
	// Catalog listings: what alice is granted, nothing else.
	out, err = cli("-e", "SHOW DATABASES")
	if err != nil || strings.Contains(out, "ops") || !strings.Contains(out, "study") {
		t.Fatalf("SHOW DATABASES: %v\n%s", err, out)
	}
	out, err = cli("study", "-e", "SHOW COLUMNS FROM visits")
	if err != nil || strings.Contains(out, "treatment_arm") || !strings.Contains(out, "systolic_bp") {
		t.Fatalf("SHOW COLUMNS: %v\n%s", err, out)
	}
	// Rows, compared with a direct connection.
	const q = "SELECT subject_id, site_id, sex, birth_year FROM study.subjects ORDER BY subject_id"
	out, err = cli("-e", q)
	if err != nil {
		t.Fatal(err)
	}
	root, err := sql.Open("mysql", rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var want strings.Builder
	for _, row := range table(t, root, q) {
		want.WriteString(strings.Join(row, "\t") + "\n")
	}
	if out != want.String() {
		t.Fatalf("rows differ from the direct connection:\n%s\nwant:\n%s", out, want.String())
	}
	// Batch mode from standard input.
	cmd := exec.Command(bin, "--defaults-extra-file="+cnf, "--batch", "--skip-column-names", "study")
	cmd.Stdin = strings.NewReader("SELECT COUNT(*) FROM subjects;\nSELECT COUNT(*) FROM visits;\n")
	b, err := cmd.CombinedOutput()
	if err != nil || string(b) != "120\n300\n" {
		t.Fatalf("batch from stdin: %v\n%s", err, b)
	}
	// 225 MB streamed (--quick: the CLI does not buffer either).
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd = exec.CommandContext(ctx, bin, "--defaults-extra-file="+cnf, "--batch", "--skip-column-names", "--quick", "-e",
		"SELECT v.visit_id, REPEAT('x', 2500) FROM study.visits v CROSS JOIN study.visits w")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var rows, bytes int64
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rows++
		bytes += int64(len(sc.Bytes())) + 1
	}
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil || rows != 90000 || bytes < 225_000_000 {
		t.Fatalf("large result: %d rows, %d bytes, %v", rows, bytes, err)
	}
	// A readable refusal, and 1045 for a wrong password.
	out, err = cli("-e", "SELECT treatment_arm FROM study.visits")
	if err == nil || !strings.Contains(out, "ERROR 1054") || !strings.Contains(out, "Unknown column 'treatment_arm'") {
		t.Fatalf("hidden column: %v\n%s", err, out)
	}
	out, err = cli("--password=not-her-password", "-e", "SELECT 1")
	if err == nil || !strings.Contains(out, "ERROR 1045") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
	reportCompat(t, compatRow{Client: "mariadb CLI", Version: strings.TrimSpace(string(version)), TLS: true, Plugin: "caching_sha2_password",
		Metadata: true, Large: true,
		Notes: "option file with ssl-ca and ssl-verify-server-cert=1; -e and batch from stdin; --quick streams; the CLI's default plugin is mysql_native_password and rrproxy switches it to caching_sha2_password"})
}
