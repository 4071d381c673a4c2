package sim

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kommungraf/kommungraf/sources/sqldb"
)

// seedSQLiteMaxVars is the most parameters modernc.org/sqlite's SQLite binds in
// one statement (SQLITE_MAX_VARIABLE_NUMBER); a multi-row INSERT holds as many
// rows as fit.
const seedSQLiteMaxVars = 32766

// SeedSchoolDB fills the school database with the world's school units,
// placements, diets and absences. It creates missing tables first, and does
// nothing more when kommungraf_seed says the database already holds this
// world (same seed, same number of people). Otherwise it empties the four
// tables and loads them in one transaction, so a reader sees either the old
// world or the new one. PostgreSQL is loaded with COPY, SQLite with multi-row
// INSERTs; 100,000 people take about a second on either.
func SeedSchoolDB(ctx context.Context, s *sqldb.Store, w *World) error {
	if err := s.Migrate(ctx); err != nil {
		return fmt.Errorf("seed school db: %w", err)
	}
	seed, people := int64(w.Seed), len(w.People) // the uint64 seed is stored bit for bit
	// The common case, an already seeded database, needs no write lock.
	if same, err := holdsWorld(ctx, s.DB(), s.Driver(), seed, people); err != nil {
		return fmt.Errorf("seed school db: %w", err)
	} else if same {
		return nil
	}
	tables := schoolTables(w, s.Driver())
	var err error
	switch s.Driver() {
	case sqldb.DriverPostgres:
		err = seedPostgres(ctx, s.DB(), tables, seed, people)
	default:
		err = seedSQLite(ctx, s.DB(), tables, seed, people)
	}
	if err != nil {
		return fmt.Errorf("seed school db (%s): %w", s.Driver(), err)
	}
	return nil
}

// seedQuerier is what holdsWorld needs of a *sql.DB or *sql.Tx.
type seedQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// holdsWorld reports whether kommungraf_seed names this world.
func holdsWorld(ctx context.Context, q seedQuerier, driver string, seed int64, people int) (bool, error) {
	text := "SELECT COUNT(*) FROM kommungraf_seed WHERE seed = ? AND people = ?"
	if driver == sqldb.DriverPostgres {
		text = "SELECT COUNT(*) FROM kommungraf_seed WHERE seed = $1 AND people = $2"
	}
	var n int
	if err := q.QueryRowContext(ctx, text, seed, people).Scan(&n); err != nil {
		return false, fmt.Errorf("read kommungraf_seed: %w", err)
	}
	return n > 0, nil
}

// seedTable is the rows of one table, produced on demand so that neither loader
// needs a copy of the world in [][]any form.
type seedTable struct {
	name string
	cols []string
	n    int
	row  func(i int) []any
}

// schoolTables lists the tables in load order (parents before children).
// Dates are written as time.Time for PostgreSQL's DATE and as 'YYYY-MM-DD'
// for SQLite, where the driver would otherwise write a full timestamp.
func schoolTables(w *World, driver string) []seedTable {
	date := func(t time.Time) any { return t.Format(time.DateOnly) }
	if driver == sqldb.DriverPostgres {
		date = func(t time.Time) any { return t }
	}
	type diet struct{ pnr, kost string }
	var diets []diet
	for _, pnr := range slices.Sorted(maps.Keys(w.Diets)) {
		ds := slices.Clone(w.Diets[pnr])
		slices.Sort(ds)
		for _, d := range slices.Compact(ds) { // (personnummer, kost) is the key
			diets = append(diets, diet{pnr, d})
		}
	}
	return []seedTable{
		{"skolenhet", []string{"skolenhetskod", "namn", "skolform", "fastighet_objektidentitet"}, len(w.SchoolUnits), func(i int) []any {
			u := w.SchoolUnits[i]
			return []any{u.Code, u.Name, string(u.SchoolForm), u.PropertyObjectID}
		}},
		{"placering", []string{"id", "personnummer", "skolenhetskod", "grupp", "startdatum", "slutdatum", "timmar_per_vecka"}, len(w.Placements), func(i int) []any {
			p := w.Placements[i]
			var end, hours any
			if p.EndDate != nil {
				end = date(*p.EndDate)
			}
			if p.HoursPerWeek != nil {
				hours = *p.HoursPerWeek
			}
			return []any{p.ID, p.PersonalNumber, p.SchoolUnitCode, p.Group, date(p.StartDate), end, hours}
		}},
		{"specialkost", []string{"personnummer", "kost"}, len(diets), func(i int) []any {
			return []any{diets[i].pnr, diets[i].kost}
		}},
		{"franvaro", []string{"personnummer", "datum", "timmar", "anmald"}, len(w.Absences), func(i int) []any {
			a := w.Absences[i]
			return []any{a.PersonalNumber, date(a.Date), a.Hours, a.Reported}
		}},
	}
}

