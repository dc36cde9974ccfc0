package e2e

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// rawConn logs in with go-mysql's client and then speaks packets directly,
// for commands no database/sql driver sends (cursors, refused commands).
func rawConn(t *testing.T, r *rig, user, pw, db string) *client.Conn {
	t.Helper()
	c, err := client.Connect(r.addr, user, pw, db, func(c *client.Conn) error {
		c.SetTLSConfig(&tls.Config{RootCAs: caPool, ServerName: "127.0.0.1"})
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func command(t *testing.T, c *client.Conn, payload ...byte) {
	t.Helper()
	c.ResetSequence()
	if err := c.WritePacket(append(make([]byte, 4), payload...)); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, c *client.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func expectErr(t *testing.T, p []byte, code uint16, want string) {
	t.Helper()
	if len(p) < 3 || p[0] != 0xff {
		t.Fatalf("want ERR %d, got % x", code, p[:min(len(p), 16)])
	}
	got := binary.LittleEndian.Uint16(p[1:3])
	if got != code || !strings.Contains(string(p), want) {
		t.Fatalf("want ERR %d containing %q, got %d %q", code, want, got, p[9:])
	}
}

func TestRefusedCommands(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	c := rawConn(t, r, "alice", alicePW, "study")
	for _, cmd := range []struct {
		name    string
		payload []byte
	}{
		{"change_user", append([]byte{mysql.COM_CHANGE_USER}, "root\x00"...)},
		{"binlog_dump", []byte{mysql.COM_BINLOG_DUMP, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0}},
		{"binlog_dump_gtid", []byte{mysql.COM_BINLOG_DUMP_GTID, 0, 0, 0, 0, 0, 0, 0}},
		{"register_slave", []byte{mysql.COM_REGISTER_SLAVE, 1, 0, 0, 0}},
		{"shutdown", []byte{mysql.COM_SHUTDOWN, 0}},
		{"process_kill", []byte{mysql.COM_PROCESS_KILL, 1, 0, 0, 0}},
		{"unknown", []byte{0xee, 1, 2, 3}},
	} {
		t.Run(cmd.name, func(t *testing.T) {
			command(t, c, cmd.payload...)
			expectErr(t, read(t, c), mysql.ER_UNKNOWN_COM_ERROR, "not supported")
		})
	}
	// The session survives all of them.
	r2, err := c.Execute("SELECT COUNT(*) FROM subjects")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r2.GetInt(0, 0); n != 120 {
		t.Fatalf("count = %d", n)
	}
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	// A prepared-statement id the session never prepared (and so was
	// never checked) is refused.
	command(t, c, mysql.COM_STMT_EXECUTE, 0x39, 0x05, 0, 0, 0, 1, 0, 0, 0)
	expectErr(t, read(t, c), mysql.ER_UNKNOWN_STMT_HANDLER, "unknown prepared statement")
}

func TestPreparedStatementCursor(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	c := rawConn(t, r, "alice", alicePW, "study")
	id, exec := openCursor(t, c, "SELECT seq FROM seq_1_to_10")
	fetch := func(n uint32) (rows int, last bool) {
		pkt := []byte{mysql.COM_STMT_FETCH, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(pkt[1:5], id)
		binary.LittleEndian.PutUint32(pkt[5:9], n)
		command(t, c, pkt...)
		for {
			p := read(t, c)
			if p[0] == 0xfe && len(p) < 9 {
				return rows, binary.LittleEndian.Uint16(p[3:5])&mysql.SERVER_STATUS_LAST_ROW_SEND != 0
			}
			if p[0] == 0xff {
				t.Fatalf("fetch: %q", p)
			}
			rows++
		}
	}
	if n, last := fetch(4); n != 4 || last {
		t.Fatalf("first fetch: %d rows, last=%v", n, last)
	}
	if n, last := fetch(100); n != 6 || !last {
		t.Fatalf("second fetch: %d rows, last=%v", n, last)
	}
	// COM_STMT_RESET and COM_STMT_CLOSE on the statement, then the id is
	// gone.
	reset := []byte{mysql.COM_STMT_RESET, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(reset[1:], id)
	command(t, c, reset...)
	if p := read(t, c); p[0] != 0 {
		t.Fatalf("reset: % x", p)
	}
	closeStmt := []byte{mysql.COM_STMT_CLOSE, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(closeStmt[1:], id)
	command(t, c, closeStmt...)
	command(t, c, exec...)
	expectErr(t, read(t, c), mysql.ER_UNKNOWN_STMT_HANDLER, "unknown prepared statement")
}

var statisticsRE = regexp.MustCompile(`^Uptime: \d+  Threads: 1  Questions: (\d+)  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: \d+\.\d{3}$`)

func TestFieldListInitDBStatisticsReset(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	c := rawConn(t, r, "bob", bobPW, "")
	if err := c.UseDB("study"); err != nil {
		t.Fatal(err)
	}
	if err := c.UseDB("ops"); err == nil || !strings.Contains(err.Error(), "1044") || !strings.Contains(err.Error(), "Access denied for user 'bob'@'%' to database 'ops'") {
		t.Fatalf("COM_INIT_DB ops as bob: want the server's answer for a missing database, got %v", err)
	}
	fields, err := c.FieldList("subjects", "")
	if err != nil || len(fields) != 4 {
		t.Fatalf("COM_FIELD_LIST subjects: %d fields, %v", len(fields), err)
	}
	// visits has a withheld column: the listing leaves it out.
	vf, err := c.FieldList("visits", "")
	if err != nil {
		t.Fatalf("COM_FIELD_LIST visits: %v", err)
	}
	var names []string
	for _, f := range vf {
		names = append(names, string(f.Name))
	}
	if strings.Join(names, ",") != "visit_id,subject_id,visit_name,visit_date,systolic_bp" {
		t.Fatalf("COM_FIELD_LIST visits = %v, want every column but treatment_arm", names)
	}
	// With a wildcard: the server applies it, and the record keeps it.
	if wf, err := c.FieldList("visits", "visit%"); err != nil || len(wf) != 3 {
		t.Fatalf("COM_FIELD_LIST visits visit%%: %d fields, %v", len(wf), err)
	}
	// COM_STATISTICS is answered by rrproxy about this session, in the
	// server's format: the replica's counters (every client's queries
	// since it started) are not anyone's business.
	questions := func() int {
		t.Helper()
		command(t, c, mysql.COM_STATISTICS)
		p := read(t, c)
		m := statisticsRE.FindSubmatch(p)
		if m == nil {
			t.Fatalf("statistics: %q, want the session's own in the server's format", p)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	before := questions()
	if _, err := c.Execute("SELECT COUNT(*) FROM subjects"); err != nil {
		t.Fatal(err)
	}
	if after := questions(); after != before+1 {
		t.Fatalf("statistics: %d questions after one more statement, had %d", after, before)
	}
	if _, err := c.Execute("SET @x = 1"); err != nil {
		t.Fatal(err)
	}
	// COM_SET_OPTION is answered by rrproxy (an EOF), and recorded.
	command(t, c, mysql.COM_SET_OPTION, 0, 0)
	if p := read(t, c); p[0] != 0xfe {
		t.Fatalf("set option: % x, want an EOF", p)
	}
	command(t, c, mysql.COM_SET_OPTION, 1, 0)
	if p := read(t, c); p[0] != 0xfe {
		t.Fatalf("set option: % x, want an EOF", p)
	}
	command(t, c, mysql.COM_RESET_CONNECTION)
	if p := read(t, c); p[0] != 0 {
		t.Fatalf("reset connection: % x", p)
	}
	res, err := c.Execute("SELECT @x IS NULL")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := res.GetInt(0, 0); v != 1 {
		t.Fatal("COM_RESET_CONNECTION did not clear user variables")
	}
	// Last: reading the records closes the audit log.
	answered := 0
	var options, wildcards []string
	resets := map[string]map[string]any{} // by phase
	for _, m := range readAuditRecords(t, r) {
		switch m["rrproxy.command"] {
		case "statistics":
			if m["event.action"] != "command" || m["event.reason"] != "answered by rrproxy" {
				t.Fatalf("statistics record: %v", m)
			}
			answered++
		case "set_option":
			if m["event.action"] != "command" || m["event.outcome"] != "success" {
				t.Fatalf("set_option record: %v", m)
			}
			options = append(options, m["event.reason"].(string))
		case "reset_connection":
			resets[m["rrproxy.phase"].(string)] = m
		case "field_list":
			if m["rrproxy.phase"] == "intent" && m["rrproxy.parameters"] != nil {
				wildcards = append(wildcards, fmt.Sprint(m["rrproxy.statement"], " ", m["rrproxy.parameters"]))
			}
		}
	}
	if answered != 2 {
		t.Fatalf("%d statistics records, want 2", answered)
	}
	if strings.Join(wildcards, "|") != "visits ['visit%']" {
		t.Fatalf("field_list records with a wildcard: %q", wildcards)
	}
	if strings.Join(options, "|") != "multi-statements on; answered by rrproxy|multi-statements off; answered by rrproxy" {
		t.Fatalf("set_option records: %q", options)
	}
	// The reset has an intent and an outcome naming it.
	in, out := resets["intent"], resets["outcome"]
	if in == nil || out == nil || out["rrproxy.intent_sequence"] != in["event.sequence"] || out["event.outcome"] != "success" || out["event.action"] != "command" {
		t.Fatalf("reset_connection records: intent %v, outcome %v", in, out)
	}
}

// TestMisbehavingClientsDoNotDisturbOthers runs garbage, half-handshake,
// oversized and stalled-TLS clients next to a healthy session.
func TestMisbehavingClientsDoNotDisturbOthers(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true, handshake: 2 * time.Second})
	healthy := r.open("alice", alicePW, "study")
	healthy.SetMaxOpenConns(1)

	var wg sync.WaitGroup
	bad := func(name string, f func(net.Conn)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Errorf("%s: dial: %v", name, err)
				return
			}
			defer c.Close()
			greeting := make([]byte, 4)
			if _, err := io.ReadFull(c, greeting); err != nil {
				t.Errorf("%s: greeting: %v", name, err)
				return
			}
			n := int(greeting[0]) | int(greeting[1])<<8 | int(greeting[2])<<16
			io.ReadFull(c, make([]byte, n))
			f(c)
			// The proxy must end the connection (error or close) by
			// itself, within the handshake timeout.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("%s: proxy did not close the connection", name)
			}
		}()
	}
	bad("garbage", func(c net.Conn) { c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) })
	bad("half handshake", func(c net.Conn) { c.Write([]byte{0x40, 0, 0, 1, 0x85, 0xa6}) })
	bad("100 MB claim", func(c net.Conn) {
		c.Write([]byte{0xff, 0xff, 0xff, 1})
		c.Write(make([]byte, 1<<20))
	})
	bad("stalled TLS", func(c net.Conn) {
		ssl := make([]byte, 36)
		ssl[0], ssl[3] = 32, 1
		binary.LittleEndian.PutUint32(ssl[4:], mysql.CLIENT_PROTOCOL_41|mysql.CLIENT_SSL|mysql.CLIENT_SECURE_CONNECTION)
		c.Write(ssl) // then never start the TLS handshake
	})
	bad("bad sequence", func(c net.Conn) { c.Write([]byte{1, 0, 0, 7, 0}) })

	for i := 0; i < 50; i++ {
		var n int
		if err := healthy.QueryRow("SELECT COUNT(*) FROM subjects WHERE site_id = ?", 1+i%8).Scan(&n); err != nil {
			t.Fatalf("healthy session disturbed: %v", err)
		}
	}
	wg.Wait()
}

// TestSendLongData: a parameter sent in pieces with COM_STMT_SEND_LONG_DATA
// (which has no reply) and then used by COM_STMT_EXECUTE.
func TestSendLongData(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	c := rawConn(t, r, "alice", alicePW, "")
	command(t, c, append([]byte{mysql.COM_STMT_PREPARE}, "SELECT LENGTH(?)"...)...)
	ok := read(t, c)
	if ok[0] != 0 {
		t.Fatalf("prepare: %q", ok)
	}
	id := ok[1:5]
	for range 2 { // parameter definition + EOF
		read(t, c)
	}
	for range 2 { // column definition + EOF
		read(t, c)
	}
	for i := 0; i < 3; i++ {
		chunk := append([]byte{mysql.COM_STMT_SEND_LONG_DATA}, id...)
		chunk = append(chunk, 0, 0) // parameter 0
		chunk = append(chunk, strings.Repeat("x", 100000)...)
		command(t, c, chunk...)
	}
	exec := append([]byte{mysql.COM_STMT_EXECUTE}, id...)
	exec = append(exec, 0, 1, 0, 0, 0, 0 /* null bitmap */, 1 /* new params bound */, mysql.MYSQL_TYPE_BLOB, 0)
	command(t, c, exec...)
	if p := read(t, c); p[0] != 1 {
		t.Fatalf("column count: %q", p)
	}
	read(t, c) // column definition
	read(t, c) // EOF
	row := read(t, c)
	// Binary row: 0x00 header, null bitmap (1 byte for 1 column), LENGTH() as a 4-byte INT.
	if len(row) != 6 {
		t.Fatalf("row % x", row)
	}
	if got := binary.LittleEndian.Uint32(row[2:6]); got != 300000 {
		t.Fatalf("LENGTH = %d, want 300000", got)
	}
	if p := read(t, c); p[0] != 0xfe {
		t.Fatalf("want EOF, got %q", p)
	}
}

// openCursor prepares sql (one column) and executes it with
// CURSOR_TYPE_READ_ONLY: column definitions, then EOF with
// SERVER_STATUS_CURSOR_EXISTS and no rows yet. It returns the statement
// id and the EXECUTE packet.
func openCursor(t *testing.T, c *client.Conn, sql string) (uint32, []byte) {
	t.Helper()
	command(t, c, append([]byte{mysql.COM_STMT_PREPARE}, sql...)...)
	ok := read(t, c)
	if ok[0] != 0 {
		t.Fatalf("prepare: % x", ok)
	}
	id := binary.LittleEndian.Uint32(ok[1:5])
	for range int(binary.LittleEndian.Uint16(ok[5:7])) + 1 { // column definitions + EOF
		read(t, c)
	}
	exec := []byte{mysql.COM_STMT_EXECUTE, 0, 0, 0, 0, 1 /* read-only cursor */, 1, 0, 0, 0}
	binary.LittleEndian.PutUint32(exec[1:5], id)
	command(t, c, exec...)
	if p := read(t, c); p[0] != 1 {
		t.Fatalf("column count packet: % x", p)
	}
	read(t, c) // column definition
	eof := read(t, c)
	if eof[0] != 0xfe || binary.LittleEndian.Uint16(eof[3:5])&mysql.SERVER_STATUS_CURSOR_EXISTS == 0 {
		t.Fatalf("want EOF with CURSOR_EXISTS, got % x", eof)
	}
	return id, exec
}
