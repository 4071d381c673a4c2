package connect_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kommungraf/kommungraf/sources/connect"
	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/testenv"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// sqlWorld is the synthetic school database the SQL connector's tests read.
var sqlWorld = sync.OnceValue(func() *sim.World { return sim.NewWorld(sim.WorldOptions{Seed: 11, People: 600}) })

// sqlDrivers are the two databases every SQL test runs on.
var sqlDrivers = []string{sqldb.DriverSQLite, sqldb.DriverPostgres}

// sqlDB is one seeded database with the store's counters attached.
type sqlDB struct {
	driver   string
	dsn      string
	store    *sqldb.Store
	stats    *sim.Stats
	log      *syncBuffer
	registry *prometheus.Registry
	metrics  *upstream.Metrics
}

// openSQL opens a fresh database of driver (PostgreSQL: a schema of the
// test server, skipped without one unless CI=true) seeded with sqlWorld.
func openSQL(t *testing.T, driver string) *sqlDB {
	t.Helper()
	db := &sqlDB{driver: driver, stats: sim.NewStats(), log: &syncBuffer{}, registry: prometheus.NewRegistry()}
	db.metrics = upstream.NewMetrics(db.registry)
	if driver == sqldb.DriverPostgres {
		db.dsn = testenv.PostgresURL(t)
	} else {
		db.dsn = filepath.Join(t.TempDir(), "skola.db")
	}
	db.store = db.open(t, 0)
	if err := sim.SeedSchoolDB(t.Context(), db.store, sqlWorld()); err != nil {
		t.Fatalf("seeding: %v", err)
	}
	return db
}

