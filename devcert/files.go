package devcert

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// reusable reports, as an error, why the files at p cannot be served as they
// are; nil means they can.
func reusable(p Paths, hosts []string, now time.Time) error {
	ca, _, err := loadCA(p, now)
	if err != nil {
		return err
	}
	// LoadX509KeyPair also proves the server key matches its certificate.
	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		return fmt.Errorf("devcert: load server key pair: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("devcert: parse %s: %w", p.Cert, err)
	}
	if !leaf.NotAfter.After(now.Add(renewBefore)) {
		return fmt.Errorf("devcert: %s expires %s, within %s", p.Cert, leaf.NotAfter.Format(time.RFC3339), renewBefore)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return fmt.Errorf("devcert: %s does not chain to %s: %w", p.Cert, p.CA, err)
	}
	for _, h := range hosts {
		if err := leaf.VerifyHostname(h); err != nil {
			return fmt.Errorf("devcert: %s: %w", p.Cert, err)
		}
	}
	return nil
}

// loadCA returns the CA at p if it is a CA, its key matches, and it stays
// valid for more than renewBefore.
func loadCA(p Paths, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certDER, err := readPEM(p.CA, "CERTIFICATE")
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: parse %s: %w", p.CA, err)
	}
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, nil, fmt.Errorf("devcert: %s is not a signing CA", p.CA)
	}
	if now.Before(ca.NotBefore) || !ca.NotAfter.After(now.Add(renewBefore)) {
		return nil, nil, fmt.Errorf("devcert: %s valid %s to %s, not beyond %s", p.CA,
			ca.NotBefore.Format(time.RFC3339), ca.NotAfter.Format(time.RFC3339), renewBefore)
	}
	keyDER, err := readPEM(p.CAKey, "PRIVATE KEY")
	if err != nil {
		return nil, nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: parse %s: %w", p.CAKey, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("devcert: %s holds a %T, want ECDSA", p.CAKey, parsed)
	}
	if !key.PublicKey.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("devcert: %s does not match %s", p.CAKey, p.CA)
	}
	return ca, key, nil
}

func readPEM(path, blockType string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devcert: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != blockType {
		return nil, fmt.Errorf("devcert: %s: no %s PEM block", path, blockType)
	}
	return block.Bytes, nil
}

func mkdir(dir string) error {
	// 0700: the directory holds an unencrypted CA key.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devcert: create %s: %w", dir, err)
	}
	return nil
}

func writeCert(path string, der []byte) error {
	return writeAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("devcert: marshal key for %s: %w", path, err)
	}
	return writeAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// writeAtomic writes through a temporary file and a rename so that a reader
// (or a crash) never sees half a PEM file, and so that the mode is right from
// the first byte rather than fixed up after a key has been written.
func writeAtomic(path string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("devcert: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	// CreateTemp already uses 0600; Chmod also makes certificates readable
	// and does not depend on the umask.
	if err := f.Chmod(mode); err != nil {
		_ = f.Close()
		return fmt.Errorf("devcert: chmod %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("devcert: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("devcert: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("devcert: close %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("devcert: rename into %s: %w", path, err)
	}
	return nil
}
