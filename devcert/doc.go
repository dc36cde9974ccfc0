// Package devcert creates a throw-away certificate authority and a server
// certificate signed by it, so that `rrproxy demo` and local development can
// speak TLS to MySQL clients without anyone running openssl by hand.
//
// The files are meant for a developer's machine only: the CA key sits next to
// the certificates, unencrypted (mode 0600), and anyone who trusts ca.pem
// trusts whatever that key signs. Production deployments bring their own
// certificates.
//
// Generate is idempotent: when the four files already exist, chain up to one
// another and the server certificate still covers the requested hosts for more
// than a week, they are reused. That keeps a CA that a developer has already
// added to a client's trust store valid across restarts.
package devcert
