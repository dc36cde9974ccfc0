package proxy

import (
	"bytes"
	"io"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// textResult is an upstream's answer to a query: a text result set of
// rows rows of three columns, as packets with sequence ids from 1.
func textResult(rows int) []byte {
	w := newWire(nil, 1<<16)
	var out bytes.Buffer
	w.w.Reset(&out)
	w.seq = 1
	_ = w.writePacket([]byte{3})
	for _, name := range []string{"obs_id", "subject_id", "comment"} {
		def, _ := colDefPayload(columnDef{schema: "trial", table: "observations", orgTable: "observations", name: name, orgName: name,
			charset: 33, length: 160, typ: mysql.MYSQL_TYPE_VAR_STRING}, nil)
		_ = w.writePacket(def)
	}
	_ = w.writePacket(eofPacket(mysql.SERVER_STATUS_AUTOCOMMIT))
	row := append(append(lenencStr("1234567"), lenencStr("S-000123")...), lenencStr("Visit completed per protocol; no deviations noted")...)
	for range rows {
		_ = w.writePacket(row)
	}
	_ = w.writePacket(eofPacket(mysql.SERVER_STATUS_AUTOCOMMIT))
	_ = w.flush()
	return out.Bytes()
}

// relaySession is a session whose upstream answers from up and whose
// client is discarded.
func relaySession(up io.Reader) *session {
	return &session{cw: newWire(struct {
		io.Reader
		io.Writer
	}{nil, io.Discard}, clientBufSize), up: &upConn{w: newWire(struct {
		io.Reader
		io.Writer
	}{up, io.Discard}, upstreamBufSize)}}
}

// BenchmarkRelayRows relays a 1,000-row result set from upstream to
// client, the path every SELECT's rows take: MB/s, rows/s, and
// allocations per result set (which must stay 0: rows are never
// decoded or copied to the heap).
//
//	go test -run '^$' -bench Relay -benchmem ./proxy
func BenchmarkRelayRows(b *testing.B) {
	const rows = 1000
	data := textResult(rows)
	up := bytes.NewReader(data)
	s := relaySession(up)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		up.Reset(data)
		s.up.w.seq = 1
		st, err := s.relayResult()
		if err != nil || st.rows != rows {
			b.Fatalf("relayed %d rows: %v", st.rows, err)
		}
		_ = s.cw.flush()
	}
	b.ReportMetric(float64(b.N)*rows/b.Elapsed().Seconds(), "rows/s")
}

// TestRelayRowsAllocateNothing: relaying rows allocates nothing per row
// (nor per result set once the buffers exist).
func TestRelayRowsAllocateNothing(t *testing.T) {
	data := textResult(500)
	up := bytes.NewReader(data)
	s := relaySession(up)
	allocs := testing.AllocsPerRun(20, func() {
		up.Reset(data)
		s.up.w.seq = 1
		st, err := s.relayResult()
		if err != nil || st.rows != 500 {
			t.Fatalf("relayed %d rows: %v", st.rows, err)
		}
		_ = s.cw.flush()
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per 500-row result set, want 0", allocs)
	}
}
