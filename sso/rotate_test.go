package sso

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// rotatingIdP makes the test IdP rotate refresh tokens, as Auth0, Okta,
// zitadel and others do: every refresh answers with a new refresh token
// and the one redeemed stops working. Redeeming a used one again is
// taken for theft and revokes every token of that grant (reuse
// detection, OAuth 2.0 Security BCP). mockoidc itself hands back the
// token it was given, so this sits in front of its token endpoint and
// swaps opaque tokens of its own for mockoidc's.
type rotatingIdP struct {
	mu      sync.Mutex
	minted  int
	grants  int
	tokens  map[string]*rotatedToken // as handed out
	revoked map[int]bool             // grants
	reuses  int
	slow    time.Duration // how long it takes to answer a refresh it has done
}

type rotatedToken struct {
	upstream string // mockoidc's refresh token
	grant    int    // the sign-in it descends from
	used     bool
}

func newRotatingIdP() *rotatingIdP {
	return &rotatingIdP{tokens: map[string]*rotatedToken{}, revoked: map[int]bool{}}
}

// mint hands out a new token of grant standing for upstream.
func (ri *rotatingIdP) mint(grant int, upstream string) string {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	ri.minted++
	rt := "rt-" + strconv.Itoa(grant) + "-" + strconv.Itoa(ri.minted)
	ri.tokens[rt] = &rotatedToken{upstream: upstream, grant: grant}
	return rt
}

func (ri *rotatingIdP) newGrant() int {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	ri.grants++
	return ri.grants
}

// redeem uses up rt and returns what it stands for; ok is false if rt
// is unknown, used before (which revokes its grant) or revoked.
func (ri *rotatingIdP) redeem(rt string) (upstream string, grant int, ok bool) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	tk := ri.tokens[rt]
	switch {
	case tk == nil:
		return "", 0, false
	case tk.used:
		ri.reuses++
		ri.revoked[tk.grant] = true
		return "", 0, false
	case ri.revoked[tk.grant]:
		return "", 0, false
	}
	tk.used = true
	return tk.upstream, tk.grant, true
}

// revokeAll is the person disabled at the IdP: every grant is gone.
func (ri *rotatingIdP) revokeAll() {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	for _, tk := range ri.tokens {
		ri.revoked[tk.grant] = true
	}
}

func (ri *rotatingIdP) reused() int {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return ri.reuses
}

