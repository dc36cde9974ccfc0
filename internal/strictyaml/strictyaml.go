package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Doc is a decoded file: its name and its node tree, for error positions.
type Doc struct {
	File string
	root *yaml.Node
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// DecodeFile reads path and decodes it into v, rejecting unknown keys,
// duplicate keys, type mismatches and trailing documents. Errors carry
// file:line.
func DecodeFile(path string, v any) (*Doc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(path, data, v)
}

// Decode is DecodeFile for bytes already read; file names the source in errors.
func Decode(file string, data []byte, v any) (*Doc, error) {
	doc := &Doc{File: file}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, doc.wrapYAML(err)
	}
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) {
		return nil, fmt.Errorf("%s: file is empty", file)
	}
	doc.root = &root

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a typo is an error, not a silently ignored rule
	if err := dec.Decode(v); err != nil {
		return nil, doc.wrapYAML(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s:%d: only one YAML document is allowed", file, extra.Line)
	}
	return doc, nil
}

// wrapYAML rewrites the yaml package's "line N: msg" into "file:N: msg",
// one line per problem, so editors and CI logs can jump to it.
func (d *Doc) wrapYAML(err error) error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var errs []error
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		if sm := lineRE.FindStringSubmatch(m); sm != nil {
			errs = append(errs, fmt.Errorf("%s:%s: %s", d.File, sm[1], sm[2]))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %s", d.File, m))
	}
	return errors.Join(errs...)
}

// Line returns the line of the node at path (map keys as strings, sequence
// indexes as ints), or of the deepest existing ancestor when the path stops
// early (a missing required key is reported at its parent).
func (d *Doc) Line(path ...any) int {
	if d == nil || d.root == nil {
		return 0
	}
	n := d.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		next, at := child(n, p)
		if next == nil {
			return line
		}
		n, line = next, at
	}
	return line
}

// child returns the node under p and the line to report for it: the key's
// line for mappings (where an administrator looks), the item's for lists.
func child(n *yaml.Node, p any) (*yaml.Node, int) {
	switch k := p.(type) {
	case string:
		if n.Kind != yaml.MappingNode {
			return nil, 0
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				return n.Content[i+1], n.Content[i].Line
			}
		}
	case int:
		if n.Kind == yaml.SequenceNode && k >= 0 && k < len(n.Content) {
			return n.Content[k], n.Content[k].Line
		}
	}
	return nil, 0
}

// Errorf formats a validation problem at path as "file:line: path: message".
func (d *Doc) Errorf(path []any, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", d.File, d.Line(path...), PathString(path), fmt.Sprintf(format, args...))
}

// PathString renders a key path the way an administrator reads it:
// upstream.pool.max_open, rules[2].allow[0].
func PathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch k := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(k) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, k)
		}
	}
	return b.String()
}

// P builds a path; it reads better than []any{...} at call sites.
func P(parts ...any) []any { return parts }

// Has reports whether path exists in the document, even with a null
// value (which decoding cannot tell from an absent key).
func (d *Doc) Has(path ...any) bool {
	if d == nil || d.root == nil {
		return false
	}
	n := d.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		if n, _ = child(n, p); n == nil {
			return false
		}
	}
	return true
}
