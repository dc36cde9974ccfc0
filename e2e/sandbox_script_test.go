package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/rrproxy/rrproxy/sandbox"
)

// TestSandboxScriptLoadsInMariaDB loads the sample data script that
// docker-compose.yml gives its MySQL replica stand-in into the real test
// server (under other database names), with the mariadb client as the
// compose entrypoint would, and checks every table's row count.
func TestSandboxScriptLoadsInMariaDB(t *testing.T) {
	committed, err := os.ReadFile("../deploy/sso-demo/initdb/01-study.sql")
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != sandbox.SQLScript() {
		t.Fatal("deploy/sso-demo/initdb/01-study.sql is stale: regenerate it with go run ./cmd/rrproxy demo -sql > deploy/sso-demo/initdb/01-study.sql")
	}
	r := strings.NewReplacer("study", "sc_study", "ops", "sc_ops")
	script := r.Replace(string(committed))
	cfg, err := mysql.ParseDSN(rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	db, err := sql.Open("mysql", rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	drop := func() {
		for _, d := range []string{"sc_study", "sc_ops"} {
			if _, err := db.Exec("DROP DATABASE IF EXISTS " + d); err != nil {
				t.Fatal(err)
			}
		}
	}
	drop()
	defer drop()
	cmd := exec.Command("mariadb", "--no-defaults", "-h"+host, "-P"+port, "-u"+cfg.User, "-p"+cfg.Passwd, "--batch")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mariadb < 01-study.sql: %v\n%s", err, out)
	}
	for table, want := range sandbox.SampleCounts() {
		var n int
		if err := db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM sc_%s", table)).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d rows, %v; want %d", table, n, err, want)
		}
	}
}
