package strictyaml

import (
	"strings"
	"testing"
)

type sample struct {
	Listen string `yaml:"listen"`
	Pool   struct {
		MaxOpen int `yaml:"max_open"`
	} `yaml:"pool"`
	Rules []struct {
		ID string `yaml:"id"`
	} `yaml:"rules"`
}

func TestDecodeReportsFileLine(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"unknown key", "listen: a\nlisen: b\n", "x.yaml:2: field lisen not found"},
		{"bad type", "listen: a\npool:\n  max_open: many\n", "x.yaml:3: cannot unmarshal"},
		{"duplicate key", "listen: a\nlisten: b\n", "x.yaml:2:"},
		{"syntax", "listen: [a\n", "x.yaml"},
		{"empty", "", "x.yaml: file is empty"},
		{"two documents", "listen: a\n---\nlisten: b\n", "x.yaml:2: only one YAML document"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s sample
			_, err := Decode("x.yaml", []byte(c.in), &s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestLineFollowsPath(t *testing.T) {
	in := "listen: a\npool:\n  max_open: 3\nrules:\n  - id: one\n  - id: two\n"
	var s sample
	doc, err := Decode("p.yaml", []byte(in), &s)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path []any
		want int
	}{
		{P("listen"), 1},
		{P("pool", "max_open"), 3},
		{P("rules", 1, "id"), 6},
		{P("pool", "missing"), 2}, // missing key: reported at its parent
	} {
		if got := doc.Line(c.path...); got != c.want {
			t.Errorf("Line(%v) = %d, want %d", c.path, got, c.want)
		}
	}
	err = doc.Errorf(P("rules", 1, "id"), "duplicate rule id %q", "two")
	if got := err.Error(); got != `p.yaml:6: rules[1].id: duplicate rule id "two"` {
		t.Errorf("Errorf = %q", got)
	}
}
