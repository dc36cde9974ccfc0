package authz

import (
	"errors"
	"time"
)

// ErrAuthFailed is the one answer to every failed login. Callers must not
// tell the client which part was wrong (no such user, wrong password,
// disabled): all three map to MySQL error 1045.
var ErrAuthFailed = errors.New("authz: authentication failed")

// LoginError is a failed local login with its reason class, for the audit
// log only: errors.Is(err, ErrAuthFailed) holds, and the client is told
// nothing more than ErrAuthFailed (MySQL error 1045) whatever the class.
// A reviewer needs the class: a disabled account (someone who left)
// trying to log in, or one name tried with many passwords, is not the
// same as a typo.
type LoginError struct{ Class string }

// Login failure classes.
const (
	LoginUnknownUser   = "unknown user"
	LoginWrongPassword = "wrong password"
	LoginDisabled      = "account disabled"
	// LoginNoPassword: the account has no password (single sign-on
	// only, or native_password only with another plugin asked).
	LoginNoPassword = "no password login for this account"
)

func (e *LoginError) Error() string        { return "bad credentials: " + e.Class }
func (e *LoginError) Is(target error) bool { return target == ErrAuthFailed }

// loginFailure classifies a failed login of user (a, ok from p.users).
func loginFailure(a *account, ok bool) error {
	switch {
	case !ok:
		return &LoginError{LoginUnknownUser}
	case a.disabled:
		return &LoginError{LoginDisabled}
	}
	return &LoginError{LoginWrongPassword}
}

// Identity is who a session belongs to once authenticated.
type Identity struct {
	User   string
	Groups []string
	Source string // "local", or the OIDC issuer URL
	// Account is the policy.yaml users entry this identity is: a local
	// account, or a listed SSO user. "" for an SSO user known only by
	// groups. Rules to user:NAME apply through it, so an IdP user can
	// never take on a local account's grants by sharing its name.
	Account string

	// Single sign-on only.
	Provider      string    // identity_providers name
	Subject       string    // the IdP's sub claim
	MFA           bool      // the sign-in used multi-factor authentication
	DroppedGroups []string  // groups withheld for want of MFA
	Credential    string    // id of the issued password used, "" for a token
	Expires       time.Time // the credential's or token's expiry
}

// AuthenticatePassword verifies a cleartext password (received over TLS,
// or RSA-decrypted) against the account's argon2id hash. It does the same
// argon2id work whether or not the account exists or is disabled, so the
// answer's timing does not reveal which user names are real.
//
// A success is remembered for the login cache TTL (see verifyCache): the
// same user with the same password is then let in without argon2id.
// Failures are never remembered and always pay the full cost. Logins
// that present the same credentials while one of them is being verified
// wait for that verification's answer (verifyCache.once).
func (p *Policy) AuthenticatePassword(user, password string) (*Identity, error) {
	a, ok := p.users[user]
	h := dummyHash
	if ok && a.hash != nil {
		h = a.hash
	}
	valid := ok && !a.disabled && a.hash != nil
	// The key is computed and looked up for every attempt, real account or
	// not, so that this step does not time differently for unknown names.
	var key verifyKey
	cache := p.logins.ttl.Load() > 0
	if cache {
		key = verifyKeyOf(user, h.encoded, password)
		if p.logins.hit(key) && valid {
			return a.identity(), nil
		}
	}
	verify := func() bool {
		p.logins.argonCalls.Add(1)
		return h.verify(password)
	}
	var match bool
	if cache {
		// Concurrent logins with the same credentials share one run.
		match = p.logins.once(key, verify)
	} else {
		match = verify()
	}
	if !valid || !match {
		if ok && !a.disabled && a.hash == nil {
			return nil, &LoginError{LoginNoPassword}
		}
		return nil, loginFailure(a, ok)
	}
	if cache {
		p.logins.add(key)
	}
	return a.identity(), nil
}

// NativeAllowed reports whether user opted into mysql_native_password.
func (p *Policy) NativeAllowed(user string) bool {
	a, ok := p.users[user]
	return ok && a.native != nil && !a.disabled
}

// AuthenticateNative verifies a mysql_native_password scramble response.
func (p *Policy) AuthenticateNative(user string, salt, resp []byte) (*Identity, error) {
	a, ok := p.users[user]
	if !ok || a.disabled || a.native == nil || !verifyNativeScramble(a.native, salt, resp) {
		// A failed guess costs what any failed login costs, the argon2id
		// work of an unknown name, not one SHA-1: guessing a native
		// password online is no cheaper than guessing another one.
		_, _ = p.AuthenticatePassword("", string(resp))
		return nil, loginFailure(a, ok)
	}
	return a.identity(), nil
}

func (a *account) identity() *Identity {
	return &Identity{User: a.name, Groups: append([]string(nil), a.groups...), Source: "local", Account: a.name}
}
