package sqldb_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// TestKeyedArgsAreBound runs a declared query with an argument,
// {args.kost}, on SQLite and PostgreSQL: a hostile value (a statement
// terminator and a second statement, quotes, backslashes) is one bound
// value that matches its own row and nothing else, and the table is
// untouched; a null argument is NULL; an argument used twice is bound
// twice.
func TestKeyedArgsAreBound(t *testing.T) {
	ctx := context.Background()
	const pnr = "201001011234"
	hostile := []string{
		`'; DROP TABLE specialkost; --`,
		`x' OR '1'='1`,
		`O'Brien "Bob"`,
		`back\slash\' \\`,
		`$1 ? :name {keys}`,
	}
	for _, tc := range []struct {
		driver string
		dsn    func(t *testing.T) string
	}{
		{sqldb.DriverSQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "skola.db") }},
		{sqldb.DriverPostgres, func(t *testing.T) string { return testenv.PostgresURL(t) }},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			s, err := sqldb.Open(ctx, sqldb.Options{Driver: tc.driver, DSN: tc.dsn(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			insert := "INSERT INTO specialkost (personnummer, kost) VALUES (?, ?)"
			if tc.driver == sqldb.DriverPostgres {
				insert = "INSERT INTO specialkost (personnummer, kost) VALUES ($1, $2)"
			}
			for _, kost := range append([]string{"Glutenfri"}, hostile...) {
				if _, err := s.DB().ExecContext(ctx, insert, pnr, kost); err != nil {
					t.Fatal(err)
				}
			}
			k, err := s.PrepareKeyed(ctx, sqldb.KeyedOptions{
				Operation: "kost",
				Query:     "SELECT personnummer, kost FROM specialkost WHERE personnummer IN ({keys}) AND ({args.kost} IS NULL OR kost = {args.kost}) ORDER BY kost",
				Columns:   []string{"personnummer", "kost"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := k.Args(); !slices.Equal(got, []string{"kost"}) {
				t.Errorf("Args() = %q, want [kost]", got)
			}
			ask := func(args map[string]string) []string {
				t.Helper()
				var got []string
				err := k.QueryArgs(ctx, []string{pnr}, args, func(vals []any) error {
					got = append(got, vals[1].(string))
					return nil
				})
				if err != nil {
					t.Fatalf("%q: %v", args, err)
				}
				return got
			}
			for _, v := range append([]string{"Glutenfri"}, hostile...) {
				if got := ask(map[string]string{"kost": v}); !slices.Equal(got, []string{v}) {
					t.Errorf("kost %q: rows %q, want exactly its own row", v, got)
				}
			}
			if got := ask(map[string]string{"kost": "Glutenfri' OR 'x'='x"}); len(got) != 0 {
				t.Errorf("an injection attempt matched %q", got)
			}
			if got := ask(nil); len(got) != len(hostile)+1 {
				t.Errorf("a null argument: %d rows, want all %d (NULL IS NULL)", len(got), len(hostile)+1)
			}
			var n int
			if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM specialkost").Scan(&n); err != nil || n != len(hostile)+1 {
				t.Errorf("after the queries: %d rows, %v; want the table untouched", n, err)
			}
		})
	}
}

// TestKeyedArgsChecks: an argument stands outside strings, as a whole
// {args.<name>}; other braces are still refused, each with its message.
func TestKeyedArgsChecks(t *testing.T) {
	for query, want := range map[string]string{
		"SELECT a FROM t WHERE a IN ({keys}) AND b = '{args.b}'": "an argument in a string is not bound",
		"SELECT a FROM t WHERE a IN ({keys}) AND b = {args.}":    "unknown placeholder {args.}",
		"SELECT a FROM t WHERE a IN ({keys}) AND b = {args.b-c}": "unknown placeholder {args.b-c}",
		"SELECT a FROM t WHERE a IN ({keys}) AND b = {arg.b}":    "unknown placeholder {arg.b}",
		"SELECT a FROM t WHERE a IN ({args.a}) AND b = {args.b}": "{keys} is missing",
	} {
		errs := sqldb.CheckKeyedQuery(query)
		if !strings.Contains(errors.Join(errs...).Error()+" ", want) {
			t.Errorf("%s: %v, want %q", query, errs, want)
		}
	}
	if errs := sqldb.CheckKeyedQuery("SELECT a FROM t WHERE a IN ({keys}) AND ({args.b} IS NULL OR b = {args.b}) AND c <> '{x}'"); len(errs) > 0 {
		t.Errorf("a query with an argument twice: %v", errs)
	}
}
