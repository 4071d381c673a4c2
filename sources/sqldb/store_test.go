package sqldb_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/testenv"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// backends are the two databases the same suite runs against. dsn returns a
// fresh, empty database on each call.
var backends = []struct {
	driver string
	dsn    func(t *testing.T) string
}{
	{sqldb.DriverSQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "skola.db") }},
	{sqldb.DriverPostgres, func(t *testing.T) string { return testenv.PostgresURL(t) }},
}

func TestStore(t *testing.T) {
	for _, b := range backends {
		t.Run(b.driver, func(t *testing.T) {
			testStore(t, b.driver, b.dsn)
		})
	}
}

// world is the small synthetic world every suite run checks against.
var world = sync.OnceValue(func() *sim.World { return sim.NewWorld(sim.WorldOptions{Seed: 7, People: 2000}) })

// expected is the world's school data arranged the way the store answers.
type expected struct {
	byUnit   map[string][]*model.Placement // id order
	byPerson map[string][]*model.Placement // id order
	diets    map[string][]string           // sorted
	absences map[string][]model.Absence    // by date, hours, reported
	children []string                      // everyone with a placement, sorted
}

func expect(w *sim.World) *expected {
	e := &expected{
		byUnit: map[string][]*model.Placement{}, byPerson: map[string][]*model.Placement{},
		diets: map[string][]string{}, absences: map[string][]model.Absence{},
	}
	for _, p := range w.Placements {
		e.byUnit[p.SchoolUnitCode] = append(e.byUnit[p.SchoolUnitCode], p)
		e.byPerson[p.PersonalNumber] = append(e.byPerson[p.PersonalNumber], p)
	}
	byID := func(a, b *model.Placement) int { return cmp.Compare(a.ID, b.ID) }
	for _, ps := range e.byUnit {
		slices.SortFunc(ps, byID)
	}
	for pnr, ps := range e.byPerson {
		slices.SortFunc(ps, byID)
		e.children = append(e.children, pnr)
	}
	slices.Sort(e.children)
	for pnr, ds := range w.Diets {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		e.diets[pnr] = slices.Compact(ds)
	}
	for _, a := range w.Absences {
		e.absences[a.PersonalNumber] = append(e.absences[a.PersonalNumber], a.Absence)
	}
	for _, as := range e.absences {
		slices.SortFunc(as, func(a, b model.Absence) int {
			if c := a.Date.Compare(b.Date); c != 0 {
				return c
			}
			if c := cmp.Compare(a.Hours, b.Hours); c != 0 {
				return c
			}
			return cmp.Compare(fmt.Sprint(a.Reported), fmt.Sprint(b.Reported)) // false < true, as in SQL
		})
	}
	return e
}

