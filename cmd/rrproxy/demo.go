//go:build !nodemo

package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/rrproxy/rrproxy/auditlog"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/rrproxy/rrproxy"
	"github.com/rrproxy/rrproxy/config"
	"github.com/rrproxy/rrproxy/devcert"
	"github.com/rrproxy/rrproxy/sandbox"
)

// cmdDemo starts the sandbox: an embedded upstream with clinical sample
// data reachable only through a service account, and rrproxy in front of
// it configured exactly as a real deployment is (rrproxy.yaml loaded by
// the same code, the repository's policy.yaml).
func cmdDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:3307", "address for MySQL clients")
	dir := fs.String("dir", "", "directory for certificates, policy and audit log (default: a new temporary directory)")
	script := fs.Bool("sql", false, "print the sample schema and data as a MySQL script and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *script {
		_, err := io.WriteString(os.Stdout, sandbox.SQLScript())
		return err
	}
	return runDemo(ctx, *listen, *dir, os.Stdout, nil)
}

func runDemo(ctx context.Context, listen, dir string, out io.Writer, ready func(net.Addr)) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		// The demo's passwords are printed in the README: never expose them.
		return fmt.Errorf("-listen: the demo only listens on loopback (got %s)", host)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "rrproxy-demo-"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fmt.Fprintf(out, "rrproxy demo: working directory %s\n", dir)

	certs, err := devcert.Generate(filepath.Join(dir, "certs"), nil)
	if err != nil {
		return err
	}
	log := newLogger(os.Stderr, "warn", "text")
	up, err := sandbox.Start(ctx, log)
	if err != nil {
		return fmt.Errorf("sandbox upstream: %w", err)
	}
	defer up.Close()

	write := func(name string, data []byte) error {
		return os.WriteFile(filepath.Join(dir, name), data, 0o600)
	}
	if err := write("upstream-user", []byte(up.User+"\n")); err != nil {
		return err
	}
	if err := write("upstream-password", []byte(up.Password+"\n")); err != nil {
		return err
	}
	if err := write("policy.yaml", rrproxy.ExamplePolicy); err != nil {
		return err
	}
	if err := write("pseudonym.key", rrproxy.ExamplePseudonymKey); err != nil {
		return err
	}
	if err := auditlog.GenerateKeyFiles(filepath.Join(dir, "audit-checkpoint.key"), filepath.Join(dir, "audit-checkpoint.pub")); err != nil {
		return err
	}
	cfgText := fmt.Sprintf(`# Written by rrproxy demo; same format as the repository's rrproxy.yaml.
listen: %s
tls: {cert: certs/server.pem, key: certs/server-key.pem, require: true}
upstream:
  address: %s
  user: {from_file: upstream-user}
  password: {from_file: upstream-password}
  tls: {mode: disabled}   # the sandbox upstream is in-process, on loopback
  pool: {max_open: 32, max_idle: 8}
policy: policy.yaml
audit:
  path: audit/rrproxy-audit.jsonl
  sync: batch
  checkpoint_key: audit-checkpoint.key      # verify with: rrproxy audit verify -pubkey audit-checkpoint.pub audit/
  checkpoint_copy: audit-checkpoints.jsonl
log: {level: info}
`, listen, up.Addr)
	if err := write("rrproxy.yaml", []byte(cfgText)); err != nil {
		return err
	}
	cfg, err := config.Load(filepath.Join(dir, "rrproxy.yaml"))
	if err != nil {
		return err
	}
	announce := func(addr net.Addr) {
		_, port, _ := net.SplitHostPort(addr.String())
		fmt.Fprint(out, demoBanner(port, certs.CA, cfg.Audit.Path, dir))
		if ready != nil {
			ready(addr)
		}
	}
	return run(ctx, cfg, newLogger(os.Stderr, "info", "text"), announce)
}

func demoBanner(port, ca, auditPath, dir string) string {
	r := strings.NewReplacer("{PORT}", port, "{CA}", ca, "{AUDIT}", auditPath, "{DIR}", dir)
	return r.Replace(`
rrproxy demo is ready on 127.0.0.1:{PORT} (TLS required; Ctrl-C stops it).

Accounts (demo only):
  alice / alice-demo-password   data manager: all of study.*, visits.treatment_arm withheld
  bob   / bob-demo-password     site monitor: sites, subjects, visits; birth_year comes back NULL
  dave  / dave-demo-password    statistician: all of study.*, subject numbers as pseudonyms
  carol / carol-demo-password   disabled account: login refused

mariadb CLI:
  mariadb -h127.0.0.1 -P{PORT} -ualice -palice-demo-password --ssl --ssl-ca={CA} -e 'SELECT COUNT(*) FROM study.subjects'
  mariadb -h127.0.0.1 -P{PORT} -ubob -pbob-demo-password --ssl --ssl-ca={CA} -e 'SELECT * FROM ops.site_payments'   # refused

JDBC (DBeaver, Tableau, Crystal Reports):
  jdbc:mariadb://127.0.0.1:{PORT}/study?sslMode=verify-full&serverSslCert={CA}
  jdbc:mysql://127.0.0.1:{PORT}/study?sslMode=VERIFY_CA&trustCertificateKeyStoreUrl=... (or sslMode=REQUIRED)

Python (PyMySQL):
  import pymysql
  c = pymysql.connect(host="127.0.0.1", port={PORT}, user="alice", password="alice-demo-password",
                      ssl={"ca": "{CA}"}, database="study")
  with c.cursor() as cur: cur.execute("SELECT site_id, COUNT(*) FROM subjects GROUP BY site_id"); print(cur.fetchall())

Audit log: {AUDIT}
  rrproxy audit verify -pubkey {DIR}/audit-checkpoint.pub {DIR}/audit/
  rrproxy audit report -html /tmp/rrproxy-report.html -pubkey {DIR}/audit-checkpoint.pub {DIR}/audit/
`)
}
