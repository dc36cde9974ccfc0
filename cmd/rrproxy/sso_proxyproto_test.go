package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
	"github.com/rrproxy/rrproxy/config"
	"github.com/rrproxy/rrproxy/devcert"
)

// TestSSOPageReadsProxyHeaders: with proxy_protocol.from naming the
// balancers, the sign-in page that startSSO serves answers a connection
// from a listed address only after a PROXY header, and one without a
// header gets no page (its TLS handshake fails), as the MySQL listener
// refuses one.
func TestSSOPageReadsProxyHeaders(t *testing.T) {
	cfgPath, _, _ := ssoSetup(t)
	dir := filepath.Dir(cfgPath)
	paths, err := devcert.Generate(filepath.Join(dir, "certs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	body, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.Replace(body, []byte("tls: {cert: c.pem, key: k.pem}"), []byte(fmt.Sprintf("tls: {cert: %q, key: %q}", paths.Cert, paths.Key)), 1)
	body = bytes.Replace(body, []byte("listen: 127.0.0.1:0"), []byte("listen: "+addr), 1)
	body = append(body, "proxy_protocol: {from: [127.0.0.1/32]}\ntimeouts: {handshake: 2s}\n"...)
	if err := os.WriteFile(cfgPath, body, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, err := serverTLS(cfg.TLS)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := authz.Parse("policy.yaml", []byte("users: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	audit, err := auditlog.Open(filepath.Join(dir, "audit.jsonl"), auditlog.SyncNone)
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := startSSO(ctx, cfg, serverTLS, authz.NewStore(pol), audit, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}

	ca, err := os.ReadFile(paths.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	get := func(header string) (string, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"},
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, a)
				if err == nil && header != "" {
					_, err = io.WriteString(c, header)
				}
				return c, err
			}}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		var resp *http.Response
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			resp, err = client.Get("https://" + addr + "/")
			if err == nil || !strings.Contains(err.Error(), "connection refused") || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		return resp.Status, nil
	}
	status, err := get("PROXY TCP4 192.0.2.10 127.0.0.1 51234 443\r\n")
	if err != nil {
		t.Fatalf("through a balancer's header: %v", err)
	}
	t.Logf("with a header: %s", status)
	if status, err := get(""); err == nil {
		t.Fatalf("without a header from a listed address the page answered %s", status)
	}
}