func openStore(t *testing.T, opts sqldb.Options) *sqldb.Store {
	t.Helper()
	s, err := sqldb.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", opts.Driver, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testStore is the suite both drivers must pass.
func testStore(t *testing.T, driver string, newDSN func(*testing.T) string) {
	ctx := context.Background()
	w := world()
	e := expect(w)
	dsn := newDSN(t)
	stats := sim.NewStats()
	s := openStore(t, sqldb.Options{Driver: driver, DSN: dsn, Recorder: stats})
	if s.Driver() != driver {
		t.Errorf("Driver() = %q, want %q", s.Driver(), driver)
	}
	if err := sim.SeedSchoolDB(ctx, s, w); err != nil {
		t.Fatalf("SeedSchoolDB: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	units := len(w.SchoolUnits)
	if units < 5 {
		t.Fatalf("the world has %d school units; the paging cases need at least 5", units)
	}

	t.Run("placement facts", func(t *testing.T) {
		// The placements in force on a day: started on or before it, not
		// ended before it. A placement that starts later is not counted.
		for _, asOf := range []time.Time{
			time.Date(2024, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
			time.Now().UTC().Truncate(24 * time.Hour),
		} {
			day := asOf.Format(time.DateOnly)
			want, later := map[string]int{}, 0
			for _, p := range w.Placements {
				started := p.StartDate.Format(time.DateOnly) <= day
				if started && (p.EndDate == nil || p.EndDate.Format(time.DateOnly) >= day) {
					want[p.SchoolUnitCode+"/"+p.PersonalNumber[:4]]++
				}
				if !started {
					later++
				}
			}
			facts, err := s.PlacementFacts(ctx, asOf)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, f := range facts {
				got[f.SchoolUnitCode+"/"+f.BirthYear]++
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("as of %s (%d placements start later):\n got %v\nwant %v", day, later, got, want)
			}
		}
	})

	t.Run("schema constraints", func(t *testing.T) {
		for _, tc := range []struct{ name, stmt string }{
			{"foreign key", `INSERT INTO placering (id, personnummer, skolenhetskod, grupp, startdatum)
				VALUES (999999, '191212121212', '00000000', 'X', '2026-01-01')`},
			{"not null", `INSERT INTO skolenhet (skolenhetskod, namn, skolform) VALUES ('00000001', 'X', 'FORSKOLA')`},
			{"school form", `INSERT INTO skolenhet (skolenhetskod, namn, skolform, fastighet_objektidentitet)
				VALUES ('00000001', 'X', 'UNIVERSITET', 'x')`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := s.DB().ExecContext(ctx, tc.stmt); err == nil {
					t.Error("the database accepted a row the schema forbids")
				}
			})
		}
		if driver != sqldb.DriverSQLite {
			return
		}
		for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000"} {
			var got string
			if err := s.DB().QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
				t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
			}
		}
	})

	t.Run("SchoolUnits", func(t *testing.T) {
		for _, tc := range []struct {
			name          string
			offset, limit int
			lo, hi        int // expected slice of w.SchoolUnits
		}{
			{"first page", 0, 3, 0, 3},
			{"second page", 3, 2, 3, 5},
			{"last partial page", units - 2, 10, units - 2, units},
			{"everything", 0, units + 10, 0, units},
			{"just past the end", units, 5, units, units},
			{"far past the end", units + 1000, 5, units, units},
			{"count only", 0, 0, 0, 0},
			{"negative offset", -4, 2, 0, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stats.Reset()
				got, total, err := s.SchoolUnits(ctx, tc.offset, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if total != units {
					t.Errorf("total = %d, want %d", total, units)
				}
				want := w.SchoolUnits[tc.lo:tc.hi]
				if g, w := fmtUnits(got), fmtUnits(want); !slices.Equal(g, w) {
					t.Errorf("page =\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
				}
				checkOneQuery(t, stats, sqldb.OpSchoolUnits, 0)
			})
		}
	})

	t.Run("SchoolUnits empty table", func(t *testing.T) {
		empty := openStore(t, sqldb.Options{Driver: driver, DSN: newDSN(t)})
		if err := empty.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for _, offset := range []int{0, 10} {
			got, total, err := empty.SchoolUnits(ctx, offset, 10)
			if err != nil || len(got) != 0 || total != 0 {
				t.Errorf("SchoolUnits(%d, 10) = %d units, total %d, %v; want none, 0, nil", offset, len(got), total, err)
			}
		}
	})

	t.Run("SchoolUnitsByCode", func(t *testing.T) {
		u0, u1, u2 := w.SchoolUnits[0], w.SchoolUnits[1], w.SchoolUnits[units-1]
		for _, tc := range []struct {
			name  string
			codes []string
			want  []*model.SchoolUnit
		}{
			{"none", nil, nil},
			{"one", []string{u1.Code}, []*model.SchoolUnit{u1}},
			{"several with unknown and repeated", []string{u2.Code, "00000000", u0.Code, "unknown", u2.Code, u1.Code},
				[]*model.SchoolUnit{u0, u1, u2}},
			{"only unknown", []string{"00000000", ""}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stats.Reset()
				got, err := s.SchoolUnitsByCode(ctx, tc.codes)
				if err != nil {
					t.Fatal(err)
				}
				if got == nil {
					t.Fatal("nil map")
				}
				if len(got) != len(tc.want) {
					t.Errorf("got %d units, want %d", len(got), len(tc.want))
				}
				for _, u := range tc.want {
					if g, w := fmtUnits([]*model.SchoolUnit{got[u.Code]}), fmtUnits([]*model.SchoolUnit{u}); !slices.Equal(g, w) {
						t.Errorf("unit %s = %v, want %v", u.Code, g, w)
					}
				}
				if len(tc.codes) == 0 {
					if snap := stats.Snapshot(); len(snap) != 0 {
						t.Errorf("no codes, yet recorded %v", snap)
					}
					return
				}
				checkOneQuery(t, stats, sqldb.OpSchoolUnitsByCode, distinctCount(tc.codes))
			})
		}
	})

	t.Run("PlacementsByUnit", func(t *testing.T) {
		var codes []string
		for _, u := range w.SchoolUnits {
			codes = append(codes, u.Code)
		}
		some := []string{codes[0], codes[units/2], codes[units-1], "99999999"}
		for _, tc := range []struct {
			name          string
			codes         []string
			offset, limit int
		}{
			{"first page", some, 0, 3},
			{"middle page", some, 2, 5},
			{"whole units", some, 0, 100000},
			{"totals only", some, 0, 0},
			{"past the end", some, 100000, 10},
			{"every unit", codes, 1, 30},
			{"one unit", codes[1:2], 4, 4},
			{"negative", some, -1, -1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stats.Reset()
				got, err := s.PlacementsByUnit(ctx, tc.codes, tc.offset, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.codes) {
					t.Errorf("got %d entries for %d codes", len(got), len(tc.codes))
				}
				for _, code := range tc.codes {
					all := e.byUnit[code]
					lo := min(max(tc.offset, 0), len(all))
					hi := min(lo+max(tc.limit, 0), len(all))
					page, ok := got[code]
					if !ok {
						t.Errorf("no entry for %s", code)
						continue
					}
					if page.Total != len(all) {
						t.Errorf("%s: Total = %d, want %d", code, page.Total, len(all))
					}
					if g, w := fmtPlacements(page.Placements), fmtPlacements(all[lo:hi]); !slices.Equal(g, w) {
						t.Errorf("%s: page =\n%s\nwant\n%s", code, strings.Join(g, "\n"), strings.Join(w, "\n"))
					}
				}
				checkOneQuery(t, stats, sqldb.OpPlacementsByUnit, len(tc.codes))
			})
		}
	})

	// people mixes children with placements, grown-ups without, and unknowns.
	people := func(n int) []string {
		pnrs := slices.Clone(e.children[:min(n, len(e.children))])
		return append(pnrs, w.People[0].PersonalNumber, "191212121212", "")
	}

	t.Run("PlacementsByPerson", func(t *testing.T) {
		for _, n := range []int{1, 25, len(e.children)} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				pnrs := people(n)
				stats.Reset()
				got, err := s.PlacementsByPerson(ctx, pnrs)
				if err != nil {
					t.Fatal(err)
				}
				for _, pnr := range pnrs {
					if g, w := fmtPlacements(got[pnr]), fmtPlacements(e.byPerson[pnr]); !slices.Equal(g, w) {
						t.Errorf("%s: %v, want %v", pnr, g, w)
					}
				}
				if len(got) != min(n, len(e.children)) {
					t.Errorf("got %d people, want %d", len(got), min(n, len(e.children)))
				}
				checkOneQuery(t, stats, sqldb.OpPlacementsByPerson, len(pnrs))
			})
		}
	})

	t.Run("DietsByPerson", func(t *testing.T) {
		pnrs := people(len(e.children))
		stats.Reset()
		got, err := s.DietsByPerson(ctx, pnrs)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.diets) == 0 {
			t.Fatal("the world has no special diets to check")
		}
		if len(got) != len(e.diets) {
			t.Errorf("got diets for %d people, want %d", len(got), len(e.diets))
		}
		for pnr, want := range e.diets {
			if !slices.Equal(got[pnr], want) {
				t.Errorf("%s: %v, want %v", pnr, got[pnr], want)
			}
		}
		checkOneQuery(t, stats, sqldb.OpDietsByPerson, len(pnrs))
	})

	t.Run("AbsencesByPerson", func(t *testing.T) {
		pnrs := people(len(e.children))
		stats.Reset()
		got, err := s.AbsencesByPerson(ctx, pnrs)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(e.absences) {
			t.Errorf("got absences for %d people, want %d", len(got), len(e.absences))
		}
		for pnr, want := range e.absences {
			if g, w := fmtAbsences(got[pnr]), fmtAbsences(want); !slices.Equal(g, w) {
				t.Errorf("%s: %v, want %v", pnr, g, w)
			}
		}
		checkOneQuery(t, stats, sqldb.OpAbsencesByPerson, len(pnrs))
	})

	t.Run("empty key lists do not query", func(t *testing.T) {
		stats.Reset()
		for _, keys := range [][]string{nil, {}} {
			for name, call := range batchCalls(s, keys) {
				n, err := call(ctx)
				if err != nil || n != 0 {
					t.Errorf("%s(%v) = %d entries, %v; want an empty map", name, keys, n, err)
				}
			}
		}
		if snap := stats.Snapshot(); len(snap) != 0 {
			t.Errorf("queries recorded: %v", snap)
		}
	})

	t.Run("batch beyond SQLite's parameter limit", func(t *testing.T) {
		codes := make([]string, 40000)
		for i := range codes {
			codes[i] = fmt.Sprintf("%08d", i)
		}
		stats.Reset()
		got, err := s.SchoolUnitsByCode(ctx, codes)
		if driver == sqldb.DriverPostgres {
			// One text[] parameter, whatever the number of keys.
			if err != nil {
				t.Fatal(err)
			}
			checkOneQuery(t, stats, sqldb.OpSchoolUnitsByCode, len(codes))
			if len(got) != 0 {
				t.Errorf("found %d units among made-up codes", len(got))
			}
			return
		}
		var ue *upstream.Error
		if !errors.As(err, &ue) || ue.Kind != upstream.Rejected {
			t.Fatalf("error %v, want an upstream error of kind Rejected", err)
		}
		if snap := stats.Snapshot(); len(snap) != 0 {
			t.Errorf("a query that was never sent was recorded: %v", snap)
		}
	})

	t.Run("hostile input is inert", func(t *testing.T) {
		hostile := []string{
			"'; DROP TABLE skolenhet; --",
			"1 OR 1=1",
			"x' OR '1'='1",
			`"); DELETE FROM placering; --`,
			"?", "$1",
		}
		for name, call := range batchCalls(s, hostile) {
			t.Run(name, func(t *testing.T) {
				n, err := call(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if name == sqldb.OpPlacementsByUnit {
					got, _ := s.PlacementsByUnit(ctx, hostile, 0, 10)
					for code, page := range got {
						if len(page.Placements) != 0 || page.Total != 0 {
							t.Errorf("%q: %d placements, total %d; want an empty page", code, len(page.Placements), page.Total)
						}
					}
					return
				}
				if n != 0 {
					t.Errorf("%d entries, want none", n)
				}
			})
		}
		if _, total, err := s.SchoolUnits(ctx, 0, 1); err != nil || total != units {
			t.Errorf("after hostile input: SchoolUnits total %d, %v; want %d", total, err, units)
		}
		var n int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM placering").Scan(&n); err != nil || n != len(w.Placements) {
			t.Errorf("after hostile input: %d placements, %v; want %d", n, err, len(w.Placements))
		}
	})

	t.Run("concurrent batches", func(t *testing.T) {
		// Every batch answers in full, however they interleave. The
		// production 2 s bound per query is the timeout subtests'
		// concern: 40 SQLite batches under -race on a loaded CI machine
		// can queue past it, so this store waits longer.
		roomy := openStore(t, sqldb.Options{Driver: driver, DSN: dsn, QueryTimeout: time.Minute})
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Go(func() {
				pnrs := e.children[i*7%len(e.children):]
				pnrs = pnrs[:min(len(pnrs), 50)]
				got, err := roomy.PlacementsByPerson(ctx, pnrs)
				if err == nil && len(got) != len(pnrs) {
					err = fmt.Errorf("%d of %d children found", len(got), len(pnrs))
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
	})

	t.Run("timeout", func(t *testing.T) {
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		tiny := openStore(t, sqldb.Options{Driver: driver, DSN: dsn, QueryTimeout: time.Nanosecond})
		for _, tc := range []struct {
			name  string
			store *sqldb.Store
			ctx   context.Context
		}{
			{"cancelled context", s, cancelled},
			{"tiny QueryTimeout", tiny, ctx},
		} {
			for name, call := range allCalls(tc.store, e.children[:3]) {
				t.Run(tc.name+"/"+name, func(t *testing.T) {
					_, err := call(tc.ctx)
					checkUpstreamError(t, err, upstream.Timeout, name)
				})
			}
		}
	})

	if driver == sqldb.DriverPostgres {
		t.Run("timeout while blocked", func(t *testing.T) {
			// A transaction holding an exclusive lock makes the query wait
			// inside the server until the store's timeout cancels it.
			tx, err := s.DB().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, "LOCK TABLE placering IN ACCESS EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
			short := openStore(t, sqldb.Options{Driver: driver, DSN: dsn, QueryTimeout: 200 * time.Millisecond})
			_, err = short.PlacementsByPerson(ctx, e.children[:3])
			checkUpstreamError(t, err, upstream.Timeout, sqldb.OpPlacementsByPerson)
		})
	}

	t.Run("closed database", func(t *testing.T) {
		closed := openStore(t, sqldb.Options{Driver: driver, DSN: dsn})
		if err := closed.Close(); err != nil {
			t.Fatal(err)
		}
		calls := allCalls(closed, e.children[:3])
		// Migrate is not bound by the query timeout, but fails the same way.
		calls["migrate"] = func(ctx context.Context) (int, error) { return 0, closed.Migrate(ctx) }
		for name, call := range calls {
			t.Run(name, func(t *testing.T) {
				_, err := call(ctx)
				checkUpstreamError(t, err, upstream.Unavailable, name)
			})
		}
	})
}

// batchCalls are the keyed queries, each reduced to "how many entries".
func batchCalls(s *sqldb.Store, keys []string) map[string]func(context.Context) (int, error) {
	return map[string]func(context.Context) (int, error){
		sqldb.OpSchoolUnitsByCode: func(ctx context.Context) (int, error) {
			m, err := s.SchoolUnitsByCode(ctx, keys)
			return len(m), err
		},
		sqldb.OpPlacementsByUnit: func(ctx context.Context) (int, error) {
			m, err := s.PlacementsByUnit(ctx, keys, 0, 10)
			return len(m), err
		},
		sqldb.OpPlacementsByPerson: func(ctx context.Context) (int, error) {
			m, err := s.PlacementsByPerson(ctx, keys)
			return len(m), err
		},
		sqldb.OpDietsByPerson: func(ctx context.Context) (int, error) {
			m, err := s.DietsByPerson(ctx, keys)
			return len(m), err
		},
		sqldb.OpAbsencesByPerson: func(ctx context.Context) (int, error) {
			m, err := s.AbsencesByPerson(ctx, keys)
			return len(m), err
		},
	}
}

// allCalls adds the unkeyed calls to batchCalls.
func allCalls(s *sqldb.Store, keys []string) map[string]func(context.Context) (int, error) {
	calls := batchCalls(s, keys)
	calls[sqldb.OpSchoolUnits] = func(ctx context.Context) (int, error) {
		u, _, err := s.SchoolUnits(ctx, 0, 10)
		return len(u), err
	}
	calls["ping"] = func(ctx context.Context) (int, error) { return 0, s.Ping(ctx) }
	return calls
}

// checkUpstreamError wants an *upstream.Error of the kind, naming the
// operation, whose public text tells nothing of SQL or the driver.
func checkUpstreamError(t *testing.T, err error, kind upstream.Kind, op string) {
	t.Helper()
	var ue *upstream.Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T), want *upstream.Error", err, err)
	}
	if ue.Kind != kind {
		t.Errorf("Kind = %s, want %s (%v)", ue.Kind.Code(), kind.Code(), err)
	}
	if ue.Source != sqldb.System || ue.Operation != op {
		t.Errorf("Source/Operation = %s/%s, want %s/%s", ue.Source, ue.Operation, sqldb.System, op)
	}
	pub := strings.ToLower(ue.Public())
	for _, leak := range []string{"select", "from", "where", "skolenhet ", "placering", "franvaro", "specialkost", "sqlite", "pgx", "postgres", "sql:", "context", "dial"} {
		if strings.Contains(pub, leak) {
			t.Errorf("Public() %q contains %q", ue.Public(), leak)
		}
	}
	if ue.Err == nil {
		t.Error("Err is nil: logs would not say why")
	}
}