// open opens another store on the same database (timeout 0: the default),
// counted, timed and logged like the first.
func (db *sqlDB) open(t *testing.T, timeout time.Duration) *sqldb.Store {
	t.Helper()
	opts := sqldb.Options{
		Driver: db.driver, DSN: db.dsn, QueryTimeout: timeout, Recorder: db.stats,
		Logger: slog.New(slog.NewTextHandler(db.log, nil)), Metrics: db.metrics,
	}
	s, err := sqldb.Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", db.driver, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// calls returns the metric kommungraf_upstream_calls_total of op by outcome.
func (db *sqlDB) calls(t *testing.T, op string) map[string]float64 {
	t.Helper()
	mfs, err := db.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "kommungraf_upstream_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] == sqldb.System && labels["operation"] == op {
				out[labels["outcome"]] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func newSQL(t *testing.T, store *sqldb.Store, resource string, decl connect.SQLQuery, fields map[string]string) *connect.SQL {
	t.Helper()
	c, err := connect.NewSQL(t.Context(), store, resource, decl, fields)
	if err != nil {
		t.Fatalf("NewSQL: %v", err)
	}
	return c
}

// keysForms are the two ways of writing {keys}; ANY is PostgreSQL's only.
func keysForms(driver string) []string {
	if driver == sqldb.DriverPostgres {
		return []string{"IN ({keys})", "= ANY({keys})"}
	}
	return []string{"IN ({keys})"}
}

// schoolKeys mixes children with and without diets, absences and
// placements, an adult, unknown and repeated keys.
func schoolKeys(w *sim.World) []string {
	var keys []string
	for _, p := range w.Placements {
		keys = append(keys, p.PersonalNumber)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	keys = append(keys, w.People[0].PersonalNumber, "191212121212", "", keys[0], keys[3])
	return keys
}

// The declared versions of the store's own keyed reads, which must answer
// exactly as the hand-written queries do.
var (
	dietsQuery = `SELECT personnummer, kost FROM specialkost
WHERE personnummer %s
ORDER BY personnummer, kost`
	absencesQuery = `SELECT personnummer, datum, timmar, anmald FROM franvaro
WHERE personnummer %s
ORDER BY personnummer, datum, timmar, anmald`
	// A join, nested fields and NULLs: a placement with its unit.
	placementsQuery = `SELECT p.personnummer, p.id, p.grupp, p.startdatum, p.slutdatum, p.timmar_per_vecka,
       s.skolenhetskod AS enhet, s.namn, s.skolform
FROM placering p JOIN skolenhet s ON s.skolenhetskod = p.skolenhetskod
WHERE p.personnummer %s
ORDER BY p.personnummer, p.id`
	placementFields = map[string]string{
		"id": "id", "group": "grupp", "startDate": "startdatum", "endDate": "slutdatum",
		"hoursPerWeek": "timmar_per_vecka", "unit.code": "enhet", "unit.name": "namn", "unit.schoolForm": "skolform",
	}
)

func TestSQLMatchesTheStore(t *testing.T) {
	w := sqlWorld()
	keys := schoolKeys(w)
	distinct := slices.Clone(keys)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	// The empty key has no rows and is never sent (sendable).
	sent := slices.DeleteFunc(slices.Clone(distinct), func(k string) bool { return k == "" })
	// answers holds each dialect's records as JSON, to compare the dialects.
	answers := map[string]map[string]string{}
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			ctx := t.Context()
			wantDiets, err := db.store.DietsByPerson(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			if len(wantDiets) == 0 {
				t.Fatal("the world has no special diets to compare")
			}
			wantAbsences, err := db.store.AbsencesByPerson(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			wantPlacements, err := db.store.PlacementsByPerson(ctx, keys)
			if err != nil {
				t.Fatal(err)
			}
			units := map[string]*model.SchoolUnit{}
			for _, u := range w.SchoolUnits {
				units[u.Code] = u
			}
			answers[driver] = map[string]string{}
			for _, form := range keysForms(driver) {
				t.Run(form, func(t *testing.T) {
					for _, tc := range []struct {
						op     string
						query  string
						fields map[string]string
						want   map[string][]connect.Record
					}{
						{"diets", dietsQuery, map[string]string{"diet": "kost"}, dietRecords(wantDiets)},
						{"absences", absencesQuery, map[string]string{"date": "datum", "hours": "timmar", "reported": "anmald"}, absenceRecords(wantAbsences)},
						{"placements", placementsQuery, placementFields, placementRecords(wantPlacements, units)},
					} {
						t.Run(tc.op, func(t *testing.T) {
							c := newSQL(t, db.store, tc.op, connect.SQLQuery{
								Query: fmt.Sprintf(tc.query, form), Key: "personnummer", MaxKeys: len(distinct),
							}, tc.fields)
							db.stats.Reset()
							id := fmt.Sprintf("req-%s-%s", tc.op, form)
							got, err := c.Fetch(upstream.WithRequestID(ctx, id), keys)
							if err != nil {
								t.Fatalf("Fetch: %v", err)
							}
							g, want := toJSON(t, got), toJSON(t, tc.want)
							if g != want {
								t.Errorf("records differ from the store's\n got: %.2000s\nwant: %.2000s", g, want)
							}
							// One query for the batch, for the request, with its keys.
							req := db.stats.Request(id)
							if c := req[sqldb.System][tc.op]; len(req) != 1 || len(req[sqldb.System]) != 1 || c.Calls != 1 || c.Keys != int64(len(sent)) {
								t.Errorf("request %s recorded %v, want one %s call of %d keys", id, req, tc.op, len(sent))
							}
							answers[driver][tc.op+" "+form] = g
						})
					}
				})
			}
			if got := db.calls(t, "diets"); got["ok"] != float64(len(keysForms(driver))) || len(got) != 1 {
				t.Errorf("metrics of diets: %v, want %d ok", got, len(keysForms(driver)))
			}
		})
	}
	lite, pg := answers[sqldb.DriverSQLite], answers[sqldb.DriverPostgres]
	if lite == nil || pg == nil {
		return
	}
	for name, a := range pg {
		name := strings.Replace(name, "= ANY({keys})", "IN ({keys})", 1)
		if b := lite[name]; a != b {
			t.Errorf("%s: PostgreSQL and SQLite answer differently\npostgres: %.1000s\n  sqlite: %.1000s", name, a, b)
		}
	}
}

// dietRecords, absenceRecords and placementRecords are the store's answers
// in the shape the declarations above give: what encoding/json would decode.
func dietRecords(m map[string][]string) map[string][]connect.Record {
	out := map[string][]connect.Record{}
	for pnr, ds := range m {
		for _, d := range ds {
			out[pnr] = append(out[pnr], connect.Record{"diet": d})
		}
	}
	return out
}

func absenceRecords(m map[string][]model.Absence) map[string][]connect.Record {
	out := map[string][]connect.Record{}
	for pnr, as := range m {
		for _, a := range as {
			out[pnr] = append(out[pnr], connect.Record{"date": a.Date.Format(time.DateOnly), "hours": a.Hours, "reported": a.Reported})
		}
	}
	return out
}

func placementRecords(m map[string][]*model.Placement, units map[string]*model.SchoolUnit) map[string][]connect.Record {
	out := map[string][]connect.Record{}
	for pnr, ps := range m {
		for _, p := range ps {
			u := units[p.SchoolUnitCode]
			r := connect.Record{
				"id": float64(p.ID), "group": p.Group, "startDate": p.StartDate.Format(time.DateOnly),
				"endDate": nil, "hoursPerWeek": nil,
				"unit": map[string]any{"code": u.Code, "name": u.Name, "schoolForm": string(u.SchoolForm)},
			}
			if p.EndDate != nil {
				r["endDate"] = p.EndDate.Format(time.DateOnly)
			}
			if p.HoursPerWeek != nil {
				r["hoursPerWeek"] = *p.HoursPerWeek
			}
			out[pnr] = append(out[pnr], r)
		}
	}
	return out
}

// toJSON writes v with sorted keys (encoding/json sorts map keys), and
// fails on a value JSON cannot carry. Both sides are compared as JSON so
// that a value's Go type matters as much as it does to the loaders.
func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("records are not JSON: %v", err)
	}
	return string(b)
}

