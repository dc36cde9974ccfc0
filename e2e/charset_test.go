package e2e

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// The proxy filters SHOW results and COM_FIELD_LIST row by row, comparing
// the names in them with the policy's. The server sends those names in
// the session's character_set_results. In UTF-16, UTF-32 or UCS-2 no
// name matches its UTF-8 spelling, so a filter that compares bytes
// drops nothing it should: every withheld name comes through, encoded.
// Either the session cannot choose such a character set, or the filters
// must still work under it.
func TestResultCharsetCannotUnfilterMetadata(t *testing.T) {
	pol := leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: pol})
	for _, cs := range []string{"utf16", "utf16le", "utf32", "ucs2"} {
		for _, setter := range [][]string{
			{"SET character_set_results = '" + cs + "'"},
			{"SET @@session.character_set_results = " + cs},
			{"SET @cs = '" + cs + "'", "SET character_set_results = @cs"},
			{"SET NAMES " + cs},
			{"SET CHARACTER SET " + cs},
		} {
			t.Run(cs+"/"+strings.Join(setter, "; "), func(t *testing.T) {
				c := rawConn(t, r, "mona", monaPW, "trial")
				run := func(q string) [][]byte {
					command(t, c, append([]byte{mysql.COM_QUERY}, q...)...)
					return rawResponse(t, c)
				}
				for _, q := range setter {
					if p := run(q); p[len(p)-1][0] == mysql.ERR_HEADER {
						return // refused: the session keeps a character set the filters read
					}
				}
				how := strings.Join(setter, "; ")
				for _, q := range []string{
					"SHOW DATABASES", "SHOW TABLES", "SHOW FULL TABLES", "SHOW TABLE STATUS", "SHOW OPEN TABLES",
					"SHOW COLUMNS FROM visits", "SHOW FULL COLUMNS FROM subjects", "DESCRIBE visits",
					"SHOW INDEX FROM visits", "SHOW CREATE TABLE visits", "SHOW CREATE TABLE subjects",
					"SELECT * FROM visits", "SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'trial'",
				} {
					scanEncoded(t, cs, how+"; "+q, run(q))
				}
				for _, tbl := range []string{"visits", "subjects"} {
					command(t, c, append(append([]byte{mysql.COM_FIELD_LIST}, tbl...), 0)...)
					scanEncoded(t, cs, how+"; COM_FIELD_LIST "+tbl, readUntilEOF(t, c))
				}
			})
		}
	}
}

// scanEncoded looks for the leak tokens, encoded in cs, in raw packets.
func scanEncoded(t *testing.T, cs, stmt string, pkts [][]byte) {
	t.Helper()
	for _, tok := range leakTokens {
		if containsFold(stmt, tok) {
			continue
		}
		for _, form := range []string{tok, strings.ToLower(tok)} {
			enc := encodeASCII(form, cs)
			for i, p := range pkts {
				if bytes.Contains(p, enc) {
					t.Errorf("LEAK [%s] %s\n\t%q (in %s) reached the client in packet %d: %q", cs, stmt, tok, cs, i, p)
					goto next
				}
			}
		}
	next:
	}
}

// encodeASCII encodes an ASCII string in one of the wide character sets.
func encodeASCII(s, cs string) []byte {
	var b []byte
	for _, c := range []byte(s) {
		switch cs {
		case "utf16", "ucs2":
			b = append(b, 0, c)
		case "utf16le":
			b = append(b, c, 0)
		case "utf32":
			b = append(b, 0, 0, 0, c)
		default:
			b = append(b, c)
		}
	}
	return b
}

