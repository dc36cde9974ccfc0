package sso

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
)

// Client is how rrproxy talks to one identity provider for the web
// sign-in (rrproxy.yaml sso.clients). The provider itself, what its
// claims mean and who may use it, is in policy.yaml.
type Client struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	Scopes       []string // default: openid email profile groups offline_access
	// DiscoveryURL, if set, is fetched for the issuer's metadata instead
	// of Issuer itself (rrproxy reaches the IdP by an internal address).
	DiscoveryURL string
}

// Config is the single sign-on service's configuration.
type Config struct {
	Key       []byte // shared by instances: password hashes, cookies, sealed refresh tokens
	StoreDir  string
	PublicURL string // the web listener as users reach it, e.g. https://rrproxy.example.com:8443
	// ProxyAddress is the MySQL listener as users reach it (host:port),
	// for the connect snippets.
	ProxyAddress string
	Clients      []Client
	// Grace lets a session run on after its credential or token expires
	// (revocation takes effect at once).
	Grace time.Duration
	// RecheckEvery is how often app passwords are re-checked with the
	// IdP (default 15m).
	RecheckEvery time.Duration
	// HTTPClient talks to the IdPs (nil: http.DefaultClient).
	HTTPClient *http.Client
}

// Policies gives the policy in force.
type Policies interface{ Current() *authz.Policy }

// Recorder appends audit events.
type Recorder interface {
	Record(ev *auditlog.Event) (uint64, error)
}

// Service verifies SSO logins and runs the web sign-in.
type Service struct {
	cfg      Config
	store    *Store
	policies Policies
	audit    Recorder
	log      *slog.Logger
	now      func() time.Time

	mu        sync.Mutex
	providers map[string]*oidc.Provider // by issuer, discovered on first use
}

// New builds the service.
func New(cfg Config, policies Policies, audit Recorder, log *slog.Logger) (*Service, error) {
	st, err := OpenStore(cfg.StoreDir, cfg.Key)
	if err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.RecheckEvery == 0 {
		cfg.RecheckEvery = 15 * time.Minute
	}
	return &Service{cfg: cfg, store: st, policies: policies, audit: audit, log: log, now: time.Now,
		providers: map[string]*oidc.Provider{}}, nil
}

// Store is the credential store.
func (s *Service) Store() *Store { return s.store }

func (s *Service) ctx(parent context.Context) context.Context {
	return oidc.ClientContext(parent, s.cfg.HTTPClient)
}

// provider discovers issuer's endpoints and keys once; a failure is not
// kept, so an IdP that was down is tried again at the next use.
func (s *Service) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	s.mu.Lock()
	p := s.providers[issuer]
	s.mu.Unlock()
	if p != nil {
		return p, nil
	}
	ctx = s.ctx(ctx)
	from := issuer
	if c := s.client(issuer); c != nil && c.DiscoveryURL != "" {
		ctx, from = oidc.InsecureIssuerURLContext(ctx, issuer), c.DiscoveryURL
	}
	p, err := oidc.NewProvider(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("discovery of %s failed: %w", issuer, err)
	}
	s.mu.Lock()
	s.providers[issuer] = p
	s.mu.Unlock()
	return p, nil
}

// LooksLikeToken reports whether pw has the shape of a JWT.
func LooksLikeToken(pw string) bool {
	return strings.HasPrefix(pw, "eyJ") && strings.Count(pw, ".") == 2 && len(pw) < 16<<10
}

// Authenticate checks an SSO password: an issued one or a token. handled
// is false for anything else (a local account's password), which the
// caller checks as before. On failure err is an *authz.SSOError with the
// precise reason, for the audit log only.
func (s *Service) Authenticate(ctx context.Context, pol *authz.Policy, login, pw string) (id *authz.Identity, handled bool, err error) {
	switch {
	case IsIssuedPassword(pw):
		id, err := s.authIssued(ctx, pol, login, pw)
		return id, true, err
	case LooksLikeToken(pw):
		id, err := s.authToken(ctx, pol, login, pw)
		return id, true, err
	}
	return nil, false, nil
}

// appLoginRecheck is how old an app password's last IdP check may be
// before a login with it checks again.
const appLoginRecheck = time.Minute

func (s *Service) authIssued(ctx context.Context, pol *authz.Policy, login, pw string) (*authz.Identity, error) {
	c, err := s.store.Check(pw)
	if err != nil {
		return nil, &authz.SSOError{Reason: "issued password: " + err.Error()}
	}
	if err := c.Valid(s.now()); err != nil {
		return nil, &authz.SSOError{Reason: err.Error(), Issuer: c.Issuer, Subject: c.Subject}
	}
	if !strings.EqualFold(c.User, login) {
		return nil, &authz.SSOError{Reason: fmt.Sprintf("credential %s belongs to %q, not the login name", c.ID, c.User), Issuer: c.Issuer, Subject: c.Subject}
	}
	if c.Kind == KindApp && s.now().Sub(c.CheckedAt) > appLoginRecheck {
		// An app password's login asks the IdP first (if the last check
		// is older than a minute), so a person disabled or moved out of
		// the granting group is refused at once, not at the next
		// periodic re-check. An unreachable IdP does not block it.
		if reason, err := s.recheck(ctx, c); err != nil {
			s.log.Warn("sso: app password login without an IdP re-check", "id", c.ID, "err", err)
		} else if reason != "" {
			s.revokeApp(c, reason)
			return nil, &authz.SSOError{Reason: "app password revoked at login: " + reason, Issuer: c.Issuer, Subject: c.Subject}
		} else if fresh, err := s.store.Get(c.ID, 0); err == nil {
			c = fresh
		}
	}
	// The claims are mapped under the policy in force now, not the one
	// at issue: a group mapping removed since takes effect at once.
	id, err := pol.IdentityFromClaims(c.Issuer, "", c.Claims)
	if err != nil {
		return nil, err
	}
	id.Credential, id.Expires = c.ID, c.Expires
	return id, nil
}