func TestSQLValuesAreJSONKinds(t *testing.T) {
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			var pnr string
			for _, p := range sqlWorld().Placements {
				if p.HoursPerWeek != nil && p.EndDate == nil {
					pnr = p.PersonalNumber
					break
				}
			}
			if pnr == "" {
				t.Fatal("no open preschool placement in the world")
			}
			c := newSQL(t, db.store, "placements", connect.SQLQuery{Query: fmt.Sprintf(placementsQuery, "IN ({keys})"), Key: "personnummer"}, placementFields)
			got, err := c.Fetch(t.Context(), []string{pnr})
			if err != nil {
				t.Fatal(err)
			}
			r := got[pnr][0]
			for field, want := range map[string]string{"id": "json.Number", "group": "string", "startDate": "string", "endDate": "<nil>", "hoursPerWeek": "json.Number", "unit": "map[string]interface {}"} {
				if g := fmt.Sprintf("%T", r[field]); g != want {
					t.Errorf("%s is %s (%v), want %s", field, g, r[field], want)
				}
			}
			if d, _ := r["startDate"].(string); len(d) != len("2006-01-02") {
				t.Errorf("startDate %q is not YYYY-MM-DD", d)
			}
			// An expression has no declared type in SQLite: its value decides.
			c = newSQL(t, db.store, "counts", connect.SQLQuery{
				Query: `SELECT personnummer, COUNT(*) AS n, MIN(kost) AS first, COUNT(*) > 0 AS any FROM specialkost WHERE personnummer IN ({keys}) GROUP BY personnummer`,
				Key:   "personnummer",
			}, map[string]string{"n": "n", "first": "first"})
			var withDiet string
			for p := range sqlWorld().Diets {
				withDiet = p
				break
			}
			got, err = c.Fetch(t.Context(), []string{withDiet})
			if err != nil {
				t.Fatal(err)
			}
			if n, ok := got[withDiet][0]["n"].(json.Number); !ok || n < "1" || strings.ContainsAny(string(n), ".e") {
				t.Errorf("COUNT(*) = %#v, want a whole json.Number of at least 1", got[withDiet][0]["n"])
			}
			if _, ok := got[withDiet][0]["first"].(string); !ok {
				t.Errorf("MIN(kost) = %#v, want a string", got[withDiet][0]["first"])
			}
		})
	}
}

func TestSQLNestedObjectOfNullsIsNull(t *testing.T) {
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			child := sqlWorld().Placements[0].PersonalNumber
			// A LEFT JOIN that finds no diet: the diet object is null.
			c := newSQL(t, db.store, "withDiet", connect.SQLQuery{
				Query: `SELECT p.personnummer, p.grupp, k.kost FROM placering p LEFT JOIN specialkost k ON k.personnummer = p.personnummer AND k.kost = 'no such diet'
WHERE p.personnummer IN ({keys}) ORDER BY p.id`,
				Key: "personnummer",
			}, map[string]string{"group": "grupp", "diet.name": "kost", "diet.extra.name": "kost"})
			got, err := c.Fetch(t.Context(), []string{child})
			if err != nil {
				t.Fatal(err)
			}
			if len(got[child]) == 0 {
				t.Fatal("no records")
			}
			for _, r := range got[child] {
				if v, ok := r["diet"]; !ok || v != nil {
					t.Errorf("diet = %#v, want null", v)
				}
			}
		})
	}
}

func TestSQLMaxKeys(t *testing.T) {
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			decl := connect.SQLQuery{Query: fmt.Sprintf(dietsQuery, "IN ({keys})"), Key: "personnummer", MaxKeys: 3}
			c := newSQL(t, db.store, "diets", decl, map[string]string{"diet": "kost"})
			if c.MaxKeys() != 3 {
				t.Errorf("MaxKeys() = %d, want 3", c.MaxKeys())
			}
			db.stats.Reset()
			_, err := c.Fetch(t.Context(), []string{"a", "b", "c", "d"})
			var ue *upstream.Error
			if !errors.As(err, &ue) || ue.Kind != upstream.Rejected || ue.Source != sqldb.System || ue.Operation != "diets" {
				t.Fatalf("4 keys over maxKeys 3: %v, want a Rejected error of %s/diets", err, sqldb.System)
			}
			if snap := db.stats.Snapshot(); len(snap) != 0 {
				t.Errorf("a refused batch was sent: %v", snap)
			}
			// Repeats count once.
			if _, err := c.Fetch(t.Context(), []string{"a", "b", "a", "c", "b"}); err != nil {
				t.Errorf("3 distinct keys of 5: %v", err)
			}
			if n := db.stats.Calls(sqldb.System, "diets"); n != 1 {
				t.Errorf("%d queries, want 1", n)
			}
			// No keys, no query.
			db.stats.Reset()
			if got, err := c.Fetch(t.Context(), nil); err != nil || got == nil || len(got) != 0 {
				t.Errorf("no keys: %v, %v; want an empty map", got, err)
			}
			if snap := db.stats.Snapshot(); len(snap) != 0 {
				t.Errorf("no keys, yet recorded %v", snap)
			}
			decl.MaxKeys = 0
			if c := newSQL(t, db.store, "diets", decl, map[string]string{"diet": "kost"}); c.MaxKeys() != connect.DefaultSQLMaxKeys {
				t.Errorf("default MaxKeys() = %d, want %d", c.MaxKeys(), connect.DefaultSQLMaxKeys)
			}
		})
	}
}

