package sqldb_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/testenv"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// TestSQLFailureLoggedAndCounted: a query PostgreSQL refuses because of its
// parameter (a personnummer that does not fit the column's type, as after a
// bad migration) is logged with its SQLSTATE or cause class and counted by
// source and kind; the log holds neither the statement nor the parameter,
// although the error's own text (for operators' debugging in-process) may.
func TestSQLFailureLoggedAndCounted(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	var log testenv.LogBuffer
	s := openStore(t, sqldb.Options{
		Driver: sqldb.DriverPostgres, DSN: testenv.PostgresURL(t),
		Metrics: upstream.NewMetrics(reg), Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `DO $$ DECLARE r record; BEGIN
		FOR r IN SELECT conname FROM pg_constraint WHERE conrelid = 'specialkost'::regclass AND contype IN ('c', 'f') LOOP
			EXECUTE 'ALTER TABLE specialkost DROP CONSTRAINT ' || quote_ident(r.conname);
		END LOOP; END $$`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `ALTER TABLE specialkost ALTER COLUMN personnummer TYPE bigint USING personnummer::bigint`); err != nil {
		t.Fatal(err)
	}
	const secret = "19121212121Z"
	_, err := s.DietsByPerson(ctx, []string{secret})
	if err == nil {
		t.Fatal("the query succeeded")
	}
	t.Logf("the error (never logged as such): %v", err)
	if _, err := s.DB().ExecContext(ctx, `DROP TABLE franvaro`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AbsencesByPerson(ctx, []string{secret}); err == nil {
		t.Fatal("the query on a dropped table succeeded")
	}

	logged := log.String()
	if n := strings.Count(logged, `msg="sql query failed"`); n != 2 {
		t.Errorf("%d failure lines, want 2:\n%s", n, logged)
	}
	for _, want := range []string{"operation=" + sqldb.OpDietsByPerson, "operation=" + sqldb.OpAbsencesByPerson, `cause="SQLSTATE 42P01"`, "source=" + sqldb.System} {
		if !strings.Contains(logged, want) {
			t.Errorf("the log lacks %q:\n%s", want, logged)
		}
	}
	for _, leak := range []string{secret, "SELECT", "select", "specialkost", "franvaro", "ANY("} {
		if strings.Contains(logged, leak) {
			t.Errorf("the log holds %q:\n%s", leak, logged)
		}
	}
	failures := counterSum(t, reg, "kommungraf_sql_failures_total", "source", sqldb.System)
	if failures != 2 {
		t.Errorf("kommungraf_sql_failures_total = %v, want 2", failures)
	}
}

// counterSum sums the samples of a counter family with the label value.
func counterSum(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
