package e2e

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// Leak checks for what drivers rarely send: COM_FIELD_LIST, COM_SET_OPTION
// turning multi-statements on mid-session, and cursors fetched with
// COM_STMT_FETCH. Here every byte of every packet is searched, so column
// metadata (schema, table, original names, defaults) is covered too.

func TestLeakRawProtocol(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})

	t.Run("field_list", func(t *testing.T) {
		c := rawConn(t, r, "mona", monaPW, "trial")
		for _, args := range [][2]string{{"visits", ""}, {"visits", "%"}, {"visits", "treat%"}, {"subjects", ""}, {"subjects", "diag%"}, {"VISITS", ""}} {
			pkt := append([]byte{mysql.COM_FIELD_LIST}, args[0]...)
			pkt = append(append(pkt, 0), args[1]...)
			command(t, c, pkt...)
			pkts := readUntilEOF(t, c)
			scanPackets(t, fmt.Sprintf("COM_FIELD_LIST %s %q", args[0], args[1]), args[0]+" "+args[1], pkts)
		}
		command(t, c, append(append([]byte{mysql.COM_FIELD_LIST}, "secret_unblinding"...), 0)...)
		expectErr(t, read(t, c), mysql.ER_NO_SUCH_TABLE, "doesn't exist")
	})

	t.Run("set_option", func(t *testing.T) {
		c := rawConn(t, r, "mona", monaPW, "trial")
		query := func(q string) [][]byte {
			command(t, c, append([]byte{mysql.COM_QUERY}, q...)...)
			pkts := rawResponse(t, c)
			scanPackets(t, "COM_QUERY after COM_SET_OPTION", q, pkts)
			return pkts
		}
		setMulti := func(on bool) {
			opt := byte(mysql.MYSQL_OPTION_MULTI_STATEMENTS_OFF)
			if on {
				opt = mysql.MYSQL_OPTION_MULTI_STATEMENTS_ON
			}
			command(t, c, mysql.COM_SET_OPTION, opt, 0)
			if p := read(t, c); p[0] != mysql.EOF_HEADER {
				t.Fatalf("COM_SET_OPTION: % x", p)
			}
		}
		setMulti(true)
		for _, q := range []string{
			"SELECT 1; SELECT treatment_arm FROM visits",
			"SELECT 1; SELECT * FROM secret_unblinding",
			"SELECT 1; SELECT COUNT(*) FROM subjects WHERE birth_year = 987654321",
			"SELECT 1; SHOW INDEX FROM visits",
			"SELECT 1; SELECT subject_id FROM subjects",
		} {
			if p := query(q); p[len(p)-1][0] != mysql.ERR_HEADER {
				t.Errorf("ANSWERED [set_option] %s: must be refused", q)
			}
		}
		// Pseudonymised columns are refused in batches by design; masked
		// and permitted ones are not.
		if p := query("SELECT visit_id, visit_name FROM visits LIMIT 3; SELECT initials, birth_year FROM subjects LIMIT 3; SELECT 'third'"); p[len(p)-1][0] == mysql.ERR_HEADER {
			t.Errorf("REFUSED [set_option] a batch of permitted statements: %q", p[len(p)-1])
		}
		setMulti(false)
		p := query("SELECT 1; SELECT 2")
		expectErr(t, p[len(p)-1], mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR, "multi-statements")
	})

	t.Run("cursor", func(t *testing.T) {
		c := rawConn(t, r, "mona", monaPW, "trial")
		for _, q := range []string{
			"SELECT * FROM visits",
			"SELECT * FROM subjects",
			"SELECT v.*, s.* FROM visits v JOIN subjects s ON s.subject_id = v.subject_id",
			"SELECT * FROM information_schema.STATISTICS",
			"SELECT * FROM information_schema.COLUMNS",
		} {
			id, errPkt := rawPrepare(t, c, q)
			if errPkt != nil {
				scanPackets(t, "cursor prepare", q, [][]byte{errPkt})
				continue
			}
			pkts := cursorFetchAll(t, c, id, 7)
			scanPackets(t, "cursor", q, pkts)
		}
	})
}

// scanPackets reports leak tokens in any packet that the statement does
// not itself contain.
func scanPackets(t *testing.T, mode, stmt string, pkts [][]byte) {
	t.Helper()
	var o observed
	for i, p := range pkts {
		o.add(fmt.Sprintf("packet %d", i), string(p))
	}
	o.check(t, mode, probe{sql: stmt}, false)
}

