package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rrproxy/rrproxy/internal/procstat"
)

// procGroup stops, by pid, every process the run started (never by name:
// the machine may run other MariaDBs).
type procGroup struct{ cmds []*exec.Cmd }

func (g *procGroup) start(c *exec.Cmd) error {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		return err
	}
	g.cmds = append(g.cmds, c)
	return nil
}

func (g *procGroup) stopAll() {
	for i := len(g.cmds) - 1; i >= 0; i-- {
		c := g.cmds[i]
		if c.Process == nil || c.ProcessState != nil {
			continue
		}
		_ = c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = c.Process.Kill()
			<-done
		}
	}
}

// procStat is what /proc says about a process.
type procStat struct {
	cpuSeconds float64 // utime + stime
	rssMB      float64 // VmRSS
	hwmMB      float64 // VmHWM, the peak resident set
}

func readProc(pid int) (procStat, error) {
	var st procStat
	cpu, err := procstat.CPU(pid)
	if err != nil {
		return st, err
	}
	st.cpuSeconds = cpu.Seconds()
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	sc := bufio.NewScanner(bytes.NewReader(s))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		var kb float64
		fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
		switch k {
		case "VmRSS":
			st.rssMB = kb / 1024
		case "VmHWM":
			st.hwmMB = kb / 1024
		}
	}
	return st, nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitTCP(ctx context.Context, addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not start listening within %s: %w", addr, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Credentials used by the run. They exist only in the private MariaDB
// and the run's temporary files.
const (
	benchUser   = "bench"
	benchPW     = "bench-password-not-a-secret"
	loaderPW    = "loader-password-not-a-secret"
	roUser      = "ro_user"
	roPassword  = "ro-user-service-account-password-0123456789abcdef"
	ssoUser     = "jane.doe@example.com"
	benchSchema = "sbtest"
)

// mariaDB is the private server every target ends at.
type mariaDB struct {
	dir     string
	port    int
	version string
	cmd     *exec.Cmd
}

func startMariaDB(ctx context.Context, g *procGroup, work, certs string) (*mariaDB, error) {
	db := &mariaDB{dir: filepath.Join(work, "mariadb"), port: freePort()}
	data := filepath.Join(db.dir, "data")
	inst := exec.CommandContext(ctx, "mariadb-install-db", "--user=root", "--datadir="+data, "--auth-root-authentication-method=normal")
	if out, err := inst.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mariadb-install-db: %v\n%s", err, out)
	}
	db.cmd = exec.Command("mariadbd", "--no-defaults", "--user=root", "--datadir="+data, "--socket="+filepath.Join(data, "sock"),
		"--port="+strconv.Itoa(db.port), "--bind-address=127.0.0.1", "--skip-log-bin", "--skip-name-resolve",
		"--max-connections=5000", "--max-allowed-packet=64M", "--innodb-buffer-pool-size=1G",
		"--innodb-flush-log-at-trx-commit=2", "--thread-cache-size=256",
		"--ssl-cert="+filepath.Join(certs, "server.pem"), "--ssl-key="+filepath.Join(certs, "server-key.pem"),
		"--ssl-ca="+filepath.Join(certs, "ca.pem"), "--log-error="+filepath.Join(db.dir, "error.log"))
	if err := g.start(db.cmd); err != nil {
		return nil, err
	}
	if err := waitTCP(ctx, db.addr(), 60*time.Second); err != nil {
		return nil, err
	}
	if err := db.root(ctx, `
CREATE USER 'loader'@'127.0.0.1' IDENTIFIED BY '`+loaderPW+`';
GRANT ALL ON *.* TO 'loader'@'127.0.0.1';
CREATE USER '`+benchUser+`'@'127.0.0.1' IDENTIFIED BY '`+benchPW+`';
GRANT SELECT ON sbtest.* TO '`+benchUser+`'@'127.0.0.1';
GRANT SELECT ON trial.* TO '`+benchUser+`'@'127.0.0.1';
CREATE USER '`+roUser+`'@'127.0.0.1' IDENTIFIED BY '`+roPassword+`';
GRANT SELECT, SHOW VIEW, PROCESS ON *.* TO '`+roUser+`'@'127.0.0.1';
CREATE DATABASE sbtest;
CREATE DATABASE trial;`); err != nil {
		return nil, err
	}
	out, err := db.query(ctx, "SELECT VERSION()")
	if err != nil {
		return nil, err
	}
	db.version = strings.TrimSpace(out)
	return db, nil
}

func (db *mariaDB) addr() string { return fmt.Sprintf("127.0.0.1:%d", db.port) }

// root runs SQL as root over the socket.
func (db *mariaDB) root(ctx context.Context, sql string) error {
	c := exec.CommandContext(ctx, "mariadb", "--no-defaults", "--socket="+filepath.Join(db.dir, "data", "sock"), "-uroot")
	c.Stdin = strings.NewReader(sql)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("mariadb: %v\n%s", err, out)
	}
	return nil
}

func (db *mariaDB) query(ctx context.Context, sql string) (string, error) {
	out, err := exec.CommandContext(ctx, "mariadb", "--no-defaults", "--socket="+filepath.Join(db.dir, "data", "sock"),
		"-uroot", "--batch", "--skip-column-names", "-e", sql).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("mariadb -e %q: %v\n%s", sql, err, out)
	}
	return string(out), nil
}