func TestSQLHostileKeys(t *testing.T) {
	w := sqlWorld()
	var known string
	for pnr := range w.Diets {
		known = pnr
		break
	}
	hostile := []string{
		"' OR 1=1 --",
		"' OR '1'='1",
		known + "' OR '1'='1",
		"'); DELETE FROM specialkost; --",
		`"; DROP TABLE specialkost; --`,
		"%", "_", known[:6] + "%",
		"*/ OR 1=1 /*",
		"{keys}", "$1", "?", ":key", "@key",
		"Åsa Öberg-Ärlig 🙂 ﷽",
		"\x00", known + "\x00", "\x00' OR 1=1 --",
		"\xff\xfe" + known,
		strings.Repeat("A", 1<<20),
		strings.Repeat("' OR 1=1 ", 10000),
	}
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			for _, form := range keysForms(driver) {
				t.Run(form, func(t *testing.T) {
					c := newSQL(t, db.store, "diets", connect.SQLQuery{Query: fmt.Sprintf(dietsQuery, form), Key: "personnummer"}, map[string]string{"diet": "kost"})
					got, err := c.Fetch(t.Context(), append(slices.Clone(hostile), known))
					if err != nil {
						t.Fatalf("Fetch: %v", err)
					}
					if len(got) != 1 || len(got[known]) != len(w.Diets[known]) {
						t.Errorf("got records for %d keys (%d for the known one), want only the known key's %d", len(got), len(got[known]), len(w.Diets[known]))
					}
					for _, k := range hostile {
						got, err := c.Fetch(t.Context(), []string{k})
						if err != nil || len(got) != 0 {
							t.Errorf("key %.40q alone: %d records, %v; want none", k, len(got), err)
						}
					}
				})
			}
			var n int
			if err := db.store.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM specialkost").Scan(&n); err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, ds := range w.Diets {
				want += len(ds)
			}
			if n != want {
				t.Errorf("specialkost holds %d rows after the hostile keys, want %d", n, want)
			}
		})
	}
}

// sqlProblem is one problem NewSQL must report: the declaration key it is
// filed under, joined with dots, and words its message must hold.
type sqlProblem struct {
	key   string
	words []string
}

