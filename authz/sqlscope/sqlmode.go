package sqlscope

import (
	"fmt"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/mysql"
)

// harmlessModes are sql_mode names (MySQL 5.7/8.x and MariaDB) that change
// how statements execute but not how the server tokenizes or parses them,
// so they cannot make the analyser's view of a statement differ from the
// server's. Any name not listed here is treated as affecting lexing.
var harmlessModes = map[string]bool{
	"ALLOW_INVALID_DATES":        true,
	"EMPTY_STRING_IS_NULL":       true, // MariaDB; affects values, not tokens
	"ERROR_FOR_DIVISION_BY_ZERO": true,
	"NO_AUTO_CREATE_USER":        true,
	"NO_AUTO_VALUE_ON_ZERO":      true,
	"NO_DIR_IN_CREATE":           true,
	"NO_ENGINE_SUBSTITUTION":     true,
	"NO_FIELD_OPTIONS":           true,
	"NO_KEY_OPTIONS":             true,
	"NO_TABLE_OPTIONS":           true,
	"NO_UNSIGNED_SUBTRACTION":    true,
	"NO_ZERO_DATE":               true,
	"NO_ZERO_IN_DATE":            true,
	"ONLY_FULL_GROUP_BY":         true,
	"PAD_CHAR_TO_FULL_LENGTH":    true,
	"REAL_AS_FLOAT":              true,
	"SIMULTANEOUS_ASSIGNMENT":    true, // MariaDB; UPDATE evaluation order
	"STRICT_ALL_TABLES":          true,
	"STRICT_TRANS_TABLES":        true,
	"TIME_ROUND_FRACTIONAL":      true, // MariaDB
	"TIME_TRUNCATE_FRACTIONAL":   true,
	"TRADITIONAL":                true, // a combination of harmless modes
}

// emulatedModes change tokenizing or parsing, and the TiDB parser
// reproduces them, so AnalyzeMode can follow a session that sets them.
var emulatedModes = map[string]mysql.SQLMode{
	"ANSI_QUOTES":          mysql.ModeANSIQuotes,
	"NO_BACKSLASH_ESCAPES": mysql.ModeNoBackslashEscapes,
	"PIPES_AS_CONCAT":      mysql.ModePipesAsConcat,
	"HIGH_NOT_PRECEDENCE":  mysql.ModeHighNotPrecedence,
	"IGNORE_SPACE":         mysql.ModeIgnoreSpace,
	// ANSI is REAL_AS_FLOAT, PIPES_AS_CONCAT, ANSI_QUOTES, IGNORE_SPACE,
	// ONLY_FULL_GROUP_BY; only the lexing part matters here.
	"ANSI": mysql.ModePipesAsConcat | mysql.ModeANSIQuotes | mysql.ModeIgnoreSpace,
}

// lexingModes are the parser flags that change how text is tokenized or
// parsed; two sessions that agree on them lex every statement alike.
const lexingModes = mysql.ModeANSIQuotes | mysql.ModeNoBackslashEscapes |
	mysql.ModePipesAsConcat | mysql.ModeHighNotPrecedence | mysql.ModeIgnoreSpace

// ModeAffectsLexing reports whether the comma-separated sql_mode list
// contains a mode that changes how MySQL or MariaDB tokenize or parse
// statements: ANSI_QUOTES ("x" is an identifier), NO_BACKSLASH_ESCAPES
// (\ is an ordinary character in strings), ANSI, PIPES_AS_CONCAT,
// HIGH_NOT_PRECEDENCE, IGNORE_SPACE, MariaDB's ORACLE/MSSQL/DB2/
// POSTGRESQL/MAXDB and MySQL323/MySQL40. PIPES_AS_CONCAT and
// HIGH_NOT_PRECEDENCE only reshape expressions, never which tables or
// columns are read, but they are reported all the same: the answer is
// used to decide whether the analyser must be told, and telling it costs
// nothing. A name the analyser does not know counts as affecting lexing.
func ModeAffectsLexing(sqlMode string) bool {
	for _, m := range strings.Split(sqlMode, ",") {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m != "" && !harmlessModes[m] {
			return true
		}
	}
	return false
}

// parserMode translates a session sql_mode into the parser's flags, or
// fails for a mode the parser cannot reproduce.
func parserMode(sqlMode string) (mysql.SQLMode, error) {
	var mode mysql.SQLMode
	for _, m := range strings.Split(sqlMode, ",") {
		m = strings.ToUpper(strings.TrimSpace(m))
		switch {
		case m == "" || harmlessModes[m]:
		case emulatedModes[m] != 0:
			mode |= emulatedModes[m]
		default:
			return 0, fmt.Errorf("%w: sql_mode %.40q is not supported", ErrUnparseable, m)
		}
	}
	return mode, nil
}

// CharsetAffectsLexing reports whether a client character set (SET NAMES,
// character_set_client, the handshake collation's charset) must be
// refused because the server could read statement text differently from
// the analyser, which parses it as UTF-8. GBK, Big5, SJIS, CP932 and
// GB18030 allow 0x5C ('\') as the second byte of a character, the
// classic way to hide a quote; UTF-16/32 are not ASCII-compatible at
// all. utf8mb4, utf8mb3/utf8 read every byte as the analyser does. The
// single-byte ASCII-compatible sets (SingleByteCharset) are allowed, but
// only for ASCII statements: the caller enforces that.
func CharsetAffectsLexing(charset string) bool {
	switch cs := strings.ToLower(strings.TrimSpace(charset)); cs {
	case "utf8mb4", "utf8mb3", "utf8":
		return false
	default:
		return !SingleByteCharset(cs)
	}
}

// SingleByteCharset reports whether a client character set is one of
// the single-byte, ASCII-compatible sets rrproxy accepts (latin1,
// binary, ascii). Quotes, backslashes and every other ASCII byte mean
// the same there as in UTF-8, but bytes 0x80-0xFF do not: MariaDB's
// latin1 reads 0xA0 as a space, where the analyser reads C2 A0 (UTF-8
// no-break space) as part of a name, so "\u00a0FROM t" is a column to
// one and the keyword FROM to the other. A session in such a character
// set may therefore only send ASCII statements (see authz.Session).
func SingleByteCharset(charset string) bool {
	switch strings.ToLower(strings.TrimSpace(charset)) {
	case "latin1", "binary", "ascii":
		return true
	}
	return false
}

// ClientCharsetSet returns the client character set the statement's
// SET assignments leave the session in (SET NAMES, SET CHARACTER SET,
// character_set_client), the last one winning, or "" if it sets none.
func (st *Statement) ClientCharsetSet() string {
	cs := ""
	for _, v := range st.SetVars {
		switch strings.ToLower(v.Name) {
		case "names", "character set", "charset", "character_set_client":
			if v.Scope == "session" || v.Scope == "" {
				cs = strings.ToLower(strings.Trim(v.Value, "'\"` "))
			}
		}
	}
	return cs
}
