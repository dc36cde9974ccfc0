package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rrproxy/rrproxy/authz"
)

// Capabilities rrproxy offers clients. What is left out is as deliberate
// as what is in: the relay forwards the upstream's bytes untouched, so
// every flag that changes packet formats (DEPRECATE_EOF, SESSION_TRACK,
// QUERY_ATTRIBUTES, OPTIONAL_RESULTSET_METADATA) must match the pooled
// upstream connections, which are opened without them. COMPRESS is not
// offered (the audit and policy need plain bytes), nor LOCAL_FILES (a
// compromised or malicious upstream could otherwise read client files).
const serverCaps = mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_LONG_FLAG | mysql.CLIENT_CONNECT_WITH_DB |
	mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_TRANSACTIONS | mysql.CLIENT_SECURE_CONNECTION |
	mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_PS_MULTI_RESULTS |
	mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_CONNECT_ATTRS | mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
	mysql.CLIENT_INTERACTIVE

const (
	pluginCachingSha2 = "caching_sha2_password"
	pluginNative      = "mysql_native_password"
	pluginClear       = "mysql_clear_password"

	// utf8mb4_general_ci: known to MySQL 5.7, 8.x and MariaDB alike.
	handshakeCollation = 45

	// A handshake response is small; anything bigger is an attack or a
	// bug, and is refused before it is buffered.
	maxHandshakePacket = 64 << 10

	erSecureTransportRequired = 3159
)

// errAuth is a failed login; the client gets 1045, whatever the reason.
var errAuth = errors.New("authentication failed")

// newScramble returns 20 random bytes that every driver accepts: non-zero
// (the handshake NUL-terminates it) and 7-bit, as MySQL itself generates.
func newScramble() ([]byte, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	for i := range b {
		b[i] = b[i]&0x7f | 1
		if b[i] == '$' {
			b[i] = '%'
		}
	}
	return b, nil
}

func (s *session) writeInitialHandshake() error {
	caps := uint32(serverCaps)
	if s.srv.cfg.TLS != nil {
		caps |= mysql.CLIENT_SSL
	}
	b := make([]byte, 0, 128)
	b = append(b, 10)
	b = append(b, s.srv.serverVersion()...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, s.id)
	b = append(b, s.salt[:8]...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps))
	b = append(b, handshakeCollation)
	b = binary.LittleEndian.AppendUint16(b, mysql.SERVER_STATUS_AUTOCOMMIT)
	b = binary.LittleEndian.AppendUint16(b, uint16(caps>>16))
	b = append(b, 21)
	b = append(b, make([]byte, 10)...)
	b = append(b, s.salt[8:]...)
	b = append(b, 0)
	b = append(b, pluginCachingSha2...)
	b = append(b, 0)
	if err := s.cw.writePacket(b); err != nil {
		return err
	}
	return s.cw.flush()
}

// handshakeResponse is HandshakeResponse41 as parsed.
type handshakeResponse struct {
	caps     uint32
	charset  byte
	user     string
	authData []byte
	db       string
	plugin   string
	attrs    map[string]string
}

