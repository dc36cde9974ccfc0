package sso

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"

	"github.com/rrproxy/rrproxy/authz"
	"github.com/rrproxy/rrproxy/internal/testtool"
)

// TestDeviceLogin runs `rrproxy login`'s device flow against zitadel's
// example OpenID Provider (a complete OP with a login form and the device
// authorization grant): the terminal side asks rrproxy to start, a person
// enters the user code and their IdP password at the OP, and the terminal
// receives a database password that logs in.
func TestDeviceLogin(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String() + "/"
	storage.RegisterClients(storage.DeviceClient("rrproxy-device", "device-secret"))
	st := storage.NewStorage(personStore{&storage.User{ID: "jane.doe@example.com", Username: "jane.doe@example.com", Password: "verysecure",
		FirstName: "Jane", LastName: "Doe", Email: "jane.doe@example.com", EmailVerified: true, PreferredLanguage: language.English}})
	op := &httptest.Server{Listener: ln, Config: &http.Server{Handler: exampleop.SetupServer(issuer, st, slog.New(slog.NewTextHandler(io.Discard, nil)), false)}}
	op.Start()
	defer op.Close()

	pol, err := authz.Parse("policy.yaml", []byte(`
groups:
  data-managers: {}
users:
  jane.doe@example.com: {sso: zt, groups: [data-managers]}
rules:
  - {id: dm, to: [group:data-managers], allow: [study.*]}
identity_providers:
  zt:
    issuer: `+issuer+`
    audiences: [rrproxy-device]
    credential_lifetime: 1h
`))
	if err != nil {
		t.Fatal(err)
	}
	web, serve := testtool.TLSServer(t)
	rec := &recorder{}
	svc, err := New(Config{Key: []byte(strings.Repeat("d", 32)), StoreDir: t.TempDir(), PublicURL: web.URL, ProxyAddress: "db.example.com:3307",
		Clients: []Client{{Issuer: issuer, ClientID: "rrproxy-device", ClientSecret: "device-secret", Scopes: []string{"openid", "email", "profile"}}}},
		authz.NewStore(pol), rec, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	serve(svc.Handler())

	// The person, at a browser: enter the code, sign in, allow.
	person := func(code string) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.PostForm(issuer+"device/login", url.Values{"user_code": {code}, "username": {"jane.doe@example.com"}, "password": {"verysecure"}})
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		resp, err = c.PostForm(issuer+"device/confirm", url.Values{"action": {"allowed"}})
		if err != nil {
			t.Error(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "Device authorization allowed") {
			t.Errorf("the OP did not confirm: %s", b)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var shown DeviceStart
	got, err := DeviceLogin(ctx, web.Client(), web.URL, "", func(s DeviceStart) {
		shown = s
		go person(s.UserCode)
	})
	if err != nil {
		t.Fatalf("device login: %v (audit: %+v)", err, rec.find("sso-signin", "failure"))
	}
	if shown.UserCode == "" || !strings.HasPrefix(shown.VerificationURI, issuer) {
		t.Fatalf("the terminal was shown %+v", shown)
	}
	if got.User != "jane.doe@example.com" || got.Host != "db.example.com" || got.Port != "3307" || time.Until(got.Expires) > time.Hour {
		t.Fatalf("issued: %+v", got)
	}
	id, _, err := svc.Authenticate(ctx, pol, got.User, got.Password)
	if err != nil || id.Account != "jane.doe@example.com" || strings.Join(id.Groups, ",") != "data-managers" {
		t.Fatalf("the device-flow password: %+v, %v", id, err)
	}
	if ev := rec.find("sso-signin", "success"); ev == nil || !strings.Contains(ev.Reason, "device flow") {
		t.Fatalf("audit: %+v", ev)
	}
	// A forged or stale handle gets nothing.
	if _, err := DeviceLogin(ctx, web.Client(), web.URL, "nope", func(DeviceStart) {}); err == nil || !strings.Contains(err.Error(), "choose an identity provider") {
		t.Fatalf("unknown provider: %v", err)
	}
}

// personStore is one person whose user id is their user name: the
// example OP's device confirmation makes the user name the subject.
type personStore struct{ u *storage.User }

func (p personStore) GetUserByID(id string) *storage.User {
	if id == p.u.ID {
		return p.u
	}
	return nil
}

func (p personStore) GetUserByUsername(name string) *storage.User { return p.GetUserByID(name) }
func (p personStore) ExampleClientID() string                     { return storage.ServiceUserID }
