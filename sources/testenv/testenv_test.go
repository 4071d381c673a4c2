package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		ci   string
		want bool
	}{
		{"", false},
		{"false", false},
		{"yes", false},
		{"true", true},
		{"1", true},
		{"TRUE", true},
	} {
		t.Run(fmt.Sprintf("CI=%q", tc.ci), func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			if got := Required(); got != tc.want {
				t.Errorf("Required() = %v, want %v", got, tc.want)
			}
		})
	}
}

// recordingTB stands in for a test so that Skip and Fatal can be observed:
// like the real ones, they end the calling goroutine.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	skipped  bool
	fatal    bool
	msg      string
	cleanups []func()
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal, r.msg = true, fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// call runs f with a recordingTB on its own goroutine, as the testing package
// runs a test, and returns what happened.
func call(t *testing.T, f func(testing.TB)) *recordingTB {
	t.Helper()
	r := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r
}

// TestUnreachable checks the rule: skip on a laptop, fail under CI=true, and
// say which service and which variable, without the password.
func TestUnreachable(t *testing.T) {
	helpers := []struct {
		name, env, url, service string
		f                       func(testing.TB) string
	}{
		{"postgres", EnvDatabaseURL, "postgres://kg:s3cret@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", "PostgreSQL", PostgresURL},
		{"redis", EnvRedisURL, "redis://:s3cret@127.0.0.1:1/0", "Redis", RedisURL},
	}
	for _, h := range helpers {
		for _, ci := range []string{"", "true"} {
			t.Run(fmt.Sprintf("%s/CI=%q", h.name, ci), func(t *testing.T) {
				t.Setenv("CI", ci)
				t.Setenv(h.env, h.url)
				r := call(t, func(tb testing.TB) { h.f(tb) })
				if r.skipped == (ci == "true") || r.fatal != (ci == "true") {
					t.Fatalf("skipped=%v fatal=%v with CI=%q; want fatal only under CI", r.skipped, r.fatal, ci)
				}
				for _, want := range []string{h.service, h.env, "127.0.0.1:1"} {
					if !strings.Contains(r.msg, want) {
						t.Errorf("message %q does not mention %q", r.msg, want)
					}
				}
				if strings.Contains(r.msg, "s3cret") {
					t.Errorf("message %q shows the password", r.msg)
				}
			})
		}
	}
}

func TestPostgresURL(t *testing.T) {
	var schema string
	t.Run("fresh schema", func(t *testing.T) {
		dsn := PostgresURL(t)
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		schema = u.Query().Get("search_path")
		if !strings.HasPrefix(schema, "kgtest_") {
			t.Fatalf("search_path = %q, want a kgtest_ schema", schema)
		}
		db := open(t, dsn)
		ctx := context.Background()
		var current string
		if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&current); err != nil {
			t.Fatal(err)
		}
		if current != schema {
			t.Errorf("current_schema() = %q, want %q", current, schema)
		}
		var tables int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1", schema).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("new schema holds %d tables, want none", tables)
		}
		// An unqualified table lands in the test's schema.
		if _, err := db.ExecContext(ctx, "CREATE TABLE probe (x int)"); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'probe'", schema).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 1 {
			t.Errorf("table probe is not in schema %s", schema)
		}
		if other := PostgresURL(t); other == dsn {
			t.Errorf("two calls gave the same DSN %q", dsn)
		}
	})
	if t.Skipped() || schema == "" {
		return
	}
	t.Run("dropped at cleanup", func(t *testing.T) {
		db := open(t, PostgresURL(t))
		var n int
		if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = $1", schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("schema %s still exists after its test ended", schema)
		}
	})
}

func TestRedisURL(t *testing.T) {
	u := RedisURL(t)
	if !strings.HasPrefix(u, "redis://") {
		t.Errorf("RedisURL = %q, want a redis:// URL", u)
	}
}

func TestWithSearchPath(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "postgres://postgres@127.0.0.1:5432/test?search_path=s1&sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db?search_path=s1"},
		{"host=127.0.0.1 user=postgres dbname=test", "host=127.0.0.1 user=postgres dbname=test search_path=s1"},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			if got := withSearchPath(tc.dsn, "s1"); got != tc.want {
				t.Errorf("withSearchPath = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResp(t *testing.T) {
	if got, want := resp("AUTH", "pw"), "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"; got != want {
		t.Errorf("resp = %q, want %q", got, want)
	}
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
