package sso

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/rrproxy/rrproxy/auditlog"
)

// `rrproxy login` on a terminal: the OAuth 2.0 device authorization grant
// (RFC 8628), run by the rrproxy server on the terminal's behalf. The
// terminal only knows rrproxy's URL: rrproxy asks the IdP for a device
// code with its own (confidential) client, hands the terminal the
// verification URL and user code plus a sealed handle, and the terminal
// polls rrproxy, which polls the IdP. When the person has signed in,
// rrproxy verifies the ID token, maps it under the policy like a web
// sign-in, and returns a new database password. No client secret or IdP
// configuration reaches the terminal, and any instance sharing the key
// can answer a poll.

// DeviceStart is what the terminal shows the person.
type DeviceStart struct {
	VerificationURI         string    `json:"verification_uri"`
	VerificationURIComplete string    `json:"verification_uri_complete,omitempty"`
	UserCode                string    `json:"user_code"`
	Expires                 time.Time `json:"expires"`
	Interval                int64     `json:"interval"`
	Handle                  string    `json:"handle"`
}

// Issued is a database password handed to the terminal.
type Issued struct {
	User     string    `json:"user"`
	Password string    `json:"password"`
	Expires  time.Time `json:"expires"`
	Host     string    `json:"host"`
	Port     string    `json:"port"`
}

type deviceHandle struct {
	Issuer     string `json:"iss"`
	DeviceCode string `json:"device_code"`
	Expiry     int64  `json:"expiry"`
	Interval   int64  `json:"interval"`
	Created    int64  `json:"created"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Service) deviceStart(w http.ResponseWriter, r *http.Request) {
	chosen, ps := s.chosenProvider(r)
	if chosen == nil {
		names := make([]string, len(ps))
		for i, p := range ps {
			names[i] = p.Name
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "choose an identity provider with -provider: " + strings.Join(names, ", ")})
		return
	}
	cfg, p, err := s.oauthConfig(r.Context(), s.client(chosen.Issuer))
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "the identity provider cannot be reached"})
		return
	}
	var disc struct {
		DeviceEndpoint string `json:"device_authorization_endpoint"`
	}
	if err := p.Claims(&disc); err != nil || disc.DeviceEndpoint == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "this identity provider offers no device sign-in; use the web page"})
		return
	}
	cfg.Endpoint.DeviceAuthURL = disc.DeviceEndpoint
	cfg.Scopes = withoutScope(cfg.Scopes, oidc.ScopeOfflineAccess)
	da, err := cfg.DeviceAuth(s.ctx(r.Context()))
	if err != nil {
		s.log.Warn("sso: device authorization refused", "issuer", chosen.Issuer, "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "the identity provider refused the device sign-in: " + err.Error()})
		return
	}
	h := deviceHandle{Issuer: chosen.Issuer, DeviceCode: da.DeviceCode, Expiry: da.Expiry.Unix(), Interval: max(da.Interval, 1), Created: s.now().Unix()}
	b, _ := json.Marshal(h)
	writeJSON(w, http.StatusOK, DeviceStart{VerificationURI: da.VerificationURI, VerificationURIComplete: da.VerificationURIComplete,
		UserCode: da.UserCode, Expires: da.Expiry, Interval: h.Interval, Handle: s.seal(sealDeviceHandle, b)})
}

func withoutScope(scopes []string, drop string) []string {
	var out []string
	for _, s := range scopes {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

// devicePollWait is how long one poll request waits for the person.
const devicePollWait = 20 * time.Second

func (s *Service) devicePoll(w http.ResponseWriter, r *http.Request) {
	var h deviceHandle
	b, err := s.open(sealDeviceHandle, r.PostFormValue("handle"))
	if err != nil || json.Unmarshal(b, &h) != nil || s.now().Unix() > h.Expiry {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "this sign-in expired or was not started here; run rrproxy login again"})
		return
	}
	c := s.client(h.Issuer)
	if c == nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "this identity provider is no longer configured"})
		return
	}
	cfg, p, err := s.oauthConfig(r.Context(), c)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "the identity provider cannot be reached"})
		return
	}
	// Client authentication in the Basic header, which RFC 6749 obliges
	// every server to accept. Auto-detection would take the expected
	// "authorization_pending" answer for a failed header style and retry
	// with the secret in the body, which some IdPs (zitadel) refuse.
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	ctx, cancel := context.WithTimeout(s.ctx(r.Context()), devicePollWait)
	defer cancel()
	tok, err := cfg.DeviceAccessToken(ctx, &oauth2.DeviceAuthResponse{DeviceCode: h.DeviceCode, Interval: h.Interval, Expiry: time.Unix(h.Expiry, 0)})
	src := sourceOf(r)
	fail := func(status int, userMsg, reason string) {
		_ = s.record(&auditlog.Event{Action: "sso-signin", Outcome: "failure", Reason: "rrproxy login: " + reason, IDSource: h.Issuer,
			Source: src.String(), SourceIP: src.ip, SourcePort: src.port, Via: src.via})
		writeJSON(w, status, map[string]string{"error": userMsg})
	}
	if errors.Is(err, context.DeadlineExceeded) {
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "pending"})
		return
	}
	if err != nil {
		fail(http.StatusForbidden, "the identity provider did not sign you in", "device token: "+err.Error())
		return
	}
	id, cred, pw, serr := s.signIn(r.Context(), c, p, tok, "", src, "rrproxy login (device flow)")
	if serr != nil {
		fail(serr.status, serr.userMsg, serr.reason)
		return
	}
	host, port, _ := net.SplitHostPort(s.cfg.ProxyAddress)
	writeJSON(w, http.StatusOK, Issued{User: id.User, Password: pw, Expires: cred.Expires, Host: host, Port: port})
}

// DeviceLogin runs `rrproxy login` against the rrproxy at base (its sign-in
// page URL): show tells the person where to go and which code to enter.
func DeviceLogin(ctx context.Context, hc *http.Client, base, provider string, show func(DeviceStart)) (*Issued, error) {
	base = strings.TrimSuffix(base, "/")
	u := base + "/api/device/start"
	if provider != "" {
		u += "?provider=" + url.QueryEscape(provider)
	}
	var st DeviceStart
	if err := postJSON(ctx, hc, u, nil, http.StatusOK, &st); err != nil {
		return nil, err
	}
	show(st)
	for {
		var out Issued
		err := postJSON(ctx, hc, base+"/api/device/poll", url.Values{"handle": {st.Handle}}, http.StatusOK, &out)
		if err == nil {
			return &out, nil
		}
		if !errors.Is(err, errPending) {
			return nil, err
		}
		if time.Now().After(st.Expires) {
			return nil, errors.New("the sign-in was not completed in time; run rrproxy login again")
		}
	}
}

var errPending = errors.New("pending")

func postJSON(ctx context.Context, hc *http.Client, u string, form url.Values, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewBufferString(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == want:
		return json.Unmarshal(body, out)
	case resp.StatusCode == http.StatusAccepted:
		return errPending
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Errorf("rrproxy: %s", e.Error)
	}
	return fmt.Errorf("rrproxy: %s: %s", resp.Status, strings.TrimSpace(string(body)))
}
