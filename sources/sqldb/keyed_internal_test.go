package sqldb

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/testenv"
)

func TestKeyedStatement(t *testing.T) {
	sqlite := &Store{}
	pg := &Store{dialect: dialect{postgres: true}}
	in := &lexedQuery{before: "SELECT a FROM t WHERE a IN (", after: ") ORDER BY a", form: formIn}
	anyForm := &lexedQuery{before: "SELECT a FROM t WHERE a = ANY(", after: ")", form: formAny}
	keys := []string{"x", "'; DROP TABLE t; --", "z"}
	for _, tc := range []struct {
		name     string
		k        *Keyed
		want     string
		wantVals []any
	}{
		{"sqlite IN", &Keyed{s: sqlite, lexed: in}, "SELECT a FROM t WHERE a IN (?, ?, ?) ORDER BY a", []any{"x", "'; DROP TABLE t; --", "z"}},
		// Padded to a power of two with the last key.
		{"postgres IN", &Keyed{s: pg, lexed: in}, "SELECT a FROM t WHERE a IN ($1::text, $2::text, $3::text, $4::text) ORDER BY a", []any{"x", "'; DROP TABLE t; --", "z", "z"}},
		{"postgres ANY", &Keyed{s: pg, lexed: anyForm}, "SELECT a FROM t WHERE a = ANY($1::text[])", []any{keys}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, a := tc.k.statement(keys)
			if text != tc.want {
				t.Errorf("statement =\n%s\nwant\n%s", text, tc.want)
			}
			if !reflect.DeepEqual(a.vals, tc.wantVals) {
				t.Errorf("values = %q, want %q", a.vals, tc.wantVals)
			}
		})
	}
	for n, want := range map[int]int{1: 1, 2: 2, 3: 4, 5: 8, 500: 512, MaxKeyedKeys: 32768} {
		_, a := (&Keyed{s: pg, lexed: in}).statement(make([]string, n))
		if len(a.vals) != want {
			t.Errorf("%d keys bind %d parameters on PostgreSQL, want %d", n, len(a.vals), want)
		}
	}
}

// TestKeyedStatementArgs: each use of an argument is a parameter of its
// own, in the text's order around the keys, NULL when absent.
func TestKeyedStatementArgs(t *testing.T) {
	lexed, errs := lexKeyed("SELECT a FROM t WHERE b = {args.x} AND a IN ({keys}) AND ({args.y} IS NULL OR c = {args.y})", false)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	vals := map[string]string{"x": "'; DROP TABLE t; --"}
	for _, tc := range []struct {
		name, want string
		s          *Store
		wantVals   []any
	}{
		{"sqlite", "SELECT a FROM t WHERE b = ? AND a IN (?, ?) AND (? IS NULL OR c = ?)", &Store{},
			[]any{"'; DROP TABLE t; --", "k1", "k2", nil, nil}},
		{"postgres", "SELECT a FROM t WHERE b = $1::text AND a IN ($2::text, $3::text) AND ($4::text IS NULL OR c = $5::text)", &Store{dialect: dialect{postgres: true}},
			[]any{"'; DROP TABLE t; --", "k1", "k2", nil, nil}},
	} {
		text, a := (&Keyed{s: tc.s, lexed: lexed}).statement([]string{"k1", "k2"}, vals)
		if text != tc.want || !reflect.DeepEqual(a.vals, tc.wantVals) {
			t.Errorf("%s: %s %q\nwant %s %q", tc.name, text, a.vals, tc.want, tc.wantVals)
		}
	}
	if got := lexed.Args(); !reflect.DeepEqual(got, []string{"x", "y"}) {
		t.Errorf("Args() = %q", got)
	}
}

func TestKeyedKinds(t *testing.T) {
	for name, want := range map[string]valueKind{
		"TEXT": kindText, "VARCHAR": kindText, "BPCHAR": kindText, "UUID": kindText, "INTERVAL": kindText, "16385": kindText,
		"INT8": kindNumber, "FLOAT8": kindNumber, "NUMERIC": kindNumber, "BOOL": kindBool, "DATE": kindDate,
		"TIMESTAMPTZ": kindTimestamp, "JSONB": kindJSON, "BYTEA": kindBinary, "_TEXT": kindArray,
	} {
		if got := postgresKind(name); got != want {
			t.Errorf("postgresKind(%s) = %s, want %s", name, got, want)
		}
	}
	for decl, want := range map[string]valueKind{
		"": kindAny, "TEXT": kindText, "VARCHAR(20)": kindText, "CLOB": kindText, "BIGINT": kindNumber,
		"INTEGER": kindNumber, "DOUBLE PRECISION": kindNumber, "REAL": kindNumber, "FLOAT": kindNumber,
		"NUMERIC(10,2)": kindNumber, "DECIMAL": kindNumber, "DATE": kindDate, "DATETIME": kindTimestamp,
		"BOOLEAN": kindBool, "BLOB": kindBinary, "JSON": kindJSON, "UUID": kindAny,
		// SQLite's rule: INT anywhere means integer affinity.
		"POINT": kindNumber,
	} {
		if got := sqliteKind(decl); got != want {
			t.Errorf("sqliteKind(%q) = %s, want %s", decl, got, want)
		}
	}
}

