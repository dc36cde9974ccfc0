package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
	"github.com/rrproxy/rrproxy/internal/proxyproto"
)

// session is one client connection. All its methods run on the session's
// own goroutine, except interruptIfIdle (Shutdown).
type session struct {
	srv  *Server
	id   uint32
	conn net.Conn // the client connection, TLS once the handshake switches
	// sock is the client's socket, set once: other goroutines (Shutdown)
	// set its deadline or close it while the handshake may be replacing
	// conn with its TLS connection.
	sock   net.Conn
	cw     *wire
	log    *slog.Logger
	salt   []byte
	remote netip.AddrPort
	// via is the load balancer the connection came through, when its
	// PROXY header named the client (remote); otherwise invalid.
	via netip.AddrPort
	tls *tls.ConnectionState
	// idleDeadline is the read deadline last set on conn (loop).
	idleDeadline time.Time
	// origin is the audit records' who-and-from-where, encoded once at
	// login (event).
	origin *auditlog.Origin
	// outcomeOrigin is the part of origin an outcome record repeats: the
	// user and the session. Everything else about the connection is in
	// the intent record it names (rrproxy.intent_sequence), in the same
	// hash chain; repeating it made the outcome record 800 bytes instead
	// of about 510, and the log's bytes are most of what the audit costs.
	outcomeOrigin *auditlog.Origin
	// evIntent and evOutcome hold a statement's two audit records while
	// they are built (statementEvent, outcome).
	evIntent, evOutcome auditlog.Event

	user  string
	ident *authz.Identity
	// upNC is the pinned upstream socket, published for a forced
	// shutdown, which must also wake a session blocked reading from the
	// replica (a long query).
	upNC atomic.Pointer[net.Conn]
	// upID is the pinned upstream connection's id (what the client's
	// CONNECTION_ID() returns) and owner who the session belongs to,
	// published for another session's KILL of this one.
	upID  atomic.Uint32
	owner atomic.Pointer[string]
	// killMu is held by a KILL of this session's statement from the
	// moment it has found the session until the replica has answered,
	// and by close while it clears upID, before the connection goes
	// back to the pool: a KILL never reaches a connection that has
	// meanwhile been given to someone else.
	killMu sync.Mutex
	// authReason is why a single sign-on login was refused, for the
	// audit log only.
	authReason              string
	authIssuer, authSubject string
	attrs                   map[string]string
	connected               bool   // the connect record is written (close writes the disconnect)
	charset                 string // the handshake's, restored after a reset
	// singleByte is the single-byte client character set (latin1,
	// binary, ascii) the session is or may be in, from the handshake or
	// a SET NAMES, or "" for UTF-8: statements must then be ASCII
	// (authz.Session.SingleByteCharset). A SET back to utf8mb4 does not
	// clear it (it could fail upstream); a reset does.
	singleByte string
	db         string
	multi      bool // CLIENT_MULTI_STATEMENTS in force

	up   *upConn
	upOK bool // upstream connection is between commands and reusable
	// upUsed: something that may leave state behind in the upstream
	// session (a client's command, the statement time limit, a catalog
	// query) has been sent on up, so close must reset it before the
	// pool hands it to another user. The proxy's own login setup
	// (character set, database) is not such state: the next session
	// sets both again itself.
	upUsed bool
	stmts  map[uint32]*prepared // prepared statements this session made
	buf    []byte
	upBuf  []byte     // one upstream packet, when a transform reads rows whole
	xf     *transform // what the current command's relay must do to the result
	// probeNames maps placeholders to the user's names while a probe's
	// answer is relayed (authz/probe.go).
	probeNames map[string]string
	// guard, while guards is set, checks the upstream's error messages about the
	// statement in flight, or for SHOW WARNINGS/ERRORS the last one:
	// rrproxy rewrote it, and its messages may quote what the policy
	// hides (guard.go).
	guard   messageGuard
	guards  bool     // guard is in force
	params  []string // bound values of the EXECUTE being recorded
	limits  authz.Limits
	counted bool // holds a userSessions slot

	mu   sync.Mutex
	busy bool // a command is in progress
	quit bool // shutdown asked the session to stop

	started               time.Time
	nStmts, nRows, nBytes int64
}

func newSession(srv *Server, c net.Conn) *session {
	s := &session{srv: srv, id: srv.nextID.Add(1), conn: c, sock: c, cw: newWire(c, clientBufSize),
		stmts: map[uint32]*prepared{}, started: time.Now()}
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		s.remote = ap
	}
	s.log = srv.log.With("conn", s.id, "client", c.RemoteAddr().String())
	return s
}

func (s *session) sendError(p []byte) {
	_ = s.cw.writeFlush(p)
}

func (s *session) interruptIfIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quit = true
	if !s.busy {
		_ = s.sock.SetReadDeadline(time.Now())
	}
}

func (s *session) setBusy(b bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy = b
	return s.quit
}

// event starts an audit event carrying the session's identity.
func (s *session) event(action string) *auditlog.Event {
	return s.eventInto(new(auditlog.Event), action)
}

// eventInto fills ev as event does. The two records of every statement
// are built in the session's own evIntent and evOutcome, not allocated:
// an Event is about 700 bytes, and allocating two per statement was
// most of the proxy's garbage (a GC cycle every few thousand
// statements). Both are recorded before the next statement is read, and
// nothing keeps them.
func (s *session) eventInto(ev *auditlog.Event, action string) *auditlog.Event {
	if s.origin != nil {
		// Logged in: who and from where are final, and encoded once.
		*ev = auditlog.Event{Action: action, Origin: s.origin, Database: s.db}
		if s.up != nil {
			ev.Upstream = s.up.id
		}
		return ev
	}
	c := s.formatConn()
	*ev = auditlog.Event{Action: action, User: s.user, Source: c.source, SourceIP: c.ip, SourcePort: c.port,
		SessionID: s.id, Database: s.db, Host: s.srv.host, TLS: c.tls, Cipher: c.cipher, Client: c.client,
		ClientVersion: c.clientVersion, Via: c.via}
	if s.ident != nil {
		ev.IDSource, ev.Groups = s.ident.Source, s.ident.Groups
		ev.Subject, ev.Credential = s.ident.Subject, s.ident.Credential
	}
	if s.up != nil {
		ev.Upstream = s.up.id
	}
	return ev
}

// eventConn is what every audit record says about the connection itself.
type eventConn struct {
	source, ip  string
	via         string
	port        int
	tls, cipher string
	client      string // program and driver: "mysql (libmariadb)"
	// clientVersion is the driver's version: with the program's name it
	// tells a reviewer which build of a BI tool's connector ran.
	clientVersion string
}