// seedPostgres loads the tables with COPY in one pgx transaction. COPY needs
// the pgx connection under database/sql's, which Conn.Raw hands out.
// TRUNCATE is much faster than DELETE and leaves no dead rows, at the price
// that readers wait for the transaction (about a second at 100,000 people)
// instead of reading the old world meanwhile; reseeding is rare.
func seedPostgres(ctx context.Context, db *sql.DB, tables []seedTable, seed int64, people int) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("driver connection is %T, not pgx", dc)
		}
		tx, err := sc.Conn().Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		// One seeder or migration at a time: a second seeder waits here, then
		// finds the world in place.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", sqldb.AdvisoryLockKey); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM kommungraf_seed WHERE seed = $1 AND people = $2", seed, people).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, "TRUNCATE franvaro, specialkost, placering, skolenhet, kommungraf_seed"); err != nil {
			return err
		}
		for _, t := range tables {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, pgx.CopyFromSlice(t.n, func(i int) ([]any, error) {
				return t.row(i), nil
			}))
			if err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO kommungraf_seed (seed, people) VALUES ($1, $2)", seed, people); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		// Fresh statistics, so the first queries get index plans.
		_, err = sc.Conn().Exec(ctx, "ANALYZE skolenhet, placering, specialkost, franvaro")
		return err
	})
}

// seedSQLite loads the tables with multi-row INSERTs in one transaction. The
// store opens SQLite with BEGIN IMMEDIATE, so the transaction holds the write
// lock from the start and a second seeder waits (busy_timeout), then finds
// the world in place.
func seedSQLite(ctx context.Context, db *sql.DB, tables []seedTable, seed int64, people int) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreTxDone(tx.Rollback()))
		}
	}()
	same, err := holdsWorld(ctx, tx, sqldb.DriverSQLite, seed, people)
	if err != nil {
		return err
	}
	if same {
		return tx.Commit()
	}
	for _, name := range []string{"franvaro", "specialkost", "placering", "skolenhet", "kommungraf_seed"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+name); err != nil {
			return fmt.Errorf("empty %s: %w", name, err)
		}
	}
	for _, t := range tables {
		if err := insertSeedRows(ctx, tx, t); err != nil {
			return fmt.Errorf("insert %s: %w", t.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO kommungraf_seed (seed, people) VALUES (?, ?)", seed, people); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "ANALYZE")
	return err
}

func ignoreTxDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// insertSeedRows writes a table in statements of as many rows as SQLite's
// parameter limit allows; the full-size statement is prepared once.
func insertSeedRows(ctx context.Context, tx *sql.Tx, t seedTable) error {
	per := seedSQLiteMaxVars / len(t.cols)
	var stmt *sql.Stmt
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	vals := make([]any, 0, per*len(t.cols))
	for start := 0; start < t.n; start += per {
		rows := min(per, t.n-start)
		vals = vals[:0]
		for i := start; i < start+rows; i++ {
			vals = append(vals, t.row(i)...)
		}
		if rows < per {
			if _, err := tx.ExecContext(ctx, seedInsertSQL(t, rows), vals...); err != nil {
				return err
			}
			continue
		}
		if stmt == nil {
			var err error
			if stmt, err = tx.PrepareContext(ctx, seedInsertSQL(t, per)); err != nil {
				return err
			}
		}
		if _, err := stmt.ExecContext(ctx, vals...); err != nil {
			return err
		}
	}
	return nil
}

// seedInsertSQL is "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), ..." for rows rows.
func seedInsertSQL(t seedTable, rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
	var b strings.Builder
	b.Grow(len(t.name) + 64 + rows*(len(one)+2))
	b.WriteString("INSERT INTO " + t.name + " (" + strings.Join(t.cols, ", ") + ") VALUES ")
	for i := 0; i < rows; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	return b.String()
}
