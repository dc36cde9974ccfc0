package auditlog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"
)

// Canonical JSON (RFC 8785, JCS) for the values audit records hold:
// strings, integers, booleans and arrays of strings. encoding/json is not
// canonical (it escapes <, >, & and U+2028/U+2029, and keeps struct
// order), and the hash chain must be reproducible by any JCS
// implementation, so records are serialized here.

// canonical appends the JCS serialization of rec to dst. Numbers must be
// json.Number integers (decode with UseNumber).
func canonical(dst []byte, rec map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(rec))
	for k := range rec {
		keys = append(keys, k)
	}
	// Member names are ASCII, where UTF-16 code-unit order (JCS) and
	// byte order agree.
	sort.Strings(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendValue(dst, rec[k]); err != nil {
			return nil, fmt.Errorf("member %q: %w", k, err)
		}
	}
	return append(dst, '}'), nil
}

func appendValue(dst []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return appendString(dst, x), nil
	case bool:
		return strconv.AppendBool(dst, x), nil
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil || n > 1<<53-1 || n < -(1<<53-1) {
			return nil, fmt.Errorf("number %s is not an integer within ±(2^53-1)", x)
		}
		return strconv.AppendInt(dst, n, 10), nil
	case int64:
		return strconv.AppendInt(dst, x, 10), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("arrays hold strings only, not %T", e)
			}
			dst = appendString(dst, s)
		}
		return append(dst, ']'), nil
	}
	return nil, fmt.Errorf("value of type %T not allowed", v)
}

// appendString writes s as JCS does: only ", \ and control characters
// escaped. Invalid UTF-8 is replaced with U+FFFD, one per run of invalid
// bytes, as bytes.ToValidUTF8 does (the statement text comes from
// clients). One pass: runs of bytes that need nothing are copied whole,
// and statement text is most of a record.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size > 1 {
				i += size // valid, and never escaped
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = utf8.AppendRune(dst, utf8.RuneError)
			for i < len(s) {
				if r, size := utf8.DecodeRuneInString(s[i:]); r != utf8.RuneError || size > 1 {
					break
				}
				i++
			}
			start = i
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			// Statement text is mostly plain ASCII: skip it eight bytes
			// at a time while no byte needs a look.
			for i+8 <= len(s) && plain8(binary.LittleEndian.Uint64([]byte(s[i:i+8]))) {
				i += 8
			}
			continue
		}
		dst = append(dst, s[start:i]...)
		i++
		start = i
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plain8 reports whether none of the eight bytes in x needs attention
// from appendString: each is printable ASCII (0x20..0x7f) and neither "
// nor \. The usual SWAR tests: a byte below 0x20, or equal to " or \
// after xor, borrows into its high bit; a byte of 0x80 or more has it.
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := func(v uint64, n uint64) uint64 { return (v - ones*n) &^ v }
	special := below(x, 0x20) | below(x^(ones*'"'), 1) | below(x^(ones*'\\'), 1) | x
	return special&highs == 0
}

// decodeLine parses one line into a record map, keeping numbers exact.
// The line must hold exactly one JSON object.
func decodeLine(line []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	if rec == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not a single JSON object")
	}
	return rec, nil
}
