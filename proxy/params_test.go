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

// TestDecodeParamsReadsAsTheServerDoes: the audit record of an EXECUTE
// must carry the values the server binds (found by an adversarial sweep,
// each case recording something other than what ran):
//   - a temporal length byte the server reads as a length-encoded integer
//     (0xfc: two more length bytes) is refused, not read as 252 bytes;
//   - long data wins over the NULL bit, as in MariaDB's insert_params;
//   - a refused EXECUTE that announced new types leaves the types in
//     force unchanged.
func TestDecodeParamsReadsAsTheServerDoes(t *testing.T) {
	head := func(n int, nulls byte, types ...byte) []byte {
		p := []byte{mysql.COM_STMT_EXECUTE, 1, 0, 0, 0, 0, 1, 0, 0, 0, nulls}
		if types == nil {
			return append(p, 0)
		}
		return append(append(p, 1), types...)
	}
	lenenc := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }

	// Temporal lengths.
	for _, c := range []struct {
		typ byte
		val []byte
		ok  bool
	}{
		{mysql.MYSQL_TYPE_DATE, []byte{4, 0xe9, 0x07, 11, 26}, true},
		{mysql.MYSQL_TYPE_DATETIME, []byte{0}, true},
		{mysql.MYSQL_TYPE_TIME, []byte{12, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0, 0}, true},
		{mysql.MYSQL_TYPE_DATETIME, []byte{0xfc, 4, 0, 0xd0, 0x07, 1, 1}, false},
		{mysql.MYSQL_TYPE_DATE, []byte{5, 0xe9, 0x07, 11, 26, 0}, false},
		{mysql.MYSQL_TYPE_TIME, []byte{7, 0, 0, 0, 0, 0, 1, 2}, false},
	} {
		pkt := append(head(1, 0, c.typ, 0), c.val...)
		vals, _, err := decodeParams(pkt, 1, nil, nil)
		if (err == nil) != c.ok {
			t.Errorf("type 0x%02x % x: %v, %v; want ok=%v", c.typ, c.val, vals, err, c.ok)
		}
	}

	// Long data with the NULL bit set: the server binds the long data.
	lp := &longParam{}
	lp.add([]byte("S-101-0003"))
	vals, _, err := decodeParams(head(1, 0x01, mysql.MYSQL_TYPE_VAR_STRING, 0), 1, nil, map[uint16]*longParam{0: lp})
	if err != nil || len(vals) != 1 || vals[0] != "'S-101-0003'" {
		t.Fatalf("long data under a NULL bit: %q, %v", vals, err)
	}

	// A refused EXECUTE that announced LONGLONG keeps VAR_STRING in force.
	kept := []byte{mysql.MYSQL_TYPE_VAR_STRING, 0}
	_, types, err := decodeParams(append(head(1, 0, mysql.MYSQL_TYPE_LONGLONG, 0), 1, 2, 3), 1, kept, nil)
	if err == nil || string(types) != string(kept) || kept[0] != mysql.MYSQL_TYPE_VAR_STRING {
		t.Fatalf("refused EXECUTE: err %v, types % x (kept % x)", err, types, kept)
	}
	vals, types, err = decodeParams(append(head(1, 0), lenenc("S-102-0007")...), 1, types, nil)
	if err != nil || vals[0] != "'S-102-0007'" || types[0] != mysql.MYSQL_TYPE_VAR_STRING {
		t.Fatalf("the next EXECUTE: %q, types % x, %v", vals, types, err)
	}
}