func (s *session) formatConn() eventConn {
	c := eventConn{source: s.remote.String()}
	if s.remote.IsValid() {
		c.ip, c.port = s.remote.Addr().Unmap().String(), int(s.remote.Port())
	}
	if s.via.IsValid() {
		c.via = s.via.String()
	}
	if s.tls != nil {
		c.tls, c.cipher = tls.VersionName(s.tls.Version), tls.CipherSuiteName(s.tls.CipherSuite)
	}
	if s.attrs != nil {
		c.client = s.attrs["_client_name"]
		if p := s.attrs["program_name"]; p != "" {
			c.client = p + " (" + c.client + ")"
		}
		c.clientVersion = s.attrs["_client_version"]
	}
	return c
}

func (s *session) record(ev *auditlog.Event) (uint64, error) {
	seq, err := s.srv.audit.Record(ev)
	if m := s.srv.cfg.Metrics; m != nil {
		switch {
		case err != nil:
			m.AuditFailures.Inc()
		case ev.Action == "statement" && ev.Phase == "intent":
			m.allowed.Inc()
		case ev.Action == "statement" && ev.Phase == "denied":
			m.denied.Inc()
		case ev.Action == "login":
			m.Logins.WithLabelValues(ev.Outcome).Inc()
		case ev.Action == "connect" && ev.Outcome == "success": // a refused connection never has a disconnect record
			m.Sessions.Inc()
		case ev.Action == "disconnect":
			m.Sessions.Dec()
		}
	}
	if err != nil {
		s.log.Error("audit write failed; refusing statements until it recovers", "err", err)
		return 0, fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
	}
	return seq, nil
}

// run is the whole life of a session: handshake under a deadline, then
// the command loop.
func (s *session) run(ctx context.Context) {
	// The deadline covers TLS and login so that an unauthenticated client
	// cannot hold a connection slot open by stalling.
	_ = s.conn.SetDeadline(time.Now().Add(s.srv.cfg.HandshakeTimeout))
	if !s.readProxyHeader() {
		return
	}
	addr := s.remote.Addr()
	if !s.srv.handshakes.enter(addr) {
		s.tooManyHandshakes()
		return
	}
	inHandshake := true
	leave := func() {
		if inHandshake {
			inHandshake = false
			s.srv.handshakes.leave(addr)
		}
	}
	defer leave()
	salt, err := newScramble()
	if err != nil {
		s.log.Error("scramble", "err", err)
		return
	}
	// Every connection is on record before anything else happens, even
	// one that never logs in; no audit, no connection.
	ev := s.event("connect")
	ev.Outcome = "success"
	if _, err := s.record(ev); err != nil {
		s.sendError(errPacket(mysql.ER_UNKNOWN_ERROR, "HY000", "rrproxy: the audit log cannot be written, so no connection is accepted; retry later"))
		return
	}
	s.connected = true
	s.salt = salt
	h, err := s.handshake()
	leave()
	if err != nil {
		s.loginFailed(err)
		return
	}
	s.attrs = h.attrs
	s.user = s.ident.User
	// Who and from where are final now: every later record of the
	// session takes them encoded once (two records per statement would
	// otherwise format and encode them each time).
	o, err := auditlog.NewOrigin(s.event(""))
	if err == nil {
		s.origin = o
		who := s.outcomeWho()
		o, err = auditlog.NewOrigin(&who)
		s.outcomeOrigin = o
	}
	if err != nil {
		s.origin, s.outcomeOrigin = nil, nil
		s.log.Warn("audit origin not encoded once; encoding it per record", "err", err)
	}
	owner := s.ident.Source + "\x00" + s.ident.User
	s.owner.Store(&owner)
	s.log = s.log.With("user", s.user)
	s.multi = h.caps&mysql.CLIENT_MULTI_STATEMENTS != 0
	s.charset = charsetName(h.charset)
	s.singleByte = singleByteOf(s.charset)
	if !s.admit() {
		return
	}
	if err := s.attach(ctx, h.db); err != nil {
		s.replyErr(err, 0)
		s.loginEvent("failure", err.Error())
		return
	}
	// The login is on record before the client learns that it
	// succeeded: a session whose login could not be recorded never runs
	// a statement (no audit, no session), and the log never holds
	// statements of a session it has no login for.
	if !s.loginEvent("success", "") {
		s.sendError(errPacket(mysql.ER_UNKNOWN_ERROR, "HY000", "rrproxy: the audit log cannot be written, so no login is accepted; retry later"))
		return
	}
	if err := s.cw.writePacket(okPacket(mysql.SERVER_STATUS_AUTOCOMMIT, "")); err != nil {
		return
	}
	if err := s.cw.flush(); err != nil {
		return
	}
	_ = s.conn.SetDeadline(time.Time{})
	s.log.Info("session started", "tls", s.tls != nil, "db", s.db)
	s.loop(ctx)
}

// readProxyHeader takes the PROXY protocol header that a configured
// load balancer sends before anything else, and makes the client address
// it names the session's: in every audit record, for the login limits
// and for network rules. The balancer's own address is kept as via. A
// connection from a balancer without a valid header is recorded and
// closed with an error in the greeting's place: taken as it is, it
// would pass as the balancer's own address. A header from any other
// address is never looked for: the client's first bytes are then its
// login, and a header there fails as a bad handshake.
func (s *session) readProxyHeader() bool {
	if !s.remote.IsValid() || !proxyproto.Trusted(s.srv.cfg.ProxyProtocolFrom, s.remote.Addr()) {
		return true
	}
	h, err := proxyproto.Read(s.cw.r)
	if err != nil {
		s.log.Warn("connection from a load balancer without a valid PROXY protocol header", "err", err)
		var reply []byte
		if !isClosed(err) {
			// A MySQL client that sent nothing waited for the greeting
			// until the handshake deadline: it is told why.
			reply = errPacket(mysql.ER_HANDSHAKE_ERROR, "08S01", "Bad handshake: connections from this address must begin with a PROXY protocol header")
		}
		s.refuseConnect("no valid PROXY protocol header from a load balancer: "+err.Error(), reply)
		return false
	}
	if h.Local {
		return true // the balancer's own connection (a health check): its address stands
	}
	s.via, s.remote = s.remote, netip.AddrPortFrom(h.Source.Addr().Unmap(), h.Source.Port())
	s.log = s.srv.log.With("conn", s.id, "client", s.remote.String(), "via", s.via.String())
	return true
}

// tooManyHandshakes refuses a connection from an address that already
// has limits.max_handshakes_per_address connections logging in.
func (s *session) tooManyHandshakes() {
	s.log.Warn("connection refused: too many logins in progress from its address", "limit", s.srv.cfg.HandshakesPerAddress)
	s.refuseConnect("too many connections from this address are logging in (limits.max_handshakes_per_address)",
		errPacket(mysql.ER_CON_COUNT_ERROR, "08004", "rrproxy: too many connections from this address are still logging in; retry later"))
}

