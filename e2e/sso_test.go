package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"net/http/cookiejar"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/rrproxy/rrproxy/authz"
	"github.com/rrproxy/rrproxy/internal/testtool"
	"github.com/rrproxy/rrproxy/sso"
)

// Single sign-on end to end: a web sign-in at an OIDC provider issues a
// database password; go-sql-driver and the mariadb CLI log in with it
// through rrproxy to MariaDB; the policy of the person's IdP groups
// applies; a token works as the password; revocation and expiry end
// open sessions at their next statement; every refusal reaches the
// client as the same 1045 and the audit log with its precise reason.

type ssoRig struct {
	*rig
	idp *mockoidc.MockOIDC
	svc *sso.Service
	web *httptest.Server
}

func startSSORig(t *testing.T) *ssoRig {
	t.Helper()
	idp, pol, svc, web := startSignInPage(t, nil, nil)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol, sso: svc})
	return &ssoRig{rig: r, idp: idp, svc: svc, web: web}
}

// startSignInPage runs a mock OIDC provider, the test policy with it as
// identity provider corp, and the sign-in page (sso.Service) on an HTTPS
// test server; configure (if not nil) sets up that server before it
// starts, and audit (if not nil) records the page's events.
func startSignInPage(t *testing.T, configure func(*httptest.Server), audit sso.Recorder) (*mockoidc.MockOIDC, *authz.Policy, *sso.Service, *httptest.Server) {
	t.Helper()
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	pol, err := authz.Parse("e2e-sso-policy.yaml", []byte(policyText+`
identity_providers:
  corp:
    issuer: `+idp.Issuer()+`
    audiences: [`+idp.ClientID+`]
    groups:
      clinical-dm: [data-managers]
      site-monitoring: [site-monitors]
    credential_lifetime: 12h
`))
	if err != nil {
		t.Fatal(err)
	}
	web, serve := testtool.TLSServerWith(t, configure)
	svc, err := sso.New(sso.Config{Key: []byte(sso.NewKeyHex()), StoreDir: t.TempDir(), PublicURL: web.URL, ProxyAddress: "127.0.0.1:3307",
		Clients: []sso.Client{{Issuer: idp.Issuer(), ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
			Scopes: []string{"openid", "email", "groups", "profile"}}}},
		authz.NewStore(pol), audit, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	serve(svc.Handler())
	return idp, pol, svc, web
}

var issuedPasswordRE = regexp.MustCompile(`id="password">([^<]+)<`)

// signIn runs the web sign-in for a person with groups and returns the
// database password the page shows.
func (s *ssoRig) signIn(t *testing.T, email string, groups ...string) string {
	t.Helper()
	s.idp.QueueUser(&mockoidc.MockUser{Subject: "sub-" + email, Email: email, EmailVerified: true, Groups: groups})
	jar, _ := cookiejar.New(nil)
	c := s.web.Client()
	c.Jar = jar
	resp, err := c.Get(s.web.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := issuedPasswordRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("sign-in of %s showed no password:\n%s", email, b)
	}
	return string(m[1])
}

func (s *ssoRig) token(t *testing.T, email string, groups []string, exp time.Duration, aud string) string {
	t.Helper()
	now := time.Now()
	tok, err := s.idp.Keypair.SignJWT(jwt.MapClaims{"iss": s.idp.Issuer(), "aud": aud, "sub": "sub-" + email, "email": email,
		"email_verified": true, "groups": groups, "exp": now.Add(exp).Unix(), "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSSOEndToEnd(t *testing.T) {
	s := startSSORig(t)
	jane := s.signIn(t, "jane.doe@example.com", "clinical-dm")
	mark := s.signIn(t, "mark.monitor@example.com", "site-monitoring")

	// go-sql-driver, caching_sha2_password full authentication over TLS.
	janeDB := s.open("jane.doe@example.com", jane, "study")
	janeDB.SetMaxOpenConns(1)
	var n int
	if err := janeDB.QueryRow("SELECT COUNT(*) FROM docs").Scan(&n); err != nil {
		t.Fatalf("jane (data-managers) reads docs: %d, %v", n, err)
	}
	// The blinded arm is withheld from everyone, SSO users included.
	_, err := janeDB.Exec("SELECT treatment_arm FROM visits LIMIT 1")
	mysqlErr(t, err, 1054, "Unknown column")

	// The mariadb CLI with the same password.
	out, err := mariadbCLI(t, s.rig, "jane.doe@example.com", jane, "-e", "SELECT CURRENT_USER(), COUNT(*) FROM study.subjects")
	if err != nil || !strings.Contains(out, "jane.doe@example.com") || !strings.Contains(out, "120") {
		t.Fatalf("mariadb CLI with an issued password: %v\n%s", err, out)
	}

	// An option file as `rrproxy login -write` makes it.
	host, port, _ := strings.Cut(s.addr, ":")
	cnf := filepath.Join(t.TempDir(), "my.cnf")
	if err := sso.WriteOptionFile(cnf, &sso.Issued{User: "jane.doe@example.com", Password: jane, Host: host, Port: port, Expires: time.Now().Add(time.Hour)}, certs.CA); err != nil {
		t.Fatal(err)
	}
	cnfOut, err := exec.Command("mariadb", "--defaults-extra-file="+cnf, "--batch", "-e", "SELECT COUNT(*) FROM study.visits").CombinedOutput()
	if err != nil || !strings.Contains(string(cnfOut), "COUNT(*)") {
		t.Fatalf("mariadb with the option file: %v\n%s", err, cnfOut)
	}

	// Policy by group: the monitor reads subjects but not docs.
	markDB := s.open("mark.monitor@example.com", mark, "study")
	if err := markDB.QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n); err != nil || n != 120 {
		t.Fatalf("mark (site-monitors) reads subjects: %d, %v", n, err)
	}
	_, err = markDB.Exec("SELECT * FROM docs")
	mysqlErr(t, err, 1146, "doesn't exist")

	// One person's password is not another's.
	_, err = s.open("mark.monitor@example.com", jane, "study").Exec("SELECT 1")
	mysqlErr(t, err, 1045, "Access denied")

	// A token as the password (an ELT job with client credentials).
	tok := s.token(t, "jane.doe@example.com", []string{"clinical-dm"}, 10*time.Minute, s.idp.ClientID)
	if len(tok) < 500 {
		t.Fatalf("token of %d bytes: too short to stand for a real one", len(tok))
	}
	if err := s.open("jane.doe@example.com", tok, "study").QueryRow("SELECT COUNT(*) FROM visits").Scan(&n); err != nil {
		t.Fatalf("token as password: %v", err)
	}
	// Refusals: the same 1045 whatever is wrong.
	other, err := mockoidc.Run() // an issuer policy.yaml does not trust
	if err != nil {
		t.Fatal(err)
	}
	defer other.Shutdown()
	foreign, err := other.Keypair.SignJWT(jwt.MapClaims{"iss": other.Issuer(), "aud": s.idp.ClientID, "sub": "sub-jane.doe@example.com",
		"email": "jane.doe@example.com", "groups": []string{"clinical-dm"}, "exp": time.Now().Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	// (mockoidc servers share one built-in key; a forger has their own.)
	forgerKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	forger, _ := mockoidc.NewKeypair(forgerKey)
	forged, err := forger.SignJWT(jwt.MapClaims{"iss": s.idp.Issuer(), "aud": s.idp.ClientID, "sub": "sub-jane.doe@example.com",
		"email": "jane.doe@example.com", "groups": []string{"clinical-dm"}, "exp": time.Now().Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	unverified, err := s.idp.Keypair.SignJWT(jwt.MapClaims{"iss": s.idp.Issuer(), "aud": s.idp.ClientID, "sub": "sub-someone-else",
		"email": "jane.doe@example.com", "groups": []string{"clinical-dm"}, "exp": time.Now().Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, login, pw string }{
		{"wrong issuer", "jane.doe@example.com", foreign},
		{"email not verified", "jane.doe@example.com", unverified},
		{"bad signature", "jane.doe@example.com", forged},
		{"wrong audience", "jane.doe@example.com", s.token(t, "jane.doe@example.com", []string{"clinical-dm"}, 10*time.Minute, "another-app")},
		{"expired token", "jane.doe@example.com", s.token(t, "jane.doe@example.com", []string{"clinical-dm"}, -time.Minute, s.idp.ClientID)},
		{"name mismatch", "mark.monitor@example.com", tok},
		{"no group", "eve@example.com", s.token(t, "eve@example.com", []string{"marketing"}, 10*time.Minute, s.idp.ClientID)},
		{"forged issued password", "jane.doe@example.com", jane[:len(jane)-4] + "AAAA"},
	} {
		_, err := s.open(c.login, c.pw, "study").Exec("SELECT 1")
		if err == nil {
			t.Fatalf("%s: logged in", c.name)
		}
		mysqlErr(t, err, 1045, "Access denied for user")
	}

	// Revocation ends jane's open session at its next statement.
	if _, err := s.svc.Store().RevokeUser("jane.doe@example.com", "left the study team"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // the store's cache on other instances: at most 2 s
	_, err = janeDB.Exec("SELECT 1")
	mysqlErr(t, err, 1045, "expired or was revoked")
	_, err = s.open("jane.doe@example.com", jane, "study").Exec("SELECT 1")
	mysqlErr(t, err, 1045, "Access denied")

	// Expiry ends a token session at its next statement after exp.
	short := s.token(t, "jane.doe@example.com", []string{"clinical-dm"}, 2*time.Second, s.idp.ClientID)
	shortDB := s.open("jane.doe@example.com", short, "study")
	shortDB.SetMaxOpenConns(1)
	if err := shortDB.QueryRow("SELECT 1").Scan(&n); err != nil {
		t.Fatalf("short-lived token: %v", err)
	}
	time.Sleep(2500 * time.Millisecond)
	_, err = shortDB.Exec("SELECT 1")
	mysqlErr(t, err, 1045, "expired or was revoked")

	// The audit log: who signed in from which IdP, and the precise
	// reason for every refusal the client saw only as 1045.
	// An IdP outage does not break passwords already issued.
	_ = s.idp.Shutdown()
	if err := s.open("mark.monitor@example.com", mark, "study").QueryRow("SELECT COUNT(*) FROM subjects").Scan(&n); err != nil {
		t.Fatalf("issued password during an IdP outage: %v", err)
	}

	var reasons []string
	var refusedWithIssuer bool
	var sawJane, sawEnded bool
	for _, m := range readAuditRecords(t, s.rig) {
		switch {
		case m["event.action"] == "login" && m["event.outcome"] == "failure":
			reasons = append(reasons, m["event.reason"].(string))
			if strings.Contains(m["event.reason"].(string), "does not match") {
				refusedWithIssuer = m["rrproxy.identity_source"] == s.idp.Issuer() && m["user.id"] == "sub-jane.doe@example.com"
			}
		case m["event.action"] == "login" && m["user.name"] == "jane.doe@example.com" && m["rrproxy.identity_source"] == s.idp.Issuer():
			sawJane = m["user.id"] == "sub-jane.doe@example.com"
		case m["event.action"] == "session-ended":
			sawEnded = strings.Contains(m["event.reason"].(string), "revoked") || sawEnded
		}
	}
	all := strings.Join(reasons, "\n")
	for _, want := range []string{"belongs to", "audience", "expired", "does not match", "no policy group", "wrong secret", "revoked",
		"is not among identity_providers", "signature", "does not say the email address is verified"} {
		if !strings.Contains(all, want) {
			t.Errorf("no login failure in the audit log says %q; reasons:\n%s", want, all)
		}
	}
	if !refusedWithIssuer {
		t.Error("the refused login (name mismatch) does not name the token's issuer and subject in the audit log")
	}
	if !sawJane || !sawEnded {
		t.Errorf("audit: SSO login with issuer and subject %v, session ended by revocation %v", sawJane, sawEnded)
	}
}
