//go:build !nodemo

package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rrproxy/rrproxy"
	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
)

// TestReloadPolicyDemo edits the demo's policy.yaml under a live session:
// the same open connection loses a grant once the edit is in force, and a
// broken edit leaves the last good policy serving, with both attempts in
// the audit log.
func TestReloadPolicyDemo(t *testing.T) {
	defer func(d time.Duration) { policyPoll = d }(policyPoll)
	policyPoll = 20 * time.Millisecond

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, errc := startDemo(t, ctx, dir, &bytes.Buffer{}, "reload-demo")
	db, err := sql.Open("mysql", "alice:alice-demo-password@tcp("+addr.String()+")/?tls=reload-demo")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	qctx, qcancel := context.WithTimeout(ctx, 30*time.Second)
	defer qcancel()
	conn, err := db.Conn(qctx) // one session for the whole test
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	count := func(table string) (int, error) {
		var n int
		err := conn.QueryRowContext(qctx, "SELECT COUNT(*) FROM "+table).Scan(&n)
		return n, err
	}
	denied := func(table string) {
		t.Helper()
		_, err := count(table)
		var me *mysql.MySQLError
		if !errors.As(err, &me) || (me.Number != 1142 && me.Number != 1146) {
			t.Fatalf("alice reading %s: want access denied (1142 or 1146), got %v", table, err)
		}
	}
	allowed := func(table string) {
		t.Helper()
		if _, err := count(table); err != nil {
			t.Fatalf("alice reading %s: %v", table, err)
		}
	}
	allowed("study.subjects")
	allowed("study.sites")

	policyFile := filepath.Join(dir, "policy.yaml")
	auditFile := filepath.Join(dir, "audit", "rrproxy-audit.jsonl")
	const grant = "allow: [study.*]" // rule study-data-management, alice's group
	if !bytes.Contains(rrproxy.ExamplePolicy, []byte(grant)) {
		t.Fatalf("policy.yaml no longer contains %q; update the test", grant)
	}
	narrowed := bytes.Replace(rrproxy.ExamplePolicy, []byte(grant), []byte("allow: [study.sites]"), 1)
	replaceFile(t, policyFile, narrowed)
	ev := waitReloadEvent(t, auditFile, 1)
	if ev.Outcome != "success" || ev.Policy == "" {
		t.Fatalf("reload event: %+v", ev)
	}
	denied("study.subjects") // same connection, new policy
	allowed("study.sites")

	broken := bytes.Replace(narrowed, []byte("allow: [study.sites]"), []byte("allow: [study]"), 1)
	replaceFile(t, policyFile, broken)
	ev2 := waitReloadEvent(t, auditFile, 2)
	if ev2.Outcome != "failure" || ev2.Policy != ev.Policy || !strings.Contains(ev2.Reason, "policy.yaml:") {
		t.Fatalf("failed reload event: %+v (want failure, policy %s still in force, file:line in reason)", ev2, ev.Policy)
	}
	denied("study.subjects") // the last good policy still decides
	allowed("study.sites")

	stopDemo(t, cancel, errc)
}

// replaceFile writes data beside path and renames it over path, as
// editors and configuration management do.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path+".new", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// waitReloadEvent polls the audit log until it holds n policy-reload
// events and returns the nth. The audit record is written after the
// policy is in force, so the caller may assert on behaviour at once.
func waitReloadEvent(t *testing.T, auditFile string, n int) auditlog.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		evs, err := reloadEvents(auditFile)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) >= n {
			return evs[n-1]
		}
		select {
		case <-deadline:
			t.Fatalf("audit log holds %d policy-reload events after 10s, want %d", len(evs), n)
		case <-tick.C:
		}
	}
}

func reloadEvents(auditFile string) ([]auditlog.Event, error) {
	data, err := os.ReadFile(auditFile)
	if err != nil {
		return nil, err
	}
	var evs []auditlog.Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev auditlog.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			// The writer may be mid-line; the next poll sees it whole.
			if !bytes.HasSuffix(data, []byte("\n")) {
				break
			}
			return nil, fmt.Errorf("audit log: %v: %s", err, sc.Bytes())
		}
		if ev.Action == "policy-reload" {
			evs = append(evs, ev)
		}
	}
	return evs, sc.Err()
}

type fakeAudit struct{ events []*auditlog.Event }

func (f *fakeAudit) Record(ev *auditlog.Event) (uint64, error) {
	f.events = append(f.events, ev)
	return uint64(len(f.events)), nil
}

// TestReloadReporterLogsAndAudits checks the wording operators grep for
// and the audit fields, for a good and a bad reload.
func TestReloadReporterLogsAndAudits(t *testing.T) {
	old, next := &authz.Policy{Version: "0123456789abcdef"}, &authz.Policy{Version: "fedcba9876543210"}
	var logs bytes.Buffer
	audit := &fakeAudit{}
	report := policyReloadReporter(authz.NewStore(old), "policy.yaml", audit, slog.New(slog.NewTextHandler(&logs, nil)))

	report(next, nil)
	report(nil, errors.New("policy.yaml:40: rules[0].allow[0]: bad"))

	if len(audit.events) != 2 {
		t.Fatalf("audit events: %d, want 2", len(audit.events))
	}
	ok, bad := audit.events[0], audit.events[1]
	if ok.Action != "policy-reload" || ok.Outcome != "success" || ok.Policy != next.Version || ok.PolicyPrev != old.Version || !strings.Contains(ok.Reason, old.Version) {
		t.Errorf("success event: %+v", ok)
	}
	if bad.Action != "policy-reload" || bad.Outcome != "failure" || bad.Policy != next.Version || !strings.Contains(bad.Reason, "policy.yaml:40:") {
		t.Errorf("failure event: %+v (want the version still in force, %s)", bad, next.Version)
	}
	for _, want := range []string{
		`level=INFO msg="policy reloaded"`, "policy_version=" + next.Version,
		`level=ERROR msg="policy reload failed; previous policy still in force"`, `policy.yaml:40: rules[0].allow[0]: bad`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
