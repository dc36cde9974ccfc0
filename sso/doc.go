// Package sso turns an OIDC identity into something a MySQL login can
// carry: a short-lived database password issued after a web sign-in
// (authorization code flow with PKCE), a named app password for
// scheduled refreshes, or the IdP's own token sent as the password. Each
// ends in the same verified claims, which authz.Policy.IdentityFromClaims
// maps to policy groups.
//
// Issued passwords are "rrp_" + a 12-character credential id + "_" + a
// 32-character secret. Only HMAC-SHA256(key, secret) is stored, one JSON
// file per credential in a directory that several rrproxy instances may
// share (with the same key file); revocation marks the file. The IdP is
// not needed to check an issued password, so an IdP outage does not break
// credentials already issued.
package sso
