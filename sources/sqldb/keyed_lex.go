package sqldb

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// KeysPlaceholder stands for the keys in a keyed query: IN ({keys}) or
// = ANY({keys}). The keys are always bound as parameters, never written
// into the statement.
const KeysPlaceholder = "{keys}"

// argPlaceholder is an argument of the bound field, {args.<name>}, or a
// field of its parent record, {parent.<field>}: the query's only other
// placeholders, outside strings, each bound as one text parameter (NULL
// for a null value) wherever it stands, as often as it stands.
var argPlaceholder = regexp.MustCompile(`^\{(args|parent)\.([A-Za-z_][A-Za-z0-9_]*)\}`)

// argName is the name of a placeholder's value among the arguments: the
// argument's name, or parent.<field> (declare.ArgRef.Key).
func argName(placeholder string) string {
	m := argPlaceholder.FindStringSubmatch(placeholder)
	if m[1] == "parent" {
		return "parent." + m[2]
	}
	return m[2]
}

// lexArg is an {args.<name>} of a lexed query, at pos in the text it
// stands in (before or after), len bytes long.
type lexArg struct {
	pos, len int
	name     string
}

// keysForm is how a keyed query asks for its keys.
type keysForm int

const (
	// formIn is "column IN ({keys})": one parameter per key.
	formIn keysForm = iota + 1
	// formAny is "column = ANY({keys})": one array parameter (PostgreSQL).
	formAny
)

// lexedQuery is a keyed query that passed the lexical checks.
type lexedQuery struct {
	// before and after are the query's text around {keys}.
	before, after string
	form          keysForm
	// argsBefore and argsAfter are the arguments in before and after.
	argsBefore, argsAfter []lexArg
}

// Args are the names of the arguments the query uses, each once, in order.
func (l *lexedQuery) Args() []string {
	var out []string
	for _, a := range append(slices.Clip(l.argsBefore), l.argsAfter...) {
		if !slices.Contains(out, a.name) {
			out = append(out, a.name)
		}
	}
	return out
}

// sqlToken is a piece of a query outside its string literals and quoted
// names: a word (upper-cased), a number, a punctuation character, or the
// {keys} placeholder; strings and quoted names are tokens of their own, so
// that "IN ( {keys} )" is recognised whatever the spacing.
type sqlToken struct {
	kind byte // 'w' word, 'n' number, 's' string or quoted name, 'p' punctuation, 'k' {keys}, 'a' {args.<name>}
	text string
	pos  int
}

// CheckKeyedQuery checks a keyed query's text without a database: one
// SELECT (or WITH ... SELECT) that only reads, no statement separator, no
// comments, no parameter but {keys}, which appears once as IN ({keys}) or
// = ANY({keys}), and arguments, {args.<name>}, outside strings. PrepareKeyed runs the same checks, those of its dialect,
// and then asks the database.
//
// The checks read the query the way both databases do as far as it goes:
// they know string literals and quoted names ("a b"), a doubled quote
// inside either standing for one, and refuse what the two dialects read
// differently (backslashes, PostgreSQL's dollar-quoted strings, SQLite's
// [name] and `name`, comments, which nest in PostgreSQL and not in SQLite),
// so that a ';' or a second statement cannot hide from them in text that
// one database takes for a string.
func CheckKeyedQuery(query string) []error {
	_, errs := lexKeyed(query, false)
	return errs
}

