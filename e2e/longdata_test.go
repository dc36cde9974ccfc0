package e2e

import (
	"encoding/binary"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rrproxy/rrproxy/auditlog"
)

// prepareLength prepares SELECT LENGTH(?) on a raw connection and
// returns the statement id's four bytes.
func prepareLength(t *testing.T, c *client.Conn) []byte {
	t.Helper()
	command(t, c, append([]byte{mysql.COM_STMT_PREPARE}, "SELECT LENGTH(?)"...)...)
	ok := read(t, c)
	if ok[0] != 0 {
		t.Fatalf("prepare: %q", ok)
	}
	for range 4 { // parameter definition + EOF, column definition + EOF
		read(t, c)
	}
	return ok[1:5]
}

func sendLongData(t *testing.T, c *client.Conn, id []byte, n int) {
	t.Helper()
	chunk := append([]byte{mysql.COM_STMT_SEND_LONG_DATA}, id...)
	chunk = append(chunk, 0, 0) // parameter 0
	command(t, c, append(chunk, strings.Repeat("x", n)...)...)
}

// executeLength runs the statement with its parameter sent as long data
// and returns the ERR packet, or LENGTH(?) with nil.
func executeLength(t *testing.T, c *client.Conn, id []byte) (uint32, []byte) {
	t.Helper()
	exec := append([]byte{mysql.COM_STMT_EXECUTE}, id...)
	exec = append(exec, 0, 1, 0, 0, 0, 0 /* null bitmap */, 1 /* new params bound */, mysql.MYSQL_TYPE_BLOB, 0)
	command(t, c, exec...)
	p := read(t, c)
	if p[0] == 0xff {
		return 0, p
	}
	read(t, c) // column definition
	read(t, c) // EOF
	row := read(t, c)
	if len(row) != 6 {
		t.Fatalf("row % x", row)
	}
	if p := read(t, c); p[0] != 0xfe {
		t.Fatalf("want EOF, got %q", p)
	}
	return binary.LittleEndian.Uint32(row[2:6]), nil
}

// TestSendLongDataIsAudited: each piece of a parameter sent with
// COM_STMT_SEND_LONG_DATA has a command record, written before it is
// forwarded: which statement, which parameter, how many bytes.
func TestSendLongDataIsAudited(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	c := rawConn(t, r, "alice", alicePW, "")
	id := prepareLength(t, c)
	for range 3 {
		sendLongData(t, c, id, 100000)
	}
	if n, errp := executeLength(t, c, id); errp != nil || n != 300000 {
		t.Fatalf("LENGTH = %d (%q), want 300000", n, errp)
	}
	c.Close()
	var pieces []float64
	var execSeq float64
	for _, rec := range readAuditRecords(t, r) {
		switch rec["rrproxy.command"] {
		case "stmt_send_long_data":
			if rec["event.action"] != "command" || rec["event.reason"] != "forwarded: 100000 bytes of parameter 1" ||
				!strings.Contains(rec["rrproxy.statement"].(string), "SELECT LENGTH(?)") || rec["user.name"] != "alice" {
				t.Errorf("long data record: %v", rec)
			}
			pieces = append(pieces, rec["event.sequence"].(float64))
		case "stmt_execute":
			if rec["rrproxy.phase"] == "intent" {
				execSeq = rec["event.sequence"].(float64)
			}
		}
	}
	if len(pieces) != 3 || execSeq == 0 || pieces[2] > execSeq {
		t.Fatalf("long data records at %v, EXECUTE intent at %v: want three, before it", pieces, execSeq)
	}
}

// longDataFailingRecorder fails the records of long data while broken
// is set, and keeps every other one.
type longDataFailingRecorder struct{ broken atomic.Bool }

func (f *longDataFailingRecorder) Record(ev *auditlog.Event) (uint64, error) {
	if f.broken.Load() && ev.Command == "stmt_send_long_data" {
		return 0, errors.New("no space left on device")
	}
	return 1, nil
}

