package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// SQLQuery is the sql part of a resource declaration (schema/<system>.yaml):
// one SELECT that answers a batch of keys in one statement, on the system's
// database (the school database's pool, query timeout and counters).
//
//	sql:
//	  query: >-
//	    SELECT personnummer, kost FROM specialkost
//	    WHERE personnummer IN ({keys}) ORDER BY personnummer, kost
//	  key: personnummer
//	  maxKeys: 500
//
// The declaration's fields map each schema field to a column of the result
// (dotted field names build nested objects, as for SOAP). A key's records
// are its rows in the query's order: write ORDER BY for a stable one.
type SQLQuery struct {
	// Query is one SELECT (or WITH ... SELECT) that only reads, with
	// {keys} once: column IN ({keys}), which both databases take, or
	// column = ANY({keys}), PostgreSQL's one-array form. The bound field's
	// arguments stand as {args.<name>}, outside strings, as often as
	// needed: each is one text parameter, NULL for a null argument
	// (({args.fraction} IS NULL OR fraction = {args.fraction}) makes null
	// mean "any"); a field of the parent record, {parent.<field>}, alike. Keys and arguments are always bound as parameters; the
	// rest of the query is taken as written. Not accepted: ';', comments,
	// other parameters ($1, ?, :name), backslashes, PostgreSQL's dollar quotes,
	// SQLite's [name] and `name` quoting (use "name"), and the words that
	// only a writing statement has (INSERT, UPDATE, DELETE, MERGE, INTO,
	// RETURNING, FOR UPDATE/SHARE) unless quoted. The database checks the
	// rest when the connector is built (sqldb.Store.PrepareKeyed).
	Query string `yaml:"query"`
	// Key is the result column that holds each row's key, as the query
	// names it (required). Its values are compared with the keys as text.
	Key string `yaml:"key"`
	// MaxKeys is the most keys one query asks for; the loaders split
	// larger batches (default DefaultSQLMaxKeys, at most
	// sqldb.MaxKeyedKeys).
	MaxKeys int `yaml:"maxKeys,omitempty"`
}

// DefaultSQLMaxKeys is SQLQuery.MaxKeys when the declaration gives none.
const DefaultSQLMaxKeys = 500

// SQL is the declarative SQL connector: one query per batch of keys.
type SQL struct {
	q       *sqldb.Keyed
	maxKeys int
	// fields are the schema fields and their columns (indices into the
	// values of a row; the key is value 0).
	fields []sqlField
	// objects are the nested objects of the field names, deepest first.
	objects [][]string
}

type sqlField struct {
	target []string // the schema field's name, split at dots
	col    int
}

// NewSQL builds the connector of decl for the resource named resource
// (the operation name in the Recorder's counts, the metrics and errors)
// on store's database. fields maps the schema's field names (dotted for a
// nested object: unit.name) to result columns. It checks the declaration
// on its own (Validate), then against the live database: the query
// (sqldb.Store.PrepareKeyed: one SELECT that only reads, its tables and
// columns exist, {keys} compares with text), the key column and every
// mapped column in its result with a type that has a JSON value. Every
// problem is reported at once, each a *DeclError naming its key in the
// declaration. A database that cannot be asked gives its *upstream.Error.
func NewSQL(ctx context.Context, store *sqldb.Store, resource string, decl SQLQuery, fields map[string]string) (*SQL, error) {
	if store == nil {
		return nil, errors.New("sql: no database store")
	}
	if resource == "" {
		return nil, fmt.Errorf("sql %s: no resource name", store.System())
	}
	errs := decl.Validate()
	s := &SQL{maxKeys: decl.MaxKeys}
	if s.maxKeys == 0 {
		s.maxKeys = DefaultSQLMaxKeys
	}
	columns := []string{decl.Key}
	errs = append(errs, s.compileFields(fields, &columns)...)
	// The database can check a query whose text passed, even when other
	// keys have problems: every problem is reported at once.
	if !slices.ContainsFunc(errs, isQueryProblem) {
		check := columns
		if strings.TrimSpace(decl.Key) == "" {
			check = columns[1:]
		}
		q, err := store.PrepareKeyed(ctx, sqldb.KeyedOptions{Operation: resource, Query: decl.Query, Columns: check})
		var ue *upstream.Error
		switch {
		case errors.As(err, &ue):
			// The database failed: no problem of the declaration, but the
			// connector cannot be built (nor the declaration checked).
			return nil, fmt.Errorf("sql %s %s: checking the query: %w", store.System(), resource, errors.Join(append([]error{err}, errs...)...))
		case err != nil:
			errs = append(errs, keyedProblems(err, decl.Key, fields)...)
		}
		s.q = q
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sql %s %s: %w", store.System(), resource, errors.Join(errs...))
	}
	return s, nil
}

// isQueryProblem reports a problem of sql.query.
func isQueryProblem(err error) bool {
	var de *DeclError
	return errors.As(err, &de) && slices.Equal(de.Key, []string{"sql", "query"})
}

// keyedProblems gives PrepareKeyed's problems their declaration keys: the
// query's to sql.query, a column's to sql.key and to each field mapped to it.
func keyedProblems(err error, keyColumn string, fields map[string]string) []error {
	var leaves []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		leaves = append(leaves, e)
	}
	walk(err)
	var out []error
	for _, e := range leaves {
		var ce *sqldb.ColumnError
		if !errors.As(e, &ce) {
			var qe *sqldb.QueryError
			if errors.As(e, &qe) {
				e = qe.Err
			}
			out = append(out, &DeclError{Key: []string{"sql", "query"}, Err: e})
			continue
		}
		if ce.Column == keyColumn {
			out = append(out, &DeclError{Key: []string{"sql", "key"}, Err: ce})
		}
		for _, name := range slices.Sorted(maps.Keys(fields)) {
			if fields[name] == ce.Column {
				out = append(out, &DeclError{Key: []string{"fields", name}, Err: ce})
			}
		}
	}
	return out
}

