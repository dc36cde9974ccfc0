package proxy

import (
	"fmt"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rrproxy/rrproxy/authz"
)

// Cancelling a running statement. Clients cancel by opening a second
// connection and sending KILL [QUERY] with the id CONNECTION_ID() gave
// them, which through rrproxy is the upstream connection their session
// has pinned. rrproxy answers KILL itself: for a session of the same
// person (same identity source and user), it stops the running statement
// upstream (KILL QUERY on the replica, sent over this session's own
// upstream connection) and, for KILL [CONNECTION], also ends that client
// session. Any other id, including another person's session, gets the
// server's answer for an id that does not exist, so KILL cannot be used
// to learn about other people's sessions.

// erNoSuchThread is MySQL's ER_NO_SUCH_THREAD.
const erNoSuchThread = 1094

// sessionByUpstream finds the live session whose pinned upstream
// connection has id and which belongs to owner.
func (srv *Server) sessionByUpstream(id uint32, owner string) *session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for sess := range srv.sessions {
		if o := sess.owner.Load(); o != nil && *o == owner && sess.upID.Load() == id {
			return sess
		}
	}
	return nil
}

func (s *session) kill(sql string, id uint64, queryOnly bool) error {
	var target *session
	if owner := s.owner.Load(); owner != nil && id <= uint64(^uint32(0)) {
		target = s.srv.sessionByUpstream(uint32(id), *owner)
	}
	if target != nil {
		// Until the replica has answered, the target cannot give its
		// connection back to the pool; if it already has, it is gone.
		target.killMu.Lock()
		defer target.killMu.Unlock()
		if target.upID.Load() != uint32(id) {
			target = nil
		}
	}
	pol := s.srv.policies.Current()
	// The statement's only literal is the connection id: nothing to redact.
	ev := s.statementEvent("query", sql, authz.Decision{PolicyVersion: pol.Version, Kinds: []string{"kill"}})
	if target == nil {
		ev.Phase, ev.Outcome, ev.Rule = "denied", "failure", "own-sessions"
		ev.Reason = fmt.Sprintf("KILL %d: no session of %s has that id", id, s.user)
		if _, err := s.record(ev); err != nil {
			s.replyErr(err, 0)
			return nil
		}
		s.sendError(errPacket(erNoSuchThread, "HY000", "Unknown thread id: "+strconv.FormatUint(id, 10)))
		return nil
	}
	ev.Phase, ev.Outcome = "intent", "unknown"
	intent, err := s.record(ev)
	if err != nil {
		s.replyErr(err, 0)
		return nil
	}
	start := time.Now()
	// KILL QUERY on the replica stops the statement and leaves the pooled
	// connection usable; it runs over this session's own connection.
	s.upUsed = true
	err = s.up.simple(mysql.COM_QUERY, []byte("KILL QUERY "+strconv.FormatUint(id, 10)))
	st := relayStats{}
	if ue, ok := err.(*upstreamError); ok {
		st.errCode, st.errMsg = ue.code, ue.msg
		s.sendError(errPacket(ue.code, ue.state, s.scrubUpstream(ue.msg)))
	} else if err != nil {
		s.upOK = false
		return errUpstreamRead{err}
	} else {
		if !queryOnly {
			// KILL [CONNECTION]: the client session ends too.
			_ = target.conn.Close()
		}
		if err := s.cw.writePacket(okPacket(mysql.SERVER_STATUS_AUTOCOMMIT, "")); err != nil {
			return errClientGone{err}
		}
	}
	s.outcome("query", intent, start, st)
	return nil
}
