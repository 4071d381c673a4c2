package sim_test

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/sim"
	"github.com/kommungraf/kommungraf/sources/sqldb"
	"github.com/kommungraf/kommungraf/sources/testenv"
)

// schoolDBBackends are the two databases the seeder must fill.
var schoolDBBackends = []struct {
	driver string
	dsn    func(t *testing.T) string
}{
	{sqldb.DriverSQLite, func(t *testing.T) string { return filepath.Join(t.TempDir(), "skola.db") }},
	{sqldb.DriverPostgres, func(t *testing.T) string { return testenv.PostgresURL(t) }},
}

func openSchoolDB(t *testing.T, driver, dsn string) *sqldb.Store {
	t.Helper()
	s, err := sqldb.Open(context.Background(), sqldb.Options{Driver: driver, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rowCounts counts the rows of the seeded tables.
func rowCounts(t *testing.T, db *sql.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"skolenhet", "placering", "specialkost", "franvaro", "kommungraf_seed"} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// worldCounts is what rowCounts must say after seeding w.
func worldCounts(w *sim.World) map[string]int {
	diets := 0
	for _, ds := range w.Diets {
		seen := map[string]bool{}
		for _, d := range ds {
			if !seen[d] {
				seen[d] = true
				diets++
			}
		}
	}
	return map[string]int{
		"skolenhet": len(w.SchoolUnits), "placering": len(w.Placements), "specialkost": diets,
		"franvaro": len(w.Absences), "kommungraf_seed": 1,
	}
}

func checkCounts(t *testing.T, got, want map[string]int) {
	t.Helper()
	for table, n := range want {
		if got[table] != n {
			t.Errorf("%s holds %d rows, want %d", table, got[table], n)
		}
	}
}

func TestSchoolDBSeed(t *testing.T) {
	small := sim.NewWorld(sim.WorldOptions{Seed: 7, People: 2000})
	// A seed with the top bit set checks that the uint64 survives BIGINT.
	other := sim.NewWorld(sim.WorldOptions{Seed: math.MaxUint64 - 1, People: 1500})
	ctx := context.Background()
	for _, b := range schoolDBBackends {
		t.Run(b.driver, func(t *testing.T) {
			s := openSchoolDB(t, b.driver, b.dsn(t))
			db := s.DB()
			ph := func(i string) string { // the one placeholder difference a test needs
				if b.driver == sqldb.DriverPostgres {
					return "$" + i
				}
				return "?"
			}

			if err := sim.SeedSchoolDB(ctx, s, small); err != nil {
				t.Fatalf("first seed: %v", err)
			}
			checkCounts(t, rowCounts(t, db), worldCounts(small))

			// A row the seeder did not write shows whether a second run empties the tables.
			if _, err := db.Exec("INSERT INTO specialkost (personnummer, kost) VALUES ("+ph("1")+", "+ph("2")+")", "191212121212", "Markör"); err != nil {
				t.Fatal(err)
			}
			before := rowCounts(t, db)
			if err := sim.SeedSchoolDB(ctx, s, small); err != nil {
				t.Fatalf("second seed: %v", err)
			}
			if after := rowCounts(t, db); !equalCounts(after, before) {
				t.Errorf("second seed of the same world changed the tables: %v, before %v", after, before)
			}
			if !hasMarker(t, db, ph("1")) {
				t.Error("second seed of the same world deleted rows: it should have done nothing")
			}

			// Another world (or the same seed with another size) replaces everything.
			if err := sim.SeedSchoolDB(ctx, s, other); err != nil {
				t.Fatalf("seed another world: %v", err)
			}
			checkCounts(t, rowCounts(t, db), worldCounts(other))
			if hasMarker(t, db, ph("1")) {
				t.Error("seeding another world kept a row of the old one")
			}
			var seed int64
			var people int
			if err := db.QueryRow("SELECT seed, people FROM kommungraf_seed").Scan(&seed, &people); err != nil {
				t.Fatal(err)
			}
			if uint64(seed) != other.Seed || people != len(other.People) {
				t.Errorf("kommungraf_seed = (%d, %d), want (%d, %d)", uint64(seed), people, other.Seed, len(other.People))
			}
		})
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func hasMarker(t *testing.T, db *sql.DB, ph string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM specialkost WHERE personnummer = "+ph, "191212121212").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// TestSchoolDBConcurrentSeed starts three seeders on an empty database at once:
// one loads the world, the others wait for it and then find it in place.
func TestSchoolDBConcurrentSeed(t *testing.T) {
	w := sim.NewWorld(sim.WorldOptions{Seed: 11, People: 1000})
	for _, b := range schoolDBBackends {
		t.Run(b.driver, func(t *testing.T) {
			dsn := b.dsn(t)
			stores := []*sqldb.Store{openSchoolDB(t, b.driver, dsn), openSchoolDB(t, b.driver, dsn), openSchoolDB(t, b.driver, dsn)}
			var wg sync.WaitGroup
			errs := make([]error, len(stores))
			for i, s := range stores {
				wg.Go(func() { errs[i] = sim.SeedSchoolDB(context.Background(), s, w) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("seeder %d: %v", i, err)
				}
			}
			checkCounts(t, rowCounts(t, stores[0].DB()), worldCounts(w))
		})
	}
}

// TestSchoolDBSeed100k reports how long a city-sized world takes to load.
func TestSchoolDBSeed100k(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100,000 people; skipped with -short")
	}
	start := time.Now()
	w := sim.NewWorld(sim.WorldOptions{Seed: 1880, People: 100000})
	t.Logf("world: %d people, %d school units, %d placements, %d with special diet, %d absences (generated in %v)",
		len(w.People), len(w.SchoolUnits), len(w.Placements), len(w.Diets), len(w.Absences), time.Since(start).Round(time.Millisecond))
	for _, b := range schoolDBBackends {
		t.Run(b.driver, func(t *testing.T) {
			s := openSchoolDB(t, b.driver, b.dsn(t))
			ctx := context.Background()
			start := time.Now()
			if err := sim.SeedSchoolDB(ctx, s, w); err != nil {
				t.Fatal(err)
			}
			seeded := time.Since(start)
			start = time.Now()
			if err := sim.SeedSchoolDB(ctx, s, w); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: seeded 100k people in %v; the second, no-op call took %v",
				b.driver, seeded.Round(time.Millisecond), time.Since(start).Round(time.Microsecond))
			checkCounts(t, rowCounts(t, s.DB()), worldCounts(w))
		})
	}
}
