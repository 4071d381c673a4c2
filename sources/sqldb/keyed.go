package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// KeyedOptions describe a keyed query written in a source declaration.
type KeyedOptions struct {
	// Operation names the query for the Recorder, the metrics and upstream
	// errors: the declared resource's name (required).
	Operation string
	// Query is one SELECT with the placeholder {keys} once, as
	// column IN ({keys}) or, on PostgreSQL only, column = ANY({keys}),
	// and arguments as {args.<name>} (QueryArgs binds them).
	// See CheckKeyedQuery for what else it may not hold.
	Query string
	// Columns are the result columns the caller reads, in the order Query's
	// rows hand their values over. A name matches a result column exactly,
	// or else regardless of case (PostgreSQL folds unquoted names to lower
	// case, SQLite keeps them as written).
	Columns []string
}

// Keyed is a declared keyed query, checked against the database: it returns
// the rows of a batch of keys in one statement, on the store's pool and
// query timeout, recorded and counted like the store's own queries.
type Keyed struct {
	s     *Store
	op    string
	lexed *lexedQuery
	// names are the result's columns as the database names them, to notice
	// a result that changed since the check (SELECT * over an altered table).
	names []string
	// pick and kinds are the position in the result and the value kind of
	// each column the caller reads.
	pick  []int
	kinds []valueKind
}

// QueryError is a problem of a declared query's text, found by the checks or
// reported by the database when the query was checked against it.
type QueryError struct{ Err error }

// Error returns the problem's text.
func (e *QueryError) Error() string { return e.Err.Error() }

// Unwrap returns the problem.
func (e *QueryError) Unwrap() error { return e.Err }

// ColumnError is a problem of one of KeyedOptions.Columns: absent from the
// query's result, ambiguous in it, or of a type that has no JSON value.
type ColumnError struct {
	Column string
	Err    error
}

// Error names the column and the problem.
func (e *ColumnError) Error() string { return fmt.Sprintf("column %q: %v", e.Column, e.Err) }

// Unwrap returns the problem.
func (e *ColumnError) Unwrap() error { return e.Err }

