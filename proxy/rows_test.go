package proxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	gosql "github.com/go-sql-driver/mysql"

	"github.com/rrproxy/rrproxy/internal/testtool"
)

// --- builders: written from the protocol docs, independently of rows.go ----

func lenencStr(s string) []byte {
	return append(mysql.AppendLengthEncodedInteger(nil, uint64(len(s))), s...)
}

// colDefPayload builds a ColumnDefinition41 payload by hand and returns it
// with the offset of its 4-byte column length.
func colDefPayload(d columnDef, trailer []byte) ([]byte, int) {
	var b []byte
	for _, s := range []string{"def", d.schema, d.table, d.orgTable, d.name, d.orgName} {
		b = append(b, lenencStr(s)...)
	}
	b = append(b, 0x0c)
	b = binary.LittleEndian.AppendUint16(b, d.charset)
	off := len(b)
	b = binary.LittleEndian.AppendUint32(b, d.length)
	b = append(b, d.typ)
	b = binary.LittleEndian.AppendUint16(b, d.flags)
	b = append(b, d.decimals, 0, 0)
	return append(b, trailer...), off
}

// binVal is one binary-protocol column: its type and its full encoding
// (length prefix included); enc nil means NULL.
type binVal struct {
	typ byte
	enc []byte
}

func binaryRow(vals []binVal) ([]byte, []columnDef) {
	bm := make([]byte, (len(vals)+9)/8)
	cols := make([]columnDef, len(vals))
	var body []byte
	for i, v := range vals {
		cols[i] = columnDef{name: fmt.Sprintf("c%d", i), typ: v.typ}
		if v.enc == nil {
			bm[(i+2)/8] |= 1 << ((i + 2) % 8)
			continue
		}
		body = append(body, v.enc...)
	}
	row := append([]byte{0x00}, bm...)
	return append(row, body...), cols
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }

// temporal encodes a DATE/DATETIME/TIMESTAMP/TIME value of l bytes.
func temporal(l int) []byte {
	b := []byte{byte(l)}
	for i := 1; i <= l; i++ {
		b = append(b, byte(i))
	}
	return b
}

func dateTime(l int) []byte {
	b := []byte{byte(l)}
	if l == 0 {
		return b
	}
	b = append(b, le16(2024)...)
	b = append(b, 3, 1) // March 1st
	if l == 4 {
		return b
	}
	b = append(b, 13, 14, 15)
	if l == 7 {
		return b
	}
	return append(b, le32(123456)...)
}

func timeVal(l int) []byte {
	b := []byte{byte(l)}
	if l == 0 {
		return b
	}
	b = append(b, 1)          // negative
	b = append(b, le32(2)...) // days
	b = append(b, 10, 20, 30) // h m s
	if l == 12 {
		b = append(b, le32(500)...)
	}
	return b
}

// mixedRow is 23 columns of every encoding, with NULLs in all three bitmap
// bytes (bits 4, 8, 15, 21).
func mixedRow() []binVal {
	return []binVal{
		{mysql.MYSQL_TYPE_LONGLONG, le64(math.MaxUint64 - 1)},                // 0: -2
		{mysql.MYSQL_TYPE_VAR_STRING, lenencStr("alice")},                    // 1
		{mysql.MYSQL_TYPE_VAR_STRING, nil},                                   // 2: bit 4
		{mysql.MYSQL_TYPE_DOUBLE, le64(math.Float64bits(3.5))},               // 3
		{mysql.MYSQL_TYPE_DATETIME, dateTime(0)},                             // 4
		{mysql.MYSQL_TYPE_DATE, dateTime(4)},                                 // 5
		{mysql.MYSQL_TYPE_LONG, nil},                                         // 6: bit 8, second byte
		{mysql.MYSQL_TYPE_DATETIME, dateTime(7)},                             // 7
		{mysql.MYSQL_TYPE_TIMESTAMP, dateTime(11)},                           // 8
		{mysql.MYSQL_TYPE_TIME, timeVal(0)},                                  // 9
		{mysql.MYSQL_TYPE_TIME, timeVal(8)},                                  // 10
		{mysql.MYSQL_TYPE_TIME, timeVal(12)},                                 // 11
		{mysql.MYSQL_TYPE_NEWDECIMAL, lenencStr("12345.67")},                 // 12
		{mysql.MYSQL_TYPE_BLOB, nil},                                         // 13: bit 15
		{mysql.MYSQL_TYPE_TINY, []byte{7}},                                   // 14: third byte
		{mysql.MYSQL_TYPE_SHORT, le16(300)},                                  // 15
		{mysql.MYSQL_TYPE_STRING, lenencStr("")},                             // 16
		{mysql.MYSQL_TYPE_YEAR, le16(2024)},                                  // 17
		{mysql.MYSQL_TYPE_FLOAT, le32(math.Float32bits(1.5))},                // 18
		{mysql.MYSQL_TYPE_JSON, nil},                                         // 19: bit 21
		{mysql.MYSQL_TYPE_MEDIUM_BLOB, lenencStr(strings.Repeat("m", 300))},  // 20: 0xfc
		{mysql.MYSQL_TYPE_VAR_STRING, lenencStr(strings.Repeat("v", 70000))}, // 21: 0xfd
		{mysql.MYSQL_TYPE_INT24, le32(0x00123456)},                           // 22
	}
}

