package authz

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Single sign-on, as far as policy goes: which identity providers are
// trusted, how their claims name a person and their groups, which groups
// need multi-factor authentication, and how long issued database
// passwords may live. Verifying tokens and issuing passwords is package
// sso's work; it hands the verified claims to IdentityFromClaims.

// ProviderSpec is one trusted OIDC identity provider in policy.yaml.
type ProviderSpec struct {
	Issuer string `yaml:"issuer"`
	// Audiences accepted in a token sent as the password (an ID token's
	// aud is the client id; an access token's is the API's identifier).
	Audiences []string `yaml:"audiences"`
	// UsernameClaim names the claim that is the MySQL user name
	// (default email); it must equal the name the client logs in with.
	UsernameClaim string `yaml:"username_claim"`
	// Usernames maps a username claim value to another MySQL user name,
	// for people whose tools already know them by an older name.
	Usernames map[string]string `yaml:"usernames"`
	// GroupsClaim is a dot path to a string or list of strings (default
	// groups; Keycloak realm roles: realm_access.roles).
	GroupsClaim string `yaml:"groups_claim"`
	// EmailDomains, if set, are the only domains the email claim may have.
	EmailDomains []string `yaml:"email_domains"`
	// TrustUnverifiedEmail accepts an email claim the token does not say
	// is verified (email_verified true), where the email is the user
	// name or its domain is checked. Only for an IdP that never sends
	// email_verified and where nobody can set their own address: on one
	// where people can, anyone could take another person's name.
	TrustUnverifiedEmail bool `yaml:"trust_unverified_email"`
	// Groups maps an IdP group to policy groups.
	Groups map[string][]string `yaml:"groups"`
	// RequireMFA lists policy groups granted only to a sign-in with
	// multi-factor authentication (amr or acr claim, below).
	RequireMFA []string `yaml:"require_mfa"`
	// MFAMethods are amr values that count as multi-factor (default: mfa,
	// otp, hwk, swk, sms, fpt, face, pop); MFAACR are acr values that do.
	MFAMethods []string `yaml:"mfa_methods"`
	MFAACR     []string `yaml:"mfa_acr"`
	// CredentialLifetime caps web-issued database passwords (default
	// 12h).
	CredentialLifetime string `yaml:"credential_lifetime"`
	// AppPasswords says who may create long-lived passwords for
	// scheduled refreshes, and for how long at most.
	AppPasswords *AppPasswordSpec `yaml:"app_passwords"`
}

// AppPasswordSpec governs app passwords.
type AppPasswordSpec struct {
	Groups      []string `yaml:"groups"`
	MaxLifetime string   `yaml:"max_lifetime"`
}

type provider struct {
	name          string
	issuer        string
	audiences     []string
	usernameClaim string
	usernames     map[string]string // claim value (lower case) -> MySQL user name
	groupsClaim   []string
	domains       []string
	trustEmail    bool // trust_unverified_email
	groups        map[string][]string
	requireMFA    map[string]bool
	mfaMethods    []string
	mfaACR        []string
	lifetime      time.Duration
	appGroups     []string
	appLifetime   time.Duration
}

