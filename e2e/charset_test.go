package e2e

import (
	"bytes"
	"strings"
	"testing"

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
