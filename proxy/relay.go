package proxy

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// The relay copies upstream responses to the client packet by packet,
// looking only at the first bytes of each packet to find where the
// response ends. Rows are never decoded or buffered: memory per session is
// the two bufio buffers, whatever the result size.

// errClientGone: writing to the client failed mid-response. The upstream
// connection still has unread packets and cannot be reused.
type errClientGone struct{ err error }

func (e errClientGone) Error() string { return "client write: " + e.err.Error() }
func (e errClientGone) Unwrap() error { return e.err }

// errUpstreamRead: the upstream connection failed or broke protocol.
type errUpstreamRead struct{ err error }

func (e errUpstreamRead) Error() string { return "upstream read: " + e.err.Error() }
func (e errUpstreamRead) Unwrap() error { return e.err }

// relayStats are what the audit log records about a response.
type relayStats struct {
	rows    int64
	bytes   int64
	errCode uint16
	errMsg  string
	status  uint16 // status flags of the final OK/EOF
	params  uint16 // PREPARE_OK: number of placeholders
}

// packetHead is the start of a forwarded logical packet: enough for any
// header the relay inspects (OK: 1 + 9 + 9 + 2 bytes).
type packetHead struct {
	b [32]byte
	k int // bytes valid in b
	n int // length of the first physical packet
}

func (h *packetHead) bytes() []byte { return h.b[:h.k] }

// forward copies one logical packet from upstream to the client, stamping
// the client's sequence ids. ERR packets are read whole and rewritten so
// that the service account's name never reaches the client.
func (s *session) forward(h *packetHead, st *relayStats) error {
	up := s.up.w
	first := true
	for {
		n, err := up.readHeader()
		if err != nil {
			return errUpstreamRead{err}
		}
		if first {
			h.n = n
			k := min(n, len(h.b))
			p, err := up.r.Peek(k)
			if err != nil {
				return errUpstreamRead{err}
			}
			h.k = copy(h.b[:], p)
			if k > 0 && p[0] == mysql.ERR_HEADER && n < maxPayload {
				payload := make([]byte, n)
				if _, err := io.ReadFull(up.r, payload); err != nil {
					return errUpstreamRead{err}
				}
				code, state, msg := parseErr(payload)
				st.errCode, st.errMsg = code, msg
				if err := s.cw.writePacket(errPacket(code, state, s.clientMessage(code, msg))); err != nil {
					return errClientGone{err}
				}
				return nil
			}
			first = false
		}
		s.cw.hdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), s.cw.seq}
		s.cw.seq++
		if _, err := s.cw.w.Write(s.cw.hdr[:]); err != nil {
			return errClientGone{err}
		}
		if err := s.copyN(n); err != nil {
			return err
		}
		st.bytes += int64(n) + 4
		if n < maxPayload {
			return nil
		}
	}
}

// refuseLocalInfile looks at the first packet of a response before any
// of it is copied to the client. The proxy never asks for local files
// (no CLIENT_LOCAL_FILES upstream), so a server asking for one is
// misbehaving; had its request reached a client with local-infile on,
// the client would have sent a file of its own.
func (s *session) refuseLocalInfile() error {
	up := s.up.w
	up.take()
	p, err := up.r.Peek(4)
	if err != nil {
		return errUpstreamRead{err}
	}
	if p[0]|p[1]|p[2] == 0 {
		return nil // empty: refused by the caller
	}
	if p, err = up.r.Peek(5); err != nil {
		return errUpstreamRead{err}
	}
	if p[4] == mysql.LocalInFile_HEADER {
		return errUpstreamRead{fmt.Errorf("%w: unexpected LOCAL INFILE request", errProtocol)}
	}
	return nil
}

// copyN moves n payload bytes from the upstream reader's buffer to the
// client writer's buffer without an intermediate allocation.
func (s *session) copyN(n int) error {
	ur := s.up.w.r
	for n > 0 {
		if ur.Buffered() == 0 {
			if _, err := ur.Peek(1); err != nil {
				return errUpstreamRead{err}
			}
		}
		k := min(n, ur.Buffered())
		b, _ := ur.Peek(k)
		if _, err := s.cw.w.Write(b); err != nil {
			return errClientGone{err}
		}
		_, _ = ur.Discard(k)
		n -= k
	}
	return nil
}

// scrubUpstream removes the service account's name from an upstream error
// message ("SELECT command denied to user 'ro_user'@'10.1.2.3'..."): the
// user sees their own name instead. Only the quoted account, as the
// server writes it ('name'@'host'), is replaced: a short name (ro) is in
// many words, and replacing it there mangled messages and the probe's
// placeholders, whose names are put back first.
func (s *session) scrubUpstream(msg string) string {
	// A probe's answer names placeholders; put back what the user wrote.
	for ph, name := range s.probeNames {
		msg = strings.ReplaceAll(msg, ph, name)
	}
	if u := s.srv.pool.cfg.User; u != "" {
		msg = strings.ReplaceAll(msg, "'"+u+"'@", "'"+sanitize(s.user)+"'@")
	}
	return msg
}