// PrepareKeyed checks a declared keyed query against the database and
// returns it ready to run. The checks, every problem reported at once:
//
//   - the text (CheckKeyedQuery), and the dialect's form: SQLite has no
//     arrays, so = ANY({keys}) is PostgreSQL's alone;
//   - the database's own reading of the statement, which is the real check
//     that it is one SELECT that only reads. PostgreSQL: the statement runs
//     once in a READ ONLY transaction that is rolled back, with no keys
//     (ANY) or one empty key (IN); the server parses it as one statement
//     (the extended protocol takes no second one), resolves every table and
//     column, types {keys} as text, and refuses a statement whose plan
//     writes or locks (DML, SELECT INTO, FOR UPDATE, a data-modifying WITH)
//     with read_only_sql_transaction. A function that writes when it is
//     called (nextval, a user's function) is refused only if the check's
//     run calls it, which a call per matching row is not: the database
//     role should be allowed to read only. SQLite: the statement is
//     prepared, not run, under an authorizer (sqlite3_set_authorizer) that
//     allows reading and calling functions and denies everything else; the
//     preparation resolves every table and column, and the query must be
//     one statement (SQLite prepares a script's first statement only: the
//     query followed by a lone ")" must then fail to prepare);
//   - each of opts.Columns exists once in the result, with a type that has
//     a JSON value.
//
// Problems of the declaration are *QueryError and *ColumnError, joined; a
// database that fails meanwhile gives an *upstream.Error instead, like any
// query of the store.
func (s *Store) PrepareKeyed(ctx context.Context, opts KeyedOptions) (*Keyed, error) {
	if opts.Operation == "" {
		return nil, errors.New("sqldb: a keyed query needs an operation name")
	}
	lexed, lexErrs := lexKeyed(opts.Query, !s.dialect.postgres)
	var errs []error
	for _, err := range lexErrs {
		errs = append(errs, &QueryError{err})
	}
	if lexed != nil && lexed.form == formAny && !s.dialect.postgres {
		errs = append(errs, &QueryError{errors.New("= ANY({keys}) is PostgreSQL's: SQLite has no arrays; write column IN ({keys}), which both databases take")})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	k := &Keyed{s: s, op: opts.Operation, lexed: lexed}
	var cols []columnType
	var err error
	if s.dialect.postgres {
		cols, err = k.describePostgres(ctx)
	} else {
		cols, err = k.describeSQLite(ctx)
	}
	if err != nil {
		return nil, err
	}
	for _, c := range cols {
		k.names = append(k.names, c.name)
	}
	for _, name := range opts.Columns {
		i, err := findColumn(k.names, name)
		if err == nil {
			err = cols[i].kind.problem(cols[i].dbType)
		}
		if err != nil {
			errs = append(errs, &ColumnError{Column: name, Err: err})
			continue
		}
		k.pick = append(k.pick, i)
		k.kinds = append(k.kinds, cols[i].kind)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return k, nil
}

// columnType is a result column as the check found it.
type columnType struct {
	name, dbType string
	kind         valueKind
}

// findColumn finds name among the result's columns: exactly, or else
// regardless of case; a name that matches twice is ambiguous.
func findColumn(names []string, name string) (int, error) {
	match := func(eq func(a, b string) bool) []int {
		var at []int
		for i, n := range names {
			if eq(n, name) {
				at = append(at, i)
			}
		}
		return at
	}
	at := match(func(a, b string) bool { return a == b })
	if len(at) == 0 {
		at = match(strings.EqualFold)
	}
	switch len(at) {
	case 0:
		return 0, fmt.Errorf("is not in the query's result (it has %s)", strings.Join(quoteAll(names), ", "))
	case 1:
		return at[0], nil
	}
	return 0, fmt.Errorf("the query's result has %d columns named so: give them distinct names (AS)", len(at))
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strconv.Quote(n)
	}
	return out
}

// describePostgres runs the statement once in a READ ONLY transaction that is
// rolled back, and returns its result's columns.
func (k *Keyed) describePostgres(ctx context.Context) ([]columnType, error) {
	s := k.s
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, s.fail(ctx, k.op, err)
	}
	defer tx.Rollback()
	probe := []string{""}
	if k.lexed.form == formAny {
		probe = []string{}
	}
	text, a := k.statement(probe)
	rows, err := tx.QueryContext(ctx, text, a.vals...)
	if err != nil {
		return nil, k.checkError(ctx, err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, s.fail(ctx, k.op, err)
	}
	for rows.Next() {
		// No row matters: running the statement is the check.
	}
	if err := rows.Err(); err != nil {
		return nil, k.checkError(ctx, err)
	}
	cols := make([]columnType, len(types))
	for i, t := range types {
		cols[i] = columnType{name: t.Name(), dbType: t.DatabaseTypeName(), kind: postgresKind(t.DatabaseTypeName())}
	}
	return cols, nil
}

// checkError sorts an error of the check: the database refusing the
// statement is a problem of the declaration; anything else (a dropped
// connection, a timeout) is the database failing.
func (k *Keyed) checkError(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && declarationSQLState(pe.Code) {
			msg := pe.Message
			switch pe.Code {
			case "25006": // read_only_sql_transaction
				msg += ": the query may only read"
			case "42883", "42804": // undefined_function (no operator), datatype_mismatch
				msg += ": the keys are bound as text, so compare them with a text column, or cast the column (col::text)"
			}
			if pe.Hint != "" {
				msg += " (" + pe.Hint + ")"
			}
			return &QueryError{fmt.Errorf("PostgreSQL refuses the query: %s (SQLSTATE %s)", msg, pe.Code)}
		}
		var se *sqlite.Error
		if errors.As(err, &se) && (se.Code()&0xff == 1 || se.Code()&0xff == 23) { // SQLITE_ERROR, SQLITE_AUTH
			return &QueryError{fmt.Errorf("SQLite refuses the query: %s", sqliteMessage(se))}
		}
	}
	return k.s.fail(ctx, k.op, err)
}

// declarationSQLState reports the PostgreSQL error classes that mean the
// statement is wrong, not the server in trouble: syntax and access (42),
// data (22), feature not supported (0A), read-only transaction (25006),
// cardinality (21).
func declarationSQLState(code string) bool {
	switch {
	case code == "25006":
		return true
	case len(code) == 5:
		switch code[:2] {
		case "42", "22", "0A", "21":
			return true
		}
	}
	return false
}

