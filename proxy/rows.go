package proxy

import (
	"encoding/binary"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Result-row rewriting for column masking. These functions are pure: they
// parse and re-encode single payloads, alias their input where they can,
// and return an error (never panic) on anything malformed, so the relay
// can fail closed rather than forward a row it did not understand.

// columnDef is what the relay needs from a ColumnDefinition41 packet
// payload.
type columnDef struct {
	schema, table, orgTable, name, orgName string
	charset                                uint16
	length                                 uint32
	typ                                    byte // mysql.MYSQL_TYPE_*
	flags                                  uint16
	decimals                               byte
}

// colDefFixedLen is the "length of fixed fields" every MySQL and MariaDB
// server sends: charset 2, length 4, type 1, flags 2, decimals 1, filler 2.
const colDefFixedLen = 0x0c

// columnDefLengthOffset parses a ColumnDefinition41 payload into def and
// returns the offset of its 4-byte column length. It assumes MariaDB's
// extended metadata capability is off (the upstream client never asks for
// it), so no extra string precedes the fixed fields. Bytes after the fixed
// fields (COM_FIELD_LIST's default value) are not interpreted.
func columnDefLengthOffset(payload []byte, def *columnDef) (int, error) {
	r := reader{b: payload}
	r.lenencBytes() // catalog, always "def"
	schema := r.lenencBytes()
	table := r.lenencBytes()
	orgTable := r.lenencBytes()
	name := r.lenencBytes()
	orgName := r.lenencBytes()
	fixed := r.lenencInt()
	if r.err != nil {
		return 0, fmt.Errorf("column definition: %w", r.err)
	}
	if fixed != colDefFixedLen {
		return 0, fmt.Errorf("%w: column definition: fixed fields length %d, want %d", errProtocol, fixed, colDefFixedLen)
	}
	if len(r.b) < colDefFixedLen {
		return 0, fmt.Errorf("column definition: %w", errShort)
	}
	off := len(payload) - len(r.b) + 2 // skip charset
	*def = columnDef{
		schema:   string(schema),
		table:    string(table),
		orgTable: string(orgTable),
		name:     string(name),
		orgName:  string(orgName),
		charset:  r.uint16(),
		length:   r.uint32(),
		typ:      r.byte1(),
		flags:    r.uint16(),
		decimals: r.byte1(),
	}
	return off, nil
}

// parseColumnDef decodes a ColumnDefinition41 payload.
func parseColumnDef(payload []byte) (columnDef, error) {
	var def columnDef
	_, err := columnDefLengthOffset(payload, &def)
	return def, err
}

// withMinLength returns a copy of a column definition payload whose column
// length is at least n. Pseudonyms can be longer than the real column
// (CHAR(11), say) and some clients size buffers from this length. Every
// other byte is kept, including a trailing COM_FIELD_LIST default value.
func withMinLength(payload []byte, n uint32) ([]byte, error) {
	var def columnDef
	off, err := columnDefLengthOffset(payload, &def)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), payload...)
	if def.length < n {
		binary.LittleEndian.PutUint32(out[off:], n)
	}
	return out, nil
}

// --- text protocol rows ------------------------------------------------------

// textNull marks a NULL value in a text-protocol row.
const textNull = 0xfb

// splitTextRow appends the n values of a text-protocol row payload to dst:
// nil for NULL, a non-nil empty slice for the empty string. Values alias
// payload. On error dst is returned with its original length.
func splitTextRow(dst [][]byte, payload []byte, n int) ([][]byte, error) {
	base := len(dst)
	r := reader{b: payload}
	for i := 0; i < n; i++ {
		if len(r.b) == 0 {
			return dst[:base], fmt.Errorf("%w: text row has %d values, want %d", errProtocol, i, n)
		}
		if r.b[0] == textNull {
			r.b = r.b[1:]
			dst = append(dst, nil)
			continue
		}
		v := r.lenencBytes()
		if r.err != nil {
			return dst[:base], fmt.Errorf("text row value %d: %w", i, r.err)
		}
		if v == nil {
			v = payload[:0:0] // the empty string must stay distinguishable from NULL
		}
		dst = append(dst, v)
	}
	if len(r.b) != 0 {
		return dst[:base], fmt.Errorf("%w: text row has %d bytes after %d values", errProtocol, len(r.b), n)
	}
	return dst, nil
}