// isLenenc reports whether the test's builder encodes typ as a string.
func isLenencType(typ byte) bool {
	switch typ {
	case mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_VARCHAR,
		mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_DECIMAL, mysql.MYSQL_TYPE_BLOB,
		mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB,
		mysql.MYSQL_TYPE_JSON, mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET, mysql.MYSQL_TYPE_BIT,
		mysql.MYSQL_TYPE_GEOMETRY:
		return true
	}
	return false
}

// seen is the value rewriteBinaryRow should hand f for v.
func seen(v binVal) []byte {
	if v.enc == nil {
		return nil
	}
	if isLenencType(v.typ) {
		r := reader{b: v.enc}
		return r.lenencBytes()
	}
	return v.enc
}

// decodeBinary cross-checks a row with go-mysql's own binary-row decoder.
func decodeBinary(t *testing.T, row []byte, cols []columnDef) []mysql.FieldValue {
	t.Helper()
	fs := make([]*mysql.Field, len(cols))
	for i, c := range cols {
		fs[i] = &mysql.Field{Type: c.typ}
	}
	vals, err := mysql.RowData(row).ParseBinary(fs, nil)
	if err != nil {
		t.Fatalf("go-mysql cannot decode the row: %v", err)
	}
	return vals
}

func identity(int, []byte, bool) ([]byte, bool, bool) { return nil, false, false }

// --- column definitions ------------------------------------------------------

