package sqldb_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

func TestCheckKeyedQuery(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  []string // words of each problem; none: accepted
	}{
		{"SELECT a FROM t WHERE a IN ({keys})", nil},
		{"select a from t where a in({keys}) order by a", nil},
		{"SELECT a FROM t WHERE a = ANY ( {keys} )", nil},
		{"WITH x AS (SELECT a FROM t) SELECT a FROM x WHERE a IN ({keys})", nil},
		// Strings and quoted names hold anything, {keys} included, as text.
		{`SELECT "update", 'it''s; -- /* {keys} $1 ? :x [' AS s FROM "my;table" WHERE "a""b" IN ({keys})`, nil},
		{"SELECT a::text, b FROM t WHERE a::text IN ({keys})", nil},
		{"SELECT förnamn, 1.5e3 FROM elev WHERE personnummer IN ({keys})", nil},
		{"SELECT SUBSTRING(a FROM 1 FOR 4) FROM t WHERE a IN ({keys})", nil},
		{"SELECT a FROM t WHERE a IN ({keys}) AND b NOT IN ('x')", nil},

		{"", []string{"is empty"}},
		{"SELECT a FROM t", []string{"{keys} is missing"}},
		{"SELECT a FROM t WHERE a = {keys}", []string{"IN ({keys})"}},
		{"SELECT a FROM t WHERE a IN ({keys}, 'x')", []string{"IN ({keys})"}},
		{"SELECT a FROM t WHERE f({keys})", []string{"IN ({keys})"}},
		{"SELECT a FROM t WHERE a IN ({keys}) OR b IN ({keys})", []string{"appears 2 times"}},
		{"SELECT a FROM t WHERE a IN ({keys});", []string{"';'"}},
		{"SELECT a FROM t WHERE a IN ({keys}); DROP TABLE t", []string{"';'"}},
		{"SELECT a FROM t WHERE a IN ({keys}) -- ; DROP TABLE t", []string{"comments"}},
		{"SELECT a FROM t /* ; */ WHERE a IN ({keys})", []string{"comments"}},
		{"SELECT a FROM t WHERE a IN ({keys}) /* unclosed", []string{"comments"}},
		{"SELECT a FROM t WHERE a IN ({keys}) AND b = 'x", []string{"string literal is not closed"}},
		{`SELECT "a FROM t WHERE a IN ({keys})`, []string{"quoted name is not closed", "{keys} is missing"}},
		{`SELECT a FROM t WHERE a IN ({keys}) AND b <> E'\'' ; DELETE FROM t; --'`, []string{"backslash"}},
		{`SELECT a FROM t WHERE a IN ({keys}) AND b = $$x$$`, []string{"'$'"}},
		{"SELECT a FROM t WHERE a IN ({keys}) AND b = $1", []string{"'$'"}},
		{"SELECT a FROM t WHERE a IN ({keys}) AND b = ?", []string{"'?'"}},
		{"SELECT a FROM t WHERE a IN ({keys}) AND b = :b", []string{`":b"`}},
		{"SELECT [a] FROM t WHERE a IN ({keys})", []string{"'['", "']'"}},
		{"SELECT `a` FROM t WHERE a IN ({keys})", []string{"'`'"}},
		{"SELECT a FROM t WHERE a IN ({key})", []string{"unknown placeholder {key}", "{keys} is missing"}},
		{"UPDATE t SET a = 1 WHERE a IN ({keys})", []string{"starts with UPDATE", "UPDATE: the query may only read"}},
		{"DELETE FROM t WHERE a IN ({keys})", []string{"starts with DELETE", "DELETE: the query may only read"}},
		{"EXPLAIN ANALYZE SELECT a FROM t WHERE a IN ({keys})", []string{"starts with EXPLAIN"}},
		{"(SELECT a FROM t WHERE a IN ({keys}))", []string{`starts with "("`}},
		{"WITH d AS (DELETE FROM t RETURNING a) SELECT a FROM d WHERE a IN ({keys})", []string{"DELETE", "RETURNING"}},
		{"WITH x AS (SELECT 1) INSERT INTO t SELECT a FROM t WHERE a IN ({keys})", []string{"INSERT", "INTO"}},
		{"SELECT a INTO u FROM t WHERE a IN ({keys})", []string{"INTO"}},
		{"SELECT a FROM t WHERE a IN ({keys}) FOR UPDATE", []string{"UPDATE", "FOR UPDATE"}},
		{"SELECT a FROM t WHERE a IN ({keys}) FOR KEY SHARE", []string{"FOR KEY"}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			errs := sqldb.CheckKeyedQuery(tc.query)
			if len(tc.want) == 0 {
				for _, err := range errs {
					t.Errorf("refused: %v", err)
				}
				return
			}
			all := errors.Join(errs...)
			if all == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(all.Error(), w) {
					t.Errorf("no problem says %q:\n%v", w, all)
				}
			}
		})
	}
}

// TestStoreCountsEveryQuery checks the store's options on its own queries,
// which the declared ones share: the system's name, the Recorder, the
// metrics and the failure log.
func TestStoreCountsEveryQuery(t *testing.T) {
	ctx := context.Background()
	stats := sim.NewStats()
	reg := prometheus.NewRegistry()
	var log bytes.Buffer
	s, err := sqldb.Open(ctx, sqldb.Options{
		DSN: filepath.Join(t.TempDir(), "skola.db"), Recorder: stats, System: "skolan",
		Metrics: upstream.NewMetrics(reg), Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if s.System() != "skolan" {
		t.Errorf("System() = %q", s.System())
	}
	if _, err := s.DietsByPerson(upstream.WithRequestID(ctx, "r1"), []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if c := stats.Request("r1")["skolan"][sqldb.OpDietsByPerson]; c.Calls != 1 || c.Keys != 2 {
		t.Errorf("recorded %v for request r1, want 1 call of 2 keys under skolan", stats.Request("r1"))
	}
	s.Close()
	_, err = s.DietsByPerson(ctx, []string{"a"})
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Source != "skolan" || ue.Kind != upstream.Unavailable {
		t.Fatalf("closed store: %v, want an Unavailable error of skolan", err)
	}
	counter := func(outcome string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if mf.GetName() == "kommungraf_upstream_calls_total" && labels["source"] == "skolan" &&
					labels["operation"] == sqldb.OpDietsByPerson && labels["outcome"] == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	if ok, failed := counter("ok"), counter("upstream_unavailable"); ok != 1 || failed != 1 {
		t.Errorf("metrics: %v ok, %v unavailable; want 1 and 1", ok, failed)
	}
	if l := log.String(); !strings.Contains(l, "sql query failed") || !strings.Contains(l, "source=skolan") ||
		!strings.Contains(l, "operation="+sqldb.OpDietsByPerson) || !strings.Contains(l, "database is closed") {
		t.Errorf("the failure's detail is not in the log:\n%s", l)
	}
}