// TestSendLongDataNotAuditedNotSent: a piece of long data whose record
// cannot be written is not sent, and neither is any later piece. The
// command has no reply, so the next EXECUTE is refused, saying why, and
// so is every EXECUTE until the client resets the statement, which
// clears the server's pieces too: the value a later EXECUTE sends is the
// one it was given, never the server's leftovers with more appended.
func TestSendLongDataNotAuditedNotSent(t *testing.T) {
	rec := &longDataFailingRecorder{}
	r := startRig(t, rigOpts{requireTLS: true, recorder: rec})
	c := rawConn(t, r, "alice", alicePW, "")
	id := prepareLength(t, c)
	// Long data has no reply: a ping after each piece makes sure the
	// proxy has dealt with it before the recorder changes.
	ping := func() {
		command(t, c, mysql.COM_PING)
		if p := read(t, c); p[0] != 0 {
			t.Fatalf("ping: %q", p)
		}
	}
	sendLongData(t, c, id, 1000) // recorded and sent
	ping()
	rec.broken.Store(true)
	sendLongData(t, c, id, 2000) // not recorded: dropped
	ping()
	rec.broken.Store(false)
	sendLongData(t, c, id, 4000) // recordable, but dropped: the value is already incomplete
	for range 2 {
		if n, errp := executeLength(t, c, id); errp == nil {
			t.Fatalf("EXECUTE after lost long data ran: LENGTH = %d", n)
		} else {
			expectErr(t, errp, mysql.ER_UNKNOWN_ERROR, "could not be written to the audit log and was not sent")
		}
	}
	command(t, c, append([]byte{mysql.COM_STMT_RESET}, id...)...)
	if p := read(t, c); p[0] != 0 {
		t.Fatalf("reset: %q", p)
	}
	sendLongData(t, c, id, 300)
	sendLongData(t, c, id, 200)
	if n, errp := executeLength(t, c, id); errp != nil || n != 500 {
		t.Fatalf("after the reset LENGTH = %d (%q), want 500: the server kept pieces from before", n, errp)
	}
}

// TestExecuteWithUnreadableParameters: an EXECUTE whose parameter values
// the proxy cannot render for the audit log (a type no client sends) is
// refused, not run with "<parameters not decoded>" on record.
func TestExecuteWithUnreadableParameters(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	c := rawConn(t, r, "alice", alicePW, "")
	id := prepareLength(t, c)
	exec := append([]byte{mysql.COM_STMT_EXECUTE}, id...)
	exec = append(exec, 0, 1, 0, 0, 0, 0, 1, mysql.MYSQL_TYPE_DATETIME2, 0, 4, 1, 2, 3, 4)
	command(t, c, exec...)
	expectErr(t, read(t, c), mysql.ER_MALFORMED_PACKET, "could not be read for the audit log")
	// The session goes on.
	sendLongData(t, c, id, 10)
	if n, errp := executeLength(t, c, id); errp != nil || n != 10 {
		t.Fatalf("LENGTH = %d (%q), want 10", n, errp)
	}
	c.Close()
	found := false
	for _, rec := range readAuditRecords(t, r) {
		if rec["rrproxy.command"] == "stmt_execute" && rec["rrproxy.phase"] == "denied" {
			found = strings.Contains(rec["event.reason"].(string), "could not be read for the audit log")
		}
	}
	if !found {
		t.Error("no denied EXECUTE record naming the unreadable parameters")
	}
}

// TestLongDataUnderNullBitIsRecordedAsBound: MariaDB binds a parameter's
// long data even when the EXECUTE's NULL bitmap marks it NULL. The audit
// record once said NULL while the server ran with the long data (found by
// an adversarial sweep); it now records what the server bound.
func TestLongDataUnderNullBitIsRecordedAsBound(t *testing.T) {
	r := startRig(t, rigOpts{requireTLS: true})
	c := rawConn(t, r, "alice", alicePW, "")
	id := prepareLength(t, c)
	sendLongData(t, c, id, 10)
	exec := append([]byte{mysql.COM_STMT_EXECUTE}, id...)
	exec = append(exec, 0, 1, 0, 0, 0, 0x01 /* parameter 1 NULL */, 1, mysql.MYSQL_TYPE_BLOB, 0)
	command(t, c, exec...)
	if p := read(t, c); p[0] == 0xff {
		t.Fatalf("execute: %q", p)
	}
	read(t, c) // column definition
	read(t, c) // EOF
	row := read(t, c)
	if len(row) != 6 || binary.LittleEndian.Uint32(row[2:6]) != 10 {
		t.Fatalf("row % x: want LENGTH 10, the long data the server bound", row)
	}
	read(t, c) // EOF
	c.Close()
	found := false
	for _, rec := range readAuditRecords(t, r) {
		if rec["rrproxy.command"] == "stmt_execute" && rec["rrproxy.phase"] == "intent" {
			found = true
			params, _ := rec["rrproxy.parameters"].([]any)
			if len(params) != 1 || params[0] != "'xxxxxxxxxx'" {
				t.Errorf("EXECUTE intent records parameters %v, want ['xxxxxxxxxx'] (what the server bound)", params)
			}
		}
	}
	if !found {
		t.Fatal("no EXECUTE intent record")
	}
}
