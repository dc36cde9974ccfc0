package sso

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/rrproxy/rrproxy/auditlog"
	"github.com/rrproxy/rrproxy/authz"
)

// The web sign-in: /login starts the OIDC authorization code flow with
// PKCE, /callback finishes it and shows a new database password once,
// /app-passwords creates and revokes app passwords for the signed-in
// person. State that must survive the round trip to the IdP (state,
// nonce, PKCE verifier) and the web session (the id of the credential
// issued at sign-in) travel in cookies sealed with AES-GCM under a key
// derived from the shared key, so any instance can finish a flow another
// started.

const (
	flowCookie    = "rrproxy_flow"
	sessionCookie = "rrproxy_session"
	flowMaxAge    = 10 * time.Minute
	webSessionAge = 30 * time.Minute
)

// Handler serves the sign-in pages.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /login", s.login)
	mux.HandleFunc("GET /callback", s.callback)
	mux.HandleFunc("POST /app-passwords", s.createAppPassword)
	mux.HandleFunc("POST /app-passwords/revoke", s.revokeAppPassword)
	mux.HandleFunc("POST /api/device/start", s.deviceStart)
	mux.HandleFunc("POST /api/device/poll", s.devicePoll)
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src '"+scriptHash+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func (s *Service) client(issuer string) *Client {
	for i := range s.cfg.Clients {
		if s.cfg.Clients[i].Issuer == issuer {
			return &s.cfg.Clients[i]
		}
	}
	return nil
}

func (s *Service) oauthConfig(ctx context.Context, c *Client) (*oauth2.Config, *oidc.Provider, error) {
	p, err := s.provider(ctx, c.Issuer)
	if err != nil {
		return nil, nil, err
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile", "groups", oidc.ScopeOfflineAccess}
	}
	return &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: strings.TrimSuffix(s.cfg.PublicURL, "/") + "/callback", Scopes: scopes}, p, nil
}

type flowState struct {
	Issuer   string `json:"iss"`
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Created  int64  `json:"created"`
}

// providerChoice lists the providers a person can sign in with: those in
// policy.yaml that rrproxy.yaml has a client for.
func (s *Service) providerChoice() []authz.Provider {
	var out []authz.Provider
	for _, p := range s.policies.Current().Providers() {
		if s.client(p.Issuer) != nil {
			out = append(out, p)
		}
	}
	return out
}

func (s *Service) home(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, page{Title: "Sign in", Providers: s.providerChoice()})
}

