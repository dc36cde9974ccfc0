// Package testtool finds and runs the external programs tests drive (Chromium,
// docker-compose, ...). A missing program fails the test: scripts/test.sh
// installs them all, and a skipped check must never pass for a run one.
// Only under -short does a missing program let the test end early, and
// it says so.
package testtool

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync/atomic"
	"testing"
)

// Need returns the path of program bin. If it is not installed the test
// fails, naming the Debian package; under -short it logs what was not
// checked and returns ok false instead.
func Need(t testing.TB, bin, pkg, what string) (path string, ok bool) {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err == nil {
		return path, true
	}
	if testing.Short() {
		t.Logf("%s not installed; -short: %s not checked", bin, what)
		return "", false
	}
	t.Fatalf("%s is not installed (apt-get install %s, or run scripts/test.sh): %s must be checked", bin, pkg, what)
	return "", false
}

// TLSServer starts an HTTPS test server whose handler is set afterwards
// with the returned function, for handlers that need the server's own URL
// (an OIDC redirect URI). The handler is published atomically: setting
// Config.Handler after the server has started races with its goroutines.
// Requests before the handler is set get 503.
func TLSServer(t testing.TB) (*httptest.Server, func(http.Handler)) {
	return TLSServerWith(t, nil)
}

// TLSServerWith is TLSServer with configure (if not nil) run on the
// server before it starts: to wrap its listener or set its http.Server
// fields as a production server would.
func TLSServerWith(t testing.TB, configure func(*httptest.Server)) (*httptest.Server, func(http.Handler)) {
	t.Helper()
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := h.Load(); p != nil {
			(*p).ServeHTTP(w, r)
			return
		}
		http.Error(w, "handler not set yet", http.StatusServiceUnavailable)
	}))
	if configure != nil {
		configure(srv)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, func(handler http.Handler) { h.Store(&handler) }
}

// Output runs cmd with its standard output and error together and
// returns them with its exit code; a command that could not be run at
// all (no such program) fails the test.
func Output(t testing.TB, cmd *exec.Cmd) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	}
	t.Fatalf("%s: %v", cmd.Path, err)
	return "", -1
}
