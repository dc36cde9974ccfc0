package sso

import (
	"bytes"
	"context"
	"github.com/rrproxy/rrproxy/internal/testtool"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSignInInBrowser drives the web sign-in in headless Chromium: the
// browser follows the redirects to the IdP and back, keeps the flow
// cookie, and lands on the page with the new password, which then logs
// in. A screenshot of that page is written (and, with
// RRPROXY_UPDATE_SCREENSHOTS=1, copied to docs/img for the README).
func TestSignInInBrowser(t *testing.T) {
	bin, ok := testtool.Need(t, "chromium", "chromium", "the sign-in in a real browser")
	if !ok {
		return
	}
	r := newRig(t)
	dir := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		r.idp.QueueUser(r.user)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
			"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1100,1400"}
		cmd := exec.CommandContext(ctx, bin, append(append(base, args...), r.web.URL+"/login")...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium: %v\n%s", err, stderr.String())
		}
		return stdout.Bytes()
	}
	dom := run("--dump-dom")
	m := passwordRE.FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the browser did not end on the password page:\n%s", dom)
	}
	if _, _, err := r.svc.Authenticate(context.Background(), r.pol, "jane.doe@example.com", string(m[1])); err != nil {
		t.Fatalf("the password the browser was shown does not log in: %v", err)
	}
	png := filepath.Join(dir, "signin.png")
	run("--screenshot=" + png)
	st, err := os.Stat(png)
	if err != nil || st.Size() < 20<<10 {
		t.Fatalf("screenshot: %v (%d bytes): the page did not render", err, st.Size())
	}
	if os.Getenv("RRPROXY_UPDATE_SCREENSHOTS") == "1" {
		b, _ := os.ReadFile(png)
		if err := os.WriteFile("../docs/img/sso-signin.png", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(string(dom), "Copy") {
		t.Error("no copy buttons on the page")
	}
}
