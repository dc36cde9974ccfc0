package authz

import (
	"os"
	"strings"
	"testing"
)

const ssoPolicy = `
groups:
  data-managers: {}
  biostatistics: {}
users:
  alice: {password: "$argon2id$v=19$m=19456,t=2,p=1$Hd1z1D7QLQeO8cE/v3kJ7w$vn4UoSgtKd+0CIRWmrTZca9N62VQSjyFBzt5wQCqnxc", groups: [data-managers]}
  lead@example.com: {sso: kc, groups: [biostatistics]}
rules:
  - {id: dm, to: [group:data-managers], allow: [study.*]}
  - {id: alice-extra, to: [user:alice], allow: [ops.*]}
  - {id: lead-extra, to: [user:lead@example.com], allow: [ops.*]}
identity_providers:
  kc:
    issuer: https://idp.example.com/realms/clinical
    audiences: [rrproxy]
    username_claim: preferred_username
    usernames: {J.Smith: jsmith}
    groups_claim: realm_access.roles
    groups: {dm: [data-managers], stats: [biostatistics]}
    require_mfa: [biostatistics]
    mfa_acr: [gold]
`

func TestIdentityFromClaims(t *testing.T) {
	p, err := Parse("policy.yaml", []byte(ssoPolicy))
	if err != nil {
		t.Fatal(err)
	}
	const iss = "https://idp.example.com/realms/clinical"
	claims := func(user string, roles ...any) map[string]any {
		return map[string]any{"sub": "s1", "preferred_username": user, "realm_access": map[string]any{"roles": roles}}
	}
	// Groups from a nested claim; an IdP user named like a local account
	// does not get that account's user:NAME rules.
	id, err := p.IdentityFromClaims(iss, "alice", claims("alice", "dm"))
	if err != nil || id.Account != "" || strings.Join(id.Groups, ",") != "data-managers" || id.Source != iss || id.Provider != "kc" {
		t.Fatalf("alice via SSO: %+v, %v", id, err)
	}
	if d := p.CheckQuery(id, Session{}, "SELECT * FROM ops.site_payments"); d.Allowed() {
		t.Fatal("an SSO user named alice got the local alice's ops grant")
	}
	if d := p.CheckQuery(&Identity{User: "alice", Groups: []string{"data-managers"}, Source: "local", Account: "alice"}, Session{}, "SELECT * FROM ops.site_payments"); !d.Allowed() {
		t.Fatalf("local alice lost her own rule: %v", d.Err)
	}
	// A mapped user name: the login name is the mapped one.
	id, err = p.IdentityFromClaims(iss, "jsmith", claims("j.smith", "dm"))
	if err != nil || id.User != "jsmith" {
		t.Fatalf("mapped user name: %+v, %v", id, err)
	}
	if _, err := p.IdentityFromClaims(iss, "j.smith", claims("j.smith", "dm")); err == nil {
		t.Fatal("the unmapped claim value logged in as well")
	}
	// A listed SSO user gets their listing; MFA by acr.
	id, err = p.IdentityFromClaims(iss, "", map[string]any{"sub": "s2", "preferred_username": "lead@example.com", "acr": "gold"})
	if err != nil || id.Account != "lead@example.com" || strings.Join(id.Groups, ",") != "biostatistics" || !id.MFA {
		t.Fatalf("listed lead: %+v, %v", id, err)
	}
	if d := p.CheckQuery(id, Session{}, "SELECT * FROM ops.site_payments"); !d.Allowed() {
		t.Fatalf("listed SSO user lacks their user: rule: %v", d.Err)
	}
	// Without MFA the listing's MFA-only group is withheld; the listing
	// itself (user:NAME rules) still applies.
	id, err = p.IdentityFromClaims(iss, "", map[string]any{"sub": "s2", "preferred_username": "lead@example.com"})
	if err != nil || len(id.Groups) != 0 || strings.Join(id.DroppedGroups, ",") != "biostatistics" {
		t.Fatalf("lead without MFA: %+v, %v", id, err)
	}
	for _, c := range []struct {
		iss    string
		claims map[string]any
		want   string
	}{
		{"https://other.example.com", claims("bob", "dm"), "not among identity_providers"},
		{iss, claims("bob"), "no policy group"},
		{iss, claims("bob", "stats"), "multi-factor"},
		{iss, map[string]any{"sub": "s3"}, "no preferred_username claim"},
		{iss, map[string]any{"preferred_username": "bob"}, "no subject"},
	} {
		if _, err := p.IdentityFromClaims(c.iss, "", c.claims); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.claims, err, c.want)
		}
	}
}