// chosenProvider is the provider the request names (?provider=), or the
// only one there is; nil if the person must choose among ps.
func (s *Service) chosenProvider(r *http.Request) (chosen *authz.Provider, ps []authz.Provider) {
	ps = s.providerChoice()
	name := r.URL.Query().Get("provider")
	for i := range ps {
		if ps[i].Name == name || (name == "" && len(ps) == 1) {
			chosen = &ps[i]
		}
	}
	return chosen, ps
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	chosen, ps := s.chosenProvider(r)
	if chosen == nil {
		s.render(w, http.StatusOK, page{Title: "Sign in", Providers: ps})
		return
	}
	cfg, _, err := s.oauthConfig(r.Context(), s.client(chosen.Issuer))
	if err != nil {
		s.log.Warn("sso: identity provider unavailable", "issuer", chosen.Issuer, "err", err)
		s.render(w, http.StatusBadGateway, page{Title: "Sign-in unavailable", Error: "The identity provider cannot be reached right now. Passwords already issued keep working; try again later."})
		return
	}
	f := flowState{Issuer: chosen.Issuer, State: randomString(secretChars, 32), Nonce: randomString(secretChars, 32),
		Verifier: oauth2.GenerateVerifier(), Created: s.now().Unix()}
	s.setCookie(w, flowCookie, f, flowMaxAge)
	http.Redirect(w, r, cfg.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

func (s *Service) callback(w http.ResponseWriter, r *http.Request) {
	var f flowState
	// A flow this service started has all three secrets; a cookie
	// without them (nothing else should open as one) is no flow.
	if !s.readCookie(r, flowCookie, &f, flowMaxAge) || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		s.render(w, http.StatusBadRequest, page{Title: "Sign-in expired", Error: "This sign-in was not started here or took too long. Start again."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Path: "/", MaxAge: -1, Secure: true, HttpOnly: true})
	q := r.URL.Query()
	src := sourceOf(r)
	fail := func(status int, userMsg, reason string) {
		_ = s.record(&auditlog.Event{Action: "sso-signin", Outcome: "failure", Reason: reason, IDSource: f.Issuer,
			Source: src.String(), SourceIP: src.ip, SourcePort: src.port, Via: src.via})
		s.log.Info("sso sign-in refused", "issuer", f.Issuer, "reason", reason)
		s.render(w, status, page{Title: "Sign-in refused", Error: userMsg})
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusForbidden, "The identity provider did not sign you in.", "IdP error: "+e+": "+q.Get("error_description"))
		return
	}
	if !hmac.Equal([]byte(q.Get("state")), []byte(f.State)) {
		fail(http.StatusBadRequest, "This sign-in does not match the one started here. Start again.", "state mismatch")
		return
	}
	c := s.client(f.Issuer)
	if c == nil {
		fail(http.StatusBadRequest, "This identity provider is no longer configured.", "no client for issuer")
		return
	}
	cfg, p, err := s.oauthConfig(r.Context(), c)
	if err != nil {
		fail(http.StatusBadGateway, "The identity provider cannot be reached right now.", err.Error())
		return
	}
	tok, err := cfg.Exchange(s.ctx(r.Context()), q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		fail(http.StatusForbidden, "The identity provider did not confirm the sign-in.", "code exchange: "+err.Error())
		return
	}
	id, cred, pw, serr := s.signIn(r.Context(), c, p, tok, f.Nonce, src, "web sign-in")
	if serr != nil {
		fail(serr.status, serr.userMsg, serr.reason)
		return
	}
	s.setCookie(w, sessionCookie, webSession{Credential: cred.ID, Created: s.now().Unix()}, webSessionAge)
	s.showAccount(w, r, id, cred, pw, "", "")
}

type webSession struct {
	Credential string `json:"cred"`
	Created    int64  `json:"created"`
}

// signedIn returns the web session's credential and identity.
func (s *Service) signedIn(r *http.Request) (*Credential, *authz.Identity, bool) {
	var ws webSession
	if !s.readCookie(r, sessionCookie, &ws, webSessionAge) {
		return nil, nil, false
	}
	c, err := s.store.Get(ws.Credential, 0)
	if err != nil || c.Valid(s.now()) != nil {
		return nil, nil, false
	}
	id, err := s.policies.Current().IdentityFromClaims(c.Issuer, "", c.Claims)
	if err != nil {
		return nil, nil, false
	}
	return c, id, true
}

// csrfToken binds a form to the web session.
func (s *Service) csrfToken(c *Credential) string {
	m := hmac.New(sha256.New, s.subKey("csrf"))
	m.Write([]byte(c.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Service) formOK(r *http.Request, c *Credential) bool {
	return hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(s.csrfToken(c)))
}

func (s *Service) createAppPassword(w http.ResponseWriter, r *http.Request) {
	sc, id, ok := s.signedIn(r)
	if !ok || !s.formOK(r, sc) {
		s.render(w, http.StatusForbidden, page{Title: "Sign in again", Error: "Your web session has ended. Sign in again."})
		return
	}
	pol := s.policies.Current()
	if !pol.MayCreateAppPasswords(id) {
		s.showAccount(w, r, id, sc, "", "", "Your groups may not create app passwords.")
		return
	}
	prov, _ := pol.ProviderOf(sc.Issuer) // MayCreateAppPasswords found it
	life := prov.AppPasswordLife
	if d, err := time.ParseDuration(r.PostFormValue("lifetime")); err == nil && d > 0 && d < life {
		life = d
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len(name) > 80 {
		s.showAccount(w, r, id, sc, "", "", "Give the app password a name (at most 80 characters), e.g. the tool and report it is for.")
		return
	}
	if sc.RefreshToken == "" {
		s.showAccount(w, r, id, sc, "", "", "Your identity provider gave no refresh token (offline_access), so an app password could not be tied to your account. Ask your administrator.")
		return
	}
	// The app password refers to the sign-in's refresh token rather than
	// copying it: a copy goes stale when an IdP that rotates refresh
	// tokens answers another app password's re-check.
	app := &Credential{Kind: KindApp, Name: name, User: sc.User, Issuer: sc.Issuer, Subject: sc.Subject, Claims: sc.Claims,
		Expires: s.now().Add(life).UTC(), SignIn: sc.ID, CheckedAt: s.now().UTC()}
	pw, err := s.store.Issue(app)
	if err != nil {
		s.showAccount(w, r, id, sc, "", "", "The app password could not be stored. Try again later.")
		return
	}
	src := sourceOf(r)
	if err := s.record(&auditlog.Event{Action: "app-password-created", Outcome: "success", User: id.User, IDSource: sc.Issuer,
		Subject: sc.Subject, Credential: app.ID, Reason: fmt.Sprintf("%q, valid until %s", name, app.Expires.Format(time.RFC3339)),
		Source: src.String(), SourceIP: src.ip, SourcePort: src.port, Via: src.via}); err != nil {
		_ = s.store.Revoke(app.ID, "audit log could not be written")
		s.showAccount(w, r, id, sc, "", "", "The audit log cannot be written, so no app password is issued.")
		return
	}
	s.showAccount(w, r, id, sc, "", pw, "")
}

func (s *Service) revokeAppPassword(w http.ResponseWriter, r *http.Request) {
	sc, id, ok := s.signedIn(r)
	if !ok || !s.formOK(r, sc) {
		s.render(w, http.StatusForbidden, page{Title: "Sign in again", Error: "Your web session has ended. Sign in again."})
		return
	}
	c, err := s.store.Get(r.PostFormValue("id"), 0)
	if err != nil || !strings.EqualFold(c.User, sc.User) || c.Issuer != sc.Issuer {
		s.showAccount(w, r, id, sc, "", "", "No such app password.")
		return
	}
	if err := s.store.Revoke(c.ID, "revoked by "+sc.User+" on the web page"); err != nil {
		s.showAccount(w, r, id, sc, "", "", "Could not revoke it; try again.")
		return
	}
	src := sourceOf(r)
	_ = s.record(&auditlog.Event{Action: "credential-revoked", Outcome: "success", User: id.User, IDSource: sc.Issuer,
		Subject: sc.Subject, Credential: c.ID, Reason: "revoked by its owner on the web page",
		Source: src.String(), SourceIP: src.ip, SourcePort: src.port, Via: src.via})
	s.showAccount(w, r, id, sc, "", "", "App password "+c.Name+" revoked.")
}

// showAccount renders the signed-in page: the password just issued (if
// any), connect snippets, and the app passwords.
func (s *Service) showAccount(w http.ResponseWriter, r *http.Request, id *authz.Identity, sc *Credential, password, appPassword, notice string) {
	pg := page{Title: "Database access", User: id.User, Groups: id.Groups, Password: password, AppPassword: appPassword,
		Notice: notice, Expires: sc.Expires.Local().Format("2006-01-02 15:04 MST"), CSRF: s.csrfToken(sc),
		Withheld: id.DroppedGroups, MayApp: s.policies.Current().MayCreateAppPasswords(id)}
	pg.Host, pg.Port, _ = net.SplitHostPort(s.cfg.ProxyAddress)
	if all, err := s.store.List(id.User); err == nil {
		for _, c := range all {
			if c.Kind == KindApp && c.Issuer == sc.Issuer && c.Valid(s.now()) == nil {
				pg.Apps = append(pg.Apps, appRow{ID: c.ID, Name: c.Name, Expires: c.Expires.Local().Format("2006-01-02")})
			}
		}
	}
	s.render(w, http.StatusOK, pg)
}

type appRow struct{ ID, Name, Expires string }

type page struct {
	Title            string
	Error, Notice    string
	Providers        []authz.Provider
	User             string
	Groups, Withheld []string
	Password         string
	AppPassword      string
	Expires          string
	Host, Port       string
	CSRF             string
	MayApp           bool
	Apps             []appRow
}

func (s *Service) render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pageTemplate.Execute(w, p); err != nil {
		s.log.Warn("sso: render", "err", err)
	}
}

// subKey derives a key for one purpose from the shared key.
func (s *Service) subKey(purpose string) []byte {
	m := hmac.New(sha256.New, s.cfg.Key)
	m.Write([]byte("rrproxy-sso-" + purpose))
	return m.Sum(nil)
}

func (s *Service) aead(purpose string) cipher.AEAD {
	b, _ := aes.NewCipher(s.subKey(purpose))
	g, _ := cipher.NewGCM(b)
	return g
}

// Kinds of sealed value. Each is sealed with its kind as associated
// data, so that one kind never opens as another: a device handle, which
// anyone can obtain, once opened as a sign-in flow cookie.
const (
	sealRefreshToken = "refresh-token"
	sealDeviceHandle = "device-handle"
	sealCookie       = "cookie:" // + the cookie's name
)

func (s *Service) seal(kind string, plain []byte) string {
	g := s.aead("seal")
	nonce := make([]byte, g.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(g.Seal(nonce, nonce, plain, []byte(kind)))
}

func (s *Service) open(kind, sealed string) ([]byte, error) {
	g := s.aead("seal")
	b, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(b) < g.NonceSize() {
		return nil, errors.New("sso: sealed value is damaged")
	}
	plain, err := g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], []byte(kind))
	if err != nil && kind == sealRefreshToken {
		// Refresh tokens stored before kinds were sealed in (app
		// passwords live for months); nothing else lives that long.
		plain, err = g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], nil)
	}
	return plain, err
}

