package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/internal/proxyproto"
	"github.com/rrproxy/rrproxy/sso"
)

// TestSSOSignInBehindBalancer: the sign-in page served as startSSO
// serves it behind a balancer (proxyproto.NewListener under TLS,
// sso.WithConn as ConnContext), a whole web sign-in at a real OIDC test
// provider through PROXY headers naming 192.0.2.10:50505: the sign-in's
// audit record names that browser, and the balancer in rrproxy.via.
func TestSSOSignInBehindBalancer(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "audit.jsonl")
	audit, err := auditlog.Open(logPath, auditlog.SyncNone)
	if err != nil {
		t.Fatal(err)
	}
	defer audit.Close()
	idp, _, _, web := startSignInPage(t, func(web *httptest.Server) {
		web.Listener = proxyproto.NewListener(web.Listener, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, 5*time.Second)
		web.Config.ConnContext = sso.WithConn
	}, audit)

	// The browser: connections to the sign-in page begin with the
	// balancer's header; those to the IdP do not.
	c := web.Client()
	tr := c.Transport.(*http.Transport)
	page := web.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil && addr == page {
			if _, err = io.WriteString(conn, "PROXY TCP4 192.0.2.10 127.0.0.1 50505 443\r\n"); err != nil {
				conn.Close()
			}
		}
		return conn, err
	}
	c.Jar, _ = cookiejar.New(nil)
	idp.QueueUser(&mockoidc.MockUser{Subject: "sub-dm@example.com", Email: "dm@example.com", EmailVerified: true, Groups: []string{"clinical-dm"}})
	resp, err := c.Get(web.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if issuedPasswordRE.FindSubmatch(b) == nil {
		t.Fatalf("the sign-in showed no password:\n%s", b)
	}

	audit.Close()
	recs := readAuditFile(t, logPath)
	found := false
	for _, m := range recs {
		if m["event.action"] != "sso-signin" {
			continue
		}
		found = true
		via, _ := m["rrproxy.via"].(string)
		if m["event.outcome"] != "success" || m["source.ip"] != "192.0.2.10" || m["source.port"] != float64(50505) ||
			m["source.address"] != "192.0.2.10:50505" || !strings.HasPrefix(via, "127.0.0.1:") {
			t.Errorf("sign-in record: %v", m)
		}
	}
	if !found {
		t.Fatalf("no sso-signin record in %d records", len(recs))
	}
}
