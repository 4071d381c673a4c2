package sqldb

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSQLiteDSN(t *testing.T) {
	all := "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
	for _, tc := range []struct{ in, want string }{
		{"/var/lib/kommungraf/skola.db", "/var/lib/kommungraf/skola.db?" + all},
		{"file:skola.db", "file:skola.db?" + all},
		{"file:skola.db?cache=private", "file:skola.db?cache=private&" + all},
		// Settings the operator chose are kept, not doubled.
		{"file:skola.db?_pragma=journal_mode(DELETE)&_txlock=deferred",
			"file:skola.db?_pragma=journal_mode(DELETE)&_txlock=deferred&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := sqliteDSN(tc.in); got != tc.want {
				t.Errorf("sqliteDSN(%q) =\n%q\nwant\n%q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		name, dsn, msg, want string
	}{
		{"url", "postgres://kg:p%40ss@db/x", "cannot parse postgres://kg:p%40ss@db/x and p@ss", "cannot parse postgres://kg:xxxxx@db/x and xxxxx"},
		{"key value", "host=db user=kg password=hemligt", "bad password=hemligt", "bad password=xxxxx"},
		{"no password", "postgres://kg@db/x", "refused", "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cause := errors.New(tc.msg)
			err := redact(cause, tc.dsn)
			if err.Error() != tc.want {
				t.Errorf("redact = %q, want %q", err.Error(), tc.want)
			}
			if !errors.Is(err, cause) {
				t.Error("the cause is lost")
			}
		})
	}
}

func TestArgs(t *testing.T) {
	keys := []string{"'; DROP TABLE skolenhet; --", "1 OR 1=1"}
	for _, tc := range []struct {
		name     string
		d        dialect
		wantCond string
		wantVals int
	}{
		{"postgres", dialect{postgres: true}, "skolenhetskod = ANY($1) AND rn > $2", 2},
		{"sqlite", dialect{}, "skolenhetskod IN (?, ?) AND rn > ?", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &args{d: tc.d}
			cond := a.in("skolenhetskod", keys) + " AND rn > " + a.add(5)
			if cond != tc.wantCond {
				t.Errorf("condition %q, want %q", cond, tc.wantCond)
			}
			if len(a.vals) != tc.wantVals {
				t.Errorf("%d parameters, want %d", len(a.vals), tc.wantVals)
			}
			if err := a.check(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("sqlite limit", func(t *testing.T) {
		a := &args{}
		a.in("k", make([]string, sqliteMaxVars+1))
		if err := a.check(); err == nil {
			t.Error("no error past SQLite's parameter limit")
		}
	})
}

func TestDateCol(t *testing.T) {
	want := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	stockholm := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		name  string
		in    any
		valid bool
		err   bool
	}{
		{"pgx date", time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), true, false},
		{"time in another zone keeps its day", time.Date(2026, 1, 31, 0, 30, 0, 0, stockholm), true, false},
		{"sqlite text", "2026-01-31", true, false},
		{"sqlite bytes", []byte("2026-01-31"), true, false},
		{"timestamp text", "2026-01-31 00:00:00+00:00", true, false},
		{"null", nil, false, false},
		{"garbage", "31/01/2026", false, true},
		{"number", int64(20260131), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d dateCol
			err := d.Scan(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("Scan(%v) error %v, want error %v", tc.in, err, tc.err)
			}
			if d.valid != tc.valid {
				t.Fatalf("valid = %v, want %v", d.valid, tc.valid)
			}
			if tc.valid && (!d.t.Equal(want) || d.t.Location() != time.UTC) {
				t.Errorf("date = %v, want %v", d.t, want)
			}
			if !tc.valid && d.ptr() != nil {
				t.Error("ptr() of NULL is not nil")
			}
		})
	}
}

func TestSchemaStatements(t *testing.T) {
	stmts := schemaStatements()
	var creates []string
	for _, s := range stmts {
		if strings.Contains(s, "--") {
			t.Errorf("statement holds a comment: %s", firstLine(s))
		}
		creates = append(creates, firstLine(s))
	}
	if got, want := schemaObjects(stmts), []string{"skolenhet", "placering", "specialkost", "franvaro", "kommungraf_seed",
		"placering_skolenhetskod_id_idx", "placering_personnummer_idx", "franvaro_personnummer_datum_idx"}; !slices.Equal(got, want) {
		t.Errorf("schemaObjects = %v, want %v", got, want)
	}
	for _, want := range []string{
		"CREATE TABLE IF NOT EXISTS skolenhet",
		"CREATE TABLE IF NOT EXISTS placering",
		"CREATE TABLE IF NOT EXISTS specialkost",
		"CREATE TABLE IF NOT EXISTS franvaro",
		"CREATE TABLE IF NOT EXISTS kommungraf_seed",
		"CREATE INDEX IF NOT EXISTS placering_skolenhetskod_id_idx ON placering (skolenhetskod, id)",
		"CREATE INDEX IF NOT EXISTS placering_personnummer_idx ON placering (personnummer)",
		"CREATE INDEX IF NOT EXISTS franvaro_personnummer_datum_idx ON franvaro (personnummer, datum)",
	} {
		if !slices.ContainsFunc(creates, func(s string) bool { return strings.HasPrefix(s, want) }) {
			t.Errorf("schema lacks %q; has %q", want, creates)
		}
	}
}

func TestDistinct(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"a"}, []string{"a"}},
		{[]string{"b", "a", "b", "c", "a"}, []string{"b", "a", "c"}},
	} {
		t.Run(fmt.Sprint(tc.in), func(t *testing.T) {
			if got := distinct(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("distinct(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
