package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/internal/testtool"
)

// compatNodeResult is what compat/node/compat.js prints: its observations, which
// this test checks against the shared expectations and the direct
// connection (compat_godriver_test.go).
type compatNodeResult struct {
	Versions struct{ MySQL2, Node string }
	TLS      struct {
		Encrypted, Authorized bool
		Protocol, Plugin      string
		ServerVersion         string
		WithoutCA, WrongName  *compatNodeError
	}
	Metadata map[string]map[string]struct {
		Value [][]string
		Error *compatNodeError
	}
	Rows     map[string]struct{ Text, Binary [][]string }
	Prepared struct {
		ByArgs         map[string][][]string // by the arguments as JSON
		SiteSum        int
		RefusedPrepare *compatNodeError
	}
	Errors struct {
		ByQuery map[string]*compatNodeError
		After   string
	}
	WrongPassword *compatNodeError
	Large         struct {
		Rows, Bytes, IDSum, BadRows int
		MS                          int
		PeakRssMiB                  int // node's, sampled while the rows flowed
		Error                       *compatNodeError
		After                       string
	}
}

type compatNodeError struct {
	Errno    uint16
	SQLState string
	Code     string
	Message  string
}

// compatNodeDir installs compat/node's locked dependencies (npm ci) into a
// temporary copy of it, so that no node_modules lands in the repository.
func compatNodeDir(t *testing.T) string {
	t.Helper()
	npm, ok := testtool.Need(t, "npm", "npm", "the node mysql2 client")
	if !ok {
		return ""
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "compat.js"} {
		b, err := os.ReadFile(filepath.Join("..", "compat", "node", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir
}

func TestCompatNode(t *testing.T) {
	node, ok := testtool.Need(t, "node", "nodejs", "the node mysql2 client")
	if !ok {
		return
	}
	dir := compatNodeDir(t)
	if dir == "" {
		return
	}
	r := startRig(t, rigOpts{requireTLS: true})
	listWant := compatListingWant(t)
	rowWant, preparedWant := compatDirectRows(t)

	var listingQueries, refused []string
	for _, l := range compatListings {
		listingQueries = append(listingQueries, l.q)
	}
	for _, c := range compatRefused {
		refused = append(refused, c.q)
	}
	const program = "rrproxy-compat-node"
	cfg, err := json.Marshal(map[string]any{
		"ip": "127.0.0.1", "port": compatPort(t, r.addr), "ca": certs.CA,
		"alice":           map[string]string{"user": "alice", "password": alicePW},
		"bob":             map[string]string{"user": "bob", "password": bobPW},
		"metadataQueries": listingQueries, "rowQueries": compatRowQueries,
		"preparedQuery": compatPrepared, "preparedArgs": compatPreparedArgs,
		"refusedQueries": refused, "largeQuery": compatLargeQuery, "largeWidth": compatLargeWidth,
		"programName": program,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, node, "compat.js")
	cmd.Dir = dir
	// In the environment rather than on the command line, where the
	// passwords would show in the process list.
	cmd.Env = append(os.Environ(), "RRPROXY_COMPAT_CONFIG="+string(cfg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node compat.js: %v\n%s", err, stderr.String())
	}
	elapsed := time.Since(start)
	var res compatNodeResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("compat.js output: %v\n%.2000s", err, stdout.String())
	}
	t.Logf("mysql2 %s on node %s: %v; 225 MB streamed in %d ms, node's resident memory at most %d MiB meanwhile",
		res.Versions.MySQL2, res.Versions.Node, elapsed.Round(time.Millisecond), res.Large.MS, res.Large.PeakRssMiB)

	// TLS 1.3, the certificate verified against the test CA and for the
	// name "localhost"; without the CA, or under another name, mysql2
	// refuses the same proxy. rrproxy's greeting names
	// caching_sha2_password, which mysql2 answers directly.
	if !res.TLS.Encrypted || !res.TLS.Authorized || res.TLS.Protocol != "TLSv1.3" || res.TLS.Plugin != "caching_sha2_password" {
		t.Errorf("TLS: %+v", res.TLS)
	}
	// (mysql2 reports both as HANDSHAKE_SSL_ERROR with Node's message.)
	if e := res.TLS.WithoutCA; e == nil || e.Code != "HANDSHAKE_SSL_ERROR" || !strings.Contains(e.Message, "unable to verify the first certificate") {
		t.Errorf("without the test CA: %+v, want a certificate verification error", e)
	}
	if e := res.TLS.WrongName; e == nil || e.Code != "HANDSHAKE_SSL_ERROR" || !strings.Contains(e.Message, "does not match certificate's altnames") {
		t.Errorf("under a name the certificate does not carry: %+v, want a name mismatch", e)
	}

	for _, user := range []string{"alice", "bob"} {
		got := map[string][][]string{}
		for q, v := range res.Metadata[user] {
			if v.Error != nil {
				t.Errorf("%s: %s: %+v", user, q, v.Error)
			}
			got[q] = v.Value
		}
		compatCheckListings(t, user, got, listWant[user])
	}

	// query() is the text protocol, execute() a server-side prepared
	// statement with binary rows; both equal the direct answer.
	for _, q := range compatRowQueries {
		got, ok := res.Rows[q]
		if !ok {
			t.Errorf("%s: not read", q)
			continue
		}
		for proto, rows := range map[string][][]string{"query()": got.Text, "execute()": got.Binary} {
			if !slices.EqualFunc(rows, rowWant[q], slices.Equal) {
				t.Errorf("%s %s: %d rows differ from the direct %d (first %v, direct %v)", proto, q, len(rows), len(rowWant[q]), compatFirstRow(rows), compatFirstRow(rowWant[q]))
			}
		}
	}
	for _, args := range compatPreparedArgs {
		rows := res.Prepared.ByArgs[compatArgsKey(args)]
		if !slices.EqualFunc(rows, preparedWant[compatArgsKey(args)], slices.Equal) {
			t.Errorf("execute() %v: %d rows differ from the direct %d", args, len(rows), len(preparedWant[compatArgsKey(args)]))
		}
	}
	if res.Prepared.SiteSum != 120 {
		t.Errorf("prepare()d count per site summed to %d, want 120", res.Prepared.SiteSum)
	}
	compatCheckNodeError(t, "execute() of a refused statement", res.Prepared.RefusedPrepare, compatRefused[0].code, compatRefused[0].msg)

	for _, c := range compatRefused {
		compatCheckNodeError(t, c.q, res.Errors.ByQuery[c.q], c.code, c.msg)
	}
	if res.Errors.After != "still here" {
		t.Errorf("after the refusals: %q", res.Errors.After)
	}
	compatCheckNodeError(t, "wrong password", res.WrongPassword, 1045, compatWrongPassword)

	// 225 MB through query().stream(), every row checked as it passed,
	// in less memory than the result (about 70 MiB seen): rows were
	// handed over as they arrived, not collected.
	l := res.Large
	if l.Error != nil || l.Rows != compatLargeRows || l.IDSum != compatLargeIDSum || l.BadRows != 0 || l.Bytes != compatLargeRows*compatLargeWidth || l.After != "after large" {
		t.Errorf("large result: %+v", l)
	}
	if l.PeakRssMiB == 0 || l.PeakRssMiB > 200 {
		t.Errorf("node's resident memory reached %d MiB while streaming a 225 MB result", l.PeakRssMiB)
	}

	// The audit log names the client from its connection attributes:
	// mysql2's _client_name, and the application's program_name in front
	// of it when given. execute() shows as a prepare and a stmt_execute with
	// the bound values; the large result's rows and bytes are counted.
	recs := readAuditRecords(t, r)
	agents := compatAuditAgents(recs)
	for _, want := range []string{"Node-MySQL-2", program + " (Node-MySQL-2)"} {
		if !slices.Contains(agents, want) {
			t.Errorf("no login of alice with user_agent.name %q; have %q", want, agents)
		}
	}
	sessions := compatSessionsOf(recs, "Node-MySQL-2")
	var prepared, executed bool
	for _, m := range compatStatementRecords(recs, sessions, "prepare", "intent") {
		if m["rrproxy.statement"] == compatPrepared {
			prepared = true
		}
	}
	for _, m := range compatStatementRecords(recs, sessions, "stmt_execute", "intent") {
		ps, _ := json.Marshal(m["rrproxy.parameters"])
		if st, _ := m["rrproxy.statement"].(string); strings.HasSuffix(st, ": "+compatPrepared) && string(ps) == `["'Week 4'","120"]` {
			executed = true
		}
	}
	if !prepared || !executed {
		t.Errorf("execute(): prepare recorded %v, stmt_execute with 'Week 4', 120 recorded %v", prepared, executed)
	}
	compatCheckLargeOutcome(t, recs, sessions, "query")

	reportCompat(t, compatRow{
		Client: "node mysql2", Version: res.Versions.MySQL2 + " (node " + res.Versions.Node + ")", TLS: true, Plugin: res.TLS.Plugin,
		Prepared: true, Metadata: true, Large: true,
		Notes: "ssl {ca, verifyIdentity} checks the name only for a host name, not an IP address; " +
			"execute() prepares on the server; 225 MB read with query().stream(); connectAttributes program_name shows in the audit log",
	})
}

func compatCheckNodeError(t *testing.T, what string, e *compatNodeError, code uint16, msg string) {
	t.Helper()
	if e == nil || e.Errno != code || !strings.Contains(e.Message, msg) {
		t.Errorf("%s: %+v, want error %d containing %q", what, e, code, msg)
	}
}

func compatFirstRow(rows [][]string) []string {
	if len(rows) == 0 {
		return nil
	}
	return rows[0]
}

func compatPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