// readUntilEOF reads packets up to and including an EOF or ERR.
func readUntilEOF(t *testing.T, c *client.Conn) [][]byte {
	t.Helper()
	var pkts [][]byte
	for {
		p := read(t, c)
		pkts = append(pkts, p)
		if p[0] == mysql.ERR_HEADER || p[0] == mysql.EOF_HEADER && len(p) < 9 {
			return pkts
		}
	}
}

// rawResponse reads a COM_QUERY response whole: OK, ERR, or result sets
// for as long as the server says more follow. The connection has
// CLIENT_DEPRECATE_EOF off, so result sets end in EOF packets.
func rawResponse(t *testing.T, c *client.Conn) [][]byte {
	t.Helper()
	var pkts [][]byte
	for {
		p := read(t, c)
		pkts = append(pkts, p)
		var status uint16
		switch p[0] {
		case mysql.ERR_HEADER:
			return pkts
		case mysql.OK_HEADER:
			r := reader{b: p[1:]}
			r.lenencInt()
			r.lenencInt()
			status = r.uint16()
		default:
			r := reader{b: p}
			n := r.lenencInt()
			for range n + 1 { // definitions, EOF
				pkts = append(pkts, read(t, c))
			}
			rows := readUntilEOF(t, c)
			pkts = append(pkts, rows...)
			last := rows[len(rows)-1]
			if last[0] == mysql.ERR_HEADER {
				return pkts
			}
			status = binary.LittleEndian.Uint16(last[3:5])
		}
		if status&mysql.SERVER_MORE_RESULTS_EXISTS == 0 {
			return pkts
		}
	}
}

// rawPrepare prepares q and reads the whole PREPARE_OK; on refusal it
// returns the ERR packet.
func rawPrepare(t *testing.T, c *client.Conn, q string) (uint32, []byte) {
	t.Helper()
	command(t, c, append([]byte{mysql.COM_STMT_PREPARE}, q...)...)
	ok := read(t, c)
	if ok[0] == mysql.ERR_HEADER {
		return 0, ok
	}
	id := binary.LittleEndian.Uint32(ok[1:5])
	cols := binary.LittleEndian.Uint16(ok[5:7])
	params := binary.LittleEndian.Uint16(ok[7:9])
	for _, n := range []uint16{params, cols} {
		if n > 0 {
			for range int(n) + 1 {
				read(t, c)
			}
		}
	}
	return id, nil
}

// cursorFetchAll executes statement id with a read-only cursor and
// fetches its rows n at a time; it returns every packet received,
// column definitions included.
func cursorFetchAll(t *testing.T, c *client.Conn, id uint32, n uint32) [][]byte {
	t.Helper()
	exec := []byte{mysql.COM_STMT_EXECUTE, 0, 0, 0, 0, 1 /* CURSOR_TYPE_READ_ONLY */, 1, 0, 0, 0}
	binary.LittleEndian.PutUint32(exec[1:5], id)
	command(t, c, exec...)
	first := read(t, c)
	pkts := [][]byte{first}
	if first[0] == mysql.ERR_HEADER {
		return pkts
	}
	cols := reader{b: first}.lenencIntValue()
	for range cols {
		pkts = append(pkts, read(t, c))
	}
	eof := read(t, c)
	pkts = append(pkts, eof)
	if binary.LittleEndian.Uint16(eof[3:5])&mysql.SERVER_STATUS_CURSOR_EXISTS == 0 {
		// No cursor opened: the rows follow directly.
		return append(pkts, readUntilEOF(t, c)...)
	}
	for {
		fetch := []byte{mysql.COM_STMT_FETCH, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(fetch[1:5], id)
		binary.LittleEndian.PutUint32(fetch[5:9], n)
		command(t, c, fetch...)
		got := readUntilEOF(t, c)
		pkts = append(pkts, got...)
		last := got[len(got)-1]
		if last[0] == mysql.ERR_HEADER || binary.LittleEndian.Uint16(last[3:5])&mysql.SERVER_STATUS_LAST_ROW_SEND != 0 {
			return pkts
		}
	}
}

// reader decodes the protocol's length-encoded integers.
type reader struct{ b []byte }

func (r *reader) lenencInt() uint64 {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	var n int
	switch {
	case c < 0xfb:
		r.b = r.b[1:]
		return uint64(c)
	case c == 0xfc:
		n = 2
	case c == 0xfd:
		n = 3
	case c == 0xfe:
		n = 8
	default:
		r.b = r.b[1:]
		return 0
	}
	var v uint64
	for i := n; i >= 1; i-- {
		v = v<<8 | uint64(r.b[i])
	}
	r.b = r.b[1+n:]
	return v
}

func (r reader) lenencIntValue() uint64 { return r.lenencInt() }

func (r *reader) uint16() uint16 {
	v := binary.LittleEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}
