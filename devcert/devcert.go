package devcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"time"
)

// Paths names the four PEM files Generate writes into its directory.
type Paths struct {
	CA    string // ca.pem: the dev CA certificate clients should trust
	CAKey string // ca-key.pem: the CA's private key (PKCS#8, mode 0600)
	Cert  string // server.pem: the server certificate
	Key   string // server-key.pem: the server's private key (PKCS#8, mode 0600)
}

// DefaultHosts is what the server certificate covers when Generate is given
// no hosts: the loopback names a local client is likely to dial.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1"}

const (
	// validity is the longest lifetime Apple platforms (and, following them,
	// most TLS stacks) accept for a server certificate; a longer one is
	// rejected outright on macOS clients.
	validity = 825 * 24 * time.Hour

	// renewBefore is how long before expiry a certificate stops being reused,
	// so a demo started today does not break mid-week.
	renewBefore = 7 * 24 * time.Hour

	// backdate absorbs clock skew between the machine that generates and the
	// client that verifies.
	backdate = time.Hour
)

// Generate makes sure dir holds a dev CA and a server certificate for hosts
// (DNS names or IP literals; DefaultHosts when empty) and returns their paths.
//
// Existing files are reused, untouched, when they form a valid chain, the
// server certificate covers every host and stays valid for more than seven
// days. Otherwise a new server certificate is issued; the existing CA is kept
// if it is itself sound and valid for more than seven days, so clients that
// already trust it keep working, and is replaced otherwise.
func Generate(dir string, hosts []string) (Paths, error) {
	return generate(dir, hosts, time.Now())
}

// generate is Generate with an explicit clock, so tests can age certificates
// without waiting for them to expire.
func generate(dir string, hosts []string, now time.Time) (Paths, error) {
	if len(hosts) == 0 {
		hosts = DefaultHosts
	}
	if err := validateHosts(hosts); err != nil {
		return Paths{}, err
	}
	p := pathsIn(dir)

	if err := reusable(p, hosts, now); err == nil {
		return p, nil
	}
	if err := mkdir(dir); err != nil {
		return Paths{}, err
	}

	ca, caKey, err := loadCA(p, now)
	if err != nil {
		// No usable CA: start a fresh chain. The reason is not reported
		// because a missing or stale CA is the normal first-run case.
		ca, caKey, err = newCA(now)
		if err != nil {
			return Paths{}, err
		}
		if err := writeKey(p.CAKey, caKey); err != nil {
			return Paths{}, err
		}
		if err := writeCert(p.CA, ca.Raw); err != nil {
			return Paths{}, err
		}
	}

	der, key, err := newServerCert(ca, caKey, hosts, now)
	if err != nil {
		return Paths{}, err
	}
	// Key before certificate: a crash in between leaves a mismatched pair,
	// which reusable rejects, rather than a certificate whose key is lost.
	if err := writeKey(p.Key, key); err != nil {
		return Paths{}, err
	}
	if err := writeCert(p.Cert, der); err != nil {
		return Paths{}, err
	}
	return p, nil
}

func pathsIn(dir string) Paths {
	return Paths{
		CA:    filepath.Join(dir, "ca.pem"),
		CAKey: filepath.Join(dir, "ca-key.pem"),
		Cert:  filepath.Join(dir, "server.pem"),
		Key:   filepath.Join(dir, "server-key.pem"),
	}
}

func validateHosts(hosts []string) error {
	var errs []error
	for i, h := range hosts {
		if strings.TrimSpace(h) != h || h == "" {
			errs = append(errs, fmt.Errorf("devcert: hosts[%d] %q: empty or padded with spaces", i, h))
		}
	}
	return errors.Join(errs...)
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"rrproxy development"},
			// The timestamp tells apart CAs from different runs in a
			// trust store listing, where they would otherwise look alike.
			CommonName: "rrproxy dev CA " + now.UTC().Format("2006-01-02T15:04:05Z"),
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// Path length zero: this CA signs leaf certificates only, so a
		// leaked key cannot mint intermediates.
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: self-sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: parse new CA: %w", err)
	}
	return cert, key, nil
}

func newServerCert(ca *x509.Certificate, caKey crypto.Signer, hosts []string, now time.Time) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: generate server key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(validity)
	if ca.NotAfter.Before(notAfter) {
		// A leaf that outlives its CA would only fail verification later.
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"rrproxy development"},
			CommonName:   hosts[0],
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: sign server certificate: %w", err)
	}
	return der, key, nil
}

func newSerial() (*big.Int, error) {
	// 128 random bits, as RFC 5280 allows up to 20 octets and browsers want
	// serials unpredictable.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("devcert: serial number: %w", err)
	}
	return serial, nil
}
