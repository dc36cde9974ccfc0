package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rrproxy/rrproxy/proxy"
)

// startBalancer runs a real HAProxy in TCP mode in front of the rig with
// two listeners: one sends the PROXY protocol's version 2 header to
// rrproxy, the other version 1. HAProxy comes with the test script
// (scripts/test.sh installs it); without it the test fails.
func startBalancer(t *testing.T, backend string) (v2, v1 string) {
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Fatalf("haproxy not found (./scripts/test.sh installs it): %v", err)
	}
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	v2, v1 = free(), free()
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global
  maxconn 100
defaults
  mode tcp
  timeout connect 5s
  timeout client 1m
  timeout server 1m
listen v2
  bind %s
  server rrproxy %s send-proxy-v2
listen v1
  bind %s
  server rrproxy %s send-proxy
`, v2, backend, v1, backend)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("haproxy", "-db", "-f", cfg)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("haproxy:\n%s", out.String())
		}
	})
	for _, a := range []string{v2, v1} {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			c, err := net.Dial("tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("haproxy does not listen on %s: %v\n%s", a, err, out.String())
			}
		}
	}
	return v2, v1
}

// TestBalancerNamesTheClient: behind a real HAProxy that sends the PROXY
// protocol (proxy_protocol.from names its address), the audit log
// records each client's own address and port, not the balancer's, with
// the balancer's in rrproxy.via; for go-sql-driver (version 2) the port
// is checked against the client socket's own, for the mariadb CLI
// (version 1) against the balancer's. A connection from the balancer's
// address without a header is refused with a clear error and recorded.
func TestBalancerNamesTheClient(t *testing.T) {
	// A short handshake deadline: a client that sends no header waits
	// for the greeting until then, and is then told why.
	r := startRig(t, rigOpts{requireTLS: true, handshake: 2 * time.Second, proxyFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	v2, v1 := startBalancer(t, r.addr)

	// go-sql-driver through the version 2 listener, on a socket whose
	// local address the test knows.
	var mu sync.Mutex
	var locals []string
	mysql.RegisterDialContext("balancer-e2e", func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			mu.Lock()
			locals = append(locals, c.LocalAddr().String())
			mu.Unlock()
		}
		return c, err
	})
	db, err := sql.Open("mysql", fmt.Sprintf("alice:%s@balancer-e2e(%s)/?tls=rrproxy", alicePW, v2))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var who string
	if err := db.QueryRow("SELECT 'via-balancer-v2'").Scan(&who); err != nil || who != "via-balancer-v2" {
		t.Fatalf("through HAProxy (v2): %q, %v\n%s", who, err, r.logText())
	}
	db.Close()

	// The mariadb CLI through the version 1 listener.
	host, port, _ := strings.Cut(v1, ":")
	out, err := exec.Command("mariadb", "--no-defaults", "-h"+host, "-P"+port, "-ubob", "-p"+bobPW, "--ssl", "--ssl-ca="+certs.CA,
		"--batch", "-e", "SELECT 'via-balancer-v1'").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "via-balancer-v1") {
		t.Fatalf("mariadb CLI through HAProxy (v1): %v\n%s", err, out)
	}

	// Straight to rrproxy from the balancer's address, no header: after
	// the handshake deadline, the greeting's place holds the refusal.
	direct, err := sql.Open("mysql", r.dsn("alice", alicePW, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	mysqlErr(t, direct.Ping(), 1043, "connections from this address must begin with a PROXY protocol header")

	recs := readAuditRecords(t, r)
	mu.Lock()
	goLocal := locals
	mu.Unlock()
	if len(goLocal) == 0 {
		t.Fatal("go-sql-driver never dialled through the custom dialer")
	}
	seen := map[string]bool{}
	refused := 0
	for _, m := range recs {
		src, _ := m["source.address"].(string)
		via, _ := m["rrproxy.via"].(string)
		switch {
		case m["event.action"] == "connect" && m["event.outcome"] == "failure":
			refused++
			if reason, _ := m["event.reason"].(string); !strings.Contains(reason, "no valid PROXY protocol header from a load balancer") || via != "" {
				t.Errorf("refused connection's record: %v", m)
			}
		case m["rrproxy.phase"] == "intent" && strings.Contains(fmt.Sprint(m["rrproxy.statement"]), "via-balancer-"):
			stmt := fmt.Sprint(m["rrproxy.statement"])
			if via == "" || via == src || !strings.HasPrefix(via, "127.0.0.1:") {
				t.Errorf("%s: rrproxy.via %q beside source.address %q", stmt, via, src)
			}
			if ip := m["source.ip"]; ip != "127.0.0.1" || fmt.Sprint(m["source.port"]) != src[strings.LastIndex(src, ":")+1:] {
				t.Errorf("%s: source.ip %v, source.port %v, source.address %q", stmt, ip, m["source.port"], src)
			}
			if strings.Contains(stmt, "v2") {
				seen["v2"] = true
				if !slices.Contains(goLocal, src) {
					t.Errorf("v2: source.address %q, but the client's sockets were %v", src, goLocal)
				}
			}
			if strings.Contains(stmt, "v1") {
				seen["v1"] = true
				if src == v1 {
					t.Errorf("v1: source.address %q is the balancer's listener", src)
				}
			}
		}
	}
	if !seen["v1"] || !seen["v2"] || refused < 1 {
		t.Errorf("records: v1 %v, v2 %v, refused connections %d", seen["v1"], seen["v2"], refused)
	}
}

// TestHeaderFromAnyoneElseIsNotBelieved: a client whose address is not a
// configured balancer cannot name another address with a PROXY header:
// it gets the greeting, its header is read as its login, and fails as a
// bad handshake; no record carries the address it claimed.
func TestHeaderFromAnyoneElseIsNotBelieved(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true, proxyFrom: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	greeting, err := readRawPacket(br)
	if err != nil || len(greeting) == 0 || greeting[0] != 10 {
		t.Fatalf("want the greeting (protocol 10) first, got %q, %v", greeting, err)
	}
	if _, err := io.WriteString(c, "PROXY TCP4 203.0.113.9 127.0.0.1 4444 3306\r\n"); err != nil {
		t.Fatal(err)
	}
	reply, err := readRawPacket(br)
	if err != nil || len(reply) < 3 || reply[0] != 0xff || reply[1] != 0x13 || reply[2] != 0x04 { // ERR 1043
		t.Fatalf("want ERR 1043 after a forged header, got %q, %v", reply, err)
	}
	// The connection is still usable by a real client afterwards.
	if err := r.open("alice", alicePW, "").Ping(); err != nil {
		t.Fatal(err)
	}
	for _, m := range readAuditRecords(t, r) {
		if strings.Contains(fmt.Sprint(m), "203.0.113.9") {
			t.Errorf("a record carries the forged address: %v", m)
		}
		if m["rrproxy.via"] != nil {
			t.Errorf("a record names a balancer: %v", m)
		}
	}
}

// readRawPacket reads one MySQL packet's payload.
func readRawPacket(r *bufio.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err := io.ReadFull(r, p)
	return p, err
}

// TestHandshakesPerAddress: an address with limits.max_handshakes_per_address
// connections that never finish logging in gets 1040 for the next one,
// at once and on record, while another address logs in; once its
// connections go, it logs in again. The addresses come from PROXY
// headers that the test writes as a balancer on 127.0.0.1 would, so that
// two client addresses exist on loopback.
func TestHandshakesPerAddress(t *testing.T) {
	metrics := proxy.NewMetrics(prometheus.NewRegistry())
	r := startRig(t, rigOpts{requireTLS: true, handshakesPerAddress: 3, handshake: 20 * time.Second, metrics: metrics,
		proxyFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	as := func(client string) func(ctx context.Context, addr string) (net.Conn, error) {
		return func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			if _, err := fmt.Fprintf(c, "PROXY TCP4 %s 127.0.0.1 40000 3306\r\n", client); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}
	}
	mysql.RegisterDialContext("as-flooder", as("192.0.2.66"))
	mysql.RegisterDialContext("as-colleague", as("192.0.2.77"))
	login := func(net string) error {
		db, err := sql.Open("mysql", fmt.Sprintf("alice:%s@%s(%s)/?tls=rrproxy&timeout=5s", alicePW, net, r.addr))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		return db.Ping()
	}
	// Three connections from 192.0.2.66 that read the greeting and stall.
	var stalled []net.Conn
	for range 3 {
		c, err := as("192.0.2.66")(context.Background(), r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if p, err := readRawPacket(bufio.NewReader(c)); err != nil || len(p) == 0 || p[0] != 10 {
			t.Fatalf("stalled connection: want the greeting, got %q, %v", p, err)
		}
		stalled = append(stalled, c)
	}
	start := time.Now()
	mysqlErr(t, login("as-flooder"), 1040, "too many connections from this address are still logging in")
	if d := time.Since(start); d > 10*time.Second { // the handshake deadline is 20 s
		t.Errorf("the refusal took %v: it should come at once, not after the handshake deadline", d)
	}
	if err := login("as-colleague"); err != nil {
		t.Fatalf("another address could not log in beside the stalled ones: %v", err)
	}
	for _, c := range stalled {
		c.Close()
	}
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = login("as-flooder"); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("the address could not log in after its stalled connections closed: %v", err)
	}
	// Every session has ended: the gauge is back to 0 (a refused
	// connection, which has no disconnect record, is not counted).
	var open float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if open = testutil.ToFloat64(metrics.Sessions); open == 0 || time.Now().After(deadline) {
			break
		}
	}
	if open != 0 {
		t.Errorf("rrproxy_sessions = %v after every connection ended", open)
	}
	refused := 0
	for _, m := range readAuditRecords(t, r) {
		if m["event.action"] == "connect" && m["event.outcome"] == "failure" {
			refused++
			if m["source.ip"] != "192.0.2.66" || !strings.Contains(fmt.Sprint(m["event.reason"]), "limits.max_handshakes_per_address") {
				t.Errorf("refused connection's record: %v", m)
			}
		}
	}
	if refused < 1 {
		t.Error("no failed connect record for the refused connection")
	}
}
