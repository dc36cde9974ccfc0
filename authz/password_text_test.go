package authz

import "testing"

// TestMayCarryPassword: every statement that sets or creates a
// password names PASSWORD or IDENTIFIED, in any case; its record keeps
// only the normalised shape.
func TestMayCarryPassword(t *testing.T) {
	for q, want := range map[string]bool{
		"ALTER USER bob IDENTIFIED BY 's3cret'":                                                      true,
		"alter user bob identified via ed25519 using PASSWORD('x')":                                  true,
		"SET PASSWORD = PASSWORD('x')":                                                               true,
		"set password for bob = 'x'":                                                                 true,
		"GRANT SELECT ON *.* TO x IdEnTiFiEd BY 'p'":                                                 true,
		"CREATE USER y IDENTIFIED WITH mysql_native_password AS '*AB'":                               true,
		"CREATE TABLE f (a INT) ENGINE=FEDERATED CONNECTION='mysql://admin:SeKrEt6-fed@db:3306/x/t'": true,
		"SELECT visit_name FROM visits WHERE visit_id = 7":                                           false,
		"SELECT 'https://example.org/study' AS link":                                                 false,
		"SELECT 'identifie' FROM passwor":                                                            false,
		"":                                                                                           false,
	} {
		if got := MayCarryPassword(q); got != want {
			t.Errorf("MayCarryPassword(%q) = %v, want %v", q, got, want)
		}
	}
}