// appendTextRow appends vals (nil = NULL) to dst as a text-protocol row
// payload.
func appendTextRow(dst []byte, vals [][]byte) []byte {
	for _, v := range vals {
		if v == nil {
			dst = append(dst, textNull)
			continue
		}
		dst = mysql.AppendLengthEncodedInteger(dst, uint64(len(v)))
		dst = append(dst, v...)
	}
	return dst
}

// --- binary protocol rows ----------------------------------------------------

// binaryRowHeader starts every binary-protocol result row.
const binaryRowHeader = 0x00

// binaryNullOffset: a binary row's NULL bitmap reserves its first two bits.
const binaryNullOffset = 2

// Encodings of a binary-protocol value ("Binary Protocol Value").
const (
	encFixed    = iota // fixed width, see binaryEncoding
	encTemporal        // 1-byte length then that many bytes
	encLenenc          // length-encoded string
	encNone            // MYSQL_TYPE_NULL: always NULL, no bytes
)

// binaryEncoding says how a column of type typ is encoded in a binary row.
// For encFixed, width is the byte count. Types a server never sends (the *2 and NEWDATE
// internals) are rejected rather than guessed: misreading one column would
// shift every later one.
func binaryEncoding(typ byte) (enc, width int, err error) {
	switch typ {
	case mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_DOUBLE:
		return encFixed, 8, nil
	case mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_FLOAT:
		return encFixed, 4, nil
	case mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_YEAR:
		return encFixed, 2, nil
	case mysql.MYSQL_TYPE_TINY:
		return encFixed, 1, nil
	case mysql.MYSQL_TYPE_DATE, mysql.MYSQL_TYPE_DATETIME, mysql.MYSQL_TYPE_TIMESTAMP,
		mysql.MYSQL_TYPE_TIME:
		return encTemporal, 0, nil
	case mysql.MYSQL_TYPE_DECIMAL, mysql.MYSQL_TYPE_NEWDECIMAL,
		mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_VAR_STRING, mysql.MYSQL_TYPE_STRING,
		mysql.MYSQL_TYPE_TINY_BLOB, mysql.MYSQL_TYPE_MEDIUM_BLOB, mysql.MYSQL_TYPE_LONG_BLOB,
		mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET,
		mysql.MYSQL_TYPE_BIT, mysql.MYSQL_TYPE_GEOMETRY, mysql.MYSQL_TYPE_JSON,
		mysql.MYSQL_TYPE_VECTOR:
		return encLenenc, 0, nil
	case mysql.MYSQL_TYPE_NULL:
		return encNone, 0, nil
	}
	return 0, 0, fmt.Errorf("%w: binary row: unsupported column type 0x%02x", errProtocol, typ)
}

// validTemporalLen reports whether l is an allowed length byte for a
// temporal value of type typ.
func validTemporalLen(typ, l byte) bool {
	if typ == mysql.MYSQL_TYPE_TIME {
		return l == 0 || l == 8 || l == 12
	}
	return l == 0 || l == 4 || l == 7 || l == 11
}

// binaryNullBitmapLen is the size of the NULL bitmap for n columns.
func binaryNullBitmapLen(n int) int { return (n + 7 + binaryNullOffset) / 8 }

