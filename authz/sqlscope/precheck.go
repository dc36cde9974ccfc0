package sqlscope

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pingcap/tidb/pkg/parser/mysql"
)

// maxBangVersion bounds the version of a /*!NNNNN ... */ comment that we
// accept. The TiDB parser always parses such a comment's content as SQL.
// MySQL does so only when NNNNN <= its own version, and MariaDB skips
// versions 50700-99999 (MySQL-only syntax) whatever its version. Below
// 50700 MySQL >= 5.7 and every MariaDB run the content, as TiDB does.
const maxBangVersion = 50700

// precheck rejects text that the TiDB parser could tokenize differently
// from MySQL or MariaDB. It is deliberately blunt: it matches raw text,
// inside string literals too, and a false rejection only costs the user
// a rephrase.
func precheck(sql string, mode mysql.SQLMode) error {
	if strings.TrimSpace(sql) == "" {
		return fmt.Errorf("%w: empty statement", ErrUnparseable)
	}
	if !utf8.ValidString(sql) {
		return fmt.Errorf("%w: statement is not valid UTF-8", ErrUnparseable)
	}
	for i := 0; i < len(sql); i++ {
		// NUL ended statements in old servers, and MySQL takes any control
		// character after "--" as the start of a comment where TiDB
		// wants white space. No client needs them outside strings, and
		// inside strings they have escapes.
		if c := sql[i]; (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			return fmt.Errorf("%w: control character 0x%02x in statement", ErrUnparseable, c)
		}
	}

	bang := -1 // offset of the first /*! comment
	for i := 0; ; {
		j := strings.Index(sql[i:], "/*")
		if j < 0 {
			break
		}
		j += i
		rest := sql[j+2:]
		switch {
		case bang >= 0:
			// A comment opener after an executable comment: nesting
			// rules differ between the three lexers.
			return fmt.Errorf("%w: comment after an executable comment", ErrUnparseable)
		case len(rest) >= 2 && (rest[0] == 'M' || rest[0] == 'm') && rest[1] == '!':
			// MariaDB runs /*M! ... */; TiDB skips it.
			return fmt.Errorf("%w: MariaDB executable comment /*M!", ErrUnparseable)
		case len(rest) >= 2 && (rest[0] == 'T' || rest[0] == 't') && rest[1] == '!':
			// TiDB may run /*T![feature] ... */; the servers skip it.
			return fmt.Errorf("%w: TiDB executable comment /*T!", ErrUnparseable)
		case len(rest) >= 1 && rest[0] == '+':
			// MySQL hands an optimizer hint to a scanner of its own, which
			// knows quoted names: a quoted "*/" would not end the comment
			// there, while TiDB (and MariaDB) end it at the first "*/".
			body := rest[1:]
			if end := strings.Index(body, "*/"); end >= 0 {
				body = body[:end]
			}
			if strings.ContainsAny(body, "'\"`") || strings.Contains(body, "/*") {
				return fmt.Errorf("%w: quote or comment inside an optimizer hint", ErrUnparseable)
			}
		case len(rest) >= 1 && rest[0] == '!':
			if err := checkBangVersion(rest[1:]); err != nil {
				return err
			}
			if !strings.Contains(rest, "*/") {
				// TiDB parses an unterminated executable comment's
				// content; the servers need not.
				return fmt.Errorf("%w: unterminated executable comment", ErrUnparseable)
			}
			bang = j
		}
		i = j + 2
	}

	if mode&mysql.ModeANSIQuotes != 0 && mode&mysql.ModeNoBackslashEscapes == 0 &&
		strings.ContainsRune(sql, '"') && strings.ContainsRune(sql, '\\') {
		// Under ANSI_QUOTES the servers lex "..." as an identifier, in
		// which '\' is an ordinary character; TiDB lexes it as a string,
		// honouring '\' escapes, and only then relabels it.
		return fmt.Errorf("%w: backslash with ANSI_QUOTES", ErrUnparseable)
	}
	return nil
}

// checkBangVersion accepts an unversioned executable comment, or one
// whose version has exactly five digits and is below maxBangVersion.
func checkBangVersion(s string) error {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 {
		return nil
	}
	if n != 5 {
		return fmt.Errorf("%w: executable comment version must have five digits", ErrUnparseable)
	}
	v := 0
	for _, c := range s[:5] {
		v = v*10 + int(c-'0')
	}
	if v >= maxBangVersion {
		return fmt.Errorf("%w: executable comment /*!%05d is not run alike by MySQL and MariaDB", ErrUnparseable, v)
	}
	return nil
}
