package main

import (
	"encoding/json"
	"github.com/rrproxy/rrproxy/internal/testtool"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rrproxy/rrproxy/authz"
	"github.com/rrproxy/rrproxy/config"
	"github.com/rrproxy/rrproxy/sso"
)

// TestComposeSandbox checks docker-compose.yml's single sign-on sandbox
// as far as this machine can (it has no container engine): the compose
// file validates with docker-compose, rrproxy.yaml and policy.yaml under
// deploy/sso-demo load, and the Keycloak realm, rrproxy's configuration
// and the MySQL init scripts agree with each other (client id and secret,
// redirect URI, issuer, group names, email domain, service account
// password).
func TestComposeSandbox(t *testing.T) {
	const dir = "../../deploy/sso-demo"
	cfg, err := config.Load(filepath.Join(dir, "rrproxy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := authz.Load(filepath.Join(dir, "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	if _, err := sso.ParseKey([]byte(read("sso.key"))); err != nil {
		t.Errorf("sso.key: %v", err)
	}
	var realm struct {
		Realm  string
		Groups []struct{ Name string }
		Users  []struct {
			Email         string
			EmailVerified bool `json:"emailVerified"`
			Groups        []string
		}
		Clients []struct {
			ClientID     string `json:"clientId"`
			Secret       string
			RedirectURIs []string `json:"redirectUris"`
			Attributes   map[string]string
		}
	}
	if err := json.Unmarshal([]byte(read("keycloak/clinical-realm.json")), &realm); err != nil {
		t.Fatal(err)
	}
	if len(cfg.SSO.Clients) != 1 || len(realm.Clients) != 1 || len(pol.Providers()) != 1 {
		t.Fatal("the sandbox has one IdP, one client, one provider")
	}
	cc, rc, pp := cfg.SSO.Clients[0], realm.Clients[0], pol.Providers()[0]
	if cc.Issuer != pp.Issuer || !strings.HasSuffix(cc.Issuer, "/realms/"+realm.Realm) {
		t.Errorf("issuer: rrproxy.yaml %s, policy.yaml %s, realm %s", cc.Issuer, pp.Issuer, realm.Realm)
	}
	if cc.ClientID != rc.ClientID || pp.Audiences[0] != rc.ClientID {
		t.Errorf("client id: rrproxy.yaml %s, policy audiences %v, realm %s", cc.ClientID, pp.Audiences, rc.ClientID)
	}
	if secret := read("idp-client-secret"); rc.Secret != secret {
		t.Error("the realm's client secret is not deploy/sso-demo/idp-client-secret")
	}
	if want := cfg.SSO.PublicURL + "/callback"; len(rc.RedirectURIs) != 1 || rc.RedirectURIs[0] != want {
		t.Errorf("redirect URIs %v, want %s", rc.RedirectURIs, want)
	}
	if rc.Attributes["oauth2.device.authorization.grant.enabled"] != "true" {
		t.Error("the realm's client does not allow the device flow (rrproxy login)")
	}
	// Every realm user signs in to some access.
	for _, u := range realm.Users {
		claims := map[string]any{"sub": "x", "email": u.Email, "email_verified": u.EmailVerified, "groups": []any{}}
		for _, g := range u.Groups {
			claims["groups"] = append(claims["groups"].([]any), strings.TrimPrefix(g, "/"))
		}
		if id, err := pol.IdentityFromClaims(pp.Issuer, "", claims); err != nil || len(id.Groups) == 0 {
			t.Errorf("realm user %s: %+v, %v", u.Email, id, err)
		}
	}
	if pw := read("upstream-password"); !strings.Contains(read("initdb/02-service-account.sql"), "IDENTIFIED BY '"+pw+"'") {
		t.Error("initdb/02-service-account.sql does not create ro_user with deploy/sso-demo/upstream-password")
	}

	bin, ok := testtool.Need(t, "docker-compose", "docker-compose", "docker-compose.yml")
	if !ok {
		return
	}
	out, err := exec.Command(bin, "-f", "../../docker-compose.yml", "config", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
}
