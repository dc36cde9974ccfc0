package authz

import _ "embed" // for go:embed

// Schema is the JSON Schema (draft 2020-12) for policy.yaml; `rrproxy
// policy schema` prints it. Editors running the YAML language server use it
// for completion, hover text and validation when the file starts with
//
//	# yaml-language-server: $schema=PATH-OR-URL/policy.schema.json
//
// It checks shape only: keys, types, patterns. Load still validates
// everything, including what a schema cannot see (references to undeclared
// users or groups, duplicate rule ids), so an editor that never loaded the
// schema cannot let a bad policy through. Keep it in step with File.
//
//go:embed policy.schema.json
var Schema []byte
