package e2e

// Query cancellation as mycli does it (Ctrl-C): a second connection sends
// KILL with the id CONNECTION_ID() returned at login, which through
// rrproxy is the pinned upstream connection's; rrproxy answers it for the
// same person's sessions (proxy/kill.go, e2e/kill_test.go).

import (
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mycliLongQuery runs for hours (300^4 rows), long enough to be
// cancelled. SLEEP() would be simpler, but rrproxy refuses it
// (dangerous-functions rule).
const mycliLongQuery = "SELECT COUNT(*) AS n FROM visits a, visits b, visits c, visits d WHERE a.systolic_bp + b.systolic_bp + c.systolic_bp + d.systolic_bp < 0"

// upstreamLongQuery are the MariaDB thread ids running mycliLongQuery.
func upstreamLongQuery(t *testing.T, root *sql.DB) []string {
	var ids []string
	for _, row := range table(t, root, "SELECT ID FROM information_schema.PROCESSLIST WHERE INFO = '"+mycliLongQuery+"'") {
		ids = append(ids, row[0])
	}
	return ids
}

// Ctrl-C in mycli during a query: mycli gives up the connection, opens
// a new one and sends KILL with the id SELECT connection_id() returned
// at login, then says "cancelled query". The same steps are run
// against MariaDB directly (the control: it must cancel there) and
// through rrproxy.
func TestCompatPythonMycliCancel(t *testing.T) {
	m := newMycliRun(t)
	if m == nil {
		return
	}
	r := startRig(t, rigOpts{requireTLS: true})
	root := direct(t)
	// A query left running upstream would hold the rig's shutdown (it
	// waits for its sessions) and the replica: end it here. Cleanups run
	// last-registered first, so this one runs before the rig's.
	t.Cleanup(func() {
		for _, id := range upstreamLongQuery(t, root) {
			t.Logf("killing MariaDB thread %s, still running %s", id, mycliLongQuery)
			_, _ = root.Exec("KILL QUERY " + id)
		}
	})
	cfg, err := mysql.ParseDSN(rootDSN)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		screen  string
		stopped bool // the query no longer ran upstream 5s after Ctrl-C
	}
	cancel := func(args []string) result {
		t.Helper()
		x := startMycliTerm(t, m, args)
		x.keys("C-l")
		x.text(mycliLongQuery + ";")
		x.keys("Enter")
		// Ctrl-C only once the query runs upstream: before, mycli is
		// still reading the line and takes the key itself.
		var ids []string
		for end := time.Now().Add(30 * time.Second); len(ids) == 0; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("the query never ran upstream; screen:\n%s", x.screen())
			}
			ids = upstreamLongQuery(t, root)
		}
		time.Sleep(500 * time.Millisecond)
		x.keys("C-c")
		s, _ := x.poll(20*time.Second, func(s string) bool {
			i := strings.LastIndex(s, mycliEcho(mycliLongQuery))
			return i >= 0 && strings.Contains(s[i:], "\n"+mycliPrompt)
		})
		res := result{screen: strings.TrimRight(s, "\n ")}
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if !slices.ContainsFunc(upstreamLongQuery(t, root), func(id string) bool { return slices.Contains(ids, id) }) {
				res.stopped = true
				break
			}
		}
		x.quit()
		for _, id := range ids {
			_, _ = root.Exec("KILL QUERY " + id)
		}
		return res
	}

	// The control: mycli straight to MariaDB (as root, no TLS).
	ctl := cancel(m.args(t, cfg.Addr, cfg.User, cfg.Passwd, "", "study"))
	if !strings.Contains(ctl.screen, "cancelled query") || !ctl.stopped {
		t.Fatalf("control: Ctrl-C in mycli connected to MariaDB directly did not cancel (stopped upstream: %v):\n%s", ctl.stopped, ctl.screen)
	}
	t.Logf("control, MariaDB directly: query stopped; mycli shows:\n%s", ctl.screen)

	res := cancel(m.args(t, r.addr, "alice", alicePW, certs.CA, "study"))
	t.Logf("through rrproxy: query stopped upstream within 5s: %v; mycli shows:\n%s", res.stopped, res.screen)
	for _, l := range m.logLines("kill", "cancel") {
		t.Logf("mycli.log: %s", l)
	}
	if !strings.Contains(res.screen, "cancelled query") || !res.stopped {
		t.Errorf("Ctrl-C in mycli does not cancel a query through rrproxy as it does against MariaDB: "+
			"mycli's KILL <connection_id()> is refused, and the query it gave up on goes on running upstream (stopped within 5s: %v):\n%s", res.stopped, res.screen)
	}
}
