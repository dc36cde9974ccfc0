package proxy

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

func TestDecodeParams(t *testing.T) {
	// COM_STMT_EXECUTE for 7 parameters: tiny -1, unsigned longlong max,
	// double 2.5, string with a quote, NULL, datetime with micros, time -1d 02:03:04.
	pkt := []byte{mysql.COM_STMT_EXECUTE, 7, 0, 0, 0, 0, 1, 0, 0, 0}
	pkt = append(pkt, 0x10) // NULL bitmap: parameter 5
	pkt = append(pkt, 1)    // new params bound
	for _, ty := range [][2]byte{{mysql.MYSQL_TYPE_TINY, 0}, {mysql.MYSQL_TYPE_LONGLONG, 0x80}, {mysql.MYSQL_TYPE_DOUBLE, 0},
		{mysql.MYSQL_TYPE_VAR_STRING, 0}, {mysql.MYSQL_TYPE_NULL, 0}, {mysql.MYSQL_TYPE_DATETIME, 0}, {mysql.MYSQL_TYPE_TIME, 0}} {
		pkt = append(pkt, ty[0], ty[1])
	}
	pkt = append(pkt, 0xff)
	pkt = binary.LittleEndian.AppendUint64(pkt, math.MaxUint64)
	pkt = binary.LittleEndian.AppendUint64(pkt, math.Float64bits(2.5))
	pkt = append(pkt, 5, 'O', '\'', 'N', 'e', 'l')
	pkt = append(pkt, 11, 0xe9, 0x07, 11, 26, 2, 3, 4)
	pkt = binary.LittleEndian.AppendUint32(pkt, 123456)
	pkt = append(pkt, 8, 1, 1, 0, 0, 0, 2, 3, 4)
	vals, types, err := decodeParams(pkt, 7, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `-1|18446744073709551615|2.5|'O\'Nel'|NULL|'2025-11-26 02:03:04.123456'|'-26:03:04'`
	if got := strings.Join(vals, "|"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// A later EXECUTE that does not resend types reuses them.
	again := []byte{mysql.COM_STMT_EXECUTE, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0x7f, 0}
	again = append(again, 0) // parameter 8 does not exist; bitmap covers 1-7 NULL
	vals, _, err = decodeParams(again[:len(again)-1], 7, types, nil)
	if err != nil || strings.Join(vals, ",") != "NULL,NULL,NULL,NULL,NULL,NULL,NULL" {
		t.Fatalf("reused types: %v %v", vals, err)
	}
	// Long data: the value sent in pieces is rendered like one sent
	// whole, cut at maxParamText with its full length.
	lp := &longParam{}
	lp.add([]byte("it's "))
	lp.add([]byte("in pieces"))
	big := &longParam{}
	for range 300 {
		big.add([]byte("0123456789"))
	}
	vals, _, _ = decodeParams([]byte{mysql.COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, mysql.MYSQL_TYPE_BLOB, 0, mysql.MYSQL_TYPE_BLOB, 0}, 2, nil,
		map[uint16]*longParam{0: lp, 1: big})
	const cut = "'... (3000 bytes, sent with COM_STMT_SEND_LONG_DATA)"
	if len(vals) != 2 || vals[0] != `'it\'s in pieces'` || !strings.HasSuffix(vals[1], cut) || len(vals[1]) != maxParamText+1+len(cut) {
		t.Fatalf("long data: %q", vals)
	}
	if _, _, err := decodeParams(pkt[:len(pkt)-3], 7, nil, nil); err == nil {
		t.Fatal("truncated packet decoded")
	}
}