func TestKeyedValues(t *testing.T) {
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	stockholm := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		kind valueKind
		in   any
		want any // an error's words when wantErr
		err  bool
	}{
		{kindText, nil, nil, false},
		{kindText, "Glutenfri", "Glutenfri", false},
		{kindText, []byte("Laktosfri"), "Laktosfri", false},
		{kindText, []byte{0xff}, "not UTF-8", true},
		{kindText, int64(42), "42", false},
		{kindNumber, int64(7), json.Number("7"), false},
		{kindNumber, int64(1) << 60, json.Number("1152921504606846976"), false}, // exact beyond 2^53
		{kindNumber, 2.5, json.Number("2.5"), false},
		{kindNumber, 1e21, json.Number("1e+21"), false},
		{kindNumber, "12.50", json.Number("12.50"), false}, // PostgreSQL NUMERIC comes as text, kept as written
		{kindNumber, " +3", json.Number("3"), false},
		{kindNumber, "NaN", "not finite", true},
		{kindNumber, math.Inf(1), "not finite", true},
		{kindNumber, "abc", "not a number", true},
		{kindNumber, true, "promises a number", true},
		{kindBool, true, true, false},
		{kindBool, int64(0), false, false}, // SQLite's BOOLEAN
		{kindBool, int64(1), true, false},
		{kindBool, "t", true, false},
		{kindBool, "maybe", "not a boolean", true},
		{kindDate, day, "2026-03-04", false},
		{kindDate, time.Date(2026, 3, 4, 0, 0, 0, 0, stockholm), "2026-03-04", false},
		{kindDate, "2026-03-04", "2026-03-04", false},
		{kindDate, "2026-03-04 00:00:00+00:00", "2026-03-04", false},
		{kindDate, "infinity", "date column", true},
		{kindTimestamp, time.Date(2026, 3, 4, 13, 5, 0, 0, stockholm), "2026-03-04T12:05:00Z", false},
		{kindJSON, []byte(`{"a":[1,"b",true,null]}`), map[string]any{"a": []any{json.Number("1"), "b", true, nil}}, false},
		{kindJSON, `[1`, "does not parse", true},
		{kindAny, int64(3), json.Number("3"), false},
		{kindAny, "x", "x", false},
		{kindAny, []byte("y"), "y", false},
		{kindAny, 1.5, json.Number("1.5"), false},
	} {
		got, err := tc.kind.value(tc.in)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), tc.want.(string)) {
				t.Errorf("%s of %#v: %v, %v; want an error with %q", tc.kind, tc.in, got, err, tc.want)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s of %#v = %#v, %v; want %#v", tc.kind, tc.in, got, err, tc.want)
		}
	}
}

