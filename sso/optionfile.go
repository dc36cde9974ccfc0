package sso

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WriteOptionFile writes a [client] section the mariadb and mysql CLIs
// read, readable by its owner only (it holds the password). An existing
// file is replaced whole, never left half-written.
func WriteOptionFile(path string, got *Issued, ca string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by rrproxy login; the password expires %s\n[client]\n", got.Expires.Format(time.RFC3339))
	fmt.Fprintf(&b, "user=%s\npassword=%s\nhost=%s\nport=%s\nssl=1\n", got.User, got.Password, got.Host, got.Port)
	if ca != "" {
		abs, _ := filepath.Abs(ca)
		fmt.Fprintf(&b, "ssl-ca=%s\n", abs)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".rrproxy-login-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	_, err = tmp.WriteString(b.String())
	if err = errors.Join(err, tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