// rewriteBinaryRow walks a binary-protocol row payload and calls f for each
// column in order with the column's raw encoded value (nil if NULL): the
// bytes after the length prefix for length-encoded types, the fixed-width
// bytes for numbers, and the length byte plus its bytes for DATE, DATETIME,
// TIMESTAMP and TIME. f returns the new value, whether it is NULL, and
// whether the column changed; v aliases payload and must not be retained.
//
// A changed column may become NULL, or, if its type is length-encoded
// (strings, decimals, blobs, JSON...), take a new string value; giving a
// number or temporal column a non-NULL value is an error, since the result
// would no longer match its column definition. The new row is appended to
// dst, which must not overlap payload; if f changed nothing, payload itself
// is returned. Malformed rows (bad header, truncated values, bad temporal
// lengths, trailing bytes) are errors, whatever f does.
func rewriteBinaryRow(dst, payload []byte, cols []columnDef, f func(i int, v []byte, null bool) (nv []byte, nnull bool, changed bool)) ([]byte, error) {
	n := len(cols)
	bmLen := binaryNullBitmapLen(n)
	if len(payload) < 1+bmLen {
		return nil, fmt.Errorf("binary row: %w", errShort)
	}
	if payload[0] != binaryRowHeader {
		return nil, fmt.Errorf("%w: binary row header 0x%02x", errProtocol, payload[0])
	}
	bitmap := payload[1 : 1+bmLen]
	pos := 1 + bmLen

	// out stays nil until the first change, so unmasked rows cost nothing;
	// outBM is the offset of the copied bitmap within out.
	var out []byte
	outBM := 0

	for i := range cols {
		typ := cols[i].typ
		enc, width, err := binaryEncoding(typ)
		if err != nil {
			return nil, fmt.Errorf("column %d: %w", i, err)
		}
		bit := i + binaryNullOffset
		null := bitmap[bit/8]&(1<<(bit%8)) != 0

		var v []byte   // what f sees
		var raw []byte // the encoded bytes to copy when unchanged
		if !null {
			rest := payload[pos:]
			switch enc {
			case encFixed:
				if len(rest) < width {
					return nil, fmt.Errorf("binary row column %d: %w", i, errShort)
				}
				v = rest[:width:width]
				raw = v
			case encTemporal:
				if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
					return nil, fmt.Errorf("binary row column %d: %w", i, errShort)
				}
				if !validTemporalLen(typ, rest[0]) {
					return nil, fmt.Errorf("%w: binary row column %d: temporal length %d for type 0x%02x", errProtocol, i, rest[0], typ)
				}
				l := 1 + int(rest[0])
				v = rest[:l:l]
				raw = v
			case encLenenc:
				r := reader{b: rest}
				v = r.lenencBytes()
				if r.err != nil {
					return nil, fmt.Errorf("binary row column %d: %w", i, r.err)
				}
				if v == nil {
					v = rest[:0:0]
				}
				l := len(rest) - len(r.b)
				raw = rest[:l:l]
			case encNone:
				return nil, fmt.Errorf("%w: binary row column %d: NULL-typed column not flagged NULL", errProtocol, i)
			}
			pos += len(raw)
		}

		nv, nnull, changed := f(i, v, null)
		if changed && !nnull && enc != encLenenc {
			return nil, fmt.Errorf("binary row column %d: cannot give a type 0x%02x column a non-NULL replacement", i, typ)
		}
		if changed && out == nil {
			// Copy header, bitmap and every value before this one.
			outBM = len(dst) + 1
			out = append(dst, payload[:pos-len(raw)]...)
		}
		if out == nil {
			continue
		}
		if !changed {
			out = append(out, raw...)
			continue
		}
		if nnull {
			out[outBM+bit/8] |= 1 << (bit % 8)
			continue
		}
		out[outBM+bit/8] &^= 1 << (bit % 8)
		out = mysql.AppendLengthEncodedInteger(out, uint64(len(nv)))
		out = append(out, nv...)
	}
	if pos != len(payload) {
		return nil, fmt.Errorf("%w: binary row has %d bytes after %d values", errProtocol, len(payload)-pos, n)
	}
	if out == nil {
		return payload, nil
	}
	return out, nil
}
