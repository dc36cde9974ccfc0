package rrproxy

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportGraph keeps the layout honest: only authz/sqlscope parses SQL,
// the proxy never parses SQL or speaks OIDC, auditlog depends on nothing of
// ours, the demo's embedded database and the test identity providers stay
// out of production packages, and proxy and sso know each other only
// through an interface.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/rrproxy/rrproxy"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ": ")
		for _, imp := range strings.Fields(imports) {
			switch {
			case strings.Contains(imp, "pingcap/tidb") && pkg != mod+"/authz/sqlscope":
				t.Errorf("%s imports the SQL parser %s; only authz/sqlscope may", pkg, imp)
			case strings.Contains(imp, "go-oidc") && strings.HasPrefix(pkg, mod+"/proxy"):
				t.Errorf("proxy imports %s", imp)
			case strings.HasPrefix(imp, mod) && pkg == mod+"/auditlog":
				t.Errorf("auditlog imports %s; it must depend on nothing of ours", imp)
			case (imp == mod+"/sandbox" || strings.Contains(imp, "dolthub")) && pkg != mod+"/cmd/rrproxy" && pkg != mod+"/sandbox":
				t.Errorf("%s imports %s; the demo database belongs to the demo only", pkg, imp)
			case (strings.Contains(imp, "mockoidc") || strings.Contains(imp, "zitadel")) && pkg != mod+"/bench":
				// bench (the benchmark) runs a mock IdP to issue SSO passwords.
				t.Errorf("%s imports the test identity provider %s outside its tests", pkg, imp)
			case (imp == mod+"/sso" && strings.HasPrefix(pkg, mod+"/proxy")) || (imp == mod+"/proxy" && pkg == mod+"/sso"):
				t.Errorf("%s imports %s: the proxy knows single sign-on only through proxy.SSOAuth", pkg, imp)
			case imp == mod+"/proxy" && (pkg == mod+"/authz" || pkg == mod+"/authz/sqlscope"):
				t.Errorf("%s imports proxy: authz must not depend on the proxy", pkg)
			}
		}
	}
}

// TestProductionBuildLeavesOutTheDemo: the Dockerfile builds with -tags
// nodemo, which must leave the demo's embedded database out of the
// binary (its WebAssembly regex engine costs ~45 MB at start), and the
// binary must say so when asked for the demo.
func TestProductionBuildLeavesOutTheDemo(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "nodemo", "./cmd/rrproxy").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "dolthub") || strings.Contains(dep, "wazero") || strings.HasSuffix(dep, "rrproxy/sandbox") {
			t.Errorf("the nodemo build links %s", dep)
		}
	}
	bin := t.TempDir() + "/rrproxy"
	if out, err := exec.Command("go", "build", "-tags", "nodemo", "-o", bin, "./cmd/rrproxy").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags nodemo: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "demo").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "-tags nodemo") {
		t.Errorf("demo in the nodemo build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil {
		t.Errorf("version in the nodemo build: %v\n%s", err, out)
	}
}