// refuseConnect ends a connection before its login: it is on record, as
// every connection is, as a failed connect with reason, and reply (if
// any) goes in the greeting's place, with a write deadline of its own
// (the handshake's may have passed).
func (s *session) refuseConnect(reason string, reply []byte) {
	ev := s.event("connect")
	ev.Outcome, ev.Reason = "failure", reason
	_, _ = s.record(ev) // an audit failure is logged by record
	if reply != nil {
		_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
		s.sendError(reply)
	}
}

func (s *session) loginFailed(err error) {
	switch {
	case errors.Is(err, errAuth):
		reason := "bad credentials"
		if s.authReason != "" {
			reason = s.authReason // single sign-on: the precise reason
		}
		s.loginEvent("failure", reason)
		s.log.Info("login failed", "user", sanitize(s.user), "reason", reason)
	case errors.Is(err, errTLSRequired):
		s.loginEvent("failure", "tls required")
		s.log.Info("login refused: no TLS", "user", sanitize(s.user))
	case isClosed(err):
	default:
		s.log.Info("handshake failed", "err", err)
		if errors.Is(err, errProtocol) {
			s.sendError(errPacket(mysql.ER_HANDSHAKE_ERROR, "08S01", "Bad handshake"))
		}
	}
}

// loginEvent records a login's outcome and reports whether the record
// was written. A failed write is logged and counted by record; a failed
// login is refused either way, but a successful one must not proceed.
func (s *session) loginEvent(outcome, reason string) bool {
	ev := s.event("login")
	ev.Outcome, ev.Reason = outcome, reason
	if s.ident == nil && s.authIssuer != "" {
		ev.IDSource, ev.Subject = s.authIssuer, s.authSubject
	}
	ev.User = sanitize(ev.User)
	_, err := s.record(ev)
	return err == nil
}

// attach pins an upstream connection to the session and brings it to the
// session's state: the client's character set, its database.
func (s *session) attach(ctx context.Context, db string) error {
	pol := s.srv.policies.Current()
	var probe authz.Decision
	if db != "" {
		if d := pol.CheckUseDB(s.ident, db); !d.Allowed() {
			if !d.Probe {
				return d.Err
			}
			probe = d // answered below by the server, as for a missing database
		}
	}
	for try := 0; ; try++ {
		acquire := s.srv.pool.Acquire
		if try >= 3 {
			acquire = s.srv.pool.AcquireNew
		}
		up, err := acquire(ctx)
		if err != nil {
			return err
		}
		// A reset keeps the previous session's database, and there is
		// no command to select none: a session that asked for none
		// must not inherit one. The proxy's idea of the current
		// database must be the server's (an unqualified f() is checked
		// against the current database's stored functions), so such a
		// connection is never taken; after three of them, a new one is
		// dialled.
		if db == "" && up.db != "" {
			s.srv.pool.Release(up, false)
			continue
		}
		s.up, s.upOK = up, true
		s.upNC.Store(&up.nc)
		s.upID.Store(up.id)
		break
	}
	if err := s.up.setCharset(s.charset); err != nil {
		s.upOK = false
		return fmt.Errorf("%w: set character set: %v", ErrUpstream, err)
	}
	if err := s.applyTimeLimit(); err != nil {
		s.upOK = false
		return fmt.Errorf("%w: set the statement time limit: %v", ErrUpstream, err)
	}
	if probe.Probe {
		// On record before it reaches the replica, like any statement.
		if err := s.loginInitDB(probe.SQL, probe.Err); err != nil {
			return err
		}
		err := s.up.simple(mysql.COM_INIT_DB, []byte(probe.SQL))
		var ue *upstreamError
		if errors.As(err, &ue) {
			s.probeNames = probe.ProbeNames
			ue.msg = s.scrubUpstream(ue.msg)
			s.probeNames = nil
			return fmt.Errorf("%w; %w", probe.Err, ue)
		}
		return probe.Err
	}
	if db != "" {
		if err := s.loginInitDB(db, nil); err != nil {
			return err
		}
		if err := s.up.simple(mysql.COM_INIT_DB, []byte(db)); err != nil {
			var ue *upstreamError
			if errors.As(err, &ue) {
				ue.msg = s.scrubUpstream(ue.msg)
				return ue // the server's own words
			}
			return fmt.Errorf("%w: %s", errUnknownDB, sanitize(db))
		}
		s.up.db, s.db = db, db
	}
	return nil
}

var errUnknownDB = errors.New("unknown database")

// loginInitDB records the intent to select the database named in the
// handshake before the proxy sends it upstream (denied, when it names a
// hidden database and what goes upstream is a probe).
func (s *session) loginInitDB(sent string, denied error) error {
	pol := s.srv.policies.Current()
	ev := s.event("statement")
	ev.Command, ev.Statement, ev.Kinds, ev.Policy = "init_db", sent, []string{"use"}, pol.Version
	ev.Outcome, ev.Phase, ev.Reason = "unknown", "intent", "database named at login"
	if denied != nil {
		ev.Reason = "database named at login: " + denied.Error() + "; answered as for a missing database"
	}
	_, err := s.record(ev)
	return err
}

func (s *session) close() {
	if s.counted {
		s.srv.userSessions.release(s.user)
	}
	if s.up != nil {
		ok := s.upOK
		// A session that only logged in and quit (a pool's probe, a
		// health check, a connection storm) leaves the connection as
		// the last reset left it: no second round trip for nothing.
		if ok && s.upUsed {
			if err := s.up.reset(); err != nil {
				s.log.Warn("upstream connection not pooled again: its reset failed", "err", err)
				ok = false
			}
		}
		s.killMu.Lock()
		s.upNC.Store(nil)
		s.upID.Store(0)
		s.killMu.Unlock()
		s.srv.pool.Release(s.up, ok)
		s.up = nil
	}
	if s.connected {
		// Every recorded connect has its disconnect, logged in or not:
		// a connect without one reads as a connection still open (and
		// the sessions gauge, raised at connect, comes down here).
		ev := s.event("disconnect")
		ev.Outcome = "success"
		ev.Duration = time.Since(s.started).Nanoseconds()
		ev.Rows, ev.Bytes, ev.Statements = s.nRows, s.nBytes, s.nStmts
		if s.ident == nil {
			ev.Reason = "never logged in"
		}
		_, _ = s.record(ev)
	}
	if s.ident != nil {
		s.log.Info("session ended", "statements", s.nStmts, "rows", s.nRows, "duration", time.Since(s.started).Round(time.Millisecond))
	}
	_ = s.conn.Close()
	s.cw.release()
}

