package devcert

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGenerateDefaults(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs") // not yet there: Generate creates it
	p, err := Generate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := pathsIn(dir); p != want {
		t.Fatalf("paths = %+v, want %+v", p, want)
	}

	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatalf("LoadX509KeyPair: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := caPool(t, p.CA)
	for _, host := range []string{"127.0.0.1", "localhost", "::1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots}); err == nil {
		t.Error("certificate verifies for example.com; want only the default hosts")
	}

	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("server key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > validity+backdate {
		t.Errorf("server certificate lifetime %s exceeds 825 days", life)
	}

	for path, want := range map[string]os.FileMode{p.CA: 0o644, p.CAKey: 0o600, p.Cert: 0o644, p.Key: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s mode %o, want %o", filepath.Base(path), got, want)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode: %v %v, want 0700", fi.Mode().Perm(), err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left behind: %v", leftovers)
	}
}

// TestHandshake proves the files work the way rrproxy uses them: a TLS
// server with server.pem and a client that trusts only ca.pem.
func TestHandshake(t *testing.T) {
	p, err := Generate(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		t.Run(name, func(t *testing.T) {
			c, s := net.Pipe()
			defer c.Close()
			defer s.Close()
			srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{pair}})
			done := make(chan error, 1)
			go func() { done <- srv.Handshake() }()
			cli := tls.Client(c, &tls.Config{RootCAs: caPool(t, p.CA), ServerName: name})
			if err := cli.Handshake(); err != nil {
				t.Fatalf("client handshake: %v", err)
			}
			if err := <-done; err != nil {
				t.Fatalf("server handshake: %v", err)
			}
		})
	}
}

func TestGenerateReusesValidFiles(t *testing.T) {
	dir := t.TempDir()
	p, err := Generate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, p)
	p2, err := Generate(dir, []string{"localhost"}) // a subset is still covered
	if err != nil {
		t.Fatal(err)
	}
	if p2 != p {
		t.Fatalf("paths changed: %+v -> %+v", p, p2)
	}
	after := snapshot(t, p)
	for path, b := range before {
		a := after[path]
		if !bytes.Equal(a.data, b.data) || !a.mod.Equal(b.mod) {
			t.Errorf("%s was rewritten", filepath.Base(path))
		}
	}
}

func TestGenerateNewHostsKeepsCA(t *testing.T) {
	dir := t.TempDir()
	p, err := Generate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, p)
	if _, err := Generate(dir, []string{"db.example.test", "10.1.2.3"}); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, p)
	if !bytes.Equal(before[p.CA].data, after[p.CA].data) || !bytes.Equal(before[p.CAKey].data, after[p.CAKey].data) {
		t.Error("CA replaced although it was still valid")
	}
	if bytes.Equal(before[p.Cert].data, after[p.Cert].data) {
		t.Fatal("server certificate not reissued for new hosts")
	}
	leaf := parseCert(t, p.Cert)
	for _, host := range []string{"db.example.test", "10.1.2.3"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: caPool(t, p.CA)}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
}

func TestGenerateRenewsNearExpiry(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	p, err := generate(dir, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	old := parseCert(t, p.Cert)

	// Eight days before expiry: still reused.
	if _, err := generate(dir, nil, old.NotAfter.Add(-8*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := parseCert(t, p.Cert); !got.Equal(old) {
		t.Fatal("certificate renewed more than seven days before expiry")
	}

	// Six days before expiry: CA and server certificate both renewed, since
	// they were issued together and expire together.
	later := old.NotAfter.Add(-6 * 24 * time.Hour)
	if _, err := generate(dir, nil, later); err != nil {
		t.Fatal(err)
	}
	renewed := parseCert(t, p.Cert)
	if renewed.Equal(old) {
		t.Fatal("certificate not renewed within seven days of expiry")
	}
	if !renewed.NotAfter.After(later.Add(renewBefore)) {
		t.Errorf("renewed certificate expires %s", renewed.NotAfter)
	}
	if _, err := renewed.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: caPool(t, p.CA), CurrentTime: later}); err != nil {
		t.Errorf("renewed chain: %v", err)
	}
}

func TestGenerateReplacesBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	p, err := Generate(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(p.Cert, p.Key); err != nil {
		t.Fatalf("after regeneration: %v", err)
	}
}

func TestGenerateRejectsBadHosts(t *testing.T) {
	for _, hosts := range [][]string{{""}, {"localhost", " padded"}} {
		if _, err := Generate(t.TempDir(), hosts); err == nil {
			t.Errorf("Generate(%q) succeeded, want error", hosts)
		}
	}
}

type fileState struct {
	data []byte
	mod  time.Time
}

func snapshot(t *testing.T, p Paths) map[string]fileState {
	t.Helper()
	m := make(map[string]fileState)
	for _, path := range []string{p.CA, p.CAKey, p.Cert, p.Key} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		m[path] = fileState{data: data, mod: fi.ModTime()}
	}
	return m
}

func parseCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caPool(t *testing.T, caPath string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("%s: no certificates", caPath)
	}
	return pool
}
