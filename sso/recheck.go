package sso

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/rrproxy/rrproxy/auditlog"
)

// App passwords live for months, so each stays tied to the person's IdP
// account: every RecheckEvery, rrproxy redeems the refresh token of the
// sign-in it was created in (shared by that sign-in's app passwords, and
// kept rotated). If the IdP refuses (the account was disabled or deleted, or
// the grant revoked), or the fresh ID token's claims no longer map to a
// group allowed app passwords, the app password is revoked, with an
// audit record. If the IdP cannot be reached, nothing changes: an outage
// must not break scheduled refreshes, and a disabled account is caught
// at the first check after the IdP is back.

// RecheckLoop re-checks app passwords until ctx ends.
func (s *Service) RecheckLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.RecheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.RecheckAppPasswords(ctx)
		}
	}
}

// RecheckAppPasswords re-checks every live app password once and returns
// how many it revoked.
func (s *Service) RecheckAppPasswords(ctx context.Context) int {
	all, err := s.store.List("")
	if err != nil {
		s.log.Warn("sso: app password re-check: cannot list credentials", "err", err)
		return 0
	}
	revoked := 0
	for _, c := range all {
		if c.Kind != KindApp || c.Valid(s.now()) != nil {
			continue
		}
		reason, err := s.recheck(ctx, c)
		if err != nil {
			s.log.Warn("sso: app password re-check postponed", "id", c.ID, "user", c.User, "err", err)
			continue
		}
		if reason == "" {
			continue
		}
		if s.revokeApp(c, reason) {
			revoked++
		}
	}
	return revoked
}

// revokeApp revokes app password c for reason, with an audit record.
func (s *Service) revokeApp(c *Credential, reason string) bool {
	if err := s.store.Revoke(c.ID, reason); err != nil {
		s.log.Error("sso: could not revoke app password", "id", c.ID, "err", err)
		return false
	}
	_ = s.record(&auditlog.Event{Action: "credential-revoked", Outcome: "success", User: c.User, IDSource: c.Issuer,
		Subject: c.Subject, Credential: c.ID, Reason: "app password " + fmt.Sprintf("%q", c.Name) + ": " + reason})
	s.log.Info("sso: app password revoked", "id", c.ID, "user", c.User, "reason", reason)
	return true
}

// recheck asks the IdP about c's owner. It returns a revocation reason
// ("" to keep it), or an error if the IdP could not be asked.
func (s *Service) recheck(ctx context.Context, c *Credential) (string, error) {
	cl := s.client(c.Issuer)
	if cl == nil {
		return "rrproxy no longer has a client for issuer " + c.Issuer, nil
	}
	cfg, p, err := s.oauthConfig(ctx, cl)
	if err != nil {
		return "", err
	}
	tok, reason, err := s.refresh(ctx, cfg, c)
	if reason != "" || err != nil {
		return reason, err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", errors.New("the refresh gave no ID token")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: cl.ClientID, Now: s.now}).Verify(s.ctx(ctx), raw)
	if err != nil {
		return "", fmt.Errorf("refreshed ID token: %w", err)
	}
	claims, err := s.claimsOf(ctx, p, tok, idt)
	if err != nil {
		return "", err
	}
	if idt.Subject != c.Subject {
		return "the refreshed token names another subject", nil
	}
	pol := s.policies.Current()
	id, err := pol.IdentityFromClaims(c.Issuer, "", claims)
	if err != nil {
		return "the person's IdP account no longer qualifies: " + err.Error(), nil
	}
	if !pol.MayCreateAppPasswords(id) {
		return "the person is no longer in a group allowed app passwords", nil
	}
	if err := s.store.Recheck(c.ID, claims, s.now().UTC()); err != nil {
		return "", err
	}
	return "", nil
}

// redeemTimeout bounds one refresh at the IdP. A refresh runs to its end
// even when its caller stops waiting (a login's handshake timeout): once
// the IdP has rotated the token, only the new one works, so it must be
// stored, or every app password of the sign-in fails its next re-check.
const redeemTimeout = time.Minute

// refresh redeems the refresh token c is re-checked with (its sign-in's,
// shared with the sign-in's other app passwords) and stores the rotated
// one. It returns the IdP's new tokens, or a revocation reason.
func (s *Service) refresh(ctx context.Context, cfg *oauth2.Config, c *Credential) (*oauth2.Token, string, error) {
	var tok *oauth2.Token
	var reason string
	done := make(chan error, 1)
	go func() {
		done <- s.store.RedeemRefreshToken(ctx, c.refreshTokenHolder(), func(sealed string) (string, error) {
			rt, err := s.open(sealRefreshToken, sealed)
			if err != nil {
				reason = "its refresh token cannot be opened (sso.key changed?)"
				return "", nil
			}
			tok, reason, err = s.redeem(context.WithoutCancel(ctx), cfg, string(rt))
			if tok == nil || tok.RefreshToken == "" || tok.RefreshToken == string(rt) {
				return "", err
			}
			return s.seal(sealRefreshToken, []byte(tok.RefreshToken)), nil // rotated by the IdP
		})
	}()
	select {
	case err := <-done:
		if errors.Is(err, errNoCredential) {
			return nil, "the sign-in holding its refresh token (credential " + c.refreshTokenHolder() + ") is gone", nil
		}
		return tok, reason, err
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

// redeem sends refresh token rt to the IdP. It returns the new tokens, or
// a revocation reason if the IdP refused rt.
func (s *Service) redeem(ctx context.Context, cfg *oauth2.Config, rt string) (*oauth2.Token, string, error) {
	ctx, cancel := context.WithTimeout(ctx, redeemTimeout)
	defer cancel()
	tok, err := cfg.TokenSource(s.ctx(ctx), &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode == "invalid_grant" || re.ErrorCode == "unauthorized_client" || (re.Response != nil && (re.Response.StatusCode == 400 || re.Response.StatusCode == 401))) {
			return nil, "the identity provider refused its refresh token (account disabled or removed, or access revoked): " + re.ErrorCode, nil
		}
		return nil, "", err
	}
	return tok, "", nil
}
