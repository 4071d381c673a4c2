package sqldb_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

func TestOpenErrors(t *testing.T) {
	missingDir := filepath.Join(t.TempDir(), "no", "such", "dir", "skola.db")
	for _, tc := range []struct {
		name     string
		opts     sqldb.Options
		kind     upstream.Kind // 0: a configuration error, not an upstream one
		mentions []string
	}{
		{"unknown driver", sqldb.Options{Driver: "mysql", DSN: "x"}, 0, []string{"mysql", "sqlite", "postgres"}},
		{"sqlite without DSN", sqldb.Options{}, 0, []string{"sqlite", "DSN"}},
		{"postgres without DSN", sqldb.Options{Driver: sqldb.DriverPostgres}, 0, []string{"postgres", "DSN"}},
		{"sqlite file cannot be created", sqldb.Options{DSN: missingDir}, upstream.Unavailable, []string{"sqlite", "open"}},
		{"postgres unreachable", sqldb.Options{Driver: sqldb.DriverPostgres, DSN: "postgres://kg:s3cret@127.0.0.1:1/skola?sslmode=disable"},
			upstream.Unavailable, []string{"postgres", "127.0.0.1", "open"}},
		{"postgres bad DSN", sqldb.Options{Driver: sqldb.DriverPostgres, DSN: "postgres://kg:s3cret@127.0.0.1:99999999/skola"},
			upstream.Unavailable, []string{"postgres"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqldb.Open(context.Background(), tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			for _, want := range tc.mentions {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if strings.Contains(msg, "s3cret") {
				t.Errorf("error %q shows the password", msg)
			}
			var ue *upstream.Error
			if got := errors.As(err, &ue); got != (tc.kind != 0) {
				t.Fatalf("upstream error: %v, want %v (%v)", got, tc.kind != 0, err)
			}
			if tc.kind != 0 {
				if ue.Kind != tc.kind || ue.Source != sqldb.System || ue.Operation != "open" {
					t.Errorf("got %s/%s/%s, want %s/open/%s", ue.Source, ue.Operation, ue.Kind.Code(), sqldb.System, tc.kind.Code())
				}
				if strings.Contains(ue.Public(), "s3cret") || strings.Contains(ue.Public(), "127.0.0.1") {
					t.Errorf("Public() %q says too much", ue.Public())
				}
			}
		})
	}
}