// lexKeyed checks query and finds {keys}. sqlite adds SQLite's own
// parameter forms (@name) to the refused ones.
func lexKeyed(query string, sqlite bool) (*lexedQuery, []error) {
	var errs []error
	seen := map[string]bool{}
	problem := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if !seen[msg] {
			seen[msg] = true
			errs = append(errs, errors.New(msg))
		}
	}
	if strings.TrimSpace(query) == "" {
		return nil, []error{errors.New("is empty: write a SELECT with IN ({keys}) or = ANY({keys})")}
	}
	var toks []sqlToken
	q := query
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '\'' || c == '"':
			j, ok := closeQuote(q, i)
			if !ok {
				if c == '\'' {
					problem("a string literal is not closed")
				} else {
					problem("a quoted name is not closed")
				}
				j = len(q)
			}
			if c == '\'' && (strings.Contains(q[i:j], "{args.") || strings.Contains(q[i:j], "{parent.")) {
				problem("an argument in a string is not bound: write {args.<name>} (or {parent.<field>}) outside quotes, where it stands for a value")
			}
			if c == '\'' && strings.IndexByte(q[i:j], '\\') >= 0 {
				// PostgreSQL's E'...' strings (and plain ones when
				// standard_conforming_strings is off) end elsewhere.
				problem("a backslash is not accepted in a string (the databases read escapes differently)")
			}
			toks = append(toks, sqlToken{kind: 's', text: q[i:j], pos: i})
			i = j
		case c == '-' && strings.HasPrefix(q[i:], "--"), c == '/' && strings.HasPrefix(q[i:], "/*"):
			problem("comments are not accepted in the query (write them in the YAML, after #)")
			if c == '-' {
				j := strings.IndexByte(q[i:], '\n')
				if j < 0 {
					j = len(q) - i
				}
				i += j
			} else {
				j := strings.Index(q[i+2:], "*/")
				if j < 0 {
					i = len(q)
				} else {
					i += j + 4
				}
			}
		case c == ';':
			problem("';' is not accepted: the query is one statement, without a separator")
			i++
		case c == '\\':
			problem("a backslash is not accepted (the databases read escapes in strings differently)")
			i++
		case c == '$':
			problem("'$' is not accepted: {keys} and {args.<name>} are the only parameters, and dollar-quoted strings are PostgreSQL's alone")
			i++
		case c == '?':
			problem("'?' is not accepted: {keys} and {args.<name>} are the only parameters")
			i++
		case c == ':' && i+1 < len(q) && isWordStart(q[i+1]) && (i == 0 || q[i-1] != ':'):
			problem("%q is not accepted: {keys} and {args.<name>} are the only parameters", q[i:wordEnd(q, i+1)])
			i++
		case c == '@' && sqlite:
			problem("'@' is not accepted on SQLite, which reads @name as a parameter: {keys} is the only one")
			i++
		case c == '[' || c == ']' || c == '`':
			problem("'%c' is not accepted: quote a name with double quotes (\"name\"), which both databases read alike; PostgreSQL's arrays have no JSON value", c)
			i++
		case c == '{':
			if strings.HasPrefix(q[i:], KeysPlaceholder) {
				toks = append(toks, sqlToken{kind: 'k', text: KeysPlaceholder, pos: i})
				i += len(KeysPlaceholder)
				break
			}
			if m := argPlaceholder.FindString(q[i:]); m != "" {
				toks = append(toks, sqlToken{kind: 'a', text: m, pos: i})
				i += len(m)
				break
			}
			end := strings.IndexByte(q[i:], '}')
			if end < 0 || end > 40 {
				problem("'{' is not accepted outside a string: {keys} and {args.<name>} are the only placeholders")
			} else {
				problem("unknown placeholder %s: {keys}, {args.<name>} and {parent.<field>} are the only ones", q[i:i+end+1])
			}
			i++
		case isWordStart(c):
			j := wordEnd(q, i)
			toks = append(toks, sqlToken{kind: 'w', text: strings.ToUpper(q[i:j]), pos: i})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(q) && (isWordByte(q[j]) || q[j] == '.') {
				j++
			}
			toks = append(toks, sqlToken{kind: 'n', text: q[i:j], pos: i})
			i = j
		default:
			toks = append(toks, sqlToken{kind: 'p', text: q[i : i+1], pos: i})
			i++
		}
	}
	if len(toks) > 0 && (toks[0].kind != 'w' || (toks[0].text != "SELECT" && toks[0].text != "WITH")) {
		problem("starts with %s: only a SELECT (or WITH ... SELECT) is accepted", tokenName(toks[0]))
	}
	var keys []int
	for i, t := range toks {
		switch {
		case t.kind == 'k':
			keys = append(keys, i)
		case t.kind == 'w' && slices.Contains(writeWords, t.text):
			problem("%s: the query may only read (one SELECT)", t.text)
		case t.kind == 'w' && t.text == "FOR" && i+1 < len(toks) && toks[i+1].kind == 'w' &&
			slices.Contains([]string{"UPDATE", "SHARE", "NO", "KEY"}, toks[i+1].text):
			problem("FOR %s: the query may only read, without locking rows", toks[i+1].text)
		}
	}
	switch len(keys) {
	case 0:
		problem("%s is missing: write the key condition as column IN ({keys}) or column = ANY({keys})", KeysPlaceholder)
	case 1:
	default:
		problem("%s appears %d times: write it once", KeysPlaceholder, len(keys))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	k := keys[0]
	open := k >= 2 && toks[k-1].text == "("
	closed := k+1 < len(toks) && toks[k+1].text == ")"
	var form keysForm
	if open && closed && toks[k-2].kind == 'w' {
		switch toks[k-2].text {
		case "IN":
			form = formIn
		case "ANY":
			form = formAny
		}
	}
	if form == 0 {
		return nil, []error{fmt.Errorf("%s must stand as column IN ({keys}) or column = ANY({keys})", KeysPlaceholder)}
	}
	pos := toks[k].pos
	l := &lexedQuery{before: query[:pos], after: query[pos+len(KeysPlaceholder):], form: form}
	for _, t := range toks {
		if t.kind != 'a' {
			continue
		}
		a := lexArg{pos: t.pos, len: len(t.text), name: argName(t.text)}
		if t.pos < pos {
			l.argsBefore = append(l.argsBefore, a)
		} else {
			a.pos -= pos + len(KeysPlaceholder)
			l.argsAfter = append(l.argsAfter, a)
		}
	}
	return l, nil
}

// writeWords are the words that make a statement write, or that only a
// writing statement has, wherever they stand: a WITH can hold an INSERT,
// UPDATE or DELETE (PostgreSQL), or end in one (both), and SELECT ... INTO
// creates a table (PostgreSQL). A name that is one of them must be quoted.
var writeWords = []string{"INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "INTO", "RETURNING"}

// closeQuote returns the index after the quote that closes the literal or
// quoted name opening at i, where a doubled quote stands for one.
func closeQuote(q string, i int) (int, bool) {
	quote := q[i]
	for j := i + 1; j < len(q); j++ {
		if q[j] != quote {
			continue
		}
		if j+1 < len(q) && q[j+1] == quote {
			j++
			continue
		}
		return j + 1, true
	}
	return len(q), false
}

// isWordStart reports a byte that starts a name or keyword: a letter, '_',
// or a byte of a non-ASCII character (both databases take letters such as
// å in names).
func isWordStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isWordByte(c byte) bool { return isWordStart(c) || c >= '0' && c <= '9' }

// wordEnd returns the end of the word starting at i.
func wordEnd(q string, i int) int {
	for i < len(q) && isWordByte(q[i]) {
		i++
	}
	return i
}

// tokenName shows a token in a message.
func tokenName(t sqlToken) string {
	if t.kind == 'w' {
		return t.text
	}
	if len(t.text) > 20 {
		return fmt.Sprintf("%q...", t.text[:20])
	}
	return fmt.Sprintf("%q", t.text)
}