// relayResult relays the response to COM_QUERY or COM_STMT_EXECUTE: OK,
// ERR, or one or more result sets (text or binary rows), following
// SERVER_MORE_RESULTS_EXISTS. An execute that opened a cursor ends after
// the column definitions; rows then come through COM_STMT_FETCH.
func (s *session) relayResult() (relayStats, error) {
	var st relayStats
	var h packetHead
	for {
		if err := s.refuseLocalInfile(); err != nil {
			return st, err
		}
		if err := s.forward(&h, &st); err != nil {
			return st, err
		}
		p := h.bytes()
		switch {
		case len(p) == 0:
			return st, errUpstreamRead{fmt.Errorf("%w: empty response packet", errProtocol)}
		case p[0] == mysql.ERR_HEADER:
			return st, nil
		case p[0] == mysql.OK_HEADER:
			status, ok := okStatus(p)
			if !ok {
				return st, errUpstreamRead{fmt.Errorf("%w: malformed OK packet", errProtocol)}
			}
			st.status = status
			if status&mysql.SERVER_MORE_RESULTS_EXISTS != 0 {
				continue
			}
			return st, nil
		}
		r := reader{b: p}
		cols := r.lenencInt()
		if r.err != nil || cols == 0 || cols > 4096 {
			return st, errUpstreamRead{fmt.Errorf("%w: bad column count", errProtocol)}
		}
		if s.xf != nil {
			if err := s.columnDefsXf(int(cols), &st); err != nil || st.errCode != 0 {
				return st, err
			}
		} else {
			for range cols {
				if err := s.forward(&h, &st); err != nil {
					return st, err
				}
			}
		}
		if err := s.forward(&h, &st); err != nil {
			return st, err
		}
		if !isEOF(h.bytes(), h.n) {
			return st, errUpstreamRead{fmt.Errorf("%w: missing EOF after column definitions", errProtocol)}
		}
		status := eofStatus(h.bytes())
		if status&mysql.SERVER_STATUS_CURSOR_EXISTS != 0 {
			st.status = status
			return st, nil
		}
		var more bool
		var err error
		if s.xf != nil {
			more, err = s.rowsXf(&st)
		} else {
			more, err = s.relayRows(&st)
		}
		if err != nil || !more {
			return st, err
		}
	}
}

// relayRows relays rows until the terminating EOF or ERR; it reports
// whether another result set follows.
func (s *session) relayRows(st *relayStats) (more bool, err error) {
	var h packetHead
	for {
		if err := s.forward(&h, st); err != nil {
			return false, err
		}
		p := h.bytes()
		if len(p) > 0 && p[0] == mysql.ERR_HEADER {
			return false, nil
		}
		if isEOF(p, h.n) {
			st.status = eofStatus(p)
			return st.status&mysql.SERVER_MORE_RESULTS_EXISTS != 0, nil
		}
		st.rows++
	}
}

// relayPrepare relays COM_STMT_PREPARE's response and returns the new
// statement id (0 and ok=false if the upstream refused).
func (s *session) relayPrepare() (id uint32, ok bool, st relayStats, err error) {
	var h packetHead
	if err = s.forward(&h, &st); err != nil {
		return 0, false, st, err
	}
	p := h.bytes()
	if len(p) > 0 && p[0] == mysql.ERR_HEADER {
		return 0, false, st, nil
	}
	if len(p) < 12 || p[0] != mysql.OK_HEADER {
		return 0, false, st, errUpstreamRead{fmt.Errorf("%w: malformed PREPARE_OK", errProtocol)}
	}
	id = binary.LittleEndian.Uint32(p[1:5])
	cols := binary.LittleEndian.Uint16(p[5:7])
	params := binary.LittleEndian.Uint16(p[7:9])
	st.params = params
	for _, n := range []uint16{params, cols} {
		if n == 0 {
			continue
		}
		for range int(n) + 1 { // definitions, then EOF
			if err = s.forward(&h, &st); err != nil {
				return 0, false, st, err
			}
		}
		if !isEOF(h.bytes(), h.n) {
			return 0, false, st, errUpstreamRead{fmt.Errorf("%w: missing EOF in PREPARE_OK", errProtocol)}
		}
	}
	return id, true, st, nil
}

// relayFieldList relays COM_FIELD_LIST's column definitions up to EOF/ERR.
func (s *session) relayFieldList() (relayStats, error) {
	if s.xf != nil && s.xf.hide != nil {
		return s.fieldListXf()
	}
	var st relayStats
	var h packetHead
	for {
		if err := s.forward(&h, &st); err != nil {
			return st, err
		}
		p := h.bytes()
		if len(p) > 0 && p[0] == mysql.ERR_HEADER || isEOF(p, h.n) {
			return st, nil
		}
	}
}

// relayOne relays a single-packet response (OK or ERR).
func (s *session) relayOne() (relayStats, error) {
	var st relayStats
	var h packetHead
	err := s.forward(&h, &st)
	if p := h.bytes(); err == nil && len(p) > 0 && p[0] == mysql.OK_HEADER {
		st.status, _ = okStatus(p)
	}
	return st, err
}
