package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
	"github.com/rrproxy/rrproxy/config"
	"github.com/rrproxy/rrproxy/internal/proxyproto"
	"github.com/rrproxy/rrproxy/sso"
)

// startSSO opens the credential store, serves the sign-in page on
// sso.listen (HTTPS, the proxy's certificate) and re-checks app
// passwords with their IdP in the background, until ctx ends.
func startSSO(ctx context.Context, cfg *config.Server, serverTLS *tls.Config, policies *authz.Store, audit *auditlog.Writer, log *slog.Logger) (*sso.Service, error) {
	sc, err := ssoConfig(cfg)
	if err != nil {
		return nil, err
	}
	svc, err := sso.New(*sc, policies, audit, log)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.SSO.Listen)
	if err != nil {
		return nil, fmt.Errorf("sso.listen: %w", err)
	}
	// Behind the same balancers as the MySQL listener, the sign-in
	// records name the browser's address, not the balancer's.
	ln = proxyproto.NewListener(ln, cfg.ProxyProtocolFrom(), cfg.Timeouts.Handshake)
	hs := &http.Server{Handler: svc.Handler(), TLSConfig: serverTLS.Clone(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), ConnContext: sso.WithConn}
	go func() { _ = hs.ServeTLS(ln, "", "") }()
	go svc.RecheckLoop(ctx)
	context.AfterFunc(ctx, func() { _ = hs.Close() })
	log.Info("sso sign-in page listening", "addr", ln.Addr().String(), "public_url", cfg.SSO.PublicURL)
	return svc, nil
}

// ssoConfig resolves rrproxy.yaml's sso section.
func ssoConfig(cfg *config.Server) (*sso.Config, error) {
	key, err := cfg.SSO.Key.Resolve()
	if err != nil {
		return nil, fmt.Errorf("sso.key: %w", err)
	}
	k, err := sso.ParseKey([]byte(key.Reveal()))
	if err != nil {
		return nil, fmt.Errorf("sso.key: %w", err)
	}
	sc := &sso.Config{Key: k, StoreDir: cfg.SSO.Store, PublicURL: cfg.SSO.PublicURL, ProxyAddress: cfg.SSO.PublicMySQL,
		Grace: cfg.SSO.Grace, RecheckEvery: cfg.SSO.RecheckEvery}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	for _, c := range cfg.SSO.Clients {
		secret, err := c.ClientSecret.Resolve()
		if err != nil {
			return nil, fmt.Errorf("sso.clients %s: client_secret: %w", c.Issuer, err)
		}
		sc.Clients = append(sc.Clients, sso.Client{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecret: secret.Reveal(), Scopes: c.Scopes,
			DiscoveryURL: c.DiscoveryURL})
		if c.CA != "" {
			pem, err := os.ReadFile(c.CA)
			if err != nil || !roots.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("sso.clients %s: ca %s: not a PEM bundle (%v)", c.Issuer, c.CA, err)
			}
		}
	}
	sc.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, Proxy: http.ProxyFromEnvironment}}
	return sc, nil
}

const ssoUsage = `usage:
  rrproxy sso list   [-config rrproxy.yaml] [USER]          issued passwords and app passwords
  rrproxy sso revoke [-config rrproxy.yaml] USER|-id ID      revoke a person's credentials (or one)
  rrproxy sso prune  [-config rrproxy.yaml] [-keep-days 90]  delete credentials that ended more than that long ago
  rrproxy sso keygen                                        print a new sso.key (64 hex digits)`

// ssoCmd administers issued credentials. Revocation takes effect at the
// next statement of every session using them, on every instance that
// shares the credential store.
func ssoCmd(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(ssoUsage)
	}
	if args[0] == "keygen" {
		fmt.Fprintln(out, sso.NewKeyHex())
		return nil
	}
	fs := flag.NewFlagSet("sso "+args[0], flag.ContinueOnError)
	cfgPath := fs.String("config", "rrproxy.yaml", "rrproxy.yaml")
	id := fs.String("id", "", "one credential id (revoke)")
	reason := fs.String("reason", "revoked by an administrator", "why (revoke; goes into the audit log)")
	keepDays := fs.Int("keep-days", 90, "prune: keep credentials that ended (expired or were revoked) less than this many days ago")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if cfg.SSO.Listen == "" {
		return fmt.Errorf("%s has no sso section", *cfgPath)
	}
	sc, err := ssoConfig(cfg)
	if err != nil {
		return err
	}
	st, err := sso.OpenStore(sc.StoreDir, sc.Key)
	if err != nil {
		return err
	}
	switch args[0] {
	case "list":
		cs, err := st.List(fs.Arg(0))
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tKIND\tNAME\tCREATED\tEXPIRES\tSTATE")
		for _, c := range cs {
			state := "valid"
			if err := c.Valid(time.Now()); err != nil {
				state = "expired"
				if c.Revoked != nil {
					state = "revoked"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.User, c.Kind, c.Name,
				c.Created.Format(time.RFC3339), c.Expires.Format(time.RFC3339), state)
		}
		return tw.Flush()
	case "revoke":
		if (*id == "") == (fs.Arg(0) == "") {
			return errors.New("revoke: give USER or -id ID\n" + ssoUsage)
		}
		// The running proxy owns the audit log; it records the effect
		// (refused logins, ended sessions, with this reason). The store
		// keeps when, why and by whom.
		who := "unknown"
		if u, err := user.Current(); err == nil {
			who = u.Username
		}
		why := fmt.Sprintf("%s (by %s on %s)", *reason, who, hostname())
		var n int
		if *id != "" {
			err, n = st.Revoke(*id, why), 1
		} else {
			n, err = st.RevokeUser(fs.Arg(0), why)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "revoked %d credential(s); sessions using them end at their next statement\n", n)
		return nil
	case "prune":
		if *keepDays < 1 || fs.NArg() > 0 {
			return errors.New("prune: -keep-days must be at least 1, and takes no arguments\n" + ssoUsage)
		}
		cutoff := time.Now().Add(-time.Duration(*keepDays) * 24 * time.Hour)
		gone, err := st.Prune(cutoff)
		for _, id := range gone {
			fmt.Fprintln(out, "deleted", id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "deleted %d credential(s) that ended before %s\n", len(gone), cutoff.UTC().Format(time.RFC3339))
		return nil
	}
	return errors.New(ssoUsage)
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