func TestSQLBadDeclarations(t *testing.T) {
	diets := fmt.Sprintf(dietsQuery, "IN ({keys})")
	fields := map[string]string{"diet": "kost"}
	cases := []struct {
		name   string
		decl   connect.SQLQuery
		fields map[string]string
		only   string // a driver the case is for; "" for both
		want   []sqlProblem
	}{
		{"unknown column in fields", connect.SQLQuery{Query: diets, Key: "personnummer"}, map[string]string{"diet": "kost", "allergy": "allergi"}, "",
			[]sqlProblem{{"fields.allergy", []string{`"allergi"`, "not in the query's result", `"kost"`}}}},
		{"key column missing", connect.SQLQuery{Query: `SELECT kost FROM specialkost WHERE personnummer IN ({keys})`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.key", []string{`"personnummer"`, "not in the query's result"}}}},
		{"key column and a field missing, both reported", connect.SQLQuery{Query: `SELECT kost FROM specialkost WHERE personnummer IN ({keys})`, Key: "pnr"}, map[string]string{"diet": "kost", "x": "y"}, "",
			[]sqlProblem{{"sql.key", []string{`"pnr"`}}, {"fields.x", []string{`"y"`}}}},
		{"a bad field name and an unknown column, both reported", connect.SQLQuery{Query: diets, Key: "personnummer", MaxKeys: -1}, map[string]string{"diet": "kost", "a-b": "kost", "allergy": "allergi"}, "",
			[]sqlProblem{{"fields.a-b", []string{"not a field name"}}, {"fields.allergy", []string{`"allergi"`}}, {"sql.maxKeys", []string{"-1"}}}},
		{"no key", connect.SQLQuery{Query: diets}, fields, "",
			[]sqlProblem{{"sql.key", []string{"required"}}}},
		{"missing {keys}", connect.SQLQuery{Query: `SELECT personnummer, kost FROM specialkost`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"{keys} is missing"}}}},
		{"{keys} twice", connect.SQLQuery{Query: `SELECT personnummer, kost FROM specialkost WHERE personnummer IN ({keys}) OR kost IN ({keys})`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"{keys} appears 2 times"}}}},
		{"{keys} as a value", connect.SQLQuery{Query: `SELECT personnummer, kost FROM specialkost WHERE personnummer = {keys}`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"IN ({keys})", "ANY({keys})"}}}},
		{"{keys} in a string stays text", connect.SQLQuery{Query: `SELECT personnummer, kost FROM specialkost WHERE kost = '{keys}'`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"{keys} is missing"}}}},
		{"two statements", connect.SQLQuery{Query: diets + "; DELETE FROM specialkost", Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"';'", "one statement"}}, {"sql.query", []string{"DELETE", "only read"}}}},
		{"a trailing semicolon", connect.SQLQuery{Query: diets + ";", Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"';'"}}}},
		{"a comment hiding a statement", connect.SQLQuery{Query: diets + " /* ; */ -- ; DROP TABLE specialkost", Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"comments are not accepted"}}}},
		{"a backslash escape hiding a statement", connect.SQLQuery{Query: `SELECT personnummer, kost FROM specialkost WHERE personnummer IN ({keys}) AND kost <> E'\'' ; DELETE FROM specialkost; --'`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"backslash"}}}},
		{"an UPDATE", connect.SQLQuery{Query: `UPDATE specialkost SET kost = 'x' WHERE personnummer IN ({keys})`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"starts with UPDATE", "only a SELECT"}}, {"sql.query", []string{"UPDATE", "only read"}}}},
		{"DDL", connect.SQLQuery{Query: `CREATE TABLE x AS SELECT personnummer, kost FROM specialkost WHERE personnummer IN ({keys})`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"starts with CREATE"}}}},
		{"a DELETE inside WITH", connect.SQLQuery{Query: `WITH d AS (DELETE FROM specialkost WHERE personnummer IN ({keys}) RETURNING personnummer, kost) SELECT personnummer, kost FROM d`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"DELETE", "only read"}}, {"sql.query", []string{"RETURNING"}}}},
		{"SELECT INTO", connect.SQLQuery{Query: `SELECT personnummer, kost INTO kopia FROM specialkost WHERE personnummer IN ({keys})`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"INTO"}}}},
		{"row locks", connect.SQLQuery{Query: diets + " FOR SHARE", Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"FOR SHARE", "locking"}}}},
		{"another parameter", connect.SQLQuery{Query: `SELECT personnummer, kost FROM specialkost WHERE personnummer IN ({keys}) AND kost = $1 OR kost = ? OR kost = :kost`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"'$'"}}, {"sql.query", []string{"'?'"}}, {"sql.query", []string{`":kost"`}}}},
		{"an unknown placeholder", connect.SQLQuery{Query: `SELECT personnummer, kost FROM specialkost WHERE personnummer IN ({key})`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"unknown placeholder {key}"}}, {"sql.query", []string{"{keys} is missing"}}}},
		{"ANY on SQLite", connect.SQLQuery{Query: fmt.Sprintf(dietsQuery, "= ANY({keys})"), Key: "personnummer"}, fields, sqldb.DriverSQLite,
			[]sqlProblem{{"sql.query", []string{"ANY({keys}) is PostgreSQL's", "IN ({keys})"}}}},
		{"@name on SQLite", connect.SQLQuery{Query: `SELECT personnummer, kost FROM specialkost WHERE personnummer IN ({keys}) AND kost <> @kost`, Key: "personnummer"}, fields, sqldb.DriverSQLite,
			[]sqlProblem{{"sql.query", []string{"'@'"}}}},
		{"unknown table", connect.SQLQuery{Query: `SELECT personnummer, kost FROM specialkosten WHERE personnummer IN ({keys})`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"refuses the query", "specialkosten"}}}},
		{"unknown column in the query", connect.SQLQuery{Query: `SELECT personnummer, kosten FROM specialkost WHERE personnummer IN ({keys})`, Key: "personnummer"}, map[string]string{"diet": "kosten"}, "",
			[]sqlProblem{{"sql.query", []string{"refuses the query", "kosten"}}}},
		{"keys against a number", connect.SQLQuery{Query: `SELECT personnummer, grupp FROM placering WHERE id IN ({keys})`, Key: "personnummer"}, map[string]string{"group": "grupp"}, sqldb.DriverPostgres,
			[]sqlProblem{{"sql.query", []string{"bound as text", "::text"}}}},
		{"a column twice", connect.SQLQuery{Query: `SELECT personnummer, kost, kost FROM specialkost WHERE personnummer IN ({keys})`, Key: "personnummer"}, fields, "",
			[]sqlProblem{{"fields.diet", []string{"2 columns named so", "AS"}}}},
		{"a binary column", connect.SQLQuery{Query: `SELECT personnummer, CAST(kost AS BLOB) AS b FROM specialkost WHERE personnummer IN ({keys})`, Key: "personnummer"}, map[string]string{"raw": "b"}, sqldb.DriverSQLite,
			[]sqlProblem{}}, // an expression has no declared type in SQLite: its bytes are read as text
		{"an array column", connect.SQLQuery{Query: `SELECT personnummer, ARRAY[kost] AS a FROM specialkost WHERE personnummer IN ({keys})`, Key: "personnummer"}, map[string]string{"diets": "a"}, sqldb.DriverPostgres,
			[]sqlProblem{{"sql.query", []string{"'['", "arrays"}}, {"sql.query", []string{"']'"}}}},
		{"an array column without brackets", connect.SQLQuery{Query: `SELECT personnummer, string_to_array(kost, ',') AS a FROM specialkost WHERE personnummer IN ({keys})`, Key: "personnummer"}, map[string]string{"diets": "a"}, sqldb.DriverPostgres,
			[]sqlProblem{{"fields.diets", []string{"is an array", "unnest"}}}},
		{"a bytea column", connect.SQLQuery{Query: `SELECT personnummer, convert_to(kost, 'UTF8') AS b FROM specialkost WHERE personnummer IN ({keys})`, Key: "personnummer"}, map[string]string{"raw": "b"}, sqldb.DriverPostgres,
			[]sqlProblem{{"fields.raw", []string{"is binary", "BYTEA"}}}},
		{"maxKeys out of range", connect.SQLQuery{Query: diets, Key: "personnummer", MaxKeys: sqldb.MaxKeyedKeys + 1}, fields, "",
			[]sqlProblem{{"sql.maxKeys", []string{"out of range"}}}},
		{"no fields", connect.SQLQuery{Query: diets, Key: "personnummer"}, nil, "",
			[]sqlProblem{{"fields", []string{"no fields"}}}},
		{"bad field names", connect.SQLQuery{Query: diets, Key: "personnummer"}, map[string]string{"diet": "kost", "diet.name": "kost", "a-b": "kost", "c": ""}, "",
			[]sqlProblem{{"fields.diet", []string{"also holds diet.name"}}, {"fields.a-b", []string{"not a field name"}}, {"fields.c", []string{"names no column"}}}},
		{"empty query", connect.SQLQuery{Key: "personnummer"}, fields, "",
			[]sqlProblem{{"sql.query", []string{"is empty"}}}},
	}
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			for _, tc := range cases {
				if tc.only != "" && tc.only != driver {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					c, err := connect.NewSQL(t.Context(), db.store, "diets", tc.decl, tc.fields)
					if len(tc.want) == 0 {
						if err != nil {
							t.Fatalf("NewSQL: %v", err)
						}
						return
					}
					if err == nil {
						t.Fatalf("NewSQL accepted the declaration (MaxKeys %d)", c.MaxKeys())
					}
					var ue *upstream.Error
					if errors.As(err, &ue) {
						t.Fatalf("a bad declaration gave an upstream error: %v", err)
					}
					checkDeclProblems(t, err, tc.want)
				})
			}
		})
	}
}

