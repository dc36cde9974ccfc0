package proxy

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
)

const (
	clientBufSize   = 16 << 10
	upstreamBufSize = 64 << 10
)

// Policies gives the policy in force; *authz.Store in production.
type Policies interface{ Current() *authz.Policy }

// Recorder appends audit events; *auditlog.Writer in production. Record
// must return only once the event is durable per its configured mode.
type Recorder interface {
	Record(ev *auditlog.Event) (uint64, error)
}

// Config is the client-facing behaviour of the proxy.
type Config struct {
	TLS              *tls.Config // nil: TLS not offered (tests of plaintext paths only)
	RequireTLS       bool
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	MaxConnections   int
	MaxPacket        int
	// RedactLiterals records statements with their literals replaced by
	// '?' (audit.redact_literals).
	RedactLiterals bool
	// Metrics, if set, receives the proxy's counters.
	Metrics *Metrics
	// LoginFailures limits password guessing (limits.login_failures);
	// the zero value limits nothing.
	LoginFailures LoginLimits
	// ProxyProtocolFrom are the load balancers whose connections begin
	// with a PROXY protocol header (proxy_protocol.from); the address in
	// it is the client's. Empty: nobody may send one.
	ProxyProtocolFrom []netip.Prefix
	// HandshakesPerAddress caps the connections from one address that
	// have not finished logging in (limits.max_handshakes_per_address);
	// 0 is no cap.
	HandshakesPerAddress int
	// SSO, if set, checks single sign-on passwords (issued ones and
	// tokens) before local accounts, and ends sessions whose credential
	// was revoked or expired.
	SSO SSOAuth
}

// SSOAuth is the single sign-on service as the proxy uses it
// (*sso.Service in production).
type SSOAuth interface {
	// Authenticate checks pw if it is an SSO password (handled); err is
	// the precise reason for the audit log, never shown to the client.
	Authenticate(ctx context.Context, pol *authz.Policy, login, pw string) (id *authz.Identity, handled bool, err error)
	// StillValid says why an SSO session may run nothing more, or nil.
	StillValid(id *authz.Identity) error
}

// Server accepts MySQL clients and relays them to the pool.
type Server struct {
	cfg      Config
	policies Policies
	audit    Recorder
	pool     *Pool
	log      *slog.Logger
	rsaKey   *rsa.PrivateKey
	host     string // host.name in audit records

	sem     chan struct{}
	nextID  atomic.Uint32
	closing atomic.Bool
	wg      sync.WaitGroup

	mu       sync.Mutex
	ln       net.Listener
	sessions map[*session]struct{}
	// userSessions counts sessions per person (limits.max_sessions);
	// catalog caches upstream column lists for SELECT * rewrites.
	userSessions userSessions
	catalog      catalogCache
	throttle     *loginThrottle  // nil: no limit on failed logins
	handshakes   *handshakeSlots // nil: no cap per address on logins in progress
	shutdown     sync.Once
}

// New builds a server. Dependencies arrive as arguments so tests can
// hand in stubs.
func New(cfg Config, policies Policies, audit Recorder, pool *Pool, log *slog.Logger) (*Server, error) {
	if cfg.MaxConnections <= 0 || cfg.MaxPacket <= 0 || cfg.HandshakeTimeout <= 0 {
		return nil, errors.New("proxy: MaxConnections, MaxPacket and HandshakeTimeout must be set")
	}
	if cfg.RequireTLS && cfg.TLS == nil {
		return nil, errors.New("proxy: RequireTLS without a TLS config")
	}
	host, _ := os.Hostname()
	s := &Server{cfg: cfg, policies: policies, audit: audit, pool: pool, log: log, host: host,
		sem: make(chan struct{}, cfg.MaxConnections), sessions: map[*session]struct{}{},
		throttle: newLoginThrottle(cfg.LoginFailures), handshakes: newHandshakeSlots(cfg.HandshakesPerAddress)}
	if !cfg.RequireTLS {
		// caching_sha2_password outside TLS encrypts the password with
		// this key; a fresh one per process is enough (clients fetch it).
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		s.rsaKey = k
	}
	s.nextID.Store(uint32(time.Now().Unix()%100000) * 1000)
	return s, nil
}

func (s *Server) serverVersion() string {
	if v := s.pool.ServerVersion(); v != "" {
		return v
	}
	// Announced only until the first upstream connection succeeds.
	return "8.0.36-rrproxy"
}

// Serve accepts connections on ln until Shutdown. ready, if not nil, is
// closed once the server is accepting (tests wait on it instead of
// sleeping).
func (s *Server) Serve(ctx context.Context, ln net.Listener, ready chan<- struct{}) error {
	s.mu.Lock()
	if s.closing.Load() {
		// Shutdown ran before Serve got here: it had no listener to
		// close, so Accept would wait for ever.
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.ln = ln
	s.mu.Unlock()
	if ready != nil {
		close(ready)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.refuse(c)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			s.handle(ctx, newSockConn(c))
		}()
	}
}

// refuse answers a client over the connection limit with error 1040,
// in the greeting's place, and closes.
func (s *Server) refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	w := newWire(c, 256)
	_ = w.writeFlush(errPacket(1040, "08004", "rrproxy is at its connection limit; retry later"))
	_ = c.Close()
	s.log.Warn("connection refused: at limit", "client", c.RemoteAddr().String(), "limit", s.cfg.MaxConnections)
}

// handle runs one client session; it recovers panics and always closes c.
func (s *Server) handle(ctx context.Context, c net.Conn) {
	sess := newSession(s, c)
	s.mu.Lock()
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			sess.panicked(r)
		}
		sess.close()
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	}()
	sess.run(ctx)
}

// panicked reports a panic recovered from the session's goroutine to the
// log and the client. The panic may have come in the middle of a
// response: whatever the upstream connection still holds, it is not
// reset and pooled for the next user, but closed.
func (s *session) panicked(r any) {
	s.log.Error("session panic", "panic", r, "stack", string(debug.Stack()))
	s.sendError(errPacket(1105, "HY000", "rrproxy internal error; the session was closed"))
	s.upOK = false
}

// Shutdown stops accepting, lets sessions finish their current command
// until ctx expires, then closes what is left. It reports how many
// sessions were cut. Safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) (forced int, err error) {
	s.shutdown.Do(func() {
		s.closing.Store(true)
		s.mu.Lock()
		if s.ln != nil {
			err = s.ln.Close()
		}
		// Idle sessions are waiting for the client's next command: wake
		// them now; sessions mid-command finish it first.
		for sess := range s.sessions {
			sess.interruptIfIdle()
		}
		s.mu.Unlock()
	})
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for sess := range s.sessions {
			forced++
			_ = sess.sock.Close()
			// A session waiting for a long query's result is reading from
			// the replica, not the client: close that socket too. (Its
			// connection is not returned to the pool, which closes next.)
			if nc := sess.upNC.Load(); nc != nil {
				_ = (*nc).Close()
			}
		}
		s.mu.Unlock()
		<-done
	}
	s.pool.Close()
	return forced, err
}
