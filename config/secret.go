package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Secret is a resolved password or key. It redacts itself in logs and
// fmt output so that it cannot leak through a careless %v.
type Secret string

func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }
func (Secret) String() string       { return "[redacted]" }
func (Secret) GoString() string     { return "[redacted]" }

// Reveal returns the secret's value; the name makes every use greppable.
func (s Secret) Reveal() string { return string(s) }

// SecretSource names where a secret lives. Exactly one field is set.
// Inline values are deliberately impossible: rrproxy.yaml is often
// committed or copied into tickets.
type SecretSource struct {
	FromFile string `yaml:"from_file"`
	FromEnv  string `yaml:"from_env"`
}

func (s SecretSource) isZero() bool { return s.FromFile == "" && s.FromEnv == "" }

func (s SecretSource) validate() error {
	switch {
	case s.FromFile != "" && s.FromEnv != "":
		return fmt.Errorf("set one of from_file or from_env, not both")
	case s.isZero():
		return fmt.Errorf("is required (from_file: PATH or from_env: NAME)")
	}
	return nil
}

// Resolve reads the secret. A trailing newline in a file is dropped (echo
// and most editors add one); anything else is kept exactly.
func (s SecretSource) Resolve() (Secret, error) {
	if s.FromEnv != "" {
		v, ok := os.LookupEnv(s.FromEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set or empty", s.FromEnv)
		}
		return Secret(v), nil
	}
	b, err := os.ReadFile(s.FromFile)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", s.FromFile)
	}
	return Secret(v), nil
}