// ssoEnded ends a single sign-on session whose credential was revoked
// or whose credential or token expired (beyond the grace period): the
// command is not run, the client is told why, and the audit log says so.
func (s *session) ssoEnded(cmd byte) bool {
	sso := s.srv.cfg.SSO
	if sso == nil || cmd == mysql.COM_QUIT {
		return false
	}
	err := sso.StillValid(s.ident)
	if err == nil {
		return false
	}
	ev := s.event("session-ended")
	ev.Command, ev.Outcome, ev.Reason = commandName(cmd), "failure", "single sign-on: "+err.Error()
	_, _ = s.record(ev)
	s.log.Info("sso session ended", "reason", err)
	s.sendError(errPacket(mysql.ER_ACCESS_DENIED_ERROR, "28000",
		"rrproxy: your single sign-on credential has expired or was revoked; sign in again for a new password. The command was not run."))
	_ = s.cw.flush()
	return true
}

// loop reads and answers commands until the client quits or fails.
func (s *session) loop(ctx context.Context) {
	for {
		if s.setBusy(false) {
			return
		}
		if t := s.srv.cfg.IdleTimeout; t > 0 {
			// Moving the deadline re-arms a runtime timer; doing it
			// once a second rather than per statement shortens the idle
			// timeout by at most that second. Commands never read from
			// the client, so the deadline can stay armed while one runs.
			if want := time.Now().Add(t); want.Sub(s.idleDeadline) > time.Second {
				_ = s.conn.SetReadDeadline(want)
				s.idleDeadline = want
			}
		}
		s.cw.seq = 0
		// Between statements the session holds no pooled buffers, only
		// a small reader of its own for the next command (see wire).
		if !s.cw.ownReader {
			s.cw.keepSmallReader(clientIdleReadBuf)
		}
		s.cw.idle()
		if s.up != nil {
			s.up.w.idle()
		}
		pkt, err := s.cw.readPacket(s.buf, s.srv.cfg.MaxPacket)
		if errors.Is(err, errPacketTooLarge) {
			s.sendError(errPacket(mysql.ER_NET_PACKET_TOO_LARGE, "08S01",
				fmt.Sprintf("rrproxy: command larger than limits.max_packet_mb (%d MiB) was not run", s.srv.cfg.MaxPacket>>20)))
			continue
		}
		if err != nil {
			if !isClosed(err) && !isTimeout(err) {
				s.log.Info("client read failed", "err", err)
			}
			return
		}
		if cap(pkt) <= maxKeptCommandBuf {
			s.buf = pkt // keep small buffers; let large ones go
		}
		if len(pkt) == 0 {
			s.sendError(errPacket(mysql.ER_UNKNOWN_COM_ERROR, "08S01", "rrproxy: empty command packet"))
			continue
		}
		if s.ssoEnded(pkt[0]) {
			return
		}
		s.setBusy(true)
		err = s.dispatch(ctx, pkt)
		if ferr := s.cw.flush(); err == nil && ferr != nil {
			err = errClientGone{ferr}
		}
		if err != nil {
			var gone errClientGone
			var upErr errUpstreamRead
			switch {
			case errors.Is(err, errQuit):
				return
			case errors.As(err, &gone):
				s.upOK = false
				return
			case errors.As(err, &upErr):
				s.upOK = false
				s.log.Warn("upstream failed mid-command", "err", upErr.err)
				s.replyErr(fmt.Errorf("%w: %v", ErrUpstream, upErr.err), 0)
				return
			default:
				s.log.Warn("command failed", "err", err)
				return
			}
		}
	}
}

var errQuit = errors.New("client quit")

// clientIdleReadBuf is the read buffer a session keeps between commands:
// most commands fit, and it is what an idle session costs in buffers.
const clientIdleReadBuf = 4 << 10

// maxKeptCommandBuf is the largest command buffer a session keeps between
// commands: an idle session should cost little, and a large command
// (a bulk literal) is rare enough to allocate for.
const maxKeptCommandBuf = 16 << 10

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// dispatch answers one command. Every command that reaches the upstream
// passes an authz decision and an audit record first; there is no other
// path to s.up.
func (s *session) dispatch(ctx context.Context, pkt []byte) error {
	cmd, arg := pkt[0], pkt[1:]
	switch cmd {
	case mysql.COM_QUIT:
		return errQuit
	case mysql.COM_PING:
		if !s.commandRecord(cmd, "forwarded") {
			return nil
		}
		return s.passThrough(pkt)
	case mysql.COM_STATISTICS:
		return s.statistics()
	case mysql.COM_QUERY:
		return s.query(pkt, string(arg))
	case mysql.COM_INIT_DB:
		return s.initDB(pkt, string(arg))
	case mysql.COM_FIELD_LIST:
		return s.fieldList(pkt, arg)
	case mysql.COM_STMT_PREPARE:
		return s.prepare(pkt, string(arg))
	case mysql.COM_STMT_EXECUTE, mysql.COM_STMT_FETCH, mysql.COM_STMT_RESET, mysql.COM_STMT_SEND_LONG_DATA, mysql.COM_STMT_CLOSE:
		return s.stmtCommand(cmd, pkt)
	case mysql.COM_SET_OPTION:
		return s.setOption(arg)
	case mysql.COM_RESET_CONNECTION:
		return s.resetConnection(pkt)
	default:
		// COM_CHANGE_USER (would re-authenticate on a pooled upstream),
		// binlog and replica commands, COM_SHUTDOWN, COM_PROCESS_KILL,
		// COM_DEBUG, and anything unknown.
		ev := s.event("command")
		ev.Command, ev.Outcome, ev.Reason = commandName(cmd), "failure", "command not supported"
		_, _ = s.record(ev)
		s.replyErr(fmt.Errorf("%w: %s", ErrUnknownCommand, commandName(cmd)), 0)
		return nil
	}
}

// guardFor sets (or, for a statement rrproxy did not rewrite, clears) the
// guard on upstream messages for the statement whose text is own.
func (s *session) guardFor(own string, rewritten bool) {
	if !rewritten {
		s.guards = false
		return
	}
	// A value, not a pointer: set for every rewritten statement, it must
	// not cost an allocation each time.
	s.guard, s.guards = messageGuard{own: own, db: s.db, account: s.srv.pool.cfg.User}, true
}

// clientMessage is an upstream error message as the client may see it:
// checked by the guard if the statement was rewritten, then scrubbed.
func (s *session) clientMessage(code uint16, msg string) string {
	if s.guards {
		msg = s.guard.message(code, msg)
	}
	return s.scrubUpstream(msg)
}

