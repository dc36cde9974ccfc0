package proxy

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// A statement rrproxy rewrote (stars expanded, masks applied, the keyed
// order of pseudonyms appended, catalog tables filtered) runs upstream
// as text the client never wrote, and its result may be transformed
// (pseudonyms). The server's error messages quote what it ran and what
// it read: a syntax error's "near '...'" showed the appended ORDER BY
// with the pseudonyms' ordering secret, and MariaDB's GROUP BY/RAND()
// duplicate-key error showed a real subject number behind a pseudonym
// (both found in review, 2026-11-27). So an error about such a statement
// reaches the client only in a form that quotes nothing but the client's
// own text: guardMessage.

// identifierErrors are the upstream errors whose messages quote names
// (of columns, tables, databases, functions, clauses), numbers of
// columns, or nothing. Every other error of a guarded statement,
// above all those that quote values (1062 "Duplicate entry", 1292
// "Truncated incorrect ... value", 1366 "Incorrect ... value"), loses
// its message: a value there may be one the policy hides.
var identifierErrors = map[uint16]bool{
	mysql.ER_DBACCESS_DENIED_ERROR: true, mysql.ER_NO_DB_ERROR: true, mysql.ER_BAD_DB_ERROR: true,
	mysql.ER_BAD_TABLE_ERROR: true, mysql.ER_NON_UNIQ_ERROR: true, mysql.ER_BAD_FIELD_ERROR: true,
	mysql.ER_WRONG_FIELD_WITH_GROUP: true, mysql.ER_WRONG_GROUP_FIELD: true, mysql.ER_DUP_FIELDNAME: true,
	mysql.ER_NONUNIQ_TABLE: true, mysql.ER_UNKNOWN_TABLE: true, mysql.ER_FIELD_SPECIFIED_TWICE: true,
	mysql.ER_INVALID_GROUP_FUNC_USE: true, mysql.ER_MIX_OF_GROUP_FUNC_AND_FIELDS: true,
	mysql.ER_TABLEACCESS_DENIED_ERROR: true, mysql.ER_COLUMNACCESS_DENIED_ERROR: true,
	mysql.ER_NO_SUCH_TABLE: true, mysql.ER_SYNTAX_ERROR: true, mysql.ER_WRONG_USAGE: true,
	mysql.ER_WRONG_NUMBER_OF_COLUMNS_IN_SELECT: true, mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR: true,
	mysql.ER_NOT_SUPPORTED_YET: true, mysql.ER_OPERAND_COLUMNS: true, mysql.ER_SUBQUERY_NO_1_ROW: true,
	mysql.ER_ILLEGAL_REFERENCE: true, mysql.ER_DERIVED_MUST_HAVE_ALIAS: true,
	mysql.ER_TABLENAME_NOT_ALLOWED_HERE: true, mysql.ER_SP_DOES_NOT_EXIST: true,
	mysql.ER_QUERY_INTERRUPTED: true, mysql.ER_DIVISION_BY_ZERO: true, mysql.ER_VIEW_INVALID: true,
	mysql.ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT: true, mysql.ER_WRONG_PARAMETERS_TO_NATIVE_FCT: true,
	mysql.ER_WRONG_COLUMN_NAME: true, mysql.ER_TOO_BIG_SELECT: true, mysql.ER_LOCK_WAIT_TIMEOUT: true,
	mysql.ER_LOCK_DEADLOCK: true, mysql.ER_NET_PACKET_TOO_LARGE: true,
}

// clauseNames are what MariaDB names a clause with in a message
// ("Unknown column 'x' in 'where clause'").
var clauseNames = map[string]bool{
	"field list": true, "where clause": true, "on clause": true, "order clause": true,
	"group statement": true, "having clause": true, "from clause": true, "IN/ALL/ANY subquery": true,
	"global ORDER clause": true, "SELECT": true, "UNION": true, "LIMIT": true, "ORDER BY": true,
	"CUBE/ROLLUP": true, "FUNCTION": true, "PROCEDURE": true,
}

// formatSpec is one printf conversion in a server message template.
var formatSpec = regexp.MustCompile(`%[-+ #0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:ll|l|z|h)?[a-zA-Z]`)

// templates are identifierErrors' message templates as patterns, each
// conversion a group; numeric[i] says whether group i+1 is a number.
var templates = func() map[uint16]*template {
	m := map[uint16]*template{}
	for code := range identifierErrors {
		if t, ok := mysql.MySQLErrName[code]; ok {
			m[code] = compileTemplate(t)
		}
	}
	return m
}()

type template struct {
	re      *regexp.Regexp
	numeric []bool
}

func compileTemplate(t string) *template {
	var b strings.Builder
	var numeric []bool
	b.WriteString("^")
	last := 0
	for _, loc := range formatSpec.FindAllStringIndex(t, -1) {
		b.WriteString(regexp.QuoteMeta(t[last:loc[0]]))
		spec := t[loc[0]:loc[1]]
		switch spec[len(spec)-1] {
		case 'd', 'u', 'i':
			b.WriteString(`(\d+)`)
			numeric = append(numeric, true)
		default:
			b.WriteString(`(.*?)`)
			numeric = append(numeric, false)
		}
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(t[last:]))
	b.WriteString("$")
	return &template{re: regexp.MustCompile(b.String()), numeric: numeric}
}