func (ri *rotatingIdP) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Only a request that authenticates the client in the form (the
		// one way mockoidc accepts) uses up a token: the oauth2 client
		// first tries the Basic header, which mockoidc refuses.
		if req.URL.Path != mockoidc.TokenEndpoint || req.ParseForm() != nil || req.PostForm.Get("client_secret") == "" {
			next.ServeHTTP(w, req)
			return
		}
		grant := 0
		if req.PostForm.Get("grant_type") == "refresh_token" {
			up, g, ok := ri.redeem(req.PostForm.Get("refresh_token"))
			if !ok {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"refresh token used, unknown or revoked"}`))
				return
			}
			req.PostForm.Set("refresh_token", up)
			req.Form.Set("refresh_token", up)
			grant = g
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, req)
		if grant != 0 {
			ri.mu.Lock()
			slow := ri.slow
			ri.mu.Unlock()
			time.Sleep(slow)
		}
		var body map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
			copyResponse(w, rec, rec.Body.Bytes())
			return
		}
		if up, _ := body["refresh_token"].(string); up != "" {
			if grant == 0 {
				grant = ri.newGrant() // a sign-in
			}
			body["refresh_token"] = ri.mint(grant, up)
		}
		b, _ := json.Marshal(body)
		copyResponse(w, rec, b)
	})
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// createApp creates an app password in the web session of client c (its
// page holding the form) and returns the password.
func (r *rig) createApp(t *testing.T, c *http.Client, page, name string) string {
	t.Helper()
	csrf := csrfRE.FindStringSubmatch(page)
	if csrf == nil {
		t.Fatalf("no app password form:\n%s", page)
	}
	resp, err := c.PostForm(r.web.URL+"/app-passwords", url.Values{"csrf": {csrf[1]}, "name": {name}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := appPasswordRE.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no app password:\n%s", b)
	}
	return m[1]
}

func (r *rig) lastRevocation() string {
	if ev := r.rec.find("credential-revoked", "success"); ev != nil {
		return ev.Reason
	}
	return "no revocation on record"
}

// TestAppPasswordsShareARotatingRefreshToken: the app passwords created
// in one web session share its refresh token. With an IdP that rotates
// refresh tokens, the first re-check once stored the new token with its
// own app password only; the others redeemed the old one, the IdP
// refused it (and revoked the grant), and they were revoked as if the
// person had been disabled.
func TestAppPasswordsShareARotatingRefreshToken(t *testing.T) {
	ri := newRotatingIdP()
	r := newRig(t, ri.middleware)
	ctx := context.Background()
	c, page := r.signIn(t, r.user)
	apps := []string{r.createApp(t, c, page, "Tableau Server"), r.createApp(t, c, page, "QuickSight")}
	for round := range 2 {
		if n := r.svc.RecheckAppPasswords(ctx); n != 0 {
			t.Fatalf("re-check %d revoked %d app passwords of a person still in the group: %s", round+1, n, r.lastRevocation())
		}
	}
	// One created after the token has rotated gets the current one.
	apps = append(apps, r.createApp(t, c, page, "Power BI gateway"))
	if n := r.svc.RecheckAppPasswords(ctx); n != 0 {
		t.Fatalf("re-check after a new app password revoked %d: %s", n, r.lastRevocation())
	}
	// Logins re-check with the IdP too, at once and alongside the
	// periodic re-check; they take turns with the one token.
	r.svc.now = func() time.Time { return time.Now().Add(2 * appLoginRecheck) }
	var wg sync.WaitGroup
	errs := make([]error, len(apps))
	for i, pw := range apps {
		wg.Go(func() { _, _, errs[i] = r.svc.Authenticate(ctx, r.pol, "jane.doe@example.com", pw) })
	}
	wg.Go(func() { r.svc.RecheckAppPasswords(ctx) })
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("app password %d at login: %v", i, err)
		}
	}
	if n := ri.reused(); n != 0 {
		t.Fatalf("rrproxy redeemed a used refresh token %d times", n)
	}
	r.svc.now = time.Now

	// The sign-in's own database password ending (revoked here; it
	// expires after hours) does not end the app passwords, which live
	// for months on its refresh token.
	session, _, err := r.svc.Authenticate(ctx, r.pol, "jane.doe@example.com", passwordRE.FindStringSubmatch(page)[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := r.svc.store.Revoke(session.Credential, "signed out"); err != nil {
		t.Fatal(err)
	}
	if n := r.svc.RecheckAppPasswords(ctx); n != 0 {
		t.Fatalf("re-check after the sign-in's password was revoked revoked %d: %s", n, r.lastRevocation())
	}

	// The person is disabled at the IdP: every app password of the
	// sign-in is revoked at the next re-check.
	ri.revokeAll()
	if n := r.svc.RecheckAppPasswords(ctx); n != len(apps) {
		t.Fatalf("re-check after the account was disabled revoked %d of %d", n, len(apps))
	}
	if ev := r.rec.find("credential-revoked", "success"); ev == nil || !strings.Contains(ev.Reason, "refused its refresh token") {
		t.Fatalf("revocation audit record: %+v", ev)
	}
	for _, pw := range apps {
		if _, _, err := r.svc.Authenticate(ctx, r.pol, "jane.doe@example.com", pw); err == nil || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("app password login after the account was disabled: %v", err)
		}
	}
}

// TestLegacyAppPasswordRotatesItsOwnRefreshToken: an app password stored
// before app passwords referred to their sign-in holds a copy of the
// refresh token; it is still re-checked with it, and keeps the rotated
// one.
func TestLegacyAppPasswordRotatesItsOwnRefreshToken(t *testing.T) {
	ri := newRotatingIdP()
	r := newRig(t, ri.middleware)
	ctx := context.Background()
	_, page := r.signIn(t, r.user)
	session, _, err := r.svc.Authenticate(ctx, r.pol, "jane.doe@example.com", passwordRE.FindStringSubmatch(page)[1])
	if err != nil {
		t.Fatal(err)
	}
	sc, err := r.svc.store.Get(session.Credential, 0)
	if err != nil || sc.RefreshToken == "" {
		t.Fatalf("sign-in credential: %+v, %v", sc, err)
	}
	legacy := &Credential{Kind: KindApp, Name: "old", User: sc.User, Issuer: sc.Issuer, Subject: sc.Subject, Claims: sc.Claims,
		Expires: time.Now().Add(time.Hour), RefreshToken: sc.RefreshToken, CheckedAt: time.Now()}
	if _, err := r.svc.store.Issue(legacy); err != nil {
		t.Fatal(err)
	}
	if raw, _ := readFile(r.svc.store.dir + "/" + legacy.ID + ".json"); strings.Contains(raw, "sign_in") {
		t.Fatalf("not stored as before:\n%s", raw)
	}
	for round := range 2 {
		if n := r.svc.RecheckAppPasswords(ctx); n != 0 {
			t.Fatalf("re-check %d revoked the old app password: %s", round+1, r.lastRevocation())
		}
	}
	got, err := r.svc.store.Get(legacy.ID, 0)
	if err != nil || got.RefreshToken == sc.RefreshToken || got.SignIn != "" {
		t.Fatalf("the old app password does not hold its rotated token: %+v, %v", got, err)
	}
}

// TestRefreshOutlivesAnAbandonedLogin: a login whose handshake times out
// while the IdP is answering its re-check goes on without it, but the
// refresh, already done at the IdP, still stores the rotated token;
// otherwise the sign-in's app passwords would all be refused next time.
func TestRefreshOutlivesAnAbandonedLogin(t *testing.T) {
	ri := newRotatingIdP()
	r := newRig(t, ri.middleware)
	c, page := r.signIn(t, r.user)
	apps := []string{r.createApp(t, c, page, "Tableau Server"), r.createApp(t, c, page, "QuickSight")}
	ri.mu.Lock()
	ri.slow = 300 * time.Millisecond
	ri.mu.Unlock()
	r.svc.now = func() time.Time { return time.Now().Add(2 * appLoginRecheck) }
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := r.svc.Authenticate(ctx, r.pol, "jane.doe@example.com", apps[0]); err != nil {
		t.Fatalf("login while the IdP is slow: %v", err)
	}
	r.svc.now = time.Now
	if n := r.svc.RecheckAppPasswords(context.Background()); n != 0 {
		t.Fatalf("re-check after an abandoned login re-check revoked %d: %s", n, r.lastRevocation())
	}
}