func (s *Service) authToken(ctx context.Context, pol *authz.Policy, login, raw string) (*authz.Identity, error) {
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return nil, &authz.SSOError{Reason: "token: " + err.Error()}
	}
	id, err := s.verifyToken(ctx, pol, login, raw, iss)
	if se, ok := err.(*authz.SSOError); ok && se.Issuer == "" {
		se.Issuer = iss // as the token claims it
	}
	return id, err
}

func (s *Service) verifyToken(ctx context.Context, pol *authz.Policy, login, raw, iss string) (*authz.Identity, error) {
	prov, ok := pol.ProviderOf(iss)
	if !ok {
		return nil, &authz.SSOError{Reason: fmt.Sprintf("token issuer %q is not among identity_providers", iss)}
	}
	p, err := s.provider(ctx, iss)
	if err != nil {
		return nil, &authz.SSOError{Reason: "token: " + err.Error()}
	}
	// The audience is checked below against every accepted value; the
	// verifier checks signature (keys refreshed on an unknown key id),
	// issuer, expiry and not-before.
	v := p.Verifier(&oidc.Config{SkipClientIDCheck: true, Now: s.now})
	tok, err := v.Verify(s.ctx(ctx), raw)
	if err != nil {
		return nil, &authz.SSOError{Reason: "token: " + err.Error()}
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(prov.Audiences, a) }) {
		return nil, &authz.SSOError{Reason: fmt.Sprintf("token audience %v is not among the accepted %v", tok.Audience, prov.Audiences)}
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, &authz.SSOError{Reason: "token claims: " + err.Error()}
	}
	id, err := pol.IdentityFromClaims(iss, login, claims)
	if err != nil {
		return nil, err
	}
	id.Expires = tok.Expiry
	return id, nil
}

// unverifiedIssuer reads iss from a JWT's payload, only to pick the
// verifier; nothing else of the unverified payload is used.
func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("payload is not base64url")
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Iss == "" {
		return "", errors.New("payload has no issuer")
	}
	return c.Iss, nil
}

// StillValid reports why a session's SSO identity may run nothing more:
// its credential revoked, or its credential or token expired beyond the
// grace period. Local identities are always still valid here.
func (s *Service) StillValid(id *authz.Identity) error {
	if id == nil || id.Source == "local" || id.Source == "" {
		return nil
	}
	now := s.now()
	if id.Credential != "" {
		c, err := s.store.Get(id.Credential, cacheFor)
		if err != nil {
			return fmt.Errorf("credential %s: %w", id.Credential, err)
		}
		if c.Revoked != nil {
			return c.Valid(now)
		}
	}
	if !id.Expires.IsZero() && now.After(id.Expires.Add(s.cfg.Grace)) {
		what := "token"
		if id.Credential != "" {
			what = "credential " + id.Credential
		}
		return fmt.Errorf("%s expired at %s", what, id.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// record writes an audit event for the web side; the error is returned
// so that nothing is issued without its record.
func (s *Service) record(ev *auditlog.Event) error {
	if s.audit == nil {
		return nil
	}
	_, err := s.audit.Record(ev)
	return err
}

// claimsOf returns the verified ID token's claims, completed from the
// UserInfo endpoint when the ID token leaves some out (many IdPs put
// email or groups only there). UserInfo fills gaps only, and only for
// the same subject; it never overrides what the signed ID token says.
func (s *Service) claimsOf(ctx context.Context, p *oidc.Provider, tok *oauth2.Token, idt *oidc.IDToken) (map[string]any, error) {
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return nil, err
	}
	if tok == nil || tok.AccessToken == "" || p.UserInfoEndpoint() == "" {
		return claims, nil
	}
	ui, err := p.UserInfo(s.ctx(ctx), oauth2.StaticTokenSource(tok))
	if err != nil {
		s.log.Debug("sso: userinfo unavailable; using the ID token's claims only", "err", err)
		return claims, nil
	}
	if ui.Subject == "" {
		return claims, nil // not an OIDC UserInfo answer: ignore it
	}
	if ui.Subject != idt.Subject {
		return nil, fmt.Errorf("userinfo names subject %q, the ID token %q", ui.Subject, idt.Subject)
	}
	var extra map[string]any
	if err := ui.Claims(&extra); err != nil {
		return claims, nil
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return claims, nil
}