// send forwards a client command packet that asks for a reply to the
// pinned upstream connection.
func (s *session) send(pkt []byte) error {
	if err := s.sendCommand(pkt, true); err != nil {
		return err
	}
	// The response's sequence ids continue from the client's command:
	// s.cw.seq is already past its packets. Not the upstream's count,
	// which differs when a rewrite made the command one packet longer
	// or shorter (a statement rewritten past 16 MiB answered the client
	// from sequence 2; found by an adversarial sweep).
	return nil
}

// statistics answers COM_STATISTICS (mysqladmin status, the mariadb
// client's "status") itself, about this session, in the server's format.
// The server's own answer counts every client's queries, slow queries and
// opened tables since it started, which tells one person how busy the
// replica is with everybody else's work; the review of 2026-11-27 found
// it forwarded. It is on record like every command.
func (s *session) statistics() error {
	if !s.commandRecord(mysql.COM_STATISTICS, "answered by rrproxy") {
		return nil
	}
	up := max(time.Since(s.started), time.Second)
	s.cw.seq = 1
	return s.cw.writeFlush(fmt.Appendf(nil, "Uptime: %d  Threads: 1  Questions: %d  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: %.3f",
		int64(up/time.Second), s.nStmts, float64(s.nStmts)/up.Seconds()))
}

// commandRecord puts a command that reads no table data (PING,
// STATISTICS, STMT_CLOSE) on record, with why (reason), before it is
// forwarded or answered: every command is in the audit log. If the record
// cannot be written the command is not run, and the client gets the error
// (STMT_CLOSE has no answer).
func (s *session) commandRecord(cmd byte, reason string) bool {
	ev := s.commandEvent(cmd)
	ev.Reason = reason
	if _, err := s.record(ev); err != nil {
		if cmd != mysql.COM_STMT_CLOSE {
			s.replyErr(err, 0)
		}
		return false
	}
	return true
}

// commandEvent is the record of a command that is not a statement: no
// intent/outcome pair, one record that it was forwarded.
func (s *session) commandEvent(cmd byte) *auditlog.Event {
	ev := s.event("command")
	ev.Command, ev.Outcome, ev.Reason = commandName(cmd), "unknown", "forwarded"
	return ev
}

// passThrough forwards commands that touch no data (PING).
func (s *session) passThrough(pkt []byte) error {
	if err := s.send(pkt); err != nil {
		return err
	}
	_, err := s.relayOne()
	return err
}

// decide records the decision (and, when allowed, the intent) in the
// audit log. It returns the intent's sequence number, or an error already
// sent to the client.
func (s *session) decide(command, text string, d authz.Decision) (uint64, bool) {
	ev := s.statementEvent(command, text, d)
	if d.Shadow != "" {
		// A rule in shadow mode would have decided differently: the
		// administrator trying a new policy reads this.
		s.log.Info("shadow rule would change this decision", "shadow", d.Shadow)
	}
	if !d.Allowed() {
		refusal := d.Err
		if errors.Is(refusal, authz.ErrUnparseable) && authz.MayCarryPassword(text) {
			// The parser quotes the text near the error, which here may be
			// the password: neither the record nor the reply repeats it.
			refusal = fmt.Errorf("%w: syntax error (the text near it is not shown: the statement may hold a password)", authz.ErrUnparseable)
		}
		denied(ev, refusal, "")
		seq, err := s.record(ev)
		if err != nil {
			s.replyErr(err, 0)
			return 0, false
		}
		s.log.Info("statement denied", "rule", ev.Rule, "audit_seq", seq)
		s.replyErr(refusal, seq)
		return 0, false
	}
	ev.Outcome, ev.Phase = "unknown", "intent"
	seq, err := s.record(ev)
	if err != nil {
		s.replyErr(err, 0) // no audit, no query
		return 0, false
	}
	return seq, true
}

// statementEvent is the audit record of a decided statement or command.
func (s *session) statementEvent(command, text string, d authz.Decision) *auditlog.Event {
	ev := s.eventInto(&s.evIntent, "statement")
	ev.Command, ev.Statement, ev.Kinds, ev.Tables, ev.Columns, ev.Policy = command, text, d.Kinds, d.Tables, d.Columns, d.PolicyVersion
	ev.Rewritten, ev.Shadow, ev.Digest, ev.Parameters = d.RecordedSQL, d.Shadow, d.Digest, s.params
	switch secret := authz.MayCarryPassword(text); {
	case (s.srv.cfg.RedactLiterals || secret) && d.Normalized != "":
		// The literals of a statement can be patient data; the shape
		// and digest still say what was asked. And whatever the
		// setting, a password typed into ALTER USER ... IDENTIFIED BY
		// or SET PASSWORD (refused, but recorded) is a secret.
		ev.Statement, ev.Rewritten, ev.Parameters = d.Normalized, "", nil
	case secret:
		ev.Statement, ev.Rewritten, ev.Parameters = "<not recorded: it may hold a password and could not be normalised>", "", nil
	}
	return ev
}

// denied marks ev as a refusal by err, naming its rule.
func denied(ev *auditlog.Event, err error, note string) {
	ev.Outcome, ev.Phase, ev.Reason = "failure", "denied", err.Error()+note
	var de *authz.DeniedError
	if errors.As(err, &de) {
		ev.Rule = de.Rule
	}
}

// outcomeWho is what an outcome record says of the connection: the user
// and the session (see outcomeOrigin).
func (s *session) outcomeWho() auditlog.Event {
	return auditlog.Event{User: s.user, SessionID: s.id}
}

// outcome records how an allowed statement ended.
func (s *session) outcome(command string, intent uint64, start time.Time, st relayStats) {
	s.outcomeOf("statement", command, intent, start, st)
}

// outcomeOf records how an allowed statement or command (action, as its
// intent says) ended.
func (s *session) outcomeOf(action, command string, intent uint64, start time.Time, st relayStats) {
	s.nStmts++
	s.nRows += st.rows
	s.nBytes += st.bytes
	ev := &s.evOutcome
	if s.outcomeOrigin != nil {
		*ev = auditlog.Event{Origin: s.outcomeOrigin}
	} else {
		*ev = s.outcomeWho()
	}
	ev.Action, ev.Command, ev.Phase, ev.IntentSeq = action, command, "outcome", intent
	ev.Rows, ev.Bytes, ev.Duration = st.rows, st.bytes, time.Since(start).Nanoseconds()
	ev.Outcome = "success"
	if st.errCode != 0 {
		// error.message for SIEMs that read ECS; event.reason as well,
		// where readers of earlier logs find it.
		ev.Outcome, ev.ErrorCode, ev.Reason = "failure", st.errCode, s.scrubUpstream(st.errMsg)
		ev.ErrorMsg = ev.Reason
	}
	// The statement has run; a failure to record its outcome cannot undo
	// it, but it must be loud, and the next intent will fail closed.
	_, _ = s.record(ev)
}

