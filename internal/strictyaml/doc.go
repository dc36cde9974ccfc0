// Package strictyaml decodes the administrator's YAML files (rrproxy.yaml,
// policy.yaml) strictly and keeps the document tree so that every problem
// found later, during validation, can be reported as file:line.
//
// Why not just yaml.Decoder.KnownFields: it catches typos, but validation
// errors ("upstream.address is required") would then have no line. We decode
// twice from the same bytes: once into the typed struct with KnownFields, once
// into a yaml.Node tree that Doc.Line walks by key path.
package strictyaml