func parseHandshakeResponse(p []byte) (*handshakeResponse, error) {
	r := reader{b: p}
	h := &handshakeResponse{}
	h.caps = r.uint32()
	r.uint32() // max packet size: ours is limits.max_packet_mb
	h.charset = r.byte1()
	r.take(23)
	if r.err != nil {
		return nil, r.err
	}
	if h.caps&mysql.CLIENT_PROTOCOL_41 == 0 {
		return nil, fmt.Errorf("%w: client does not speak protocol 4.1", errProtocol)
	}
	h.user = string(r.cstring())
	switch {
	case h.caps&mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0:
		h.authData = r.lenencBytes()
	case h.caps&mysql.CLIENT_SECURE_CONNECTION != 0:
		h.authData = r.take(int(r.byte1()))
	default:
		h.authData = r.cstring()
	}
	if h.caps&mysql.CLIENT_CONNECT_WITH_DB != 0 && len(r.b) > 0 {
		h.db = string(r.cstring())
	}
	if h.caps&mysql.CLIENT_PLUGIN_AUTH != 0 && len(r.b) > 0 {
		// Some clients omit the final NUL when nothing follows.
		if i := bytes.IndexByte(r.b, 0); i >= 0 {
			h.plugin = string(r.cstring())
		} else {
			h.plugin = string(r.rest())
		}
	}
	if h.plugin == "" {
		h.plugin = pluginNative
	}
	if h.caps&mysql.CLIENT_CONNECT_ATTRS != 0 && len(r.b) > 0 {
		attrs := reader{b: r.lenencBytes()}
		h.attrs = map[string]string{}
		for len(attrs.b) > 0 && attrs.err == nil && len(h.attrs) < 64 {
			k := attrs.lenencBytes()
			v := attrs.lenencBytes()
			if attrs.err == nil {
				h.attrs[string(k)] = string(v)
			}
		}
		if attrs.err != nil {
			return nil, attrs.err
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return h, nil
}

// handshake runs the connection phase: greeting, optional TLS upgrade,
// login. On success the client has been sent nothing yet beyond the
// auth exchange; the caller sends OK once the upstream is ready.
func (s *session) handshake() (*handshakeResponse, error) {
	if err := s.writeInitialHandshake(); err != nil {
		return nil, err
	}
	p, err := s.cw.readPacket(nil, maxHandshakePacket)
	if err != nil {
		return nil, err
	}
	// A 32-byte response with CLIENT_SSL is the SSLRequest: switch to TLS,
	// then the real response follows inside it.
	if len(p) == 32 && binary.LittleEndian.Uint32(p)&mysql.CLIENT_SSL != 0 {
		if s.srv.cfg.TLS == nil {
			return nil, fmt.Errorf("%w: client asked for TLS, which is not configured", errProtocol)
		}
		// The client may have sent its ClientHello right behind the
		// SSLRequest; those bytes are already in our read buffer and
		// must reach the TLS layer first.
		raw := s.conn
		if n := s.cw.r.Buffered(); n > 0 {
			early, _ := s.cw.r.Peek(n)
			raw = &prefixConn{Conn: s.conn, prefix: bytes.Clone(early)}
			_, _ = s.cw.r.Discard(n)
		}
		s.cw.idle() // the plain-text wire's buffers go back to the pool
		tc := tls.Server(raw, s.srv.cfg.TLS)
		if err := tc.Handshake(); err != nil {
			return nil, fmt.Errorf("tls handshake: %w", err)
		}
		st := tc.ConnectionState()
		s.tls = &st
		seq := s.cw.seq
		s.cw = newWire(tc, clientBufSize)
		s.cw.seq = seq
		s.conn = tc
		if p, err = s.cw.readPacket(nil, maxHandshakePacket); err != nil {
			return nil, err
		}
	}
	h, err := parseHandshakeResponse(p)
	if err != nil {
		return nil, err
	}
	s.user = h.user
	if s.tls == nil && s.srv.cfg.RequireTLS {
		s.sendError(errPacket(erSecureTransportRequired, "HY000",
			"rrproxy requires TLS: connect with SSL enabled (mariadb/mysql --ssl, JDBC sslMode=REQUIRED or useSSL=true, ODBC SSLMODE=REQUIRED with the MySQL driver, SSLCA=...;SSLVERIFY=1 with the MariaDB driver)"))
		return nil, errTLSRequired
	}
	addr := s.remote.Addr().Unmap()
	if wait, which := s.srv.throttle.Wait(h.user, addr); wait > 0 {
		// Refused before the password is checked: a guesser learns
		// nothing more, and spends none of our argon2id time.
		what := "this user name from this address"
		if which == "address" {
			what = "this address"
		}
		s.authReason = fmt.Sprintf("too many failed logins for %s (limits.login_failures.per_%s)", what, which)
		s.sendError(errPacket(mysql.ER_ACCESS_DENIED_ERROR, "28000",
			fmt.Sprintf("Access denied for user '%s'@'%s': too many failed logins for %s; try again in %d s",
				sanitize(s.user), addr, what, int(math.Ceil(wait.Seconds())))))
		return nil, errAuth
	}
	ident, err := s.authenticate(h) // counts a failure (authAnswer)
	if err == nil {
		s.srv.throttle.Succeeded(h.user, addr)
	}
	if err != nil {
		return nil, err
	}
	s.ident = ident
	return h, nil
}

var errTLSRequired = errors.New("client did not use TLS")

// authenticate verifies the login. Every failure path answers 1045 with
// the same text and, for unknown users, the same argon2id work.
func (s *session) authenticate(h *handshakeResponse) (*authz.Identity, error) {
	pol := s.srv.policies.Current()
	plugin, data := h.plugin, h.authData

	if plugin == pluginNative && pol.NativeAllowed(h.user) && len(data) == 20 {
		id, err := pol.AuthenticateNative(h.user, s.salt, data)
		return id, s.authAnswer(err, true)
	}
	if plugin == pluginClear {
		if s.tls == nil {
			// Never accept a cleartext password outside TLS, even if
			// tls.require is off.
			return nil, s.authAnswer(errAuth, len(data) > 0)
		}
		pw := string(bytes.TrimRight(data, "\x00"))
		id, err := s.checkPassword(pol, h.user, pw)
		return id, s.authAnswer(err, pw != "")
	}
	if plugin != pluginCachingSha2 {
		// Switch everyone else (native without opt-in, sha256_password,
		// dialog, ...) to caching_sha2_password with the same scramble.
		sw := append([]byte{0xfe}, pluginCachingSha2...)
		sw = append(sw, 0)
		sw = append(sw, s.salt...)
		sw = append(sw, 0)
		if err := s.cw.writePacket(sw); err != nil {
			return nil, err
		}
		if err := s.cw.flush(); err != nil {
			return nil, err
		}
		var err error
		if data, err = s.cw.readPacket(nil, maxHandshakePacket); err != nil {
			return nil, err
		}
	}
	// caching_sha2_password: a scramble arrived (or nothing, for an empty
	// password). rrproxy stores no SHA-256 it could check a scramble
	// against, so it always asks for full authentication: over TLS the
	// client then sends the password itself, otherwise it encrypts it
	// with our RSA key.
	if len(data) == 0 {
		_, _ = pol.AuthenticatePassword(h.user, "") // same work as a real attempt
		return nil, s.authAnswer(errAuth, false)
	}
	pw, err := s.fullAuth()
	if errors.Is(err, errAuth) {
		// An answer that does not decrypt (a stale public key, the
		// password sent in clear): a wrong password, said as such.
		return nil, s.authAnswer(err, true)
	}
	if err != nil {
		return nil, err
	}
	id, err := s.checkPassword(pol, h.user, pw)
	return id, s.authAnswer(err, true)
}

// checkPassword verifies a password received in full: an SSO password
// (issued by the web sign-in, or an IdP token) or a local account's.
// An SSO refusal keeps its precise reason for the audit log; the client
// gets the same 1045 as for any wrong password.
func (s *session) checkPassword(pol *authz.Policy, user, pw string) (*authz.Identity, error) {
	if sso := s.srv.cfg.SSO; sso != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.HandshakeTimeout)
		defer cancel()
		id, handled, err := sso.Authenticate(ctx, pol, user, pw)
		if handled {
			if err != nil {
				s.authReason = err.Error()
				var se *authz.SSOError
				if errors.As(err, &se) {
					s.authIssuer, s.authSubject = se.Issuer, se.Subject
				}
				return nil, authz.ErrAuthFailed
			}
			return id, nil
		}
	}
	return pol.AuthenticatePassword(user, pw)
}