// forwardChecked forwards a command that passed its decision: audit intent, send,
// relay the response with relay, audit outcome. It is the only path from
// a client command with SQL or object names to the upstream.
func (s *session) forwardChecked(command, text string, d authz.Decision, pkt []byte, relay func() (relayStats, error)) (relayStats, bool, error) {
	intent, ok := s.decide(command, text, d)
	if !ok {
		return relayStats{}, false, nil
	}
	start := time.Now()
	// The time limit covers the send too: send waits for the reply's
	// first bytes (awaitReply).
	stop := s.watchTime()
	if err := s.send(pkt); err != nil {
		stop()
		return relayStats{}, false, err
	}
	st, err := relay()
	stop()
	if err != nil {
		return st, false, err
	}
	// The client has its answer before the outcome record is built: the
	// record is still written before the next command is read, but not
	// on the statement's latency path.
	if err := s.cw.flush(); err != nil {
		s.outcome(command, intent, start, st)
		return st, false, errClientGone{err}
	}
	s.outcome(command, intent, start, st)
	return st, true, nil
}

// checkSession is the session state a decision depends on.
func (s *session) checkSession(prepared bool) authz.Session {
	return authz.Session{DB: s.db, MultiStatements: s.multi && !prepared, Catalog: s.catalog(), Prepared: prepared,
		SingleByteCharset: s.singleByte}
}

// noteCharset keeps a single-byte client character set an allowed
// statement sets (query, or prepare: it may be executed from then on).
// It is noted before the statement is sent: from then on the server may
// read the session's statements by that set's rules.
func (s *session) noteCharset(d authz.Decision) {
	if cs := singleByteOf(d.ClientCharset); cs != "" && d.Allowed() {
		s.singleByte = cs
	}
}

// singleByteOf is cs if it is a single-byte character set, else "".
func singleByteOf(cs string) string {
	if authz.SingleByteCharset(cs) {
		return cs
	}
	return ""
}

// forwardProbe answers a statement refused for naming hidden objects with
// the server's own answer to the same statement naming missing ones
// (authz/probe.go). The refusal is audited as such, with its rule; the
// probe is audited as the intent that reaches the upstream.
func (s *session) forwardProbe(command, text string, d authz.Decision, probe []byte, relay func() (relayStats, error)) error {
	ev := s.statementEvent(command, text, d)
	ev.Rewritten = "" // the probe is recorded as the intent below
	denied(ev, d.Err, "; answered as for a missing object")
	if _, err := s.record(ev); err != nil {
		s.replyErr(err, 0)
		return nil
	}
	s.log.Info("statement denied: hidden object", "rule", ev.Rule)
	// The probe's answer is the server's to the client's own statement
	// with the hidden names missing, and must read as such: not guarded.
	s.guards = false
	// The probe names placeholders where the statement named hidden
	// objects: it reads none of the tables or columns the refusal above
	// records, and its own record says none (a report of tables read
	// counted the hidden table as read).
	allow := d
	allow.Err, allow.Kinds, allow.Tables, allow.Columns = nil, []string{"probe"}, nil, nil
	s.probeNames = d.ProbeNames
	s.xf = transformFor(d, s.srv.policies.Current(), false)
	defer func() { s.probeNames, s.xf = nil, nil }()
	text = string(probe[1:])
	if text == d.SQL && d.RecordedSQL != "" {
		text = d.RecordedSQL // the ordering secret is not recorded
	}
	_, _, err := s.forwardChecked(command, text, allow, probe, relay)
	return err
}

func (s *session) query(pkt []byte, sql string) error {
	if id, queryOnly, ok := authz.KillTarget(sql); ok {
		return s.kill(sql, id, queryOnly)
	}
	pol := s.srv.policies.Current()
	d := pol.CheckQuery(s.ident, s.checkSession(false), sql)
	if d.Probe {
		return s.forwardProbe("query", sql, d, append([]byte{mysql.COM_QUERY}, d.SQL...), s.relayResult)
	}
	if d.SQL != "" {
		pkt = append([]byte{mysql.COM_QUERY}, d.SQL...)
	}
	if !d.Diagnostics {
		// SHOW WARNINGS/ERRORS read the last statement's messages, and
		// keep its guard.
		s.guardFor(sql, d.SQL != "" || len(d.Pseudonyms) > 0)
	}
	s.xf = transformFor(d, pol, false)
	defer func() { s.xf = nil }()
	s.noteCharset(d)
	st, ran, err := s.forwardChecked("query", sql, d, pkt, s.relayResult)
	if ran && d.UseDB != "" && st.errCode == 0 {
		s.db, s.up.db = d.UseDB, d.UseDB
	}
	return err
}

func (s *session) initDB(pkt []byte, db string) error {
	d := s.srv.policies.Current().CheckUseDB(s.ident, db)
	if d.Probe {
		return s.forwardProbe("init_db", db, d, append([]byte{mysql.COM_INIT_DB}, d.SQL...), s.relayOne)
	}
	s.guards = false // the client's own name, sent as written
	st, ran, err := s.forwardChecked("init_db", db, d, pkt, s.relayOne)
	if ran && st.errCode == 0 {
		s.db, s.up.db = db, db
	}
	return err
}

func (s *session) fieldList(pkt []byte, arg []byte) error {
	r := reader{b: arg}
	table := string(r.cstring())
	if r.err != nil {
		table = string(arg)
	}
	pol := s.srv.policies.Current()
	d := pol.CheckFieldList(s.ident, s.checkSession(false), table)
	if d.Probe {
		probe := append([]byte{mysql.COM_FIELD_LIST}, d.SQL...)
		probe = append(probe, 0)
		if i := bytes.IndexByte(arg, 0); i >= 0 {
			probe = append(probe, arg[i+1:]...) // the wildcard, as sent
		}
		return s.forwardProbe("field_list", table, d, probe, s.relayFieldList)
	}
	s.xf = transformFor(d, pol, false)
	// The wildcard (the columns asked for) is recorded as the command's
	// parameter, as the client sent it.
	if i := bytes.IndexByte(arg, 0); i >= 0 {
		if wild := bytes.TrimRight(arg[i+1:], "\x00"); len(wild) > 0 {
			s.params = []string{quoteParam(wild)}
		}
	}
	defer func() { s.xf, s.params = nil, nil }()
	s.guards = false // the client's own name, sent as written
	_, _, err := s.forwardChecked("field_list", table, d, pkt, s.relayFieldList)
	return err
}