// TestKeyedDatabaseCheck runs statements that the text checks would refuse
// past them, straight into the database's check, which must refuse them too:
// it is the check that does not depend on reading SQL right. Every one of
// them writes, or is more than one statement.
func TestKeyedDatabaseCheck(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		driver string
		dsn    func(t *testing.T) string
	}{
		{DriverSQLite, DriverSQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "skola.db") }},
		{DriverPostgres, DriverPostgres, func(t *testing.T) string { return testenv.PostgresURL(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One connection, so that the check's connection is the one
			// the writes below use: the authorizer must be gone from it.
			s, err := Open(ctx, Options{Driver: tc.driver, DSN: tc.dsn(t), MaxOpenConns: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO specialkost (personnummer, kost) VALUES ('201001011234', 'Glutenfri')`); err != nil {
				t.Fatal(err)
			}
			writes := []struct{ name, before, after string }{
				{"DELETE", "DELETE FROM specialkost WHERE personnummer IN (", ")"},
				{"UPDATE", "UPDATE specialkost SET kost = 'x' WHERE personnummer IN (", ")"},
				{"INSERT", "INSERT INTO specialkost SELECT personnummer, 'x' FROM specialkost WHERE personnummer IN (", ")"},
				{"CREATE", "CREATE TABLE kopia AS SELECT * FROM specialkost WHERE personnummer IN (", ")"},
				{"DROP in a second statement", "SELECT * FROM specialkost WHERE personnummer IN (", "); DROP TABLE specialkost"},
				{"a second SELECT", "SELECT * FROM specialkost WHERE personnummer IN (", "); SELECT 1"},
				{"DELETE after WITH", "WITH k AS (SELECT personnummer FROM specialkost WHERE personnummer IN (", ")) DELETE FROM specialkost WHERE personnummer IN (SELECT personnummer FROM k)"},
			}
			if tc.driver == DriverPostgres {
				writes = append(writes,
					struct{ name, before, after string }{"a DELETE inside WITH", "WITH d AS (DELETE FROM specialkost WHERE personnummer IN (", ") RETURNING *) SELECT * FROM d"},
					struct{ name, before, after string }{"FOR UPDATE", "SELECT * FROM specialkost WHERE personnummer IN (", ") FOR UPDATE"},
					struct{ name, before, after string }{"SELECT INTO", "SELECT * INTO kopia FROM specialkost WHERE personnummer IN (", ")"},
				)
			} else {
				writes = append(writes,
					struct{ name, before, after string }{"PRAGMA", "PRAGMA journal_mode = DELETE", ""},
					struct{ name, before, after string }{"ATTACH", "ATTACH DATABASE ':memory:' AS x", ""},
					struct{ name, before, after string }{"REPLACE", "REPLACE INTO specialkost SELECT * FROM specialkost WHERE personnummer IN (", ")"},
				)
			}
			for _, w := range writes {
				t.Run(w.name, func(t *testing.T) {
					k := &Keyed{s: s, op: "probe", lexed: &lexedQuery{before: w.before, after: w.after, form: formIn}}
					var err error
					if s.dialect.postgres {
						_, err = k.describePostgres(ctx)
					} else {
						_, err = k.describeSQLite(ctx)
					}
					var qe *QueryError
					if !errors.As(err, &qe) {
						t.Fatalf("the database's check let it pass: %v (%T)", err, err)
					}
					t.Log(qe)
				})
			}
			var n int
			if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM specialkost WHERE kost = 'Glutenfri'").Scan(&n); err != nil || n != 1 {
				t.Errorf("after the checks: %d rows, %v; want the one row untouched", n, err)
			}
			if _, err := s.DB().ExecContext(ctx, `INSERT INTO specialkost (personnummer, kost) VALUES ('201001011234', 'Laktosfri')`); err != nil {
				t.Errorf("the pool's connection cannot write after a check: %v", err)
			}
		})
	}
}

// FuzzLexKeyed checks that the text checks never panic, and that what they
// accept is the query itself cut once at {keys}, in code, as IN or ANY.
// The seeds run with the tests; go test -fuzz FuzzLexKeyed explores more.
func FuzzLexKeyed(f *testing.F) {
	for _, seed := range []string{
		"SELECT a FROM t WHERE a IN ({keys})",
		"SELECT a FROM t WHERE a = ANY({keys})",
		`SELECT "x""y", 'it''s {keys}' FROM t WHERE a IN ( {keys} )`,
		"SELECT a FROM t WHERE a IN ({keys}); DROP TABLE t",
		"SELECT a FROM t WHERE a IN ({keys}) -- x\n",
		"SELECT a FROM t WHERE a IN ({keys}) AND b <> E'\\'' ; DELETE FROM t; --'",
		"WITH d AS (DELETE FROM t RETURNING a) SELECT a FROM d WHERE a IN ({keys})",
		"SELECT a::text FROM t WHERE a IN ({keys}) AND b = :x",
		"SELECT 'unterminated", `SELECT "unterminated`, "{", "{keys", "", "\x00\xff",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, q string, sqlite bool) {
		lexed, errs := lexKeyed(q, sqlite)
		if len(errs) > 0 {
			if lexed != nil {
				t.Fatalf("problems %v, yet a query", errs)
			}
			return
		}
		if lexed == nil {
			t.Fatal("no problems, no query")
		}
		if lexed.before+KeysPlaceholder+lexed.after != q {
			t.Fatalf("the cut does not give the query back: %q + {keys} + %q", lexed.before, lexed.after)
		}
		if !strings.ContainsAny(q, `'"`) && strings.ContainsAny(q, ";\\$?`[") {
			t.Fatalf("accepted a character it refuses outside quotes: %q", q)
		}
		up := strings.ToUpper(strings.TrimSpace(q))
		if !strings.HasPrefix(up, "SELECT") && !strings.HasPrefix(up, "WITH") {
			t.Fatalf("accepted a query that starts otherwise: %q", q)
		}
		if lexed.form != formIn && lexed.form != formAny {
			t.Fatalf("form %d", lexed.form)
		}
	})
}
