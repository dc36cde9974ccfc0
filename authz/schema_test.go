package authz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const schemaID = "https://github.com/rrproxy/rrproxy/authz/policy.schema.json"

// compileSchema compiles the embedded schema. Compiling also checks it
// against the draft 2020-12 metaschema, so a malformed keyword fails here.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatalf("policy.schema.json is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(schemaID)
	if err != nil {
		t.Fatalf("compile policy.schema.json: %v", err)
	}
	return sch
}

// yamlToJSON decodes one YAML document into the values a JSON decoder
// would produce, which is what the YAML language server validates.
func yamlToJSON(src string) (any, error) {
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		return nil, err
	}
	return jsonValue(v)
}

func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, string, int, int64, uint64, float64:
		return v, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			var err error
			if out[k], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("mapping key %v (%T) is not a string", k, k)
			}
			var err error
			if out[ks], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	default:
		// Timestamps and the like: quote them in the test document.
		return nil, fmt.Errorf("YAML value %v (%T) has no JSON equivalent", v, v)
	}
}

func TestSchemaAcceptsExamplePolicy(t *testing.T) {
	sch := compileSchema(t)
	src, err := os.ReadFile("../policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := yamlToJSON(string(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("../policy.yaml does not match policy.schema.json:\n%v", err)
	}
}

const (
	schemaArgonHash  = `"$argon2id$v=19$m=19456,t=2,p=1$Hd1z1D7QLQeO8cE/v3kJ7w$vn4UoSgtKd+0CIRWmrTZca9N62VQSjyFBzt5wQCqnxc"`
	schemaNativeHash = `"*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"`
)

// schemaMinimalRule completes documents whose point is elsewhere.
const schemaMinimalRule = `
rules:
  - id: r
    to: ["*"]
    allow: [s.t]
`

