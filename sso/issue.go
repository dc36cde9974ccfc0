package sso

import (
	"context"
	"crypto/hmac"
	"fmt"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
)

// signInError is a refused sign-in: what the person is told, and the
// precise reason for the audit log.
type signInError struct {
	userMsg, reason string
	status          int
}

func (e *signInError) Error() string { return e.reason }

// signIn is the end both sign-in flows share (web and device): the
// tokens the IdP gave rrproxy's client c are verified (with the nonce,
// for the web flow), mapped under the policy in force, and turned into a
// new session credential, on record in the audit log before it is
// returned. via says which flow, for the audit record.
func (s *Service) signIn(ctx context.Context, c *Client, p *oidc.Provider, tok *oauth2.Token, nonce string, src source, via string) (*authz.Identity, *Credential, string, *signInError) {
	unverified := func(reason string) *signInError {
		return &signInError{"The identity provider's answer did not verify.", reason, 403}
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: c.ClientID, Now: s.now}).Verify(s.ctx(ctx), raw)
	if err != nil {
		return nil, nil, "", unverified("id token: " + err.Error())
	}
	if nonce != "" && !hmac.Equal([]byte(idt.Nonce), []byte(nonce)) {
		return nil, nil, "", unverified("nonce mismatch")
	}
	claims, err := s.claimsOf(ctx, p, tok, idt)
	if err != nil {
		return nil, nil, "", unverified("claims: " + err.Error())
	}
	pol := s.policies.Current()
	id, err := pol.IdentityFromClaims(c.Issuer, "", claims)
	if err != nil {
		return nil, nil, "", &signInError{"You have no access to this database. Ask your administrator if you should.", err.Error(), 403}
	}
	prov, _ := pol.ProviderOf(c.Issuer) // IdentityFromClaims found it
	cred := &Credential{Kind: KindSession, Name: via, User: id.User, Issuer: c.Issuer, Subject: id.Subject, Claims: claims,
		Expires: s.now().Add(prov.CredentialLifetime).UTC()}
	if tok.RefreshToken != "" {
		// Kept (sealed) so that app passwords created in this web
		// session can be re-checked with the IdP later; they all use,
		// and keep rotated, this one copy.
		cred.RefreshToken = s.seal(sealRefreshToken, []byte(tok.RefreshToken))
	}
	pw, err := s.store.Issue(cred)
	if err != nil {
		return nil, nil, "", &signInError{"rrproxy could not store the new password. Try again later.", err.Error(), 500}
	}
	ev := &auditlog.Event{Action: "sso-signin", Outcome: "success", User: id.User, IDSource: c.Issuer, Subject: id.Subject,
		Groups: id.Groups, Credential: cred.ID, Source: src.String(), SourceIP: src.ip, SourcePort: src.port, Via: src.via,
		Reason: fmt.Sprintf("%s: database password issued, valid until %s", via, cred.Expires.Format(time.RFC3339))}
	if len(id.DroppedGroups) > 0 {
		ev.Reason += "; withheld for want of MFA: " + strings.Join(id.DroppedGroups, ", ")
	}
	if err := s.record(ev); err != nil {
		_ = s.store.Revoke(cred.ID, "audit log could not be written")
		return nil, nil, "", &signInError{"The audit log cannot be written, so no password is issued. Try again later.", "audit: " + err.Error(), 503}
	}
	return id, cred, pw, nil
}
