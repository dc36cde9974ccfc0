package proxy

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rrproxy/rrproxy/authz"
)

// transform is what a decision asks the relay to do to a result beyond
// copying it: filter metadata rows, replace pseudonymised values, stop at
// a row limit. With no transform the relay copies packets without
// decoding them; with one, it reads one row at a time, so memory still
// does not grow with the result.
type transform struct {
	rows      authz.RowFilter
	pseudo    map[int]bool
	pseudonym func([]byte) []byte
	maxRows   int64
	hide      func(name string) bool // COM_FIELD_LIST
	scrub     bool                   // SHOW WARNINGS/ERRORS: remove the service account's name
	binary    bool                   // rows are binary protocol (COM_STMT_EXECUTE / FETCH)
	cols      []columnDef            // this result set's column definitions
	// sent counts the rows of the current execution already relayed by
	// earlier commands: a cursor's rows arrive over many COM_STMT_FETCH,
	// and max_rows bounds the statement, not each fetch.
	sent int64
}

// pseudonymWidth is the column length announced for pseudonymised
// columns: "psn-" and 24 hex digits, in up to 4-byte characters.
const pseudonymWidth = 28 * 4

// maxRowPacket bounds a row read whole for a transform. A row is one
// packet; the upstream's max_allowed_packet bounds it first.
const maxRowPacket = 1 << 30

// transformFor builds the relay transform a decision needs, or nil.
func transformFor(d authz.Decision, pol *authz.Policy, binary bool) *transform {
	if d.Rows == nil && len(d.Pseudonyms) == 0 && d.MaxRows == 0 && d.HideColumn == nil && !d.Diagnostics {
		return nil
	}
	t := &transform{rows: d.Rows, maxRows: d.MaxRows, hide: d.HideColumn, binary: binary, scrub: d.Diagnostics}
	if len(d.Pseudonyms) > 0 {
		t.pseudo = map[int]bool{}
		for _, i := range d.Pseudonyms {
			t.pseudo[i] = true
		}
		t.pseudonym = pol.Pseudonym
	}
	return t
}

// errRowLimit is sent, in place of the next row, when a result exceeds
// the user's max_rows.
var errRowLimit = errors.New("row limit")

// readUp reads one whole logical packet from the upstream.
func (s *session) readUp() ([]byte, error) {
	p, err := s.up.w.readPacket(s.upBuf, maxRowPacket)
	if err != nil {
		return nil, errUpstreamRead{err}
	}
	if cap(p) <= 1<<20 {
		s.upBuf = p
	}
	return p, nil
}

// writeClient writes one logical packet to the client, continuing its
// sequence.
func (s *session) writeClient(p []byte, st *relayStats) error {
	if err := s.cw.writePacket(p); err != nil {
		return errClientGone{err}
	}
	st.bytes += int64(len(p)) + 4
	return nil
}

// upErr relays an upstream ERR payload, scrubbed.
func (s *session) upErr(p []byte, st *relayStats) error {
	code, state, msg := parseErr(p)
	st.errCode, st.errMsg = code, msg
	return s.writeClient(errPacket(code, state, s.clientMessage(code, msg)), st)
}

// columnDefsXf relays n column definitions, recording them and widening
// pseudonymised columns.
func (s *session) columnDefsXf(n int, st *relayStats) error {
	xf := s.xf
	xf.cols = xf.cols[:0]
	for i := range n {
		p, err := s.readUp()
		if err != nil {
			return err
		}
		if len(p) > 0 && p[0] == mysql.ERR_HEADER {
			return s.upErr(p, st)
		}
		def, err := parseColumnDef(p)
		if err != nil {
			return errUpstreamRead{fmt.Errorf("%w: %v", errProtocol, err)}
		}
		xf.cols = append(xf.cols, def)
		if xf.pseudo[i] {
			if p, err = withMinLength(p, pseudonymWidth); err != nil {
				return errUpstreamRead{fmt.Errorf("%w: %v", errProtocol, err)}
			}
		}
		if err := s.writeClient(p, st); err != nil {
			return err
		}
	}
	return nil
}

