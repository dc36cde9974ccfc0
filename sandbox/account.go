package sandbox

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/mysql_db"
	"github.com/dolthub/vitess/go/mysql"
)

const (
	// ServiceUser is the only account the sandbox accepts.
	ServiceUser = "rr_service"

	passwordLen = 48
	// Letters and digits only: the password ends up in DSNs and shell
	// commands in the demo, where punctuation needs escaping.
	passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// grantedSchemas are the schemas the service account may read, and nothing
// else: no writes, no mysql schema, no global privileges.
var grantedSchemas = []string{"study", "ops"}

// addServiceAccount creates the service account and switches on GMS's
// privilege system. Until the mysql database is enabled GMS lets any user
// name in with any password, so enabling it is what makes the account the
// only way in; there is deliberately no root account.
func addServiceAccount(db *mysql_db.MySQLDb, password string) {
	privs := mysql_db.NewPrivilegeSet()
	for _, schema := range grantedSchemas {
		// SELECT on a schema is also what MySQL requires for SHOW TABLES,
		// SHOW COLUMNS, SHOW CREATE TABLE and information_schema rows.
		privs.AddDatabase(schema, sql.PrivilegeType_Select)
	}
	ed := db.Editor()
	ed.PutUser(&mysql_db.User{
		User: ServiceUser,
		// GMS maps 127.0.0.1 and ::1 to localhost when it matches accounts,
		// and the listener is loopback-only anyway.
		Host:                "localhost",
		PrivilegeSet:        privs,
		Plugin:              "mysql_native_password",
		AuthString:          nativePasswordHash(password),
		PasswordLastChanged: time.Now().UTC(),
	})
	ed.Close()
	db.SetEnabled(true)
}

// nativePasswordHash is the mysql.user authentication_string for
// mysql_native_password: "*" and upper-case hex of SHA1(SHA1(password)).
func nativePasswordHash(password string) string {
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(h2[:]))
}

func newPassword() (string, error) {
	out := make([]byte, 0, passwordLen)
	buf := make([]byte, 64)
	// Rejection sampling keeps every character equally likely: 248 is the
	// largest multiple of 62 that fits in a byte.
	const limit = 256 - 256%len(passwordAlphabet)
	for len(out) < passwordLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("sandbox: generate password: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < passwordLen {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out), nil
}

// nativeOnly is the AuthServer the listener uses instead of GMS's own. GMS
// offers a method to a user name only if that account exists and uses it,
// so an unknown user such as root gets error 2012 ("No authentication
// methods available") instead of MySQL's 1045. Offering
// mysql_native_password for every name makes the refusal look like MySQL's:
// the password check fails and the client gets 1045 Access denied.
//
// It also drops GMS's other methods: caching_sha2_password is only offered
// over TLS or a Unix socket (GMS has no fast-auth cache), and the clear-text
// method exists for integrator plugins the sandbox does not use.
type nativeOnly struct{ mysql.AuthServer }

func (a nativeOnly) AuthMethods() []mysql.AuthMethod {
	for _, m := range a.AuthServer.AuthMethods() {
		if m.Name() == mysql.MysqlNativePassword {
			return []mysql.AuthMethod{anyUser{m}}
		}
	}
	return nil // fail closed: no method, no login
}

func (nativeOnly) DefaultAuthMethodDescription() mysql.AuthMethodDescription {
	return mysql.MysqlNativePassword
}

// anyUser negotiates its method for every user name; the password check in
// HandleAuthPluginData still rejects accounts that do not exist.
type anyUser struct{ mysql.AuthMethod }

func (anyUser) HandleUser(*mysql.Conn, string) bool { return true }

// nativeOnlyListener builds GMS's usual MySQL protocol listener around
// nativeOnly.
func nativeOnlyListener(cfg server.Config, lc mysql.ListenerConfig, sel server.ServerEventListener) (server.ProtocolListener, error) {
	lc.AuthServer = nativeOnly{lc.AuthServer}
	return server.MySQLProtocolListenerFactory(cfg, lc, sel)
}