func (s *session) prepare(pkt []byte, sql string) error {
	// A prepared statement is always one statement.
	pol := s.srv.policies.Current()
	d := pol.CheckQuery(s.ident, s.checkSession(true), sql)
	if d.Allowed() && d.UseDB != "" {
		d.Err = &authz.DeniedError{Rule: authz.RuleStatementKind, Class: authz.ClassStatement, Msg: "USE cannot be prepared"}
	}
	s.noteCharset(d)
	if d.Probe {
		// The server's answer to the statement with the hidden names
		// missing: an error, in practice. Should it prepare anyway, the
		// id stands for the probe, which can read nothing hidden.
		return s.forwardProbe("prepare", sql, d, append([]byte{mysql.COM_STMT_PREPARE}, d.SQL...), func() (relayStats, error) {
			id, ok, st, err := s.relayPrepare()
			if err == nil && ok {
				s.stmts[id] = &prepared{sql: d.SQL, version: pol.Version, audit: auditOf(d)}
			}
			return st, err
		})
	}
	intent, ok := s.decide("prepare", sql, d)
	if !ok {
		return nil
	}
	start := time.Now()
	if d.SQL != "" {
		pkt = append([]byte{mysql.COM_STMT_PREPARE}, d.SQL...)
	}
	s.guardFor(sql, d.SQL != "" || len(d.Pseudonyms) > 0)
	if err := s.send(pkt); err != nil {
		return err
	}
	id, ok, st, err := s.relayPrepare()
	if err != nil {
		return err
	}
	if ok {
		// The statement's masks and limits travel with its id to every
		// EXECUTE and FETCH.
		s.stmts[id] = &prepared{sql: sql, sent: d.SQL, version: pol.Version, xf: transformFor(d, pol, true), params: int(st.params),
			audit: auditOf(d)}
	}
	s.outcome("prepare", intent, start, st)
	return nil
}

// stmtCommand handles commands on a prepared statement. Only statements
// this session prepared (and so were checked) can be used: the id is the
// proof that the SQL passed the policy.
func (s *session) stmtCommand(cmd byte, pkt []byte) error {
	name := commandName(cmd)
	if len(pkt) < 5 {
		s.replyErr(fmt.Errorf("%w: %s without a statement id", errMalformed, name), 0)
		return nil
	}
	id := binary.LittleEndian.Uint32(pkt[1:5])
	if s.stmts[id] == nil {
		if cmd == mysql.COM_STMT_CLOSE || cmd == mysql.COM_STMT_SEND_LONG_DATA {
			return nil // these never answer, not even with an error
		}
		s.replyErr(fmt.Errorf("%w: %d", errUnknownStmt, id), 0)
		return nil
	}
	switch cmd {
	case mysql.COM_STMT_CLOSE:
		delete(s.stmts, id)
		if !s.commandRecord(cmd, "forwarded") {
			return nil // the upstream statement stays until the session ends
		}
		return s.sendNoReply(pkt)
	case mysql.COM_STMT_SEND_LONG_DATA:
		ps := s.stmts[id]
		if ps.longLost {
			return nil // see longLost: nothing more of this value goes up
		}
		if !s.longDataRecord(ps.label(id), pkt) {
			// This command has no reply, not even an error: the next
			// EXECUTE answers for it.
			ps.long, ps.longLost = nil, true
			return nil
		}
		if len(pkt) >= 7 {
			// Kept (its first bytes) for the EXECUTE record: the value
			// runs upstream as a parameter like any other.
			if ps.long == nil {
				ps.long = map[uint16]*longParam{}
			}
			n := binary.LittleEndian.Uint16(pkt[5:7])
			if ps.long[n] == nil {
				ps.long[n] = &longParam{}
			}
			ps.long[n].add(pkt[7:])
		}
		return s.sendNoReply(pkt)
	}
	ps := s.stmts[id]
	if cmd == mysql.COM_STMT_EXECUTE && ps.longLost {
		s.decide(name, ps.label(id), authz.Decision{Err: errLongDataLost}) // records and answers the refusal
		return nil
	}
	if cmd == mysql.COM_STMT_EXECUTE || cmd == mysql.COM_STMT_FETCH {
		// A reloaded policy applies from the next EXECUTE, and from the
		// next FETCH of an open cursor: rows fetched later are read
		// later.
		if d := s.rebind(ps); !d.Allowed() {
			s.decide(name, ps.sql, d) // records and answers the refusal
			return nil
		}
	}
	relay := s.relayOne // COM_STMT_RESET
	s.xf = ps.xf
	s.guardFor(ps.sql, ps.sent != "" || (ps.xf != nil && len(ps.xf.pseudo) > 0))
	defer func() { s.xf, s.params = nil, nil }()
	switch cmd {
	case mysql.COM_STMT_EXECUTE:
		vals, types, err := decodeParams(pkt, ps.params, ps.types, ps.long)
		if err != nil {
			// The record would not say which values were asked for (which
			// subject, which visit): not run, as a statement the analyser
			// cannot read is not.
			s.decide(name, ps.label(id), authz.Decision{Err: fmt.Errorf(
				"%w: the parameters of this EXECUTE could not be read for the audit log (%v), so it was not run", errMalformed, err)})
			return nil
		}
		ps.types, ps.long = types, nil
		s.params = vals
	case mysql.COM_STMT_RESET:
		ps.long = nil
	}
	switch cmd {
	case mysql.COM_STMT_EXECUTE:
		relay = s.relayResult
		if s.xf != nil {
			s.xf.sent = 0 // a new execution, a new result
		}
	case mysql.COM_STMT_FETCH:
		relay = s.relayFetch
	}
	// The statement's SQL was decided at PREPARE (or again by rebind);
	// its record carries that decision's summary as an allow.
	rd := authz.Decision{}
	if cmd != mysql.COM_STMT_RESET {
		rd = ps.record(id, s.srv.cfg.RedactLiterals)
	}
	_, ok, err := s.forwardChecked(name, ps.label(id), rd, pkt, relay)
	if ok && cmd == mysql.COM_STMT_RESET {
		ps.longLost = false // the server dropped its pieces too
	}
	return err
}

// longDataRecord writes the command record of a COM_STMT_SEND_LONG_DATA
// piece before it is forwarded: which statement, which parameter, how
// many bytes (the value's first bytes are in the EXECUTE's record). It
// reports whether the record was written.
func (s *session) longDataRecord(label string, pkt []byte) bool {
	ev := s.commandEvent(mysql.COM_STMT_SEND_LONG_DATA)
	ev.Statement = label
	if len(pkt) >= 7 {
		ev.Reason = fmt.Sprintf("forwarded: %d bytes of parameter %d", len(pkt)-7, binary.LittleEndian.Uint16(pkt[5:7])+1)
	}
	_, err := s.record(ev)
	return err == nil
}