// rowsXf relays rows through the transform until the terminating EOF or
// ERR; it reports whether another result set follows.
func (s *session) rowsXf(st *relayStats) (more bool, err error) {
	xf := s.xf
	var vals [][]byte
	var out []byte
	limited := false
	for {
		p, err := s.readUp()
		if err != nil {
			return false, err
		}
		if len(p) > 0 && p[0] == mysql.ERR_HEADER {
			if limited {
				return false, nil
			}
			return false, s.upErr(p, st)
		}
		if isEOF(p, len(p)) {
			st.status = eofStatus(p)
			more = st.status&mysql.SERVER_MORE_RESULTS_EXISTS != 0
			if limited {
				if more {
					continue // drain the following result sets too
				}
				return false, nil
			}
			if err := s.writeClient(p, st); err != nil {
				return false, err
			}
			return more, nil
		}
		if limited {
			continue // draining: the client already has the error
		}
		if xf.maxRows > 0 && xf.sent+st.rows >= xf.maxRows {
			// Say so rather than cut silently: a truncated result read
			// as complete is a wrong answer.
			limited = true
			st.errCode, st.errMsg = mysql.ER_UNKNOWN_ERROR, "max_rows exceeded"
			msg := fmt.Sprintf("rrproxy: the result exceeds your limit of %d rows (policy limits.max_rows); add a LIMIT or narrow the query", xf.maxRows)
			if err := s.writeClient(errPacket(mysql.ER_UNKNOWN_ERROR, "HY000", msg), st); err != nil {
				return false, err
			}
			continue
		}
		row := p
		switch {
		case xf.binary && len(xf.pseudo) > 0:
			out, err = rewriteBinaryRow(out[:0], p, xf.cols, func(i int, v []byte, null bool) ([]byte, bool, bool) {
				if !xf.pseudo[i] || null {
					return nil, false, false
				}
				return xf.pseudonym(v), false, true
			})
			if err != nil {
				return false, errUpstreamRead{fmt.Errorf("%w: %v", errProtocol, err)}
			}
			row = out
		case !xf.binary && (xf.rows != nil || len(xf.pseudo) > 0 || xf.scrub):
			vals, err = splitTextRow(vals[:0], p, len(xf.cols))
			if err != nil {
				return false, errUpstreamRead{fmt.Errorf("%w: %v", errProtocol, err)}
			}
			keep := true
			if xf.rows != nil {
				vals, keep = xf.rows(vals)
			}
			if !keep {
				continue
			}
			if xf.scrub && s.guards && len(vals) == 3 && vals[2] != nil {
				// SHOW WARNINGS/ERRORS: Level, Code, Message, about the
				// last statement, which rrproxy rewrote.
				code, _ := strconv.ParseUint(string(vals[1]), 10, 16)
				vals[2] = []byte(s.guard.message(uint16(code), string(vals[2])))
			}
			for i := range vals {
				if xf.pseudo[i] && vals[i] != nil {
					vals[i] = xf.pseudonym(vals[i])
				}
				if xf.scrub && vals[i] != nil {
					vals[i] = []byte(s.scrubUpstream(string(vals[i])))
				}
			}
			out = appendTextRow(out[:0], vals)
			row = out
		}
		if err := s.writeClient(row, st); err != nil {
			return false, err
		}
		st.rows++
	}
}

// fieldListXf relays COM_FIELD_LIST's definitions, dropping hidden ones.
func (s *session) fieldListXf() (relayStats, error) {
	var st relayStats
	for {
		p, err := s.readUp()
		if err != nil {
			return st, err
		}
		if len(p) > 0 && p[0] == mysql.ERR_HEADER {
			return st, s.upErr(p, &st)
		}
		if isEOF(p, len(p)) {
			return st, s.writeClient(p, &st)
		}
		def, err := parseColumnDef(p)
		if err != nil {
			return st, errUpstreamRead{fmt.Errorf("%w: %v", errProtocol, err)}
		}
		if s.xf.hide != nil && s.xf.hide(def.name) {
			continue
		}
		if err := s.writeClient(p, &st); err != nil {
			return st, err
		}
	}
}

