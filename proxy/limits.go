package proxy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// Per-person limits from policy.yaml (limits:). Networks and concurrent
// sessions are checked at login; the row limit in the relay
// (transform.go); the execution time both upstream, where the server
// enforces it, and here, where a timer kills the query if the upstream
// does not.

// admit applies the login limits once the password has been checked. A
// login from outside the allowed networks gets the same 1045 as a wrong
// password, so the rule cannot be used to learn which accounts exist;
// the audit log records the real reason.
func (s *session) admit() bool {
	pol := s.srv.policies.Current()
	if err := pol.CheckNetwork(s.ident, s.remote.Addr()); err != nil {
		_ = s.authResult(errAuth, true)
		s.loginEvent("failure", err.Error())
		s.log.Info("login refused: network", "user", s.user)
		return false
	}
	s.limits = pol.LimitsFor(s.ident)
	if !s.srv.userSessions.acquire(s.user, s.limits.MaxSessions) {
		s.sendError(errPacket(mysql.ER_TOO_MANY_USER_CONNECTIONS, "42000",
			fmt.Sprintf("User '%s' already has %d sessions open through rrproxy (policy limits.max_sessions)", sanitize(s.user), s.limits.MaxSessions)))
		s.loginEvent("failure", "max_sessions reached")
		return false
	}
	s.counted = true
	return true
}

// userSessions counts open sessions per person.
type userSessions struct {
	mu sync.Mutex
	n  map[string]int
}

func (u *userSessions) acquire(user string, limit int) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n == nil {
		u.n = map[string]int{}
	}
	if limit > 0 && u.n[user] >= limit {
		return false
	}
	u.n[user]++
	return true
}

func (u *userSessions) release(user string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n[user]--; u.n[user] <= 0 {
		delete(u.n, user)
	}
}

// applyTimeLimit sets the upstream session's statement time limit, in
// the server's own variable: MariaDB's max_statement_time (seconds, all
// statements) or MySQL's max_execution_time (milliseconds, SELECT). The
// user cannot change it: neither variable is on the SET allow-list.
func (s *session) applyTimeLimit() error {
	t := s.limits.MaxExecutionTime
	if t <= 0 {
		return nil
	}
	var q string
	if strings.Contains(strings.ToLower(s.srv.pool.ServerVersion()), "mariadb") {
		q = fmt.Sprintf("SET SESSION max_statement_time = %.3f", t.Seconds())
	} else {
		q = fmt.Sprintf("SET SESSION max_execution_time = %d", t.Milliseconds())
	}
	s.upUsed = true
	return s.up.simple(mysql.COM_QUERY, []byte(q))
}

// killGrace is how long past the limit the proxy waits for the upstream
// to stop a statement itself before it kills the query.
const killGrace = 2 * time.Second

// watchTime starts the proxy's own timer for a statement; stop it when
// the statement's response has been relayed. If the timer fires, the
// proxy kills the query upstream from a separate connection (the
// session's own is busy streaming), which the upstream answers by ending
// the result with an error.
func (s *session) watchTime() (stop func()) {
	t := s.limits.MaxExecutionTime
	if t <= 0 || s.up == nil {
		return func() {}
	}
	id := s.up.id
	// Built now, on the session's goroutine: the timer's goroutine must
	// not read session state the session may be changing.
	ev := s.event("kill-query")
	// done, set under killMu by stop, means the statement has ended: a
	// timer that fires as it ends must not kill the session's next
	// statement, nor, once the session has given its connection back,
	// someone else's (close clears upID under killMu too).
	var done atomic.Bool
	timer := time.AfterFunc(t+killGrace, func() {
		s.killMu.Lock()
		if done.Load() || s.upID.Load() != id {
			s.killMu.Unlock()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := s.srv.pool.killQuery(ctx, id)
		cancel()
		s.killMu.Unlock()
		ev.Outcome, ev.Reason = "success", fmt.Sprintf("statement exceeded limits.max_execution_time (%s)", t)
		if err != nil {
			ev.Outcome, ev.Reason = "failure", ev.Reason+": "+err.Error()
		}
		_, _ = s.srv.audit.Record(ev)
		s.log.Warn("statement killed: max_execution_time", "limit", t, "err", err)
	})
	return func() {
		s.killMu.Lock() // waits for a kill under way to be answered
		done.Store(true)
		s.killMu.Unlock()
		timer.Stop()
	}
}