func TestSchemaAcceptsGoodDocuments(t *testing.T) {
	sch := compileSchema(t)
	tests := []struct{ name, doc string }{
		{"rules only", schemaMinimalRule},
		{"empty rules", "rules: []"},
		{"everything", `
pseudonym_key: {from_file: /run/secrets/pseudonym-key}
users:
  alice:
    description: Data manager
    password: ` + schemaArgonHash + `
    groups: [data-managers, ops]
    statements: [select, show, describe, explain, use, set, transaction, do, help]
    limits:
      max_rows: 10000
      max_execution_time: 1h30m
      max_sessions: 4
      networks: [10.0.0.0/8, 192.168.1.10/32, 0.0.0.0/0, "2001:db8::/32", "::/0", "fe80::1/128"]
  old.tool@example.org:
    native_password: ` + schemaNativeHash + `
    disabled: true
  Bob+1:
    password: ` + schemaArgonHash + `
    limits: {max_rows: 0, max_execution_time: "0", max_sessions: 0, networks: []}
groups:
  data-managers:
    description: Study team
    statements: [select]
    limits: {max_execution_time: 30s}
  ops: {}
rules:
  - id: study.read-all_2
    description: Read the study schema.
    to: ["*", user:alice, group:data-managers, "user:old.tool@example.org"]
    enforce: false
    allow: [study.*, "study.visit?", "*.*"]
    deny: [study.secrets, "*.audit*"]
    deny_columns: [study.visits.treatment_arm, "*.*.ssn"]
    mask_columns:
      - column: study.subjects.name
        with: pseudonym
      - column: study.subjects.dob
        with: "null"
      - column: study.subjects.email
        with: null
      - column: study.subjects.phone
        with: fixed
        value: "(hidden)"
      - column: study.subjects.notes
        with: fixed
        value: ""
`},
		{"pseudonym key from env", "pseudonym_key: {from_env: RR_PSEUDONYM_KEY}" + schemaMinimalRule},
		{"durations", `
groups:
  a: {limits: {max_execution_time: 0s}}
  b: {limits: {max_execution_time: 2m}}
  c: {limits: {max_execution_time: 1.5s}}
  d: {limits: {max_execution_time: 250ms}}
  e: {limits: {max_execution_time: 1h2m3s4ms5us6ns}}
  f: {limits: {max_execution_time: "10µs"}}
` + schemaMinimalRule},
		{"rule with only deny", `
rules:
  - id: no-ops
    to: ["*"]
    deny: [ops.*]
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := yamlToJSON(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(v); err != nil {
				t.Errorf("valid document rejected:\n%v", err)
			}
		})
	}
}

// Each bad document is schemaMinimalRule (valid on its own, see above)
// with one thing wrong, so an error can only come from that one thing.
func TestSchemaRejectsBadDocuments(t *testing.T) {
	sch := compileSchema(t)
	tests := []struct{ name, doc string }{
		// An unknown key at each level: a typo must not pass silently.
		{"unknown top-level key", "rule: []" + schemaMinimalRule},
		{"unknown user key", "users: {alice: {pasword: x}}" + schemaMinimalRule},
		{"unknown group key", "groups: {g: {members: [alice]}}" + schemaMinimalRule},
		{"unknown limits key", "groups: {g: {limits: {max_row: 1}}}" + schemaMinimalRule},
		{"unknown pseudonym_key key", "pseudonym_key: {from_file: k, value: x}" + schemaMinimalRule},
		{"unknown rule key", `
rules:
  - id: r
    to: ["*"]
    allow: [s.t]
    tables: [s.t]
`},
		{"unknown mask key", `
rules:
  - id: r
    to: ["*"]
    mask_columns: [{column: s.t.c, with: "null", mode: x}]
`},

		{"bad with", `
rules:
  - id: r
    to: ["*"]
    mask_columns: [{column: s.t.c, with: hash}]
`},
		{"with missing", `
rules:
  - id: r
    to: ["*"]
    mask_columns: [{column: s.t.c}]
`},
		{"mask column missing", `
rules:
  - id: r
    to: ["*"]
    mask_columns: [{with: pseudonym}]
`},
		{"fixed mask without value", `
rules:
  - id: r
    to: ["*"]
    mask_columns: [{column: s.t.c, with: fixed}]
`},
		{"value with null mask", `
rules:
  - id: r
    to: ["*"]
    mask_columns: [{column: s.t.c, with: "null", value: x}]
`},
		{"value with pseudonym mask", `
rules:
  - id: r
    to: ["*"]
    mask_columns: [{column: s.t.c, with: pseudonym, value: x}]
`},
		{"mask column glob", `
rules:
  - id: r
    to: ["*"]
    mask_columns: [{column: s.t.*, with: pseudonym}]
`},

		{"bad statement kind", "users: {alice: {statements: [select, insert]}}" + schemaMinimalRule},
		{"bad group statement kind", "groups: {g: {statements: [SELECT]}}" + schemaMinimalRule},
		{"negative max_rows", "users: {alice: {limits: {max_rows: -1}}}" + schemaMinimalRule},
		{"fractional max_rows", "users: {alice: {limits: {max_rows: 1.5}}}" + schemaMinimalRule},
		{"negative max_sessions", "groups: {g: {limits: {max_sessions: -2}}}" + schemaMinimalRule},
		{"duration without unit", "groups: {g: {limits: {max_execution_time: \"30\"}}}" + schemaMinimalRule},
		{"duration as number", "groups: {g: {limits: {max_execution_time: 30}}}" + schemaMinimalRule},
		{"duration bad unit", "groups: {g: {limits: {max_execution_time: 5d}}}" + schemaMinimalRule},
		{"duration words", "groups: {g: {limits: {max_execution_time: 30 seconds}}}" + schemaMinimalRule},
		{"negative duration", "groups: {g: {limits: {max_execution_time: -5s}}}" + schemaMinimalRule},
		{"network without prefix", "groups: {g: {limits: {networks: [10.0.0.1]}}}" + schemaMinimalRule},
		{"network octet too big", "groups: {g: {limits: {networks: [10.0.0.256/8]}}}" + schemaMinimalRule},
		{"network prefix too long", "groups: {g: {limits: {networks: [10.0.0.0/33]}}}" + schemaMinimalRule},
		{"network is a host name", "groups: {g: {limits: {networks: [db.example.org/24]}}}" + schemaMinimalRule},
		{"network ipv6 prefix too long", `groups: {g: {limits: {networks: ["2001:db8::/129"]}}}` + schemaMinimalRule},
		{"network ipv6 two gaps", `groups: {g: {limits: {networks: ["2001::db8::/32"]}}}` + schemaMinimalRule},

		{"rule without id", `
rules:
  - to: ["*"]
    allow: [s.t]
`},
		{"rule without to", `
rules:
  - id: r
    allow: [s.t]
`},
		{"rule with empty to", `
rules:
  - id: r
    to: []
    allow: [s.t]
`},
		{"rule id upper case", `
rules:
  - id: Read-All
    to: ["*"]
    allow: [s.t]
`},
		{"bad subject", `
rules:
  - id: r
    to: [alice]
    allow: [s.t]
`},
		{"enforce as string", `
rules:
  - id: r
    to: ["*"]
    enforce: "no"
    allow: [s.t]
`},
		{"table without schema", `
rules:
  - id: r
    to: ["*"]
    allow: [visits]
`},
		{"table bracket glob", `
rules:
  - id: r
    to: ["*"]
    deny: ["s.t[0-9]"]
`},
		{"column glob", `
rules:
  - id: r
    to: ["*"]
    deny_columns: [s.t.*]
`},
		{"column two parts", `
rules:
  - id: r
    to: ["*"]
    deny_columns: [s.t]
`},

		{"bad user name", "users: {-alice: {}}" + schemaMinimalRule},
		{"bad group name", "groups: {\"data managers\": {}}" + schemaMinimalRule},
		{"password not argon2id", "users: {alice: {password: hunter2}}" + schemaMinimalRule},
		{"native_password short", "users: {alice: {native_password: \"*2470C0\"}}" + schemaMinimalRule},
		{"disabled as string", "users: {alice: {disabled: \"yes\"}}" + schemaMinimalRule},
		{"pseudonym key inline", "pseudonym_key: s3cret" + schemaMinimalRule},
		{"pseudonym key both sources", "pseudonym_key: {from_file: k, from_env: K}" + schemaMinimalRule},
		{"pseudonym key no source", "pseudonym_key: {}" + schemaMinimalRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := yamlToJSON(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			err = sch.Validate(v)
			if err == nil {
				t.Fatalf("invalid document accepted:\n%s", tt.doc)
			}
			t.Logf("%v", err) // with -v: check the reason is the intended one
		})
	}
}

// TestSchemaDescribesEveryProperty keeps editor hover text complete: every
// property an administrator can write has a description.
func TestSchemaDescribesEveryProperty(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				for name, p := range props {
					pm, ok := p.(map[string]any)
					if !ok {
						continue // false: a forbidden property, nothing to describe
					}
					if d, _ := pm["description"].(string); d == "" {
						t.Errorf("%s/properties/%s has no description", at, name)
					}
				}
			}
			for k, e := range v {
				if k == "if" || k == "then" || k == "else" {
					continue // conditions restate properties described elsewhere
				}
				walk(at+"/"+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s/%d", at, i), e)
			}
		}
	}
	walk("#", doc)
}

// TestSchemaPatternsAgreeWithGo checks the duration and CIDR patterns,
// which editors evaluate as ECMA-262 regexps, against the Go parsers that
// rrproxy uses, so an editor neither flags a value rrproxy accepts nor
// passes one it refuses. Negative durations and IPv4-embedded IPv6
// (::ffff:1.2.3.4) are knowingly refused by the schema.
func TestSchemaPatternsAgreeWithGo(t *testing.T) {
	var doc struct {
		Defs struct {
			Duration struct{ Pattern string }
			CIDR     struct {
				AnyOf []struct{ Pattern string }
			}
		} `json:"$defs"`
	}
	if err := json.Unmarshal(Schema, &doc); err != nil {
		t.Fatal(err)
	}
	dur := regexp.MustCompile(doc.Defs.Duration.Pattern)
	for _, s := range []string{
		"0", "0s", "30s", "2m", "1h30m", "1h2m3s4ms5us6ns", "1.5s", ".5s", "1.s",
		"10\u00b5s", "10\u03bcs", "250ms", "100h",
		"", "30", "00", "5d", "1 h", "1h 30m", "s", ".s", "1..5s", "1e3s", "ms", "-5s", "+5s", "-0",
	} {
		_, err := time.ParseDuration(s)
		want := err == nil && !strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "+")
		if got := dur.MatchString(s); got != want {
			t.Errorf("duration %q: schema accepts %v, time.ParseDuration (non-negative) %v", s, got, want)
		}
	}
	var cidr []*regexp.Regexp
	for _, a := range doc.Defs.CIDR.AnyOf {
		cidr = append(cidr, regexp.MustCompile(a.Pattern))
	}
	for _, s := range []string{
		"10.0.0.0/8", "0.0.0.0/0", "255.255.255.255/32", "192.168.1.10/32", "10.0.0.0/9",
		"2001:db8::/32", "::/0", "::1/128", "fe80::1/64", "2001:DB8:0:0:0:0:0:1/128",
		"1:2:3:4:5:6:7::/112", "::2:3:4:5:6:7:8/128", "1::8/64", "1:2:3:4:5:6:7:8/128",
		"10.0.0.1", "10.0.0/8", "10.0.0.256/8", "10.0.0.0/33", "010.0.0.0/8", "10.0.0.0/08",
		"10.0.0.0/", "/8", "2001:db8::/129", "2001::db8::/32", "1:2:3:4:5:6:7:8:9/128",
		"12345::/16", "2001:db8::", "fe80::1%eth0/64", "db.example.org/24", " 10.0.0.0/8",
	} {
		_, err := netip.ParsePrefix(s)
		want := err == nil
		got := false
		for _, re := range cidr {
			got = got || re.MatchString(s)
		}
		if got != want {
			t.Errorf("network %q: schema accepts %v, netip.ParsePrefix %v", s, got, want)
		}
	}
}
