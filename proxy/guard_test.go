package proxy

import (
	"strings"
	"testing"
)

func TestGuardMessage(t *testing.T) {
	g := &messageGuard{own: "SELECT subject_id, COUNT(*) FROM visits WHERE 1 MEMBER OF ('[1]') GROUP BY subject_id", db: "trial", account: "ro"}
	const secretOrder = "ORDER BY SHA2(CONCAT('7ef0d0f74c77f9d7b37eaa849bd214c0', `subject_id`), 256)"
	for _, c := range []struct {
		name string
		code uint16
		msg  string
		want string // "" = withheld
	}{
		{"a value: withheld", 1062, "Duplicate entry 'S-101-0014-1' for key 'group_key'", ""},
		{"a value the client typed: still withheld", 1062, "Duplicate entry 'visits' for key 1", ""},
		{"names the client wrote", 1054, "Unknown column 'subject_id' in 'order clause'", "Unknown column 'subject_id' in 'order clause'"},
		{"a name the client did not write", 1054, "Unknown column 'treatment_arm' in 'field list'", ""},
		{"the current database", 1146, "Table 'trial.visits' doesn't exist", "Table 'trial.visits' doesn't exist"},
		{"no quotes", 1242, "Subquery returns more than 1 row", "Subquery returns more than 1 row"},
		{"a number", 1241, "Operand should contain 1 column(s)", "Operand should contain 1 column(s)"},
		{"interrupted", 1317, "Query execution was interrupted", "Query execution was interrupted"},
		{"the service account's denial", 1142, "SELECT command denied to user 'ro'@'10.1.2.3' for table 'visits'", "SELECT command denied to user 'ro'@'10.1.2.3' for table 'visits'"},
		{"a denial naming another table", 1142, "SELECT command denied to user 'ro'@'10.1.2.3' for table 'site_payments'", ""},
		{"a denial naming another user", 1142, "SELECT command denied to user 'admin'@'10.1.2.3' for table 'visits'", ""},
		{"worded otherwise than the template", 1054, "Unknown column subject_id somewhere", ""},
		{"a code not known to quote only names", 1292, "Truncated incorrect DOUBLE value: 'S-101-0014'", ""},
		{"syntax error running into the rewrite", 1064,
			"You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'MEMBER OF ('[1]') GROUP BY subject_id " + secretOrder[:40] + "' at line 1",
			"You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'MEMBER OF ('[1]') GROUP BY subject_id' at line 1"},
		{"syntax error inside the rewrite", 1064,
			"You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near '" + secretOrder[9:60] + "' at line 1",
			"You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use in the part of the statement the access policy added at line 1"},
		{"syntax error with odd tail", 1064, "error near 'MEMBER' at line 1 and '7ef0d0f7'", ""},
	} {
		got := g.message(c.code, c.msg)
		if c.want == "" {
			if got != withheldMessage(c.code) {
				t.Errorf("%s: %q\n\tbecame %q, want it withheld", c.name, c.msg, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s: %q\n\tbecame %q\n\twant   %q", c.name, c.msg, got, c.want)
		}
	}
}

// TestGuardExcerptIsOwnText: whatever the server's excerpt, the client
// sees only its own text: an excerpt that starts in the client's text
// and runs on into the secret is cut back to the client's text.
func TestGuardExcerptIsOwnText(t *testing.T) {
	own := "SELECT subject_id FROM subjects WHERE 1 MEMBER OF ('[1]')"
	g := &messageGuard{own: own}
	for cut := 0; cut < len(own); cut++ {
		excerpt := own[cut:] + " ORDER BY SHA2(CONCAT('7ef0d0f74c77f9d7b37eaa849bd214c0', `subject_id`), 256)"
		if len(excerpt) > 80 {
			excerpt = excerpt[:80]
		}
		got := g.message(1064, "syntax error; near '"+excerpt+"' at line 1")
		if strings.Contains(got, "7ef0") || strings.Contains(got, "SHA2") {
			t.Fatalf("cut %d: %q quotes the rewrite", cut, got)
		}
		want := "near '" + own[cut:] + "' at line 1"
		if len(own[cut:]) < minExcerpt {
			want = "in the part of the statement the access policy added at line 1" // too short to place
		}
		if !strings.HasSuffix(got, want) {
			t.Fatalf("cut %d: %q, want it to end %q", cut, got, want)
		}
	}
}

// TestScrubUpstreamOnlyQuotedAccount: the service account's name is
// replaced where the server quotes it as an account, not inside words;
// a probe's placeholders are put back first (found in review: with an
// account named "ro", "error" became "erdaver" and placeholders were
// mangled before they could be put back).
func TestScrubUpstreamOnlyQuotedAccount(t *testing.T) {
	s := &session{srv: &Server{pool: &Pool{cfg: UpstreamConfig{User: "ro"}}}, user: "dave",
		probeNames: map[string]string{"rrproxy_missing_1a2b": "treatment_arm"}}
	for msg, want := range map[string]string{
		"SELECT command denied to user 'ro'@'10.1.2.3' for table 'visits'": "SELECT command denied to user 'dave'@'10.1.2.3' for table 'visits'",
		"Unknown column 'rrproxy_missing_1a2b' in 'field list'":            "Unknown column 'treatment_arm' in 'field list'",
		"an error with a group_key from a role":                            "an error with a group_key from a role",
	} {
		if got := s.scrubUpstream(msg); got != want {
			t.Errorf("scrubUpstream(%q) = %q, want %q", msg, got, want)
		}
	}
}
