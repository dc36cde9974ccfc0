// Package testtool finds the external programs tests drive (Chromium,
// docker-compose, ...). A missing program fails the test: scripts/test.sh
// installs them all, and a skipped check must never pass for a run one.
// Only under -short does a missing program let the test end early, and
// it says so.
package testtool

import (
	"os/exec"
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