// In MariaDB's latin1, byte 0xA0 is a space; in UTF-8, C2 A0 is a
// no-break space, which the analyser takes as part of a name. So
// "treatment_arm, \u00a0FROM x, trial.visits" is, to the analyser, a
// column "\u00a0FROM" aliased x (and the withheld column is then one of
// a CTE's names), and to MariaDB a column Â followed by FROM: the
// withheld column read from the table. A session whose client character
// set is single-byte (latin1, binary, ascii: by handshake, SET NAMES,
// character_set_client, or in the same batch) may only send ASCII; a
// UTF-8 session may send anything, and a reset gives the handshake's
// character set back.
func TestSingleByteCharsetStatementsMustBeASCII(t *testing.T) {
	leakWorld(t)
	r := startRig(t, rigOpts{requireTLS: true, policy: worldPolicy})
	tricks := []string{
		"WITH x(\u00a0) AS (SELECT 1) SELECT visit_id, treatment_arm, \u00a0FROM x, trial.visits LIMIT 3",
		"WITH x(\u00a0) AS (SELECT 1) SELECT code, \u00a0FROM x, trial.secret_unblinding",
		"WITH x(\u00a0) AS (SELECT 1) SELECT v, \u00a0FROM x, vault_q7x.payroll_k9",
	}
	connect := func(t *testing.T, collation string) *client.Conn {
		c, err := client.Connect(r.addr, "mona", monaPW, "trial", func(c *client.Conn) error {
			c.SetTLSConfig(&tls.Config{RootCAs: caPool, ServerName: "127.0.0.1"})
			c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
			c.SetCapability(mysql.CLIENT_MULTI_STATEMENTS)
			return c.SetCollation(collation)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	run := func(t *testing.T, c *client.Conn, q string) [][]byte {
		t.Helper()
		command(t, c, append([]byte{mysql.COM_QUERY}, q...)...)
		return rawResponse(t, c)
	}
	refused := func(t *testing.T, how, q string, pkts [][]byte) {
		t.Helper()
		for _, p := range pkts {
			if bytes.Contains(p, []byte("MRK-")) {
				t.Errorf("LEAK %s: %q reached the client: %q", how, q, p)
			}
		}
		last := pkts[len(pkts)-1]
		if last[0] != mysql.ERR_HEADER || !bytes.Contains(last, []byte("[rule character-set]")) ||
			!bytes.Contains(last, []byte("must be plain ASCII")) {
			t.Errorf("%s: %q: want the character-set refusal, got %q", how, q, last)
		}
	}
	ok := func(t *testing.T, how, q string, pkts [][]byte) {
		t.Helper()
		if last := pkts[len(pkts)-1]; last[0] == mysql.ERR_HEADER {
			t.Errorf("%s: %q refused: %q", how, q, last)
		}
	}

	for _, tc := range []struct {
		name, collation string
		setup           []string
	}{
		{"handshake latin1", "latin1_swedish_ci", nil},
		{"handshake binary", "binary", nil},
		{"SET NAMES latin1", "utf8mb4_general_ci", []string{"SET NAMES latin1"}},
		{"SET character_set_client", "utf8mb4_general_ci", []string{"SET @@session.character_set_client = 'latin1'"}},
		{"SET CHARACTER SET ascii", "utf8mb4_general_ci", []string{"SET CHARACTER SET ascii"}},
		{"back to utf8mb4 by SET", "latin1_swedish_ci", []string{"SET NAMES utf8mb4", "SET NAMES latin1", "SET NAMES utf8mb4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := connect(t, tc.collation)
			for _, q := range tc.setup {
				ok(t, tc.name, q, run(t, c, q))
			}
			for _, q := range tricks {
				refused(t, tc.name, q, run(t, c, q))
				command(t, c, append([]byte{mysql.COM_STMT_PREPARE}, q...)...)
				refused(t, tc.name+", prepared", q, [][]byte{read(t, c)})
			}
			// Non-ASCII in a literal is refused too; ASCII is served.
			refused(t, tc.name, "SELECT 'Zürich'", run(t, c, "SELECT 'Zürich'"))
			ok(t, tc.name, "SELECT visit_id FROM visits", run(t, c, "SELECT visit_id FROM visits LIMIT 2"))
		})
	}

	t.Run("in one batch with SET NAMES", func(t *testing.T) {
		c := connect(t, "utf8mb4_general_ci")
		for _, q := range tricks {
			refused(t, "batch", "SET NAMES latin1; "+q, run(t, c, "SET NAMES latin1; "+q))
		}
	})

	t.Run("utf8mb4 sessions, and a reset", func(t *testing.T) {
		c := connect(t, "utf8mb4_general_ci")
		want := func(how string) {
			t.Helper()
			pkts := run(t, c, "SELECT 'Zürich'")
			ok(t, how, "SELECT 'Zürich'", pkts)
			if !bytes.Contains(pkts[len(pkts)-2], []byte("Zürich")) {
				t.Errorf("%s: want the value back, got %q", how, pkts)
			}
		}
		want("utf8mb4")
		ok(t, "SET NAMES latin1", "SET NAMES latin1", run(t, c, "SET NAMES latin1"))
		refused(t, "after SET NAMES latin1", "SELECT 'Zürich'", run(t, c, "SELECT 'Zürich'"))
		command(t, c, mysql.COM_RESET_CONNECTION)
		if p := read(t, c); p[0] != mysql.OK_HEADER {
			t.Fatalf("reset: %q", p)
		}
		want("after COM_RESET_CONNECTION")
	})
}