// Validate checks the declaration part on its own, without the database:
// the query's text (sqldb.CheckKeyedQuery), the key column and maxKeys.
// Each error is a *DeclError naming its key. NewSQL checks the rest
// against the database.
func (c SQLQuery) Validate() []error {
	var errs []error
	for _, err := range sqldb.CheckKeyedQuery(c.Query) {
		errs = append(errs, &DeclError{Key: []string{"sql", "query"}, Err: err})
	}
	if strings.TrimSpace(c.Key) == "" {
		errs = append(errs, declErr([]string{"sql", "key"}, "is required: the result column that holds each row's key"))
	}
	if c.MaxKeys < 0 || c.MaxKeys > sqldb.MaxKeyedKeys {
		errs = append(errs, declErr([]string{"sql", "maxKeys"}, "%d is out of range: give 1 to %d (default %d)", c.MaxKeys, sqldb.MaxKeyedKeys, DefaultSQLMaxKeys))
	}
	return errs
}

// compileFields checks the field names and their columns, and adds the
// columns to read (each once) to columns.
func (s *SQL) compileFields(fields map[string]string, columns *[]string) []error {
	if len(fields) == 0 {
		return []error{declErr([]string{"fields"}, "no fields: map at least one schema field to a column of the query's result")}
	}
	var errs []error
	names := slices.Sorted(maps.Keys(fields))
	for i, name := range names {
		key := []string{"fields", name}
		target := strings.Split(name, ".")
		if slices.ContainsFunc(target, func(s string) bool { return !isFieldName(s) }) {
			errs = append(errs, declErr(key, "is not a field name (nested objects: object.field)"))
			continue
		}
		// A name that is also an object of nested fields cannot be both.
		if i+1 < len(names) && strings.HasPrefix(names[i+1], name+".") {
			errs = append(errs, declErr(key, "is a field and also holds %s", names[i+1]))
			continue
		}
		col := fields[name]
		if strings.TrimSpace(col) == "" {
			errs = append(errs, declErr(key, "names no column"))
			continue
		}
		at := slices.Index(*columns, col)
		if at < 0 {
			at = len(*columns)
			*columns = append(*columns, col)
		}
		s.fields = append(s.fields, sqlField{target: target, col: at})
		for i := len(target) - 1; i > 0; i-- {
			obj := target[:i]
			if !slices.ContainsFunc(s.objects, func(o []string) bool { return slices.Equal(o, obj) }) {
				s.objects = append(s.objects, obj)
			}
		}
	}
	slices.SortStableFunc(s.objects, func(a, b []string) int { return len(b) - len(a) })
	return errs
}

// MaxKeys is the most keys one Fetch may carry.
func (s *SQL) MaxKeys() int { return s.maxKeys }

// Fetch runs the query once for keys. Repeated keys count once, and an
// empty or overlong key (MaxKeyBytes) has no rows without being asked for;
// more than MaxKeys distinct keys are refused (Rejected, no query sent):
// the caller splits. A key without rows is absent from the result, and a row whose key
// column holds no asked key (or NULL) is dropped.
//
// A query that uses arguments ({args.<name>}) takes declare.ArgsKeys: the
// keys are grouped by their arguments, one query per group, each argument
// bound as one parameter (a null one as NULL), never written into the SQL.
func (s *SQL) Fetch(ctx context.Context, keys []string) (map[string][]Record, error) {
	if len(s.q.Args()) == 0 {
		return s.fetch(ctx, keys, nil)
	}
	return fetchGroups(ctx, keys, func(args url.Values) (fetchFunc, bool) {
		vals := make(map[string]string, len(args))
		for name := range args {
			vals[name] = args.Get(name)
		}
		return func(ctx context.Context, keys []string) (map[string][]Record, error) {
			return s.fetch(ctx, keys, vals)
		}, true
	})
}

// fetch runs the query once for keys with the arguments args.
func (s *SQL) fetch(ctx context.Context, keys []string, args map[string]string) (map[string][]Record, error) {
	keys = sendable(keys)
	asked := make(map[string]bool, len(keys))
	for _, k := range keys {
		asked[k] = true
	}
	out := make(map[string][]Record, len(asked))
	if len(asked) == 0 {
		return out, nil
	}
	if len(asked) > s.maxKeys {
		return nil, upstream.Permanent(upstream.Errorf(s.q.System(), s.q.Operation(), upstream.Rejected,
			"%d keys in one query, at most %d: the caller splits", len(asked), s.maxKeys))
	}
	err := s.q.QueryArgs(ctx, keys, args, func(vals []any) error {
		key, ok := keyText(vals[0])
		if !ok || !asked[key] {
			return nil
		}
		r := make(Record, len(s.fields))
		for _, f := range s.fields {
			setField(r, f.target, vals[f.col])
		}
		nilEmptyObjects(r, s.objects)
		out[key] = append(out[key], r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// keyText is a key column's value as the text it is compared with.
func keyText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	}
	return "", false
}

var _ Connector = (*SQL)(nil)