// sqliteMessage is the text of a SQLite error without the driver's prefix.
func sqliteMessage(se *sqlite.Error) string {
	msg := se.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "SQL logic error") {
		return msg[i+2:]
	}
	return msg
}

// sqliteColumnInfo is what modernc.org/sqlite's connections offer: a
// statement's result columns, prepared but not run.
type sqliteColumnInfo interface {
	ColumnInfo(query string) ([]sqlite.ColumnInfo, error)
}

// describeSQLite prepares the statement under an authorizer that denies all
// but reading, on one connection of the pool, and returns its columns.
func (k *Keyed) describeSQLite(ctx context.Context) ([]columnType, error) {
	s := k.s
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, s.fail(ctx, k.op, err)
	}
	defer conn.Close()
	text, _ := k.statement([]string{""})
	var info []sqlite.ColumnInfo
	var denied []string
	var prepErr error
	script := false
	err = conn.Raw(func(dc any) error {
		auth, ok1 := dc.(sqlite.AuthorizerRegisterer)
		ci, ok2 := dc.(sqliteColumnInfo)
		if !ok1 || !ok2 {
			return fmt.Errorf("the SQLite driver %T offers no authorizer or column info", dc)
		}
		err := auth.RegisterAuthorizer(func(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
			switch action {
			case sqlite.AuthSelect, sqlite.AuthRead, sqlite.AuthRecursive:
				return sqlite.AuthorizerOK
			case sqlite.AuthFunction:
				if !strings.EqualFold(arg2, "load_extension") {
					return sqlite.AuthorizerOK
				}
			}
			denied = append(denied, authorizerAction(action, arg1, arg2))
			return sqlite.AuthorizerDeny
		})
		if err != nil {
			return err
		}
		info, prepErr = ci.ColumnInfo(text)
		if prepErr == nil {
			// SQLite prepares the first statement of a script and leaves
			// the rest, which the driver would run after it. A lone ")"
			// after one complete statement cannot parse; if the query with
			// it still prepares, the first statement ended before it.
			if _, err := ci.ColumnInfo(text + "\n)"); err == nil {
				script = true
			}
		}
		if err := auth.RegisterAuthorizer(nil); err != nil {
			// The connection must not go back to the pool still denying
			// writes: the seeder and Migrate use the same pool.
			return driver.ErrBadConn
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(ctx, k.op, err)
	}
	if len(denied) > 0 {
		slices.Sort(denied)
		return nil, &QueryError{fmt.Errorf("SQLite refuses the query: it would %s, and the query may only read", strings.Join(slices.Compact(denied), ", "))}
	}
	if prepErr != nil {
		return nil, k.checkError(ctx, prepErr)
	}
	if script {
		return nil, &QueryError{errors.New("SQLite reads more than one statement in the query: write one SELECT")}
	}
	if info == nil {
		return nil, &QueryError{errors.New("SQLite finds no statement in the query")}
	}
	cols := make([]columnType, len(info))
	for i, c := range info {
		t := strings.ToUpper(c.DeclType)
		cols[i] = columnType{name: c.Name, dbType: t, kind: sqliteKind(t)}
	}
	return cols, nil
}

// authorizerAction names what a denied statement would have done.
func authorizerAction(a sqlite.AuthorizerActionCode, arg1, arg2 string) string {
	switch a {
	case sqlite.AuthInsert:
		return "insert into " + arg1
	case sqlite.AuthUpdate:
		return "update " + arg1
	case sqlite.AuthDelete:
		return "delete from " + arg1
	case sqlite.AuthPragma:
		return "run PRAGMA " + arg1
	case sqlite.AuthAttach:
		return "attach a database"
	case sqlite.AuthDetach:
		return "detach a database"
	case sqlite.AuthTransaction:
		return "control a transaction"
	case sqlite.AuthFunction:
		return "call " + arg2
	}
	return fmt.Sprintf("do more than read (authorizer action %d on %q)", a, arg1)
}

// statement writes the query for keys, with the dialect's placeholders in
// place of {keys}, and binds the keys.
//
// PostgreSQL: = ANY({keys}) becomes one text[] parameter, so the statement
// is the same for every batch; IN ({keys}) becomes $1::text, ..., $n::text,
// with the list padded to the next power of two by repeating the last key
// (a repeated key changes nothing), so that a declared query puts one
// statement text per power of two in pgx's prepared statement cache rather
// than one per batch size. The casts make PostgreSQL type the keys as text whatever
// the column, so a key is never parsed as a number or a date. SQLite:
// IN ({keys}) becomes ?, ..., ? with exactly one parameter per key.
//
// An argument ({args.<name>}) becomes one parameter where it stands, its
// value from vals (absent: NULL), as text: $n::text on PostgreSQL, ? on
// SQLite. Its value is never written into the statement.
func (k *Keyed) statement(keys []string, vals ...map[string]string) (string, *args) {
	a := &args{d: k.s.dialect}
	var argVals map[string]string
	if len(vals) > 0 {
		argVals = vals[0]
	}
	var b strings.Builder
	k.writeArgs(&b, a, k.lexed.before, k.lexed.argsBefore, argVals)
	switch {
	case k.lexed.form == formAny:
		b.WriteString(a.add(keys))
		b.WriteString("::text[]")
	case k.s.dialect.postgres:
		n := 1
		for n < len(keys) {
			n *= 2
		}
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.add(keys[min(i, len(keys)-1)]))
			b.WriteString("::text")
		}
	default:
		for i, key := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.add(key))
		}
	}
	k.writeArgs(&b, a, k.lexed.after, k.lexed.argsAfter, argVals)
	return b.String(), a
}