// load fills sbtest with sysbench's own tables and trial.observations
// with a wide clinical table, generated inside the server from the
// sequence engine (no client round trips).
func (db *mariaDB) load(ctx context.Context, p plan) error {
	c := command(ctx, "sysbench", "oltp_read_only", "--db-driver=mysql", "--mysql-host=127.0.0.1",
		"--mysql-port="+strconv.Itoa(db.port), "--mysql-user=loader", "--mysql-password="+loaderPW,
		"--mysql-db="+benchSchema, "--tables=4", "--table-size="+strconv.Itoa(p.tableSize), "--threads=4", "prepare")
	if out, err := c.Output(); err != nil {
		return fmt.Errorf("sysbench prepare: %v\n%s", err, out)
	}
	return db.root(ctx, fmt.Sprintf(`
USE trial;
CREATE TABLE trial.observations (
  obs_id BIGINT PRIMARY KEY,
  study_id CHAR(8) NOT NULL,
  subject_id CHAR(12) NOT NULL,
  site_id INT NOT NULL,
  visit_no INT NOT NULL,
  visit_date DATE NOT NULL,
  systolic_bp INT,
  diastolic_bp INT,
  heart_rate INT,
  weight_kg DECIMAL(5,1),
  alt_u_l DOUBLE,
  ast_u_l DOUBLE,
  investigator VARCHAR(40),
  comment VARCHAR(160),
  treatment_arm CHAR(1) NOT NULL
) ENGINE=InnoDB;
INSERT INTO trial.observations
SELECT seq, 'RR-2026', CONCAT('S-', LPAD(seq MOD 40000, 6, '0')), 100 + seq MOD 37, 1 + seq MOD 12,
       DATE_ADD('2025-01-01', INTERVAL seq MOD 600 DAY), 100 + seq MOD 60, 60 + seq MOD 35, 50 + seq MOD 50,
       50 + (seq MOD 700) / 10, (seq MOD 977) / 7.0, (seq MOD 641) / 5.0,
       CONCAT('Dr. Investigator ', seq MOD 37),
       CONCAT('Visit completed per protocol; no deviations noted; vitals within range; ref ', SHA1(seq)),
       IF(seq MOD 2 = 0, 'A', 'B')
FROM seq_1_to_%d;`, p.wideRows))
}

// haProxy is the L4 baseline: mode tcp, nothing parsed.
type haProxy struct {
	port int
	cmd  *exec.Cmd
}

func startHAProxy(ctx context.Context, g *procGroup, work string, dbPort int) (*haProxy, error) {
	h := &haProxy{port: freePort()}
	cfg := filepath.Join(work, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global
  maxconn 6000
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen mariadb
  bind 127.0.0.1:%d
  server db 127.0.0.1:%d
`, h.port, dbPort)), 0o644); err != nil {
		return nil, err
	}
	h.cmd = exec.Command("haproxy", "-db", "-f", cfg)
	h.cmd.Stdout, h.cmd.Stderr = os.Stderr, os.Stderr
	if err := g.start(h.cmd); err != nil {
		return nil, err
	}
	return h, waitTCP(ctx, h.addr(), 10*time.Second)
}

func (h *haProxy) addr() string { return fmt.Sprintf("127.0.0.1:%d", h.port) }
func (h *haProxy) pid() int     { return h.cmd.Process.Pid }

// proxyPID is the process whose CPU and memory a target's figures
// report: rrproxy, HAProxy, or none for direct.
func (b *bench) proxyPID(target string) int {
	switch target {
	case TargetHAProxy, TargetHAProxyTLS:
		return b.hap.pid()
	case TargetRRProxy, TargetRRProxyTLS:
		return b.rr.pid()
	case TargetGoRelay:
		return b.relay.Process.Pid
	}
	return 0
}

// addr is where a target listens.
func (b *bench) addr(target string) string {
	switch target {
	case TargetHAProxy, TargetHAProxyTLS:
		return b.hap.addr()
	case TargetRRProxy, TargetRRProxyTLS:
		return b.rr.addr
	case TargetGoRelay:
		return b.relayAddr
	}
	return b.db.addr()
}

func isTLS(target string) bool { return strings.HasSuffix(target, "-tls") }

func cpuOf(pid int) float64 {
	if pid == 0 {
		return 0
	}
	st, err := readProc(pid)
	if err != nil {
		log.Printf("read /proc/%d: %v", pid, err)
	}
	return st.cpuSeconds
}

// startGoRelay builds and starts bench/gorelay in front of MariaDB.
func startGoRelay(ctx context.Context, g *procGroup, work string, dbAddr string) (*exec.Cmd, string, error) {
	bin := filepath.Join(work, "gorelay")
	if err := command(ctx, "go", "build", "-o", bin, "./bench/gorelay").Run(); err != nil {
		return nil, "", fmt.Errorf("go build ./bench/gorelay: %w", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	c := exec.Command(bin, addr, dbAddr, "copy")
	c.Stderr = os.Stderr
	if err := g.start(c); err != nil {
		return nil, "", err
	}
	return c, addr, waitTCP(ctx, addr, 10*time.Second)
}
