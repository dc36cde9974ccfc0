package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// ErrPoolExhausted: every service-account connection is in use and none
// came free within pool.wait_timeout.
var ErrPoolExhausted = errors.New("upstream pool exhausted")

// ErrUpstream: the upstream could not be reached or broke the protocol.
var ErrUpstream = errors.New("upstream unavailable")

// UpstreamConfig says how to reach the replica as the service account.
type UpstreamConfig struct {
	Addr           string
	User           string
	Password       string // resolved secret; never logged
	TLS            *tls.Config
	ConnectTimeout time.Duration
	MaxOpen        int
	MaxIdle        int
	WaitTimeout    time.Duration
	MaxLifetime    time.Duration
	IdleTimeout    time.Duration
	// CheckSQLMode vets the upstream's session sql_mode at connect (the
	// analyser must tokenise SQL exactly as the server does).
	CheckSQLMode func(mode string) error
}

// upConn is one pooled service-account connection. After the go-mysql
// client has logged in, rrproxy talks to it through its own wire so that
// result sets can be relayed packet by packet.
type upConn struct {
	nc       net.Conn
	sock     *sockConn // nc's socket (under TLS too), for awaitReply; nil in tests with other conns
	w        *wire
	id       uint32 // upstream CONNECTION_ID(), for the audit log
	created  time.Time
	lastUsed time.Time
	charset  string // current character_set_client of the session
	db       string // current database ("" if none); COM_RESET_CONNECTION keeps it
	// restore puts the session back as it was vetted at dial after a
	// COM_RESET_CONNECTION (see reset).
	restore []byte
}

// Pool hands service-account connections to client sessions. Tokens in
// slots count open connections (in use or idle), so the upstream never
// sees more than MaxOpen from this proxy.
type Pool struct {
	cfg   UpstreamConfig
	log   *slog.Logger
	slots chan struct{}
	idle  chan *upConn

	version atomic.Pointer[string]
	closed  atomic.Bool
	mu      sync.Mutex
}

// NewPool prepares a pool; it dials nothing until asked.
func NewPool(cfg UpstreamConfig, log *slog.Logger) *Pool {
	return &Pool{cfg: cfg, log: log, slots: make(chan struct{}, cfg.MaxOpen), idle: make(chan *upConn, cfg.MaxOpen)}
}

// ServerVersion is the upstream's version string as last seen, or "" if no
// connection has been made yet.
func (p *Pool) ServerVersion() string {
	if v := p.version.Load(); v != nil {
		return *v
	}
	return ""
}

// Warm opens and returns one connection to learn the upstream's version
// and to fail fast on bad credentials at start.
func (p *Pool) Warm(ctx context.Context) error {
	c, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	p.Release(c, true)
	return nil
}

// Acquire returns an idle connection or dials a new one, waiting at most
// WaitTimeout for a free slot.
func (p *Pool) Acquire(ctx context.Context) (*upConn, error) {
	for {
		select {
		case c := <-p.idle:
			if p.fresh(c) {
				return c, nil
			}
			p.discard(c)
			continue
		default:
		}
		timer := time.NewTimer(p.cfg.WaitTimeout)
		select {
		case c := <-p.idle:
			timer.Stop()
			if p.fresh(c) {
				return c, nil
			}
			p.discard(c)
			continue
		case p.slots <- struct{}{}:
			timer.Stop()
			c, err := p.dial(ctx)
			if err != nil {
				<-p.slots
				return nil, err
			}
			return c, nil
		case <-timer.C:
			return nil, ErrPoolExhausted
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		}
	}
}

