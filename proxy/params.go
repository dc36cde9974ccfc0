package proxy

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// COM_STMT_EXECUTE carries the values bound to a prepared statement's
// placeholders. The audit record of an EXECUTE lists them, rendered as
// SQL literals, so that a reviewer reads what was asked, not just
// "statement 7".

// maxParamText bounds one rendered value in the audit log.
const maxParamText = 1024

// decodeParams renders the parameters of an EXECUTE packet (command byte
// first). types are the parameter types from an earlier EXECUTE, used
// when this one does not resend them; long marks parameters sent with
// COM_STMT_SEND_LONG_DATA. It returns the values and the types in force.
func decodeParams(pkt []byte, n int, types []byte, long map[uint16]*longParam) ([]string, []byte, error) {
	if n == 0 {
		return nil, types, nil
	}
	r := reader{b: pkt}
	r.take(1 + 4 + 1 + 4) // command, statement id, flags, iteration count
	nulls := r.take((n + 7) / 8)
	kept := types
	if r.byte1() == 1 {
		// A fresh slice: the types in force change only if this EXECUTE
		// is read whole (a refused one leaves them as they were, as the
		// server does not see it).
		types = append([]byte(nil), r.take(2*n)...)
	}
	if r.err != nil {
		return nil, kept, r.err
	}
	if len(types) != 2*n {
		return nil, kept, fmt.Errorf("parameter types were never sent")
	}
	out := make([]string, n)
	for i := range n {
		switch {
		case long[uint16(i)] != nil:
			// The server binds long data even when the NULL bit is set
			// (MariaDB's insert_params looks at long data first).
			out[i] = long[uint16(i)].String()
			continue
		case nulls[i/8]&(1<<(i%8)) != 0:
			out[i] = "NULL"
			continue
		}
		v, err := renderParam(&r, types[2*i], types[2*i+1]&0x80 != 0)
		if err != nil {
			return out[:i], kept, fmt.Errorf("parameter %d: %w", i+1, err)
		}
		out[i] = v
	}
	if r.err != nil {
		return out, kept, r.err
	}
	return out, types, nil
}

func renderParam(r *reader, typ byte, unsigned bool) (string, error) {
	enc, width, err := binaryEncoding(typ)
	if err != nil {
		return "", err
	}
	switch enc {
	case encNone:
		return "NULL", nil
	case encLenenc:
		return quoteParam(r.lenencBytes()), r.err
	case encTemporal:
		// One length byte of 0, 4, 7 or 11 (TIME: 0, 8 or 12). The server
		// reads the length as a length-encoded integer: any other first
		// byte (0xfc...) would make it read a different value from the
		// one recorded, so it is refused.
		l := r.byte1()
		if r.err == nil && !validTemporalLen(typ, l) {
			return "", fmt.Errorf("temporal value of %d bytes", l)
		}
		return renderTemporal(typ, r.take(int(l))), r.err
	}
	b := r.take(width)
	if r.err != nil {
		return "", r.err
	}
	switch typ {
	case mysql.MYSQL_TYPE_DOUBLE:
		return strconv.FormatFloat(math.Float64frombits(binary.LittleEndian.Uint64(b)), 'g', -1, 64), nil
	case mysql.MYSQL_TYPE_FLOAT:
		return strconv.FormatFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), 'g', -1, 32), nil
	}
	var u uint64
	for i := len(b) - 1; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	if unsigned {
		return strconv.FormatUint(u, 10), nil
	}
	shift := 64 - 8*uint(len(b))
	return strconv.FormatInt(int64(u<<shift)>>shift, 10), nil
}

func renderTemporal(typ byte, b []byte) string {
	if typ == mysql.MYSQL_TYPE_TIME {
		if len(b) < 8 {
			return "'00:00:00'"
		}
		sign := ""
		if b[0] == 1 {
			sign = "-"
		}
		days := binary.LittleEndian.Uint32(b[1:5])
		s := fmt.Sprintf("'%s%02d:%02d:%02d", sign, uint32(b[5])+24*days, b[6], b[7])
		if len(b) >= 12 {
			s += fmt.Sprintf(".%06d", binary.LittleEndian.Uint32(b[8:12]))
		}
		return s + "'"
	}
	if len(b) < 4 {
		return "'0000-00-00'"
	}
	s := fmt.Sprintf("'%04d-%02d-%02d", binary.LittleEndian.Uint16(b), b[2], b[3])
	if len(b) >= 7 {
		s += fmt.Sprintf(" %02d:%02d:%02d", b[4], b[5], b[6])
	}
	if len(b) >= 11 {
		s += fmt.Sprintf(".%06d", binary.LittleEndian.Uint32(b[7:11]))
	}
	return s + "'"
}

// longParam is a parameter value sent in pieces with
// COM_STMT_SEND_LONG_DATA: its first bytes, as far as the audit record
// shows them, and its whole length.
type longParam struct {
	head  []byte
	total int
}

// add appends one piece.
func (l *longParam) add(b []byte) {
	if room := maxParamText + 1 - len(l.head); room > 0 {
		l.head = append(l.head, b[:min(room, len(b))]...)
	}
	l.total += len(b)
}

// String renders the value as quoteParam does a value sent whole; a cut
// value also says how it was sent.
func (l *longParam) String() string {
	return quoteParamOf(l.head, l.total, ", sent with COM_STMT_SEND_LONG_DATA")
}

func quoteParam(v []byte) string { return quoteParamOf(v, len(v), "") }

// quoteParamOf renders a value of total bytes of which v are at hand;
// note goes into the length of a cut value.
func quoteParamOf(v []byte, total int, note string) string {
	s := string(v)
	suffix := ""
	if total > len(v) && len(s) <= maxParamText {
		suffix = fmt.Sprintf("... (%d bytes%s)", total, note)
	}
	if len(s) > maxParamText {
		cut := maxParamText
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s, suffix = s[:cut], fmt.Sprintf("... (%d bytes%s)", total, note)
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'" + suffix
}