func (s *Service) setCookie(w http.ResponseWriter, name string, v any, maxAge time.Duration) {
	b, _ := json.Marshal(v)
	http.SetCookie(w, &http.Cookie{Name: name, Value: s.seal(sealCookie+name, b), Path: "/", MaxAge: int(maxAge.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// readCookie opens a sealed cookie into v; it must be younger than
// maxAge by its own created time (the browser's expiry is not trusted).
func (s *Service) readCookie(r *http.Request, name string, v any, maxAge time.Duration) bool {
	ck, err := r.Cookie(name)
	if err != nil {
		return false
	}
	b, err := s.open(sealCookie+name, ck.Value)
	if err != nil || json.Unmarshal(b, v) != nil {
		return false
	}
	var c struct {
		Created int64 `json:"created"`
	}
	_ = json.Unmarshal(b, &c)
	age := s.now().Sub(time.Unix(c.Created, 0))
	return age >= 0 && age < maxAge
}

type source struct {
	ip   string
	port int
	raw  string
	via  string // the load balancer, when its PROXY header named the browser
}

func (s source) String() string { return s.raw }

func sourceOf(r *http.Request) source {
	var via string
	if b, ok := r.Context().Value(balancerKey{}).(Balanced); ok {
		if a, ok := b.Via(); ok {
			via = a.String()
		}
	}
	host, port, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return source{raw: r.RemoteAddr, via: via}
	}
	var p int
	fmt.Sscanf(port, "%d", &p)
	return source{ip: host, port: p, raw: r.RemoteAddr, via: via}
}

// Balanced is a connection that came through a load balancer's PROXY
// header (proxyproto.NewListener): Via is the balancer's address, and
// reports whether the header named a client.
type Balanced interface {
	Via() (net.Addr, bool)
}

type balancerKey struct{}

// WithConn is for http.Server.ConnContext: it keeps the page's
// connection in the requests' context, so that the sign-in records name
// the balancer a browser came through (rrproxy.via) when the connection
// is Balanced, under TLS or not.
func WithConn(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if b, ok := c.(Balanced); ok {
		return context.WithValue(ctx, balancerKey{}, b)
	}
	return ctx
}

// scriptHash allows the page's one inline script (the copy buttons) and
// nothing else.
var scriptHash = func() string {
	src := pageTemplate.Tree.Root.String()
	a := strings.Index(src, "<script>") + len("<script>")
	b := strings.Index(src, "</script>")
	sum := sha256.Sum256([]byte(src[a:b]))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}()

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>rrproxy: {{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1b1f24;line-height:1.45}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem}
.box{border:1px solid #d0d7de;border-radius:6px;padding:1rem;margin:1rem 0;background:#f6f8fa}
.err{border-color:#cf222e;background:#ffebe9} .note{border-color:#1a7f37;background:#dafbe1}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9rem}
pre{white-space:pre-wrap;word-break:break-all;background:#fff;border:1px solid #d0d7de;padding:.6rem;border-radius:6px}
.secret{font-size:1.1rem;font-weight:600;letter-spacing:.02em}
button,input[type=submit]{font:inherit;padding:.3rem .8rem;border-radius:6px;border:1px solid #8c959f;background:#fff;cursor:pointer}
table{border-collapse:collapse;width:100%} td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d7de}
</style></head><body>
<h1>rrproxy: {{.Title}}</h1>
{{if .Error}}<div class="box err" role="alert">{{.Error}}</div>{{end}}
{{if .Notice}}<div class="box note" role="status">{{.Notice}}</div>{{end}}
{{if .Providers}}<p>Sign in with your company account to get a database password for the study replica.</p>
<ul>{{range .Providers}}<li><a href="/login?provider={{.Name}}">Sign in with {{.Name}}</a></li>{{end}}</ul>{{end}}
{{if .User}}
<p>Signed in as <strong id="user">{{.User}}</strong>{{if .Groups}} (groups: {{range $i, $g := .Groups}}{{if $i}}, {{end}}{{$g}}{{end}}){{end}}.</p>
{{if .Withheld}}<div class="box err">Withheld because this sign-in did not use multi-factor authentication: {{range $i, $g := .Withheld}}{{if $i}}, {{end}}{{$g}}{{end}}. Sign in again with MFA to get them.</div>{{end}}
{{if .Password}}<div class="box">
<p>Your database password, valid until <strong>{{.Expires}}</strong>. It is shown only now: copy it into your tool.</p>
<p>User name: <code id="username">{{.User}}</code> <button type="button" data-copy="username">Copy</button></p>
<p>Password: <code class="secret" id="password">{{.Password}}</code> <button type="button" data-copy="password">Copy</button></p>
<p>Server: <code>{{.Host}}</code>, port <code>{{.Port}}</code>, TLS required.</p>
</div>
<h2>Connect</h2>
<p><strong>mariadb / mysql CLI</strong></p>
<pre>mariadb --host={{.Host}} --port={{.Port}} --ssl --user='{{.User}}' --password</pre>
<p><strong>MySQL Workbench, DBeaver</strong>: new MySQL connection, host {{.Host}}, port {{.Port}}, user name and password above; SSL "Require" (Workbench: Use SSL = Require; DBeaver: SSL tab, Use SSL, Require SSL).</p>
<p><strong>Tableau</strong>: MySQL connector, server {{.Host}}, port {{.Port}}, "Require SSL" checked, user name and password above.</p>
<p><strong>Python</strong></p>
<pre>import pymysql
conn = pymysql.connect(host="{{.Host}}", port={{.Port}}, user="{{.User}}", password=PASSWORD, ssl={"ca": "rrproxy-ca.pem"})</pre>
{{end}}
{{if .AppPassword}}<div class="box note">
<p>Your new app password. It is shown only now; store it in the tool's data source.</p>
<p>User name: <code>{{.User}}</code> Password: <code class="secret" id="apppassword">{{.AppPassword}}</code> <button type="button" data-copy="apppassword">Copy</button></p>
</div>{{end}}
{{if .MayApp}}
<h2>App passwords</h2>
<p>For scheduled refreshes (Tableau Server, Power BI gateway, QuickSight). Each stays tied to your company account: it stops working when your account is disabled or you leave the group that allows it.</p>
{{if .Apps}}<table><tr><th>Name</th><th>Valid until</th><th></th></tr>
{{range .Apps}}<tr><td>{{.Name}}</td><td>{{.Expires}}</td><td><form method="post" action="/app-passwords/revoke"><input type="hidden" name="csrf" value="{{$.CSRF}}"><input type="hidden" name="id" value="{{.ID}}"><input type="submit" value="Revoke"></form></td></tr>{{end}}
</table>{{end}}
<form method="post" action="/app-passwords"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label>Name <input name="name" maxlength="80" required placeholder="Tableau Server: enrolment dashboard"></label>
<input type="submit" value="Create app password"></form>
{{end}}
{{end}}
<script>
document.querySelectorAll("button[data-copy]").forEach(function(b){b.addEventListener("click",function(){
navigator.clipboard.writeText(document.getElementById(b.dataset.copy).textContent).then(function(){b.textContent="Copied"})})});
</script>
</body></html>
`))
