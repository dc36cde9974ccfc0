package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/rrproxy/rrproxy/sso"
)

const loginUsage = `usage: rrproxy login -url https://rrproxy.example.com:8443 [-provider NAME] [-ca FILE] [-write FILE] [-dsn]

Signs you in with your company identity provider from a terminal (the
OAuth 2.0 device flow: open the link shown, enter the code, sign in with
MFA as usual) and gets a database password from rrproxy.
  -write FILE   write a [client] option file for the mariadb/mysql CLI
                (mode 0600), e.g. ~/.my.cnf; use it with --defaults-extra-file
  -dsn          print a go-sql-driver DSN instead of the user name and password`

// cmdLogin runs `rrproxy login`.
func cmdLogin(ctx context.Context, args []string, out, msg io.Writer) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	base := fs.String("url", os.Getenv("RRPROXY_URL"), "rrproxy's sign-in page (sso.public_url); or $RRPROXY_URL")
	provider := fs.String("provider", "", "identity provider name, if rrproxy trusts several")
	ca := fs.String("ca", "", "PEM CA bundle for rrproxy's certificate, if not from a public CA")
	write := fs.String("write", "", "write a mariadb/mysql option file here (0600)")
	dsn := fs.Bool("dsn", false, "print a go-sql-driver DSN")
	fs.Usage = func() { fmt.Fprintln(msg, loginUsage) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *base == "" {
		return errors.New("-url is required\n" + loginUsage)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			return err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificates", *ca)
		}
	}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	got, err := sso.DeviceLogin(ctx, hc, *base, *provider, func(s sso.DeviceStart) {
		fmt.Fprintf(msg, "To sign in, open %s and enter the code %s\n", s.VerificationURI, s.UserCode)
		if s.VerificationURIComplete != "" {
			fmt.Fprintf(msg, "(or open %s)\n", s.VerificationURIComplete)
		}
		fmt.Fprintf(msg, "Waiting until %s ...\n", s.Expires.Local().Format("15:04"))
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(msg, "Signed in as %s; the password is valid until %s.\n", got.User, got.Expires.Local().Format("2006-01-02 15:04 MST"))
	if *write != "" {
		if err := sso.WriteOptionFile(*write, got, *ca); err != nil {
			return err
		}
		fmt.Fprintf(msg, "Wrote %s (mode 0600). Connect with: mariadb --defaults-extra-file=%s\n", *write, *write)
	}
	switch {
	case *dsn:
		fmt.Fprintf(out, "%s:%s@tcp(%s:%s)/?tls=true\n", got.User, got.Password, got.Host, got.Port)
	case *write == "":
		fmt.Fprintf(out, "user=%s\npassword=%s\nhost=%s\nport=%s\n", got.User, got.Password, got.Host, got.Port)
	}
	return nil
}