// prepared is a statement this session prepared: the id is the proof
// that its SQL passed the policy in force at PREPARE.
type prepared struct {
	sql     string // as the client sent it
	sent    string // as rrproxy prepared it upstream ("" = as sent)
	version string // policy version that allowed it
	xf      *transform
	// For the audit record of each EXECUTE: the number of placeholders,
	// the parameter types last sent, and parameters sent in pieces.
	params int
	types  []byte
	long   map[uint16]*longParam
	// longLost: a piece of a parameter sent with
	// COM_STMT_SEND_LONG_DATA could not be recorded, so it and the
	// pieces after it were not sent. The server holds part of the value,
	// so every EXECUTE is refused until the client resets the
	// statement (COM_STMT_RESET clears the server's pieces too).
	longLost bool
	text     string // label
	// audit is what the PREPARE's decision said of the statement for the
	// audit log (kinds, tables, columns, digest, shape, policy version),
	// carried into the record of every EXECUTE and FETCH of it (a RESET
	// reads nothing), so that searching the log for a table finds each
	// execution, not only the PREPARE.
	audit authz.Decision
	shape string // the label with the shape in place of the SQL (record)
}

// auditOf keeps of d what the records of a prepared statement's
// executions say: no error, no rewriting, nothing to enforce.
func auditOf(d authz.Decision) authz.Decision {
	return authz.Decision{PolicyVersion: d.PolicyVersion, Kinds: d.Kinds, Tables: d.Tables, Columns: d.Columns, Digest: d.Digest,
		Normalized: d.Normalized}
}

// record is the decision the audit record of a command on this
// statement (id) carries: the PREPARE's summary and, with
// audit.redact_literals (redact), the statement's shape named as its
// label names it, which the record then holds instead of the label and
// the parameter values. Built once, not for every execution.
func (ps *prepared) record(id uint32, redact bool) authz.Decision {
	d := ps.audit
	switch {
	case !redact || d.Normalized == "":
		d.Normalized = ""
	case ps.shape != "":
		d.Normalized = ps.shape
	default:
		ps.shape = "statement " + strconv.FormatUint(uint64(id), 10) + ": " + d.Normalized
		d.Normalized = ps.shape
	}
	return d
}

// label is how the audit log names each EXECUTE, FETCH or RESET of this
// statement, "statement <id>: <sql>": built at the first, not formatted
// again for every execution.
func (ps *prepared) label(id uint32) string {
	if ps.text == "" {
		ps.text = "statement " + strconv.FormatUint(uint64(id), 10) + ": " + ps.sql
	}
	return ps.text
}

// errPolicyChanged: the policy changed since PREPARE and now rewrites
// the statement differently; the upstream statement cannot be reused.
var errPolicyChanged = errors.New("the access policy changed since this statement was prepared and now applies differently to it; prepare it again")

// rebind checks a prepared statement again at EXECUTE when the policy
// has been reloaded since PREPARE: a revoked grant takes effect on the
// next execution, not when the client happens to re-prepare.
func (s *session) rebind(ps *prepared) authz.Decision {
	pol := s.srv.policies.Current()
	if pol.Version == ps.version {
		return authz.Decision{}
	}
	d := pol.CheckQuery(s.ident, s.checkSession(true), ps.sql)
	if d.Err != nil {
		return d
	}
	if d.SQL != ps.sent {
		d.Err = &authz.DeniedError{Rule: "policy-changed", Class: authz.ClassStatement, Msg: errPolicyChanged.Error()}
		return d
	}
	ps.version, ps.xf, ps.audit, ps.shape = pol.Version, transformFor(d, pol, true), auditOf(d), ""
	return authz.Decision{}
}
