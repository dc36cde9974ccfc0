package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rrproxy/rrproxy/authz"
)

// ErrUnknownCommand: a protocol command rrproxy does not relay.
var ErrUnknownCommand = errors.New("command not supported by rrproxy")

// ErrAuditUnavailable: the audit log could not be written, so the
// statement was not run.
var ErrAuditUnavailable = errors.New("audit log unavailable")

// replyErr sends err to the client as a MySQL error packet. This is the
// only place that turns Go errors into MySQL error codes. seq, when not
// zero, is the audit sequence number that recorded the event, so a user
// can quote it to an administrator.
func (s *session) replyErr(err error, seq uint64) {
	code, state, msg := toMySQL(err, seq)
	s.sendError(errPacket(code, state, msg))
}

func toMySQL(err error, seq uint64) (uint16, string, string) {
	var de *authz.DeniedError
	var ue *upstreamError
	switch {
	case errors.As(err, &ue):
		// The server's own answer (already scrubbed), e.g. to the
		// database named at login: relayed as it is.
		return ue.code, ue.state, ue.msg
	case errors.As(err, &de) && de.Hidden:
		// Exactly what the server says for an object that does not
		// exist: no rule id, no audit number, nothing to tell them apart.
		switch de.Class {
		case authz.ClassSchema:
			return mysql.ER_BAD_DB_ERROR, "42000", fmt.Sprintf("Unknown database '%s'", sanitize(de.Object))
		case authz.ClassColumn:
			clause := de.Clause
			if clause == "" {
				clause = "field list"
			}
			return mysql.ER_BAD_FIELD_ERROR, "42S22", fmt.Sprintf("Unknown column '%s' in '%s'", sanitize(de.Object), clause)
		default:
			return mysql.ER_NO_SUCH_TABLE, "42S02", fmt.Sprintf("Table '%s' doesn't exist", sanitize(de.Object))
		}
	case errors.As(err, &de):
		code := map[string]uint16{
			authz.ClassSchema:    mysql.ER_DBACCESS_DENIED_ERROR,
			authz.ClassTable:     mysql.ER_TABLEACCESS_DENIED_ERROR,
			authz.ClassColumn:    mysql.ER_COLUMNACCESS_DENIED_ERROR,
			authz.ClassStatement: mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR,
			authz.ClassFunction:  mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR,
			authz.ClassVariable:  mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR,
		}[de.Class]
		if code == 0 {
			code = mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR
		}
		return code, "42000", withSeq(de.Error(), seq)
	case errors.Is(err, authz.ErrCatalog):
		return mysql.ER_UNKNOWN_ERROR, "HY000", withSeq("rrproxy could not read the replica's column list to expand SELECT *; list the columns or retry", seq)
	case errors.Is(err, authz.ErrUnparseable):
		return mysql.ER_PARSE_ERROR, "42000", withSeq("rrproxy could not analyse this statement, so it was not run: "+unwrapMsg(err), seq)
	case errors.Is(err, authz.ErrNoDatabase):
		return mysql.ER_NO_DB_ERROR, "3D000", "No database selected: " + unwrapMsg(err)
	case errors.Is(err, errLongDataLost):
		return mysql.ER_UNKNOWN_ERROR, "HY000", withSeq("rrproxy: "+err.Error(), seq)
	case errors.Is(err, ErrAuditUnavailable):
		return mysql.ER_UNKNOWN_ERROR, "HY000", "rrproxy: the audit log cannot be written, so no statement can run; retry later"
	case errors.Is(err, ErrUnknownCommand):
		return mysql.ER_UNKNOWN_COM_ERROR, "08S01", "rrproxy: " + err.Error()
	case errors.Is(err, ErrPoolExhausted):
		return mysql.ER_CON_COUNT_ERROR, "08004", "rrproxy: all replica connections are busy; retry shortly"
	case errors.Is(err, errUnknownDB):
		return mysql.ER_BAD_DB_ERROR, "42000", "rrproxy: " + err.Error()
	case errors.Is(err, errUnknownStmt):
		return mysql.ER_UNKNOWN_STMT_HANDLER, "HY000", "rrproxy: " + err.Error()
	case errors.Is(err, errMalformed):
		return mysql.ER_MALFORMED_PACKET, "HY000", "rrproxy: " + err.Error()
	case errors.Is(err, ErrUpstream):
		return mysql.ER_UNKNOWN_ERROR, "HY000", "rrproxy: the replica is unavailable; retry later"
	default:
		return mysql.ER_UNKNOWN_ERROR, "HY000", fmt.Sprintf("rrproxy internal error (audit seq %d)", seq)
	}
}

func withSeq(msg string, seq uint64) string {
	if seq == 0 {
		return msg
	}
	return fmt.Sprintf("%s (audit seq %d)", msg, seq)
}

// unwrapMsg drops the leading sentinel text ("statement not understood: ")
// so the user reads the analyser's own words once.
func unwrapMsg(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}