// fullAuth performs caching_sha2_password's "perform full authentication"
// exchange and returns the password the client sent.
func (s *session) fullAuth() (string, error) {
	if err := s.cw.writePacket([]byte{0x01, 0x04}); err != nil {
		return "", err
	}
	if err := s.cw.flush(); err != nil {
		return "", err
	}
	p, err := s.cw.readPacket(nil, maxHandshakePacket)
	if err != nil {
		return "", err
	}
	if s.tls != nil {
		return string(bytes.TrimRight(p, "\x00")), nil
	}
	key := s.srv.rsaKey
	if key == nil {
		return "", fmt.Errorf("%w: plaintext caching_sha2_password without an RSA key", errAuth)
	}
	if len(p) == 1 && p[0] == 0x02 { // client asks for our public key
		der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return "", err
		}
		pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		if err := s.cw.writePacket(append([]byte{0x01}, pub...)); err != nil {
			return "", err
		}
		if err := s.cw.flush(); err != nil {
			return "", err
		}
		if p, err = s.cw.readPacket(nil, maxHandshakePacket); err != nil {
			return "", err
		}
	}
	plain, err := rsa.DecryptOAEP(sha1.New(), nil, key, p, nil)
	if err != nil {
		return "", errAuth
	}
	for i := range plain {
		plain[i] ^= s.salt[i%len(s.salt)]
	}
	return string(bytes.TrimRight(plain, "\x00")), nil
}

// authAnswer is authResult for a password check's outcome: a failure
// counts against the login limits before the client has its answer, so
// a client that tries again at once is already counted.
func (s *session) authAnswer(err error, usingPassword bool) error {
	if err != nil {
		s.srv.throttle.Failed(s.user, s.remote.Addr().Unmap())
		// The audit log says which class of failure; the client does not
		// learn it (authResult answers every failure alike).
		var le *authz.LoginError
		if s.authReason == "" && errors.As(err, &le) {
			s.authReason = le.Error()
		}
	}
	return s.authResult(err, usingPassword)
}

// authResult turns an authentication outcome into the client's answer.
func (s *session) authResult(err error, usingPassword bool) error {
	if err == nil {
		return nil
	}
	yes := "YES"
	if !usingPassword {
		yes = "NO"
	}
	host := s.remote.Addr().String()
	s.sendError(errPacket(mysql.ER_ACCESS_DENIED_ERROR, "28000",
		fmt.Sprintf("Access denied for user '%s'@'%s' (using password: %s)", sanitize(s.user), host, yes)))
	return errAuth
}

// sanitize keeps a client-chosen user name printable and short before it
// goes back into an error message or a log line.
func sanitize(s string) string {
	if len(s) > 80 {
		s = s[:80]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f || c == '\'' {
			b[i] = '?'
		}
	}
	return string(b)
}

// prefixConn replays bytes read ahead of a protocol switch.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