func TestParseColumnDef(t *testing.T) {
	want := columnDef{
		schema: "shop", table: "c", orgTable: "customers", name: "ssn", orgName: "ssn_raw",
		charset: 45, length: 44, typ: mysql.MYSQL_TYPE_STRING,
		flags: mysql.NOT_NULL_FLAG | mysql.BINARY_FLAG, decimals: 0,
	}
	hand, _ := colDefPayload(want, nil)
	withDefault, _ := colDefPayload(want, lenencStr("default-ssn"))
	withNullDefault, _ := colDefPayload(want, []byte{0xfb})
	dumped := (&mysql.Field{
		Schema: []byte(want.schema), Table: []byte(want.table), OrgTable: []byte(want.orgTable),
		Name: []byte(want.name), OrgName: []byte(want.orgName), Charset: want.charset,
		ColumnLength: want.length, Type: want.typ, Flag: want.flags, Decimal: want.decimals,
	}).Dump()
	dumpedDefault := (&mysql.Field{
		Schema: []byte(want.schema), Table: []byte(want.table), OrgTable: []byte(want.orgTable),
		Name: []byte(want.name), OrgName: []byte(want.orgName), Charset: want.charset,
		ColumnLength: want.length, Type: want.typ, Flag: want.flags, Decimal: want.decimals,
		DefaultValue: []byte("d"), DefaultValueLength: 1,
	}).Dump()
	long := want
	long.name = strings.Repeat("n", 300) // 0xfc length prefix
	longPayload, _ := colDefPayload(long, nil)

	for _, tc := range []struct {
		name    string
		payload []byte
		want    columnDef
	}{
		{"by hand", hand, want},
		{"COM_FIELD_LIST default", withDefault, want},
		{"COM_FIELD_LIST NULL default", withNullDefault, want},
		{"go-mysql Field.Dump", dumped, want},
		{"go-mysql Field.Dump with default", dumpedDefault, want},
		{"long name", longPayload, long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseColumnDef(tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if !bytes.Equal(dumped, hand) {
		t.Errorf("hand-built payload differs from go-mysql's:\n%x\n%x", hand, dumped)
	}
}

func TestColumnDefMalformed(t *testing.T) {
	def := columnDef{schema: "s", table: "t", orgTable: "t", name: "n", orgName: "n", charset: 33, length: 11, typ: mysql.MYSQL_TYPE_STRING}
	good, _ := colDefPayload(def, nil)
	for i := 0; i < len(good); i++ {
		if _, err := parseColumnDef(good[:i]); err == nil {
			t.Errorf("truncated to %d of %d bytes: no error", i, len(good))
		}
		if _, err := withMinLength(good[:i], 64); err == nil {
			t.Errorf("withMinLength, truncated to %d of %d bytes: no error", i, len(good))
		}
	}
	fixedAt := len(good) - 13
	for _, fixed := range []byte{0x0b, 0x0d, 0xfb, 0xff} {
		bad := bytes.Clone(good)
		bad[fixedAt] = fixed
		if _, err := parseColumnDef(bad); err == nil {
			t.Errorf("fixed fields length 0x%02x: no error", fixed)
		}
	}
	bad := bytes.Clone(good)
	bad[4] = 0xfb // schema length: NULL is not a length here
	if _, err := parseColumnDef(bad); err == nil {
		t.Error("NULL marker as schema length: no error")
	}
	huge := append([]byte{0x03, 'd', 'e', 'f', 0xfe}, le64(math.MaxUint64)...)
	if _, err := parseColumnDef(huge); err == nil {
		t.Error("2^64-1 schema length: no error")
	}
}

func TestWithMinLengthColumnDef(t *testing.T) {
	def := columnDef{
		schema: "hr", table: "e", orgTable: "employees", name: "phone", orgName: "phone",
		charset: 33, length: 11 * 3, typ: mysql.MYSQL_TYPE_STRING, flags: mysql.NOT_NULL_FLAG,
	}
	dumped := (&mysql.Field{
		Schema: []byte("hr"), Table: []byte("e"), OrgTable: []byte("employees"), Name: []byte("phone"),
		OrgName: []byte("phone"), Charset: 33, ColumnLength: 33, Type: mysql.MYSQL_TYPE_STRING,
		Flag: mysql.NOT_NULL_FLAG, DefaultValue: []byte("555"), DefaultValueLength: 3,
	}).Dump()
	plain, off := colDefPayload(def, nil)
	trailer, _ := colDefPayload(def, lenencStr("555-0100"))

	for _, tc := range []struct {
		name    string
		payload []byte
	}{{"by hand", plain}, {"COM_FIELD_LIST default", trailer}, {"go-mysql Field.Dump with default", dumped}} {
		t.Run(tc.name, func(t *testing.T) {
			orig := bytes.Clone(tc.payload)
			for _, n := range []uint32{0, 11, 33, 34, 256, math.MaxUint32} {
				got, err := withMinLength(tc.payload, n)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(tc.payload, orig) {
					t.Fatal("input modified")
				}
				if len(got) != len(orig) {
					t.Fatalf("n=%d: length %d, want %d", n, len(got), len(orig))
				}
				wantLen := max(n, 33)
				if l := binary.LittleEndian.Uint32(got[off:]); l != wantLen {
					t.Errorf("n=%d: column length %d, want %d", n, l, wantLen)
				}
				// Every byte outside the length field is kept.
				if !bytes.Equal(got[:off], orig[:off]) || !bytes.Equal(got[off+4:], orig[off+4:]) {
					t.Errorf("n=%d: bytes outside the length changed:\n%x\n%x", n, got, orig)
				}
				d, err := parseColumnDef(got)
				if err != nil || d.length != wantLen || d.name != "phone" || d.typ != mysql.MYSQL_TYPE_STRING {
					t.Errorf("n=%d: reparsed %+v, %v", n, d, err)
				}
				if f, err := mysql.FieldData(got[:len(plain)]).Parse(); err != nil || f.ColumnLength != wantLen || string(f.OrgTable) != "employees" {
					t.Errorf("n=%d: go-mysql parses %+v, %v", n, f, err)
				}
				got[0] ^= 0xff // a copy, even when unchanged
				if !bytes.Equal(tc.payload, orig) {
					t.Fatalf("n=%d: result aliases the input", n)
				}
			}
		})
	}
}

// --- text rows ---------------------------------------------------------------

func TestTextRowRoundTrip(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	for _, tc := range []struct {
		name string
		vals [][]byte
	}{
		{"no columns", [][]byte{}},
		{"one", [][]byte{b("a")}},
		{"NULL", [][]byte{nil}},
		{"empty string", [][]byte{{}}},
		{"NULL and empty", [][]byte{nil, {}, nil, {}}},
		{"mixed", [][]byte{b("42"), nil, {}, b("alice@example.com"), nil}},
		{"250 bytes, 1-byte length", [][]byte{bytes.Repeat(b("x"), 250)}},
		{"251 bytes, 0xfc length", [][]byte{bytes.Repeat(b("x"), 251), nil}},
		{"65535 bytes", [][]byte{nil, bytes.Repeat(b("y"), 65535)}},
		{"65536 bytes, 0xfd length", [][]byte{bytes.Repeat(b("z"), 65536), b("tail")}},
		{"0xfb and 0xff inside values", [][]byte{{0xfb}, {0xff, 0xfe}, {0xfc}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := appendTextRow(nil, tc.vals)
			prefix := [][]byte{b("keep")}
			got, err := splitTextRow(prefix, payload, len(tc.vals))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1+len(tc.vals) || string(got[0]) != "keep" {
				t.Fatalf("dst prefix lost: %q", got)
			}
			got = got[1:]
			for i := range tc.vals {
				if (got[i] == nil) != (tc.vals[i] == nil) || !bytes.Equal(got[i], tc.vals[i]) {
					t.Fatalf("value %d: got %q (nil %v), want %q (nil %v)", i, got[i], got[i] == nil, tc.vals[i], tc.vals[i] == nil)
				}
			}
			if again := appendTextRow([]byte("pfx"), got); !bytes.Equal(again[3:], payload) || string(again[:3]) != "pfx" {
				t.Fatalf("re-encoding differs:\n%x\n%x", again, payload)
			}
		})
	}
}

func TestTextRowEncoding(t *testing.T) {
	got := appendTextRow(nil, [][]byte{[]byte("ab"), nil, {}, bytes.Repeat([]byte("q"), 251)})
	want := append([]byte{2, 'a', 'b', 0xfb, 0x00, 0xfc, 251, 0}, bytes.Repeat([]byte("q"), 251)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	// Servers use minimal lengths, but longer forms are still valid.
	nonMinimal := []byte{0xfc, 2, 0, 'h', 'i', 0xfd, 1, 0, 0, 'x', 0xfe, 3, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 'c'}
	vals, err := splitTextRow(nil, nonMinimal, 3)
	if err != nil || string(vals[0]) != "hi" || string(vals[1]) != "x" || string(vals[2]) != "abc" {
		t.Fatalf("non-minimal lengths: %q, %v", vals, err)
	}
	// Values alias the payload: no copies per row.
	if &vals[0][0] != &nonMinimal[3] {
		t.Error("value does not alias the payload")
	}
}

func TestTextRowMalformed(t *testing.T) {
	vals := [][]byte{[]byte("id-1"), nil, {}, bytes.Repeat([]byte("w"), 300), []byte("z")}
	good := appendTextRow(nil, vals)
	keep := [][]byte{[]byte("keep")}
	check := func(name string, payload []byte, n int) {
		t.Helper()
		got, err := splitTextRow(keep, payload, n)
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if len(got) != 1 || string(got[0]) != "keep" {
			t.Errorf("%s: dst not restored: %q", name, got)
		}
	}
	for i := 0; i < len(good); i++ {
		check(fmt.Sprintf("truncated to %d of %d", i, len(good)), good[:i], len(vals))
	}
	check("extra byte", append(bytes.Clone(good), 0x00), len(vals))
	check("extra NULL", append(bytes.Clone(good), 0xfb), len(vals))
	check("one value too few", good, len(vals)+1)
	check("one value too many", good, len(vals)-1)
	check("n=0 with data", good, 0)
	check("negative n", good, -1)
	check("ERR marker", []byte{0xff, 0x15, 0x04}, 1)
	check("2^64-1 length", append([]byte{0xfe}, le64(math.MaxUint64)...), 1)
	check("2^63 length", append([]byte{0xfe}, le64(1<<63)...), 1)
	check("0xfc length past end", []byte{0xfc, 0x10, 0x00, 'a'}, 1)
	check("0xfd truncated", []byte{0xfd, 0x10}, 1)
	check("empty payload, one column", nil, 1)
	if got, err := splitTextRow(keep, nil, 0); err != nil || len(got) != 1 {
		t.Errorf("empty payload, no columns: %q, %v", got, err)
	}
}

// --- binary rows -------------------------------------------------------------

func TestBinaryRowIdentity(t *testing.T) {
	vals := mixedRow()
	payload, cols := binaryRow(vals)
	next := 0
	got, err := rewriteBinaryRow(nil, payload, cols, func(i int, v []byte, null bool) ([]byte, bool, bool) {
		if i != next {
			t.Fatalf("f called for column %d, want %d", i, next)
		}
		next++
		if null != (vals[i].enc == nil) {
			t.Errorf("column %d: null %v", i, null)
		}
		want := seen(vals[i])
		if (v == nil) != (want == nil) || !bytes.Equal(v, want) {
			t.Errorf("column %d (type 0x%02x): f got %x, want %x", i, vals[i].typ, v, want)
		}
		return nil, false, false
	})
	if err != nil {
		t.Fatal(err)
	}
	if next != len(vals) {
		t.Fatalf("f called %d times, want %d", next, len(vals))
	}
	if len(got) != len(payload) || &got[0] != &payload[0] {
		t.Error("unchanged row was copied")
	}
	// The builder agrees with go-mysql's decoder.
	dec := decodeBinary(t, payload, cols)
	if dec[0].AsInt64() != -2 || dec[3].AsFloat64() != 3.5 || string(dec[1].AsString()) != "alice" ||
		dec[2].Type != mysql.FieldValueTypeNull || dec[13].Type != mysql.FieldValueTypeNull ||
		string(dec[8].AsString()) != "2024-03-01 13:14:15.123456" || string(dec[11].AsString()) != "-58:20:30.000500" ||
		dec[22].AsInt64() != 0x123456 || len(dec[21].AsString()) != 70000 {
		t.Errorf("go-mysql decodes the row differently: %v", dec)
	}
}

func TestBinaryRowRewrite(t *testing.T) {
	vals := mixedRow()
	payload, cols := binaryRow(vals)
	orig := bytes.Clone(payload)

	replace := map[int]*string{} // nil: make NULL
	str := func(s string) *string { return &s }
	replace[1] = str("pseudo-7f3a9c0e1b2d4e5f") // longer than "alice"
	replace[2] = str("was-null")                // NULL string column gets a value
	replace[12] = nil                           // decimal to NULL
	replace[14] = nil                           // TINY to NULL (third bitmap byte)
	replace[8] = nil                            // TIMESTAMP to NULL
	replace[16] = str("non-empty")              // '' to a value
	replace[20] = str("x")                      // 0xfc length to 1 byte
	replace[21] = str("")                       // 0xfd length to ''
	replace[13] = nil                           // NULL to NULL

	want := append([]binVal(nil), vals...)
	for i, s := range replace {
		if s == nil {
			want[i].enc = nil
		} else {
			want[i].enc = lenencStr(*s)
		}
	}
	wantRow, _ := binaryRow(want)

	got, err := rewriteBinaryRow([]byte("dst:"), payload, cols, func(i int, v []byte, null bool) ([]byte, bool, bool) {
		s, ok := replace[i]
		if !ok {
			return nil, false, false
		}
		if s == nil {
			return nil, true, true
		}
		return []byte(*s), false, true
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(got[:4]) != "dst:" {
		t.Fatalf("dst prefix lost: %q", got[:4])
	}
	got = got[4:]
	if !bytes.Equal(got, wantRow) {
		t.Fatalf("rewritten row differs:\n got %x\nwant %x", got[:min(len(got), 64)], wantRow[:min(len(wantRow), 64)])
	}
	if !bytes.Equal(payload, orig) {
		t.Fatal("input modified")
	}
	dec := decodeBinary(t, got, cols)
	if string(dec[1].AsString()) != "pseudo-7f3a9c0e1b2d4e5f" || string(dec[2].AsString()) != "was-null" ||
		dec[12].Type != mysql.FieldValueTypeNull || dec[14].Type != mysql.FieldValueTypeNull ||
		dec[15].AsInt64() != 300 || string(dec[7].AsString()) != "2024-03-01 13:14:15" {
		t.Errorf("go-mysql decodes the rewritten row as %v", dec)
	}
}

// Each column alone: NULLed, and for strings given a new value. Covers the
// first change falling on the first, a middle and the last column.
func TestBinaryRowRewriteEachColumn(t *testing.T) {
	vals := mixedRow()
	payload, cols := binaryRow(vals)
	for j := range vals {
		replacements := [][]byte{nil}
		if isLenencType(vals[j].typ) {
			replacements = append(replacements, []byte("pseudonym-"+strings.Repeat("p", 250)), []byte{})
		}
		for _, nv := range replacements {
			want := append([]binVal(nil), vals...)
			want[j].enc = nil
			if nv != nil {
				want[j].enc = lenencStr(string(nv))
			}
			wantRow, _ := binaryRow(want)
			got, err := rewriteBinaryRow(nil, payload, cols, func(i int, v []byte, null bool) ([]byte, bool, bool) {
				if i != j {
					return nil, false, false
				}
				return nv, nv == nil, true
			})
			if err != nil {
				t.Fatalf("column %d: %v", j, err)
			}
			if !bytes.Equal(got, wantRow) {
				t.Fatalf("column %d -> %.12q: row differs", j, nv)
			}
		}
	}
}

func TestBinaryRowRejectsNonStringReplacement(t *testing.T) {
	vals := mixedRow()
	payload, cols := binaryRow(vals)
	for j, v := range vals {
		if isLenencType(v.typ) {
			continue
		}
		_, err := rewriteBinaryRow(nil, payload, cols, func(i int, v []byte, null bool) ([]byte, bool, bool) {
			if i == j {
				return []byte("pseudonym"), false, true
			}
			return nil, false, false
		})
		if err == nil {
			t.Errorf("column %d (type 0x%02x): string replacement accepted", j, v.typ)
		}
	}
	// A NULL-typed column may stay NULL but never gain a value.
	row, c := binaryRow([]binVal{{mysql.MYSQL_TYPE_NULL, nil}})
	if _, err := rewriteBinaryRow(nil, row, c, func(int, []byte, bool) ([]byte, bool, bool) { return []byte("x"), false, true }); err == nil {
		t.Error("NULL-typed column given a value")
	}
	if _, err := rewriteBinaryRow(nil, row, c, identity); err != nil {
		t.Errorf("NULL-typed column: %v", err)
	}
}

func TestBinaryRowTemporalLengths(t *testing.T) {
	for _, typ := range []byte{mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_TIMESTAMP, mysql.MYSQL_TYPE_TIME} {
		for l := 0; l <= 13; l++ {
			ok := l == 0 || l == 4 || l == 7 || l == 11
			if typ == mysql.MYSQL_TYPE_TIME {
				ok = l == 0 || l == 8 || l == 12
			}
			// Wrap the value between two strings so a misread length
			// would shift the next column.
			row, cols := binaryRow([]binVal{
				{mysql.MYSQL_TYPE_VAR_STRING, lenencStr("before")},
				{typ, temporal(l)},
				{mysql.MYSQL_TYPE_VAR_STRING, lenencStr("after")},
			})
			var last []byte
			_, err := rewriteBinaryRow(nil, row, cols, func(i int, v []byte, null bool) ([]byte, bool, bool) {
				if i == 1 && !bytes.Equal(v, temporal(l)) {
					t.Errorf("type 0x%02x length %d: f got %x", typ, l, v)
				}
				last = v
				return nil, false, false
			})
			if ok && (err != nil || string(last) != "after") {
				t.Errorf("type 0x%02x length %d: %v, last value %q", typ, l, err, last)
			}
			if !ok && err == nil {
				t.Errorf("type 0x%02x length %d: accepted", typ, l)
			}
		}
	}
}

func TestBinaryRowMalformed(t *testing.T) {
	vals := mixedRow()
	vals[21].enc = lenencStr("short") // keep the truncation loop quick
	good, cols := binaryRow(vals)
	nullMe := func(i int, v []byte, null bool) ([]byte, bool, bool) { return nil, true, true }
	check := func(name string, payload []byte, cols []columnDef) {
		t.Helper()
		for _, f := range []func(int, []byte, bool) ([]byte, bool, bool){identity, nullMe} {
			if got, err := rewriteBinaryRow(nil, payload, cols, f); err == nil {
				t.Errorf("%s: no error (got %d bytes)", name, len(got))
			}
		}
	}
	for i := 0; i < len(good); i++ {
		check(fmt.Sprintf("truncated to %d of %d", i, len(good)), good[:i], cols)
	}
	check("extra byte", append(bytes.Clone(good), 0), cols)
	check("one column too many", good, append(cols, columnDef{typ: mysql.MYSQL_TYPE_TINY}))
	check("one column too few", good, cols[:len(cols)-1])
	bad := bytes.Clone(good)
	bad[0] = 0x01
	check("bad header", bad, cols)
	check("OK packet", []byte{0x00}, cols)
	check("ERR packet", []byte{0xff, 0x15, 0x04, '#'}, cols)

	str := []columnDef{{typ: mysql.MYSQL_TYPE_VAR_STRING}}
	check("NULL marker as length", []byte{0x00, 0x00, 0xfb}, str)
	check("ERR marker as length", []byte{0x00, 0x00, 0xff}, str)
	check("2^64-1 length", append([]byte{0x00, 0x00, 0xfe}, le64(math.MaxUint64)...), str)
	check("0xfc past end", []byte{0x00, 0x00, 0xfc, 0x09, 0x00, 'a'}, str)

	for _, typ := range []byte{mysql.MYSQL_TYPE_NEWDATE, mysql.MYSQL_TYPE_TIMESTAMP2, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIME2, 0x20, 0xf3} {
		check(fmt.Sprintf("unsupported type 0x%02x", typ), []byte{0x00, 0x00, 0x00}, []columnDef{{typ: typ}})
	}
	check("NULL-typed column not flagged", []byte{0x00, 0x00}, []columnDef{{typ: mysql.MYSQL_TYPE_NULL}})

	// Zero columns: header and one bitmap byte, nothing else.
	if got, err := rewriteBinaryRow(nil, []byte{0x00, 0x00}, nil, identity); err != nil || len(got) != 2 {
		t.Errorf("zero columns: %x, %v", got, err)
	}
}

// --- fuzzing -----------------------------------------------------------------

// FuzzRows feeds arbitrary bytes to every parser here. They must return an
// error or a consistent result, never panic.
func FuzzRows(f *testing.F) {
	def, _ := colDefPayload(columnDef{schema: "s", table: "t", orgTable: "t", name: "n", orgName: "n", charset: 33, length: 11, typ: mysql.MYSQL_TYPE_STRING}, nil)
	f.Add(def, []byte{mysql.MYSQL_TYPE_STRING}, uint8(1))
	f.Add(appendTextRow(nil, [][]byte{[]byte("a"), nil, {}, bytes.Repeat([]byte("x"), 300)}), []byte{}, uint8(4))
	vals := mixedRow()
	vals[21].enc = lenencStr("short")
	row, cols := binaryRow(vals)
	types := make([]byte, len(cols))
	for i, c := range cols {
		types[i] = c.typ
	}
	f.Add(row, types, uint8(len(cols)))
	small, _ := binaryRow([]binVal{{mysql.MYSQL_TYPE_LONG, le32(1)}, {mysql.MYSQL_TYPE_VAR_STRING, nil}, {mysql.MYSQL_TYPE_TIME, timeVal(8)}})
	f.Add(small, []byte{mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_TIME}, uint8(3))
	f.Add([]byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, []byte{mysql.MYSQL_TYPE_BLOB}, uint8(1))

	f.Fuzz(func(t *testing.T, data, types []byte, n uint8) {
		if d, err := parseColumnDef(data); err == nil {
			out, err := withMinLength(data, 1<<20)
			if err != nil || len(out) != len(data) {
				t.Fatalf("withMinLength on a parseable definition: %v", err)
			}
			d2, err := parseColumnDef(out)
			d.length = max(d.length, 1<<20)
			if err != nil || d2 != d {
				t.Fatalf("after withMinLength: %+v, %v; want %+v", d2, err, d)
			}
		}

		if vals, err := splitTextRow(nil, data, int(n)); err == nil {
			if len(vals) != int(n) {
				t.Fatalf("%d values, want %d", len(vals), n)
			}
			again, err := splitTextRow(nil, appendTextRow(nil, vals), int(n))
			if err != nil {
				t.Fatal(err)
			}
			for i := range vals {
				if (vals[i] == nil) != (again[i] == nil) || !bytes.Equal(vals[i], again[i]) {
					t.Fatalf("value %d changed in a round trip", i)
				}
			}
		}

		cols := make([]columnDef, min(len(types), 64))
		for i := range cols {
			cols[i].typ = types[i]
		}
		if got, err := rewriteBinaryRow(nil, data, cols, identity); err == nil && !bytes.Equal(got, data) {
			t.Fatal("identity rewrite changed the row")
		}
		mask := func(i int, v []byte, null bool) ([]byte, bool, bool) {
			if isLenencType(cols[i].typ) && i%2 == 0 {
				return []byte("masked"), false, true
			}
			return nil, true, true
		}
		if got, err := rewriteBinaryRow(nil, data, cols, mask); err == nil {
			if _, err := rewriteBinaryRow(nil, got, cols, identity); err != nil {
				t.Fatalf("masked row does not parse: %v", err)
			}
		}
	})
}

// --- against a real server ---------------------------------------------------

// testMariaDB is the MariaDB that scripts/test.sh starts (root's DSN in
// RRPROXY_TEST_MARIADB). Tests that need it fail without it, like e2e.
func testMariaDB(t *testing.T) *gosql.Config {
	t.Helper()
	dsn := os.Getenv("RRPROXY_TEST_MARIADB")
	if dsn == "" {
		t.Fatal("RRPROXY_TEST_MARIADB must be set; run ./scripts/test.sh")
	}
	cfg, err := gosql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Not while e2e has changed the server's global sql_mode, which
	// every dial vets.
	testtool.ServerLock(t, dsn, false)
	return cfg
}

// TestRowsAgainstMariaDB checks the parsers on packets a real server sends,
// for text and binary result sets over every column type. It needs the
// MariaDB that scripts/test.sh starts, and fails without it (like e2e).
func TestRowsAgainstMariaDB(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the test MariaDB; -short skips it")
	}
	cfg := testMariaDB(t)
	cc, err := client.Connect(cfg.Addr, cfg.User, cfg.Passwd, "", func(c *client.Conn) error {
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF) // as the relay's upstream connections
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	w := newWire(cc.Conn.Conn, 4096)
	send := func(payload ...byte) {
		t.Helper()
		w.seq = 0
		if err := w.writePacket(payload); err != nil {
			t.Fatal(err)
		}
		if err := w.flush(); err != nil {
			t.Fatal(err)
		}
	}
	read := func() []byte {
		t.Helper()
		p, err := w.readPacket(nil, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) > 0 && p[0] == mysql.ERR_HEADER {
			code, _, msg := parseErr(p)
			t.Fatalf("server error %d: %s", code, msg)
		}
		return p
	}
	readEOF := func() {
		t.Helper()
		if p := read(); !isEOF(p, len(p)) {
			t.Fatalf("want EOF, got %x", p)
		}
	}
	exec := func(sql string) {
		t.Helper()
		send(append([]byte{mysql.COM_QUERY}, sql...)...)
		if p := read(); p[0] != mysql.OK_HEADER {
			t.Fatalf("%s: got %x", sql, p)
		}
	}
	// readResultSet reads column definitions and rows after a column count.
	readResultSet := func(count []byte) (defs []columnDef, rows [][]byte) {
		t.Helper()
		r := reader{b: count}
		n := r.lenencInt()
		if r.err != nil {
			t.Fatal(r.err)
		}
		for range n {
			p := read()
			d, err := parseColumnDef(p)
			if err != nil {
				t.Fatalf("column definition %x: %v", p, err)
			}
			wider, err := withMinLength(p, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if d2, _ := parseColumnDef(wider); d2.length < 4096 || d2.name != d.name || d2.typ != d.typ || d2.flags != d.flags {
				t.Fatalf("withMinLength: %+v from %+v", d2, d)
			}
			defs = append(defs, d)
		}
		readEOF()
		for {
			p := read()
			if isEOF(p, len(p)) {
				return defs, rows
			}
			rows = append(rows, p)
		}
	}

	exec("CREATE TEMPORARY TABLE test.rows_t (" +
		"id BIGINT PRIMARY KEY, c CHAR(11), v VARCHAR(40), d DECIMAL(10,2), dt DATETIME(6), dt0 DATETIME, " +
		"ts TIMESTAMP(6) NULL, tm TIME(6), tm0 TIME, dd DATE, f FLOAT, db DOUBLE, ti TINYINT, si SMALLINT, " +
		"mi MEDIUMINT, i INT, y YEAR, b BLOB, tx TEXT, j JSON, e ENUM('a','b'), s SET('x','y'), bt BIT(8), " +
		"u BIGINT UNSIGNED, lb LONGBLOB)")
	exec("INSERT INTO test.rows_t VALUES " +
		"(1, 'abc', 'alice', 12.50, '2024-03-01 13:14:15.123456', '2024-03-01 00:00:00', '2024-03-01 13:14:15', " +
		"'-838:59:59.000001', '12:00:00', '2024-03-01', 1.5, 2.25, -1, 300, 70000, -5, 2024, x'00ff', 'text', " +
		"'{\"a\":1}', 'b', 'x,y', b'1010', 18446744073709551615, REPEAT('L', 70000))," +
		"(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, " +
		"NULL, NULL, NULL, NULL, NULL, NULL, NULL)," +
		"(3, '', '', 0, '2024-03-01 13:14:15', '2024-03-01 13:14:15', '2024-03-01 00:00:00', '00:00:00', " +
		"'-00:00:01', '1000-01-01', 0, -0.5, 127, -32768, -8388608, 2147483647, 1901, '', '', '[]', 'a', '', b'0', 0, '')")
	query := "SELECT *, NULL AS n, 'lit' AS l FROM test.rows_t ORDER BY id"

	send(append([]byte{mysql.COM_QUERY}, query...)...)
	textDefs, textRows := readResultSet(read())
	if len(textDefs) != 27 || len(textRows) != 3 || textDefs[1].name != "c" || textDefs[1].orgTable != "rows_t" {
		t.Fatalf("text result: %d columns, %d rows, %+v", len(textDefs), len(textRows), textDefs[1])
	}
	var text [][][]byte
	for _, p := range textRows {
		vals, err := splitTextRow(nil, p, len(textDefs))
		if err != nil {
			t.Fatalf("text row %x: %v", p, err)
		}
		if again := appendTextRow(nil, vals); !bytes.Equal(again, p) {
			t.Fatalf("text row re-encodes differently:\n%x\n%x", again, p)
		}
		text = append(text, vals)
	}

	send(append([]byte{mysql.COM_STMT_PREPARE}, query...)...)
	p := read()
	if len(p) < 12 || p[0] != 0x00 {
		t.Fatalf("prepare: %x", p)
	}
	id := binary.LittleEndian.Uint32(p[1:5])
	ncols, nparams := binary.LittleEndian.Uint16(p[5:7]), binary.LittleEndian.Uint16(p[7:9])
	for range nparams {
		read()
	}
	if nparams > 0 {
		readEOF()
	}
	for range ncols {
		read()
	}
	if ncols > 0 {
		readEOF()
	}
	send(append(append([]byte{mysql.COM_STMT_EXECUTE}, le32(id)...), 0, 1, 0, 0, 0)...)
	defs, rows := readResultSet(read())
	if len(defs) != len(textDefs) || len(rows) != len(textRows) {
		t.Fatalf("binary result: %d columns, %d rows", len(defs), len(rows))
	}
	fields := make([]*mysql.Field, len(defs))
	for i, d := range defs {
		fields[i] = &mysql.Field{Type: d.typ, Flag: d.flags}
	}
	for r, row := range rows {
		got, err := rewriteBinaryRow(nil, row, defs, func(i int, v []byte, null bool) ([]byte, bool, bool) {
			if null != (text[r][i] == nil) {
				t.Errorf("row %d column %s: binary null %v, text %q", r, defs[i].name, null, text[r][i])
			}
			if !null && isLenencType(defs[i].typ) && !bytes.Equal(v, text[r][i]) {
				t.Errorf("row %d column %s: binary %q, text %q", r, defs[i].name, v, text[r][i])
			}
			return nil, false, false
		})
		if err != nil || !bytes.Equal(got, row) {
			t.Fatalf("row %d %x: %v", r, row, err)
		}
		// Mask as the relay would: pseudonyms for strings, NULL for the
		// rest except the key. go-mysql must decode the result.
		masked, err := rewriteBinaryRow(nil, row, defs, func(i int, v []byte, null bool) ([]byte, bool, bool) {
			switch {
			case i == 0:
				return nil, false, false
			case isLenencType(defs[i].typ):
				return []byte(fmt.Sprintf("pseudo-%d-%s", i, strings.Repeat("p", 20))), false, true
			default:
				return nil, true, true
			}
		})
		if err != nil {
			t.Fatalf("row %d: mask: %v", r, err)
		}
		vals, err := mysql.RowData(masked).ParseBinary(fields, nil)
		if err != nil {
			t.Fatalf("row %d: go-mysql cannot decode the masked row: %v", r, err)
		}
		if vals[0].AsInt64() != int64(r+1) {
			t.Errorf("row %d: id %v", r, vals[0].Value())
		}
		for i := 1; i < len(vals); i++ {
			want := ""
			if isLenencType(defs[i].typ) {
				want = fmt.Sprintf("pseudo-%d-%s", i, strings.Repeat("p", 20))
			}
			if want == "" && vals[i].Type != mysql.FieldValueTypeNull || want != "" && string(vals[i].AsString()) != want {
				t.Errorf("row %d column %s: masked to %v", r, defs[i].name, vals[i].Value())
			}
		}
	}
}
