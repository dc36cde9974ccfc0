package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rrproxy/rrproxy/authz"
)

func TestPasswdFromPipe(t *testing.T) {
	var out bytes.Buffer
	if err := cmdPasswd([]string{"-native"}, strings.NewReader("correct-horse-battery\n"), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `password: "$argon2id$`) || !strings.HasPrefix(lines[1], `native_password: "*`) {
		t.Fatalf("output: %q", out.String())
	}
	if strings.Contains(out.String(), "correct-horse") {
		t.Fatal("password echoed")
	}
	// The printed hash must be accepted by the policy loader and verify.
	hash := strings.TrimSuffix(strings.TrimPrefix(lines[0], `password: "`), `"`)
	p, err := authz.Parse("p.yaml", []byte("users:\n  u: {password: \""+hash+"\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AuthenticatePassword("u", "correct-horse-battery"); err != nil {
		t.Fatal(err)
	}
	if err := cmdPasswd(nil, strings.NewReader("short\n"), &out); err == nil {
		t.Fatal("short password accepted")
	}
}

func TestCheckExampleConfigReportsMissingFiles(t *testing.T) {
	// The example config names production paths that do not exist here:
	// check must say which, with the config file's name.
	err := cmdCheck([]string{"-config", "../../rrproxy.yaml"})
	if err == nil || !strings.Contains(err.Error(), "tls.cert") {
		t.Fatalf("want missing-file errors, got %v", err)
	}
}