// emailVerified reports whether the claims say the email is verified:
// email_verified true, or "true" (some IdPs, e.g. Amazon Cognito, send
// it as a string).
func emailVerified(claims map[string]any) bool {
	switch v := claims["email_verified"].(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

var defaultMFAMethods = []string{"mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "pop"}

func parseProviders(f *File, p *Policy, bad func([]any, string, ...any), P func(...any) []any) {
	for _, name := range sortedKeys(f.IdentityProviders) {
		ps := f.IdentityProviders[name]
		at := P("identity_providers", name)
		if !idRE.MatchString(name) {
			bad(at, "identity provider name %q: lower-case letters, digits, . _ -", name)
		}
		pr := &provider{name: name, issuer: ps.Issuer, audiences: ps.Audiences,
			usernameClaim: cmp.Or(ps.UsernameClaim, "email"), domains: ps.EmailDomains, trustEmail: ps.TrustUnverifiedEmail,
			groups: ps.Groups, requireMFA: map[string]bool{}, mfaMethods: ps.MFAMethods, mfaACR: ps.MFAACR,
			lifetime: 12 * time.Hour}
		if !strings.HasPrefix(ps.Issuer, "https://") && !strings.HasPrefix(ps.Issuer, "http://127.0.0.1") && !strings.HasPrefix(ps.Issuer, "http://localhost") {
			bad(append(at, "issuer"), "issuer %q: an https:// URL (http only for a loopback test IdP)", ps.Issuer)
		}
		for _, other := range p.providers {
			if other.issuer == ps.Issuer {
				bad(append(at, "issuer"), "issuer %q is also identity provider %q", ps.Issuer, other.name)
			}
		}
		if len(ps.Audiences) == 0 {
			bad(at, "audiences is required: the client id (ID tokens) or API identifier (access tokens) tokens must carry")
		}
		pr.groupsClaim = strings.Split(cmp.Or(ps.GroupsClaim, "groups"), ".")
		pr.usernames = map[string]string{}
		for from, to := range ps.Usernames {
			if !nameRE.MatchString(to) {
				bad(append(at, "usernames", from), "user name %q: use letters, digits and . _ @ + - (at most 80)", to)
			}
			pr.usernames[strings.ToLower(from)] = to
		}
		if len(pr.mfaMethods) == 0 {
			pr.mfaMethods = defaultMFAMethods
		}
		for idpGroup, gs := range ps.Groups {
			for i, g := range gs {
				if _, ok := f.Groups[g]; !ok {
					bad(append(at, "groups", idpGroup, i), "unknown group %q (declare it under groups:)", g)
				}
			}
		}
		for i, g := range ps.RequireMFA {
			if _, ok := f.Groups[g]; !ok {
				bad(append(at, "require_mfa", i), "unknown group %q", g)
			}
			pr.requireMFA[g] = true
		}
		if ps.CredentialLifetime != "" {
			d, err := time.ParseDuration(ps.CredentialLifetime)
			if err != nil || d <= 0 {
				bad(append(at, "credential_lifetime"), "%q: a duration such as 12h", ps.CredentialLifetime)
			}
			pr.lifetime = d
		}
		if a := ps.AppPasswords; a != nil {
			pr.appGroups = a.Groups
			for i, g := range a.Groups {
				if _, ok := f.Groups[g]; !ok {
					bad(append(at, "app_passwords", "groups", i), "unknown group %q", g)
				}
			}
			d, err := time.ParseDuration(a.MaxLifetime)
			if err != nil || d <= 0 {
				bad(append(at, "app_passwords", "max_lifetime"), "%q: a duration such as 2160h (90 days)", a.MaxLifetime)
			}
			pr.appLifetime = d
		}
		p.providers = append(p.providers, pr)
	}
}

// Provider is what package sso needs to know of a trusted issuer.
type Provider struct {
	Name               string
	Issuer             string
	Audiences          []string
	CredentialLifetime time.Duration
	AppPasswordLife    time.Duration // 0: app passwords not allowed
}

func (pr *provider) public() Provider {
	return Provider{Name: pr.name, Issuer: pr.issuer, Audiences: pr.audiences,
		CredentialLifetime: pr.lifetime, AppPasswordLife: pr.appLifetime}
}

// Providers lists the trusted identity providers.
func (p *Policy) Providers() []Provider {
	out := make([]Provider, 0, len(p.providers))
	for _, pr := range p.providers {
		out = append(out, pr.public())
	}
	return out
}

// ProviderOf is the trusted identity provider with issuer, if any.
func (p *Policy) ProviderOf(issuer string) (Provider, bool) {
	if pr := p.provider(issuer); pr != nil {
		return pr.public(), true
	}
	return Provider{}, false
}

func (p *Policy) provider(issuer string) *provider {
	for _, pr := range p.providers {
		if pr.issuer == issuer {
			return pr
		}
	}
	return nil
}

// SSOError is a refused single sign-on, with the precise reason for the
// audit log. The client is only ever told ErrAuthFailed.
type SSOError struct {
	Reason string
	// Issuer and Subject name who was refused, once known (a token's
	// issuer is the claimed one until its signature has verified).
	Issuer, Subject string
}

func (e *SSOError) Error() string { return "sso: " + e.Reason }

// IdentityFromClaims turns verified token claims from issuer into the
// identity the policy grants to, or says precisely why not. login is the
// name the client logged in with ("" on the web, where the claims name
// the person). MFA-only groups are dropped without MFA; no group at all
// (and no individual listing) is no access.
func (p *Policy) IdentityFromClaims(issuer, login string, claims map[string]any) (*Identity, error) {
	id, err := p.identityFromClaims(issuer, login, claims)
	if se, ok := err.(*SSOError); ok {
		se.Issuer = issuer
		se.Subject, _ = claims["sub"].(string)
	}
	return id, err
}

func (p *Policy) identityFromClaims(issuer, login string, claims map[string]any) (*Identity, error) {
	pr := p.provider(issuer)
	if pr == nil {
		return nil, &SSOError{Reason: fmt.Sprintf("issuer %q is not among identity_providers", issuer)}
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return nil, &SSOError{Reason: "token has no subject"}
	}
	name, _ := claims[pr.usernameClaim].(string)
	if name == "" {
		return nil, &SSOError{Reason: fmt.Sprintf("token has no %s claim (username_claim)", pr.usernameClaim)}
	}
	if mapped, ok := pr.usernames[strings.ToLower(name)]; ok {
		name = mapped
	}
	if login != "" && !strings.EqualFold(login, name) {
		return nil, &SSOError{Reason: fmt.Sprintf("login name %q does not match the token's %s %q", sanitizeName(login), pr.usernameClaim, name)}
	}
	if (pr.usernameClaim == "email" || len(pr.domains) > 0) && !pr.trustEmail && !emailVerified(claims) {
		// The policy names people by their address: an address the IdP
		// has not verified is one its holder may have typed in.
		return nil, &SSOError{Reason: fmt.Sprintf("the token does not say the email address is verified (email_verified is %v); set trust_unverified_email only for an IdP that never sends it and where people cannot choose their own address",
			claims["email_verified"])}
	}
	if len(pr.domains) > 0 {
		email, _ := claims["email"].(string)
		_, domain, ok := strings.Cut(email, "@")
		if !ok || !slices.ContainsFunc(pr.domains, func(d string) bool { return strings.EqualFold(d, domain) }) {
			return nil, &SSOError{Reason: fmt.Sprintf("email %q is not in an allowed domain (%s)", email, strings.Join(pr.domains, ", "))}
		}
	}
	mfa := hasMFA(pr, claims)
	set := map[string]bool{}
	var dropped []string
	for _, g := range claimStrings(claims, pr.groupsClaim) {
		for _, pg := range pr.groups[g] {
			if pr.requireMFA[pg] && !mfa {
				dropped = append(dropped, pg)
				continue
			}
			set[pg] = true
		}
	}
	id := &Identity{User: name, Source: issuer, Provider: pr.name, Subject: sub, MFA: mfa}
	if a := p.users[name]; a != nil && a.sso == pr.name {
		if a.disabled {
			return nil, &SSOError{Reason: fmt.Sprintf("user %q is disabled in policy.yaml", name)}
		}
		id.Account = name
		for _, g := range a.groups {
			if pr.requireMFA[g] && !mfa {
				dropped = append(dropped, g)
				continue
			}
			set[g] = true
		}
	}
	for g := range set {
		id.Groups = append(id.Groups, g)
	}
	sort.Strings(id.Groups)
	if len(id.Groups) == 0 && id.Account == "" {
		if len(dropped) > 0 {
			return nil, &SSOError{Reason: fmt.Sprintf("group(s) %s require multi-factor authentication and the sign-in had none (amr %v, acr %v)",
				strings.Join(dedupe(dropped), ", "), claims["amr"], claims["acr"])}
		}
		return nil, &SSOError{Reason: fmt.Sprintf("no policy group maps from the token's %s claim %v: no access", strings.Join(pr.groupsClaim, "."), claimStrings(claims, pr.groupsClaim))}
	}
	id.DroppedGroups = dedupe(dropped)
	return id, nil
}

// MayCreateAppPasswords reports whether id may create app passwords.
func (p *Policy) MayCreateAppPasswords(id *Identity) bool {
	pr := p.provider(id.Source)
	if pr == nil || pr.appLifetime == 0 {
		return false
	}
	for _, g := range id.Groups {
		if slices.Contains(pr.appGroups, g) {
			return true
		}
	}
	return false
}

func hasMFA(pr *provider, claims map[string]any) bool {
	for _, m := range claimStrings(claims, []string{"amr"}) {
		if slices.Contains(pr.mfaMethods, m) {
			return true
		}
	}
	acr, _ := claims["acr"].(string)
	return acr != "" && slices.Contains(pr.mfaACR, acr)
}

// claimStrings follows a dot path into claims and returns the string or
// strings found there.
func claimStrings(claims map[string]any, path []string) []string {
	var v any = claims
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}

func dedupe(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}

// sanitizeName keeps a client-chosen name printable and short for logs.
func sanitizeName(s string) string {
	if len(s) > 80 {
		s = s[:80]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