func checkOneQuery(t *testing.T, stats *sim.Stats, op string, keys int) {
	t.Helper()
	snap := stats.Snapshot()
	if len(snap) != 1 || len(snap[sqldb.System]) != 1 {
		t.Fatalf("recorded %v, want one %s query", snap, op)
	}
	c := snap[sqldb.System][op]
	if c.Calls != 1 || c.Keys != int64(keys) {
		t.Errorf("%s recorded %d calls for %d keys, want 1 call for %d keys", op, c.Calls, c.Keys, keys)
	}
}

func distinctCount(keys []string) int {
	k := slices.Clone(keys)
	slices.Sort(k)
	return len(slices.Compact(k))
}

func fmtUnits(us []*model.SchoolUnit) []string {
	var out []string
	for _, u := range us {
		if u == nil {
			out = append(out, "<nil>")
			continue
		}
		out = append(out, fmt.Sprintf("%s|%s|%s|%s", u.Code, u.Name, u.SchoolForm, u.PropertyObjectID))
	}
	return out
}

func fmtPlacements(ps []*model.Placement) []string {
	var out []string
	for _, p := range ps {
		end, hours := "-", "-"
		if p.EndDate != nil {
			end = fmtDate(*p.EndDate)
		}
		if p.HoursPerWeek != nil {
			hours = fmt.Sprint(*p.HoursPerWeek)
		}
		out = append(out, fmt.Sprintf("%d|%s|%s|%s|%s|%s|%s", p.ID, p.PersonalNumber, p.SchoolUnitCode, p.Group, fmtDate(p.StartDate), end, hours))
	}
	return out
}

func fmtAbsences(as []model.Absence) []string {
	var out []string
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s|%v|%v", fmtDate(a.Date), a.Hours, a.Reported))
	}
	return out
}

// fmtDate shows the whole time, so a stray time of day or zone shows up.
func fmtDate(t time.Time) string { return t.Format(time.RFC3339Nano) + "/" + t.Location().String() }