// checkDeclProblems wants each of want among err's *connect.DeclError
// problems, and no problem that want does not name.
func checkDeclProblems(t *testing.T, err error, want []sqlProblem) {
	t.Helper()
	var got []*connect.DeclError
	var walk func(error)
	walk = func(e error) {
		var de *connect.DeclError
		if errors.As(e, &de) && e == error(de) {
			got = append(got, de)
			return
		}
		switch x := e.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	if len(got) == 0 {
		t.Fatalf("error %v (%T) holds no *connect.DeclError", err, err)
	}
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if strings.Join(g.Key, ".") != w.key {
				continue
			}
			ok := true
			for _, word := range w.words {
				ok = ok && strings.Contains(g.Err.Error(), word)
			}
			if ok {
				found, used[i] = true, true
				break
			}
		}
		if !found {
			t.Errorf("no problem at %s with %q among:\n%v", w.key, w.words, err)
		}
	}
	for i, g := range got {
		if !used[i] {
			t.Errorf("unexpected problem: %v", g)
		}
	}
}

func TestSQLDatabaseFailures(t *testing.T) {
	fields := map[string]string{"diet": "kost"}
	decl := connect.SQLQuery{Query: fmt.Sprintf(dietsQuery, "IN ({keys})"), Key: "personnummer"}
	var child string
	for pnr := range sqlWorld().Diets {
		child = pnr
		break
	}
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			ctx := t.Context()

			t.Run("closed pool", func(t *testing.T) {
				closed := db.open(t, 0)
				c := newSQL(t, closed, "diets", decl, fields)
				if err := closed.Close(); err != nil {
					t.Fatal(err)
				}
				_, err := c.Fetch(ctx, []string{child})
				checkSQLFailure(t, db, err, upstream.Unavailable, "sql: database is closed")
				// Building a connector asks the database: its failure is the
				// database's, not a problem of the declaration.
				_, err = connect.NewSQL(ctx, closed, "diets", decl, fields)
				checkSQLFailure(t, db, err, upstream.Unavailable, "")
			})

			t.Run("cancelled", func(t *testing.T) {
				c := newSQL(t, db.store, "diets", decl, fields)
				cancelled, cancel := context.WithCancel(ctx)
				cancel()
				_, err := c.Fetch(cancelled, []string{child})
				checkSQLFailure(t, db, err, upstream.Timeout, "")
				past, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
				defer cancel()
				_, err = c.Fetch(past, []string{child})
				checkSQLFailure(t, db, err, upstream.Timeout, "")
			})

			t.Run("query timeout while checking", func(t *testing.T) {
				tiny := db.open(t, time.Nanosecond)
				_, err := connect.NewSQL(ctx, tiny, "diets", decl, fields)
				checkSQLFailure(t, db, err, upstream.Timeout, "")
			})

			if driver == sqldb.DriverPostgres {
				t.Run("query timeout while blocked", func(t *testing.T) {
					short := db.open(t, 300*time.Millisecond)
					c := newSQL(t, short, "diets", decl, fields)
					// A transaction holding an exclusive lock makes the query
					// wait inside the server until the store's timeout ends it.
					tx, err := db.store.DB().BeginTx(ctx, nil)
					if err != nil {
						t.Fatal(err)
					}
					defer tx.Rollback()
					if _, err := tx.ExecContext(ctx, "LOCK TABLE specialkost IN ACCESS EXCLUSIVE MODE"); err != nil {
						t.Fatal(err)
					}
					_, err = c.Fetch(ctx, []string{child})
					checkSQLFailure(t, db, err, upstream.Timeout, "")
				})
			}

			got := db.calls(t, "diets")
			if got["upstream_unavailable"] < 1 || got["upstream_timeout"] < 2 {
				t.Errorf("metrics of the failures: %v, want upstream_unavailable and upstream_timeout counted", got)
			}
		})
	}
}

