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
			case strings.Contains(imp, "mockoidc") || strings.Contains(imp, "zitadel"):
				t.Errorf("%s imports the test identity provider %s outside its tests", pkg, imp)
			case (imp == mod+"/sso" && strings.HasPrefix(pkg, mod+"/proxy")) || (imp == mod+"/proxy" && pkg == mod+"/sso"):
				t.Errorf("%s imports %s: the proxy knows single sign-on only through proxy.SSOAuth", pkg, imp)
			case imp == mod+"/proxy" && (pkg == mod+"/authz" || pkg == mod+"/authz/sqlscope"):
				t.Errorf("%s imports proxy: authz must not depend on the proxy", pkg)
			}
		}
	}
}
