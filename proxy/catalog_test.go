package proxy

import "testing"

// TestCatalogKeyKeepsNamesApart: schema and table names may hold dots,
// so a dot cannot separate them in the shared cache's key: `a.b`.c and
// a.`b.c` are different objects, and one's view definition must never
// answer for the other.
func TestCatalogKeyKeepsNamesApart(t *testing.T) {
	pairs := [][2][3]string{
		{{"view", "study.x", "y"}, {"view", "study", "x.y"}},
		{{"columns", "a", "b"}, {"index", "a", "b"}},
		{{"function", "s", "f"}, {"function", "S", "f"}},
	}
	for _, p := range pairs {
		a, b := catalogKey(p[0][0], p[0][1], p[0][2]), catalogKey(p[1][0], p[1][1], p[1][2])
		if a == b {
			t.Errorf("%q and %q share the key %q", p[0], p[1], a)
		}
	}
}

// TestCatalogLiteral: names go to the server as utf8mb4 hex literals,
// whatever the session's character_set_connection, and nothing in a name
// can end the literal.
func TestCatalogLiteral(t *testing.T) {
	for name, want := range map[string]string{
		"visits":       "_utf8mb4 X'766973697473'",
		"numéro":       "_utf8mb4 X'6e756dc3a9726f'",
		"x' OR '1'='1": "_utf8mb4 X'7827204f52202731273d2731'",
		"":             "_utf8mb4 X''",
	} {
		if got := catalogLiteral(name); got != want {
			t.Errorf("catalogLiteral(%q) = %s, want %s", name, got, want)
		}
	}
}