// writeArgs writes text with its arguments bound.
func (k *Keyed) writeArgs(b *strings.Builder, a *args, text string, at []lexArg, vals map[string]string) {
	last := 0
	for _, x := range at {
		b.WriteString(text[last:x.pos])
		var v any // NULL
		if s, ok := vals[x.name]; ok {
			v = s
		}
		b.WriteString(a.add(v))
		if k.s.dialect.postgres {
			b.WriteString("::text")
		}
		last = x.pos + x.len
	}
	b.WriteString(text[last:])
}

// Args are the names of the arguments ({args.<name>}) the query uses.
func (k *Keyed) Args() []string { return k.lexed.Args() }

// Query runs the query for keys, in one statement, and hands every row to
// row: the values of KeyedOptions.Columns, in their order, as encoding/json
// would give them (see valueKind). Repeated keys are asked once. On
// PostgreSQL, keys that a text value cannot hold (a NUL byte, invalid
// UTF-8), and so have no rows, are left out instead of failing the batch.
// No keys, no query. A failure is an *upstream.Error of the store's system
// with the query's operation name; a row that cannot be read, or an error
// from row, is a BadResponse.
func (k *Keyed) Query(ctx context.Context, keys []string, row func(vals []any) error) error {
	return k.QueryArgs(ctx, keys, nil, row)
}

// QueryArgs is Query with the query's arguments bound: args holds each
// argument's value by name, an absent one is NULL. On PostgreSQL a value
// that text cannot hold (a NUL byte, invalid UTF-8) matches nothing: no
// query is sent.
func (k *Keyed) QueryArgs(ctx context.Context, keys []string, args map[string]string, row func(vals []any) error) error {
	keys = distinct(keys)
	if k.s.dialect.postgres {
		for _, v := range args {
			if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
				return nil
			}
		}
	}
	if k.s.dialect.postgres {
		keys = slices.DeleteFunc(slices.Clone(keys), func(key string) bool {
			return strings.IndexByte(key, 0) >= 0 || !utf8.ValidString(key)
		})
	}
	if len(keys) == 0 {
		return nil
	}
	text, a := k.statement(keys, args)
	raw := make([]any, len(k.names))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	checked := false
	return k.s.query(ctx, k.op, len(keys), text, a, func(rows *sql.Rows) error {
		if !checked {
			names, err := rows.Columns()
			if err != nil {
				return err
			}
			if !slices.Equal(names, k.names) {
				return fmt.Errorf("the result's columns changed since the start: %s, then %s",
					strings.Join(k.names, ", "), strings.Join(names, ", "))
			}
			checked = true
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		vals := make([]any, len(k.pick))
		for i, at := range k.pick {
			v, err := k.kinds[i].value(raw[at])
			if err != nil {
				return fmt.Errorf("column %s: %w", k.names[at], err)
			}
			vals[i] = v
		}
		return row(vals)
	})
}

// Operation returns the query's operation name.
func (k *Keyed) Operation() string { return k.op }

// System returns the store's system name, the Source of the query's errors.
func (k *Keyed) System() string { return k.s.system }