// checkSQLFailure wants an *upstream.Error of kind from the store's system
// and the resource's operation, whose public text tells nothing of the SQL
// or the driver, and whose detail went to the log (containing detail, if
// given) without the query's text.
func checkSQLFailure(t *testing.T, db *sqlDB, err error, kind upstream.Kind, detail string) {
	t.Helper()
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T), want an *upstream.Error", err, err)
	}
	var de *connect.DeclError
	if errors.As(err, &de) {
		t.Errorf("a failing database reported as a declaration problem: %v", err)
	}
	if ue.Kind != kind || ue.Source != sqldb.System || ue.Operation != "diets" {
		t.Errorf("got %s/%s/%s, want %s/diets/%s (%v)", ue.Source, ue.Operation, ue.Kind.Code(), sqldb.System, kind.Code(), err)
	}
	pub := strings.ToLower(ue.Public())
	for _, leak := range []string{"select", "from", "where", "specialkost", "personnummer", "kost", "sqlite", "pgx", "postgres", "sql", "context", "closed", "{keys}"} {
		if strings.Contains(pub, leak) {
			t.Errorf("Public() %q contains %q", ue.Public(), leak)
		}
	}
	if ue.Err == nil {
		t.Error("Err is nil: the log would not say why")
	}
	if detail != "" && !strings.Contains(ue.Err.Error(), detail) {
		t.Errorf("Err %q does not hold %q", ue.Err, detail)
	}
	if detail != "" {
		logged := db.log.String()
		if !strings.Contains(logged, "sql query failed") || !strings.Contains(logged, "operation=diets") || !strings.Contains(logged, detail) {
			t.Errorf("the log does not hold the failure's detail %q:\n%s", detail, logged)
		}
		if strings.Contains(logged, "SELECT") {
			t.Errorf("the log holds the query's text:\n%s", logged)
		}
	}
}