// TestUnverifiedEmailRefused: where the email claim is the user name
// (or its domain is checked), a token must say the address is verified.
// Otherwise anyone whose IdP lets them type an address could take
// another person's name, rules and groups. trust_unverified_email opts
// out for an IdP that never sends email_verified.
func TestUnverifiedEmailRefused(t *testing.T) {
	policy := func(extra string) *Policy {
		p, err := Parse("policy.yaml", []byte(`
groups:
  data-managers: {}
users:
  named.person@example.com: {sso: kc, groups: [data-managers]}
rules:
  - {id: dm, to: [group:data-managers], allow: [study.*]}
identity_providers:
  kc:
    issuer: https://idp.example.com/realms/clinical
    audiences: [rrproxy]
    email_domains: [example.com]
`+extra))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	const iss = "https://idp.example.com/realms/clinical"
	claims := func(verified any) map[string]any {
		c := map[string]any{"sub": "attacker-sub", "email": "named.person@example.com"}
		if verified != nil {
			c["email_verified"] = verified
		}
		return c
	}
	strict := policy("")
	for _, v := range []any{nil, false, "false", "yes", 1} {
		if id, err := strict.IdentityFromClaims(iss, "", claims(v)); err == nil || !strings.Contains(err.Error(), "does not say the email address is verified") {
			t.Errorf("email_verified %#v: %+v, %v; want refused", v, id, err)
		}
	}
	for _, v := range []any{true, "true"} {
		if id, err := strict.IdentityFromClaims(iss, "", claims(v)); err != nil || id.Account != "named.person@example.com" {
			t.Errorf("email_verified %#v: %+v, %v; want signed in", v, id, err)
		}
	}
	trusting := policy("    trust_unverified_email: true\n")
	if id, err := trusting.IdentityFromClaims(iss, "", claims(nil)); err != nil || id.Account != "named.person@example.com" {
		t.Errorf("trust_unverified_email, no email_verified: %+v, %v", id, err)
	}
	if _, err := trusting.IdentityFromClaims(iss, "", claims(false)); err != nil {
		t.Errorf("trust_unverified_email trusts even false (the setting says so): %v", err)
	}
}

func TestIdentityProviderErrors(t *testing.T) {
	bad := `groups:
  g: {}
users:
  x: {sso: nope}
  y: {sso: kc, password: "$argon2id$v=19$m=19456,t=2,p=1$Hd1z1D7QLQeO8cE/v3kJ7w$vn4UoSgtKd+0CIRWmrTZca9N62VQSjyFBzt5wQCqnxc"}
  z: {groups: [g]}
rules:
  - {id: r, to: [group:g], allow: [study.*]}
identity_providers:
  kc:
    issuer: http://idp.example.com
    groups: {a: [missing]}
    require_mfa: [ghost]
    credential_lifetime: forever
    app_passwords: {groups: [g], max_lifetime: soon}
  Bad_Name:
    issuer: https://idp.example.com
    audiences: [x]
`
	_, err := Parse("policy.yaml", []byte(bad))
	if err == nil {
		t.Fatal("a bad identity_providers section loaded")
	}
	for _, want := range []string{
		`policy.yaml:4: users.x.sso: unknown identity provider "nope"`,
		`policy.yaml:5: users.y: an SSO user (sso: kc) has no password`,
		`policy.yaml:6: users.z.password: is required`,
		`policy.yaml:11: identity_providers.kc.issuer: issuer "http://idp.example.com": an https:// URL`,
		`policy.yaml:10: identity_providers.kc: audiences is required`,
		`policy.yaml:12: identity_providers.kc.groups.a[0]: unknown group "missing"`,
		`policy.yaml:13: identity_providers.kc.require_mfa[0]: unknown group "ghost"`,
		`policy.yaml:14: identity_providers.kc.credential_lifetime: "forever": a duration`,
		`policy.yaml:15: identity_providers.kc.app_passwords.max_lifetime: "soon": a duration`,
		`policy.yaml:16: identity_providers.Bad_Name: identity provider name "Bad_Name"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

// TestExamplePolicySSOBlockLoads uncomments the identity_providers
// example at the end of policy.yaml and loads the result, so the example
// an administrator copies is valid.
func TestExamplePolicySSOBlockLoads(t *testing.T) {
	src, err := os.ReadFile("../policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	i := strings.Index(text, "# identity_providers:")
	if i < 0 {
		t.Fatal("policy.yaml has no identity_providers example")
	}
	var b strings.Builder
	b.WriteString(text[:i])
	for _, line := range strings.Split(text[i:], "\n") {
		b.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ") + "\n")
	}
	p, err := Parse("../policy.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("the example with identity_providers uncommented does not load: %v", err)
	}
	if ps := p.Providers(); len(ps) != 1 || ps[0].Name != "corp" || ps[0].AppPasswordLife == 0 {
		t.Fatalf("providers: %+v", ps)
	}
}