// relayFetch relays COM_STMT_FETCH's rows, or its ERR.
func (s *session) relayFetch() (relayStats, error) {
	var st relayStats
	var err error
	if s.xf != nil {
		_, err = s.rowsXf(&st)
		s.xf.sent += st.rows
	} else {
		_, err = s.relayRows(&st)
	}
	return st, err
}

// sendNoReply forwards a command that has no reply (STMT_CLOSE,
// STMT_SEND_LONG_DATA).
func (s *session) sendNoReply(pkt []byte) error { return s.sendCommand(pkt, false) }

// sendCommand writes one client command packet to the pinned upstream
// connection. When the command asks for a reply, it is written inside
// the wait for that reply (awaitReply), so that the reply's first read
// finds it.
func (s *session) sendCommand(pkt []byte, reply bool) error {
	s.upUsed = true
	s.up.w.seq = 0
	var err error
	if sc := s.up.sock; reply && sc != nil {
		err = sc.awaitReply(s.up.w, pkt)
	} else {
		err = s.up.w.writeFlush(pkt)
	}
	if err != nil {
		return errUpstreamRead{err}
	}
	return nil
}

// setOption answers COM_SET_OPTION locally: the upstream connection always
// allows multi-statements, and the policy refuses them for sessions that
// have them off.
func (s *session) setOption(arg []byte) error {
	if len(arg) < 2 {
		s.replyErr(fmt.Errorf("%w: COM_SET_OPTION", errMalformed), 0)
		return nil
	}
	var on bool
	switch binary.LittleEndian.Uint16(arg) {
	case 0:
		on = true
	case 1:
	default:
		s.replyErr(fmt.Errorf("%w: unknown COM_SET_OPTION value", errMalformed), 0)
		return nil
	}
	// Answered here, never forwarded, but on record like every command:
	// it decides whether the session's queries may hold several
	// statements.
	ev := s.event("command")
	ev.Command, ev.Outcome, ev.Reason = "set_option", "success", "multi-statements off; answered by rrproxy"
	if on {
		ev.Reason = "multi-statements on; answered by rrproxy"
	}
	if _, err := s.record(ev); err != nil {
		s.replyErr(err, 0)
		return nil
	}
	s.multi = on
	s.cw.seq = 1
	return s.cw.writePacket(eofPacket(mysql.SERVER_STATUS_AUTOCOMMIT))
}

func (s *session) resetConnection(pkt []byte) error {
	ev := s.event("command")
	ev.Command, ev.Phase, ev.Outcome = "reset_connection", "intent", "unknown"
	intent, err := s.record(ev)
	if err != nil {
		s.replyErr(err, 0)
		return nil
	}
	start := time.Now()
	if err := s.send(pkt); err != nil {
		return err
	}
	st, err := s.relayOne()
	if err != nil {
		return err
	}
	// Its outcome, like a statement's: the reset's intent is otherwise
	// the only record of a command whose success or failure changes the
	// session (prepared statements, variables).
	s.outcomeOf("command", "reset_connection", intent, start, st)
	if st.errCode == 0 {
		clear(s.stmts)
		// The reset took the session's variables from the global ones:
		// the vetted sql_mode goes back (upConn.reset), then the
		// client's character set, silently, as a reset would on a
		// direct connection.
		if err := s.up.restoreSession(); err != nil {
			s.upOK = false
			return errUpstreamRead{fmt.Errorf("after a reset: %w", err)}
		}
		if err := s.up.setCharset(s.charset); err != nil {
			return errUpstreamRead{err}
		}
		s.singleByte = singleByteOf(s.charset)
		if err := s.applyTimeLimit(); err != nil {
			return errUpstreamRead{err}
		}
	}
	return nil
}

var (
	errMalformed = errors.New("malformed command")
	// errLongDataLost refuses an EXECUTE after a piece of its long data
	// could not be recorded (prepared.longLost).
	errLongDataLost = errors.New("part of a parameter value sent as long data (COM_STMT_SEND_LONG_DATA) could not be written to the audit log and was not sent, so this statement was not run; reset it (COM_STMT_RESET) or prepare it again")
	errUnknownStmt  = errors.New("unknown prepared statement")
)

// commandNames are the audit log's names for protocol commands.
var commandNames = map[byte]string{
	mysql.COM_SLEEP: "sleep", mysql.COM_QUIT: "quit", mysql.COM_INIT_DB: "init_db", mysql.COM_QUERY: "query",
	mysql.COM_FIELD_LIST: "field_list", mysql.COM_CREATE_DB: "create_db", mysql.COM_DROP_DB: "drop_db",
	mysql.COM_REFRESH: "refresh", mysql.COM_SHUTDOWN: "shutdown", mysql.COM_STATISTICS: "statistics",
	mysql.COM_PROCESS_INFO: "process_info", mysql.COM_CONNECT: "connect", mysql.COM_PROCESS_KILL: "process_kill",
	mysql.COM_DEBUG: "debug", mysql.COM_PING: "ping", mysql.COM_TIME: "time", mysql.COM_DELAYED_INSERT: "delayed_insert",
	mysql.COM_CHANGE_USER: "change_user", mysql.COM_BINLOG_DUMP: "binlog_dump", mysql.COM_TABLE_DUMP: "table_dump",
	mysql.COM_CONNECT_OUT: "connect_out", mysql.COM_REGISTER_SLAVE: "register_slave",
	mysql.COM_STMT_PREPARE: "stmt_prepare", mysql.COM_STMT_EXECUTE: "stmt_execute",
	mysql.COM_STMT_SEND_LONG_DATA: "stmt_send_long_data", mysql.COM_STMT_CLOSE: "stmt_close",
	mysql.COM_STMT_RESET: "stmt_reset", mysql.COM_SET_OPTION: "set_option", mysql.COM_STMT_FETCH: "stmt_fetch",
	mysql.COM_DAEMON: "daemon", mysql.COM_BINLOG_DUMP_GTID: "binlog_dump_gtid", mysql.COM_RESET_CONNECTION: "reset_connection",
}

func commandName(cmd byte) string {
	if n, ok := commandNames[cmd]; ok {
		return n
	}
	return fmt.Sprintf("0x%02x", cmd)
}

// charsetName maps a handshake collation id to the character set to set
// upstream. Unknown ids fall back to utf8mb4, which every client this
// proxy serves can read.
func charsetName(collation byte) string {
	switch collation {
	case 8, 48, 31, 47, 15, 5, 94:
		return "latin1"
	case 33, 83, 192, 223:
		return "utf8mb3"
	case 63:
		return "binary"
	case 11, 65:
		return "ascii"
	default:
		return "utf8mb4"
	}
}