// TestSQLReadmeExample builds the README's SQL declaration, as written
// there (a whole system: the waste pickups from a table), the way the
// gateway does (declare.Parse, CheckParts, Open), on both databases holding
// the pickups table, and answers every property's pickups in one query.
func TestSQLReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Declared SQL sources\n")
	if !ok {
		t.Fatal("README has no section Declared SQL sources")
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the section has no yaml block")
	}
	set, err := declare.Parse([]declare.File{{Name: "schema/avfall.yaml", Data: []byte(block)}})
	if err != nil {
		t.Fatalf("the README's declaration does not parse: %v\n%s", err, block)
	}
	if ps := connect.CheckParts(set); len(ps) > 0 {
		t.Fatalf("the README's declaration: %v", ps.Err())
	}
	w := sqlWorld()
	var keys []string
	for _, p := range w.Properties[:20] {
		keys = append(keys, p.ObjectID)
	}
	keys = append(keys, "00000000-0000-0000-0000-000000000000")
	want := map[string][]connect.Record{}
	for _, k := range keys {
		pickups := slices.Clone(w.PickupsOf[k])
		slices.SortFunc(pickups, func(a, b *sim.Pickup) int { return strings.Compare(a.Fraction, b.Fraction) })
		for _, pu := range pickups {
			r := connect.Record{
				"propertyId": k, "fraction": pu.Fraction, "weekday": strings.ToUpper(pu.Weekday.String()),
				"nextDate": pu.NextDate.Format(time.DateOnly), "containerLitres": json.Number(strconv.Itoa(pu.ContainerLitres)),
			}
			if party := w.PartyOf[pu.Invoice.PersonalNumber]; pu.Invoice.PersonalNumber != "" && party != "" {
				r["invoicePartyId"] = party
			}
			want[k] = append(want[k], r)
		}
	}
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			seedPickupsTable(t, db, w)
			c, err := connect.Open(t.Context(), set, set.Resource("avfall.pickups"), connect.Env{Store: db.store})
			if err != nil {
				t.Fatal(err)
			}
			db.stats.Reset()
			got, err := c.Fetch(t.Context(), keys)
			if err != nil {
				t.Fatal(err)
			}
			for _, recs := range got {
				for _, r := range recs {
					if r["invoicePartyId"] == nil {
						delete(r, "invoicePartyId") // NULL: absent and nil decode alike
					}
				}
			}
			if g, w := toJSON(t, got), toJSON(t, want); g != w {
				t.Errorf("README's declaration answers\n%.800s\nwant\n%.800s", g, w)
			}
			if n := db.stats.Calls(sqldb.System, "pickups"); n != 1 {
				t.Errorf("%d queries, want 1 for the %d keys", n, len(keys))
			}
		})
	}
}

// seedPickupsTable adds the world's waste pickups as a table of the
// database.
func seedPickupsTable(t *testing.T, db *sqlDB, w *sim.World) {
	t.Helper()
	ctx := t.Context()
	conn := db.store.DB()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE pickups (property_id TEXT NOT NULL, fraction TEXT NOT NULL,
  weekday TEXT NOT NULL, next_date DATE NOT NULL, container_litres INTEGER NOT NULL, invoice_party_id TEXT)`); err != nil {
		t.Fatal(err)
	}
	insert := `INSERT INTO pickups VALUES (?, ?, ?, ?, ?, ?)`
	if db.driver == sqldb.DriverPostgres {
		insert = `INSERT INTO pickups VALUES ($1, $2, $3, $4::date, $5, $6)`
	}
	for _, pu := range w.Pickups {
		var party any
		if p := w.PartyOf[pu.Invoice.PersonalNumber]; pu.Invoice.PersonalNumber != "" && p != "" {
			party = p
		}
		if _, err := conn.ExecContext(ctx, insert, pu.PropertyID, pu.Fraction, strings.ToUpper(pu.Weekday.String()),
			pu.NextDate.Format(time.DateOnly), pu.ContainerLitres, party); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSQLConcurrentBatches(t *testing.T) {
	w := sqlWorld()
	for _, driver := range sqlDrivers {
		t.Run(driver, func(t *testing.T) {
			db := openSQL(t, driver)
			want, err := db.store.PlacementsByPerson(t.Context(), schoolKeys(w))
			if err != nil {
				t.Fatal(err)
			}
			units := map[string]*model.SchoolUnit{}
			for _, u := range w.SchoolUnits {
				units[u.Code] = u
			}
			wantRecs := placementRecords(want, units)
			children := schoolKeys(w)
			c := newSQL(t, db.store, "placements", connect.SQLQuery{Query: fmt.Sprintf(placementsQuery, "IN ({keys})"), Key: "personnummer", MaxKeys: 50}, placementFields)
			db.stats.Reset()
			var wg sync.WaitGroup
			errs := make(chan error, 24)
			for i := range 24 {
				wg.Go(func() {
					keys := children[i*5%len(children):]
					keys = keys[:min(len(keys), 50)]
					got, err := c.Fetch(t.Context(), keys)
					if err == nil {
						// No t.Fatal off the test's goroutine: compare the
						// JSON here and report through errs.
						for _, k := range keys {
							g, _ := json.Marshal(got[k])
							w, _ := json.Marshal(wantRecs[k])
							if string(g) != string(w) {
								err = fmt.Errorf("batch %d, key %s: %s, want %s", i, k, g, w)
								break
							}
						}
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if n := db.stats.Calls(sqldb.System, "placements"); n != 24 {
				t.Errorf("%d queries for 24 batches", n)
			}
		})
	}
}