// hostName is what may stand in the host part of 'user'@'host'.
var hostName = regexp.MustCompile(`^[A-Za-z0-9._:%-]*$`)

// messageGuard is what a guarded statement's errors are checked against.
type messageGuard struct {
	own     string // the client's statement text, as sent
	db      string // the session's current database
	account string // the service account's name, which its denials quote
}

// withheldMessage replaces an upstream message that could quote what the
// policy hides.
func withheldMessage(code uint16) string {
	return fmt.Sprintf("rrproxy: the replica refused this statement (error %d); its message is withheld because the access policy rewrote the statement, and the message could quote what the policy hides", code)
}

// message returns msg, the upstream's message for error code about a
// guarded statement, if it quotes only the client's own text (names the
// client wrote, the current database, clause names, numbers); a syntax
// error's excerpt is replaced by the client's own text from the same
// place. Anything else is withheld (withheldMessage).
func (g *messageGuard) message(code uint16, msg string) string {
	if code == mysql.ER_PARSE_ERROR {
		return g.parseError(msg)
	}
	t := templates[code]
	if t == nil {
		return withheldMessage(code)
	}
	m := t.re.FindStringSubmatch(msg)
	if m == nil {
		return withheldMessage(code) // worded otherwise by this server: not checked, not shown
	}
	kinds := denialArgs[code]
	for i, arg := range m[1:] {
		kind := argName
		if i < len(kinds) {
			kind = kinds[i]
		}
		if !g.allowed(arg, t.numeric[i], kind) {
			return withheldMessage(code)
		}
	}
	return msg
}

// argKind says what one conversion of a template stands for, where it
// is not a name the client wrote (the default).
type argKind int

const (
	argName    argKind = iota // a name: the client's, the current database's, or a clause's
	argCommand                // SELECT, or a list of privileges
	argUser                   // the service account
	argHost                   // where the proxy connects from
)

// denialArgs are the kinds of the conversions of the access-denied
// templates, in order.
var denialArgs = map[uint16][]argKind{
	mysql.ER_DBACCESS_DENIED_ERROR:        {argUser, argHost, argName},
	mysql.ER_TABLEACCESS_DENIED_ERROR:     {argCommand, argUser, argHost, argName},
	mysql.ER_COLUMNACCESS_DENIED_ERROR:    {argCommand, argUser, argHost, argName, argName},
	mysql.ER_SPECIFIC_ACCESS_DENIED_ERROR: {argCommand},
}

var commandWords = regexp.MustCompile(`^[A-Z][A-Z ,_]*$`)

// allowed reports whether one conversion's text in a message may be
// shown.
func (g *messageGuard) allowed(arg string, numeric bool, kind argKind) bool {
	switch kind {
	case argCommand:
		return commandWords.MatchString(arg)
	case argUser:
		return g.account != "" && arg == g.account // scrubUpstream names the user instead
	case argHost:
		return hostName.MatchString(arg)
	}
	switch {
	case numeric, arg == "", clauseNames[arg]:
		return true
	case g.db != "" && strings.EqualFold(arg, g.db):
		return true
	}
	return containsFold(g.own, arg)
}

// parseError keeps a syntax error's message but shows, as its excerpt,
// the client's own text from where the server's excerpt starts: the
// server's runs on into what rrproxy added.
func (g *messageGuard) parseError(msg string) string {
	const near, at = " near '", "' at line "
	i := strings.Index(msg, near)
	j := strings.LastIndex(msg, at)
	if i < 0 || j < i+len(near) {
		if strings.Contains(msg, "'") {
			return withheldMessage(mysql.ER_PARSE_ERROR)
		}
		return msg // no excerpt ("... syntax error at end of input")
	}
	excerpt := msg[i+len(near) : j]
	if tail := msg[j+len(at):]; strings.Trim(tail, "0123456789") != "" {
		return withheldMessage(mysql.ER_PARSE_ERROR)
	}
	// The longest start of the excerpt that the client wrote says where
	// the error is in the client's text.
	lo, hi := 0, len(excerpt)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if strings.Contains(g.own, excerpt[:mid]) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	if lo < min(len(excerpt), minExcerpt) {
		// The error is in what rrproxy added (a match of a letter or
		// two locates nothing): name no text.
		return msg[:i] + " in the part of the statement the access policy added" + msg[j+1:]
	}
	k := strings.Index(g.own, excerpt[:lo])
	own := g.own[k:]
	if len(own) > 80 {
		own = own[:80]
		for !utf8.ValidString(own) {
			own = own[:len(own)-1]
		}
	}
	return msg[:i] + near + own + msg[j:]
}

// minExcerpt is how much of the server's excerpt must be the client's
// text to say where in it the error is.
const minExcerpt = 6

// containsFold reports whether s contains sub, ignoring ASCII case (names
// in messages may be folded to lower case).
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
