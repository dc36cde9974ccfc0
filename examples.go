// Package rrproxy holds the repository's example configuration files, so
// that `rrproxy demo` runs the very policy.yaml and rrproxy.yaml that an
// administrator reads at the repository root.
package rrproxy

import _ "embed"

// ExamplePolicy is policy.yaml at the repository root.
//
//go:embed policy.yaml
var ExamplePolicy []byte

// ExampleConfig is rrproxy.yaml at the repository root.
//
//go:embed rrproxy.yaml
var ExampleConfig []byte

// ExamplePseudonymKey is the demo's pseudonym.key, which policy.yaml
// names. It is public: production policies need their own key.
//
//go:embed pseudonym.key
var ExamplePseudonymKey []byte