// AcquireNew dials a new connection, never reusing an idle one: for a
// session that must not inherit state an idle connection may keep (the
// database a previous session selected). It waits at most WaitTimeout
// for a free slot.
func (p *Pool) AcquireNew(ctx context.Context) (*upConn, error) {
	timer := time.NewTimer(p.cfg.WaitTimeout)
	defer timer.Stop()
	for {
		select {
		case p.slots <- struct{}{}:
			c, err := p.dial(ctx)
			if err != nil {
				<-p.slots
				return nil, err
			}
			return c, nil
		case c := <-p.idle:
			// Every slot is taken, some by idle connections: close one
			// to free its slot.
			p.discard(c)
		case <-timer.C:
			return nil, ErrPoolExhausted
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// fresh checks an idle connection before reuse: lifetime, idle time, and
// for connections idle a while, a ping (the server may have closed it).
func (p *Pool) fresh(c *upConn) bool {
	now := time.Now()
	if now.Sub(c.created) > p.cfg.MaxLifetime || now.Sub(c.lastUsed) > p.cfg.IdleTimeout {
		return false
	}
	if now.Sub(c.lastUsed) > 10*time.Second {
		return c.simple(mysql.COM_PING, nil) == nil
	}
	return true
}

// Release returns a connection. Only connections whose session state was
// reset (COM_RESET_CONNECTION answered OK) may be passed with ok=true.
func (p *Pool) Release(c *upConn, ok bool) {
	if !ok || p.closed.Load() || time.Since(c.created) > p.cfg.MaxLifetime {
		p.discard(c)
		return
	}
	c.lastUsed = time.Now()
	c.w.idle()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= p.cfg.MaxIdle {
		p.discard(c)
		return
	}
	p.idle <- c
}

func (p *Pool) discard(c *upConn) {
	_ = c.nc.Close()
	<-p.slots
}

// Close closes idle connections and refuses further use; connections in
// use are closed as their sessions end.
func (p *Pool) Close() {
	p.closed.Store(true)
	for {
		select {
		case c := <-p.idle:
			p.discard(c)
		default:
			return
		}
	}
}

func (p *Pool) dial(ctx context.Context) (*upConn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
	defer cancel()
	opt := func(c *client.Conn) error {
		// Packet formats must match what clients were offered (see
		// serverCaps): classic EOF packets, no query attributes.
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		c.UnsetCapability(mysql.CLIENT_QUERY_ATTRIBUTES)
		for _, f := range []uint32{mysql.CLIENT_MULTI_STATEMENTS, mysql.CLIENT_MULTI_RESULTS, mysql.CLIENT_PS_MULTI_RESULTS} {
			if err := c.SetCapability(f); err != nil {
				return err
			}
		}
		if p.cfg.TLS != nil {
			c.SetTLSConfig(p.cfg.TLS)
		}
		c.SetAttributes(map[string]string{"program_name": "rrproxy"})
		return c.SetCollation("utf8mb4_general_ci")
	}
	// The socket is a sockConn from the start, under TLS too.
	d := &net.Dialer{Timeout: p.cfg.ConnectTimeout}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newSockConn(c), nil
	}
	cc, err := client.ConnectWithDialer(ctx, "", p.cfg.Addr, p.cfg.User, p.cfg.Password, "", dial, opt)
	if err != nil {
		// go-mysql's message can include the user name; keep the class.
		p.log.Warn("upstream connect failed", "addr", p.cfg.Addr, "err", scrub(err.Error(), p.cfg.Password))
		return nil, fmt.Errorf("%w: connect to %s failed", ErrUpstream, p.cfg.Addr)
	}
	v := cc.GetServerVersion()
	p.version.Store(&v)
	r, err := cc.Execute("SELECT CONNECTION_ID(), @@SESSION.sql_mode")
	if err != nil {
		cc.Close()
		return nil, fmt.Errorf("%w: session probe: %v", ErrUpstream, err)
	}
	id, _ := r.GetUint(0, 0)
	// GetString's string shares the result's buffer, which Close gives
	// back to go-mysql's pool for the next dial to read into: copy the
	// mode before it is vetted and kept.
	mode, _ := r.GetString(0, 1)
	mode = strings.Clone(mode)
	r.Close()
	if p.cfg.CheckSQLMode != nil {
		if err := p.cfg.CheckSQLMode(mode); err != nil {
			cc.Close()
			return nil, fmt.Errorf("%w: %v", ErrUpstream, err)
		}
	}
	// The go-mysql client has finished its exchanges; nothing is left in
	// its read buffer (the server speaks only when asked), so its socket
	// can be taken over.
	restore, err := restoreStatement(mode)
	if err != nil {
		cc.Close()
		return nil, fmt.Errorf("%w: %v", ErrUpstream, err)
	}
	c := &upConn{nc: cc.Conn.Conn, id: uint32(id), created: time.Now(), lastUsed: time.Now(), charset: "utf8mb4", restore: restore}
	c.w = newWire(c.nc, upstreamBufSize)
	c.sock = sockOf(c.nc)
	return c, nil
}

// killQuery stops the statement running on upstream connection id, from
// a connection of its own that is closed afterwards.
func (p *Pool) killQuery(ctx context.Context, id uint32) error {
	c, err := p.dial(ctx)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	return c.simple(mysql.COM_QUERY, []byte(fmt.Sprintf("KILL QUERY %d", id)))
}

// simple sends a one-packet command and expects OK (COM_PING,
// COM_RESET_CONNECTION, COM_INIT_DB, a SET). It returns the ERR as an error.
func (c *upConn) simple(cmd byte, arg []byte) error {
	return c.simpleAll(append([]byte{cmd}, arg...))
}

// setCharset makes the upstream session's character set match the
// client's handshake collation, so bytes mean the same on both sides.
func (c *upConn) setCharset(cs string) error {
	if cs == c.charset {
		return nil
	}
	if err := c.simple(mysql.COM_QUERY, []byte("SET NAMES "+cs)); err != nil {
		return err
	}
	c.charset = cs
	return nil
}

// reset clears session state (variables, temporary tables, prepared
// statements; not the current database) before the next user gets the
// connection. The server takes the reset session's variables from the
// global ones as they are now, not as they were when the connection was
// vetted at dial (a global ANSI_QUOTES set since would make the server
// read quotes differently from the analyser), so the vetted sql_mode and
// the handshake's character set are set again, in the same round trip.
func (c *upConn) reset() error {
	return c.restoreAfter([]byte{mysql.COM_RESET_CONNECTION})
}

// restoreSession sets the vetted sql_mode and the handshake's character
// set again after a client's own COM_RESET_CONNECTION (see reset).
func (c *upConn) restoreSession() error {
	return c.restoreAfter()
}

// restoreAfter sends cmds and then the restore statement, in one round
// trip.
func (c *upConn) restoreAfter(cmds ...[]byte) error {
	if err := c.simpleAll(append(cmds, c.restore, foundRowsReset)...); err != nil {
		return err
	}
	c.charset = "utf8mb4"
	return nil
}

// restoreStatement is the COM_QUERY that restores a session vetted with
// sql_mode mode: a server's sql_mode is a list of upper-case names.
// foundRowsReset sets FOUND_ROWS() to 0 after a reset, which does not:
// the next user of the connection read the row count of the previous
// user's last query (found by an adversarial sweep). SELECT ... INTO is
// a SELECT that answers with OK, and the variable it sets is NULL, as an
// unset one reads.
var foundRowsReset = append([]byte{mysql.COM_QUERY}, "SELECT NULL INTO @rrproxy_found_rows_reset"...)

func restoreStatement(mode string) ([]byte, error) {
	for _, r := range mode {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == ',') {
			return nil, fmt.Errorf("session probe: unexpected sql_mode %q", mode)
		}
	}
	return append([]byte{mysql.COM_QUERY}, "SET NAMES utf8mb4, SESSION sql_mode = '"+mode+"'"...), nil
}

// simpleAll sends one-packet commands in one write and expects OK to
// each: one round trip for all. It returns the first ERR as an error.
func (c *upConn) simpleAll(cmds ...[]byte) error {
	for _, cmd := range cmds {
		c.w.seq = 0
		if err := c.w.writePacket(cmd); err != nil {
			return err
		}
	}
	if err := c.w.flush(); err != nil {
		return err
	}
	var first error
	for range cmds {
		c.w.seq = 1
		p, err := c.w.readPacket(nil, 1<<20)
		if err != nil {
			return err
		}
		switch {
		case len(p) == 0:
			return fmt.Errorf("%w: empty reply", errProtocol)
		case p[0] == mysql.OK_HEADER:
		case p[0] == mysql.ERR_HEADER:
			if first == nil {
				code, state, msg := parseErr(p)
				first = &upstreamError{code: code, state: state, msg: msg}
			}
		default:
			return fmt.Errorf("%w: unexpected reply 0x%02x", errProtocol, p[0])
		}
	}
	return first
}

func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "[redacted]")
}

// upstreamError is an ERR the upstream answered to a command of the
// proxy's own (a SET, COM_INIT_DB at login).
type upstreamError struct {
	code       uint16
	state, msg string
}

func (e *upstreamError) Error() string { return fmt.Sprintf("upstream error %d: %s", e.code, e.msg) }
