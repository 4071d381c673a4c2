package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kommungraf/kommungraf/sources/model"
	"github.com/kommungraf/kommungraf/sources/upstream"
)

// Operation names, as the Recorder and upstream errors report them.
const (
	OpSchoolUnits        = "schoolUnits"
	OpPlacementFacts     = "placementFacts"
	OpSchoolUnitsByCode  = "schoolUnitsByCode"
	OpPlacementsByUnit   = "placementsByUnit"
	OpPlacementsByPerson = "placementsByPerson"
	OpDietsByPerson      = "dietsByPerson"
	OpAbsencesByPerson   = "absencesByPerson"
)

// query runs one statement under the query timeout, records it, and hands each
// row to scan. keys is what the Recorder is told. Every call is counted and
// timed in the metrics, and a failure's detail (the driver's message, never
// shown to clients) is logged.
func (s *Store) query(ctx context.Context, op string, keys int, text string, a *args, scan func(*sql.Rows) error) error {
	start := time.Now()
	ctx, end := upstream.StartCall(ctx, s.system, op)
	err := s.run(ctx, op, keys, text, a, scan)
	end(err)
	s.metrics.Observe(ctx, s.system, op, err, time.Since(start))
	if err != nil {
		s.metrics.SQLFailed(s.system, err)
		// The log names the query and the cause's class, never the driver's
		// text: a PostgreSQL message can quote a parameter (a personnummer)
		// or the statement. Identical lines are sampled by the gateway's
		// logger, so a failing database costs a few lines, not one a query.
		s.log.WarnContext(ctx, "sql query failed", "source", s.system, "operation", op,
			"kind", strings.ToLower(upstream.KindOf(err).Code()), "cause", safeCause(err))
	}
	return err
}

// run is query without the metrics and the log.
func (s *Store) run(ctx context.Context, op string, keys int, text string, a *args, scan func(*sql.Rows) error) error {
	if err := a.check(); err != nil {
		// The caller's batch is too big for SQLite: no retry can mend that.
		return upstream.Permanent(&upstream.Error{Source: s.system, Operation: op, Kind: upstream.Rejected, Err: err})
	}
	if rr, ok := s.rec.(RequestRecorder); ok {
		rr.RecordRequest(upstream.RequestIDFromContext(ctx), s.system, op, keys)
	} else if s.rec != nil {
		s.rec.Record(s.system, op, keys)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, text, a.vals...)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.fail(ctx, op, &decodeError{err})
		}
	}
	if err := rows.Err(); err != nil {
		return s.fail(ctx, op, err)
	}
	if err := rows.Close(); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// SchoolUnits returns one page of school units in skolenhetskod order and the
// number of units in all.
//
// It is one query. The total is a scalar COUNT(*) the page is LEFT JOINed to,
// rather than COUNT(*) OVER () on the page rows: a window count is only seen
// on rows that exist, so a page past the end would lose the total and need a
// second query, whereas the join always yields at least the count row (with
// NULL unit columns when the page is empty). The separate COUNT(*) reads the
// table (or its primary key index) once, as the window would have done.
// A negative offset or limit counts as zero.
func (s *Store) SchoolUnits(ctx context.Context, offset, limit int) (units []*model.SchoolUnit, total int, err error) {
	return s.SchoolUnitsOfForm(ctx, "", offset, limit)
}

// SchoolUnitsOfForm is SchoolUnits of one school form (skolform); an
// empty form is every unit.
func (s *Store) SchoolUnitsOfForm(ctx context.Context, form model.SchoolForm, offset, limit int) (units []*model.SchoolUnit, total int, err error) {
	offset, limit = max(offset, 0), max(limit, 0)
	a := &args{d: s.dialect}
	where := func() string { // each use binds its own placeholder (SQLite's are positional)
		if form == "" {
			return ""
		}
		return "WHERE skolform = " + a.add(string(form))
	}
	text := `SELECT c.total, p.skolenhetskod, p.namn, p.skolform, p.fastighet_objektidentitet
FROM (SELECT COUNT(*) AS total FROM skolenhet ` + where() + `) c
LEFT JOIN (
    SELECT skolenhetskod, namn, skolform, fastighet_objektidentitet
    FROM skolenhet ` + where() + `
    ORDER BY skolenhetskod
    LIMIT ` + a.add(limit) + ` OFFSET ` + a.add(offset) + `
) p ON 1 = 1
ORDER BY p.skolenhetskod`
	err = s.query(ctx, OpSchoolUnits, 0, text, a, func(rows *sql.Rows) error {
		var code, name, form, prop sql.NullString
		if err := rows.Scan(&total, &code, &name, &form, &prop); err != nil {
			return err
		}
		if code.Valid {
			units = append(units, &model.SchoolUnit{
				Code: code.String, Name: name.String, SchoolForm: model.SchoolForm(form.String), PropertyObjectID: prop.String,
			})
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return units, total, nil
}

// PlacementFact is what the open statistics count of one placement: its
// unit, the child's birth year and the placement's start year; never the
// child.
type PlacementFact struct {
	SchoolUnitCode string
	BirthYear      string
	StartYear      string
}

// PlacementFacts returns one fact per placement in force on asOf: started
// on or before it, and not ended before it (its end date, if any, on or
// after it). A placement registered to start later is not a fact yet. The grouping and the
// suppression of small counts happen in the open statistics
// (cmd/kommungraf/internal/opendata), the only reader.
func (s *Store) PlacementFacts(ctx context.Context, asOf time.Time) ([]PlacementFact, error) {
	a := &args{d: s.dialect}
	text := `SELECT skolenhetskod, substr(personnummer, 1, 4), startdatum
FROM placering
WHERE startdatum <= ` + a.add(asOf.Format(time.DateOnly)) + `
AND (slutdatum IS NULL OR slutdatum >= ` + a.add(asOf.Format(time.DateOnly)) + `)
ORDER BY skolenhetskod`
	var out []PlacementFact
	err := s.query(ctx, OpPlacementFacts, 0, text, a, func(rows *sql.Rows) error {
		var f PlacementFact
		var start dateCol
		if err := rows.Scan(&f.SchoolUnitCode, &f.BirthYear, &start); err != nil {
			return err
		}
		if start.valid {
			f.StartYear = strconv.Itoa(start.t.Year())
		}
		out = append(out, f)
		return nil
	})
	return out, err
}

// SchoolUnitsByCode returns the units with the given codes in one query.
// Unknown codes are absent from the map.
func (s *Store) SchoolUnitsByCode(ctx context.Context, codes []string) (map[string]*model.SchoolUnit, error) {
	codes = distinct(codes)
	out := make(map[string]*model.SchoolUnit, len(codes))
	if len(codes) == 0 {
		return out, nil
	}
	a := &args{d: s.dialect}
	text := `SELECT skolenhetskod, namn, skolform, fastighet_objektidentitet
FROM skolenhet
WHERE ` + a.in("skolenhetskod", codes)
	err := s.query(ctx, OpSchoolUnitsByCode, len(codes), text, a, func(rows *sql.Rows) error {
		u := &model.SchoolUnit{}
		if err := rows.Scan(&u.Code, &u.Name, &u.SchoolForm, &u.PropertyObjectID); err != nil {
			return err
		}
		out[u.Code] = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PlacementPage is one page of a unit's placements and how many it has in all.
type PlacementPage struct {
	Placements []*model.Placement
	Total      int
}

// PlacementsByUnit returns, for each code, the placements offset+1 to
// offset+limit of that unit in id order, and the unit's total, all in one
// query. Every code gets an entry; a unit without placements (or an unknown
// code) gets an empty page with Total 0.
//
// ROW_NUMBER and COUNT over PARTITION BY skolenhetskod number and count each
// unit's placements. The row with rn = 1 is always returned too, even when it
// lies outside the page, so that the total of a unit whose page is past the
// end is still known; such a row counts only towards Total.
// A negative offset or limit counts as zero.
func (s *Store) PlacementsByUnit(ctx context.Context, codes []string, offset, limit int) (map[string]PlacementPage, error) {
	codes = distinct(codes)
	out := make(map[string]PlacementPage, len(codes))
	if len(codes) == 0 {
		return out, nil
	}
	offset, limit = max(offset, 0), max(limit, 0)
	// rn is compared with offset+limit: keep the sum from overflowing.
	const maxRow = 1<<62 - 1
	end := maxRow
	if limit < maxRow-offset {
		end = offset + limit
	}
	for _, c := range codes {
		out[c] = PlacementPage{}
	}
	a := &args{d: s.dialect}
	text := `SELECT rn, total, id, personnummer, skolenhetskod, grupp, startdatum, slutdatum, timmar_per_vecka
FROM (
    SELECT id, personnummer, skolenhetskod, grupp, startdatum, slutdatum, timmar_per_vecka,
           ROW_NUMBER() OVER (PARTITION BY skolenhetskod ORDER BY id) AS rn,
           COUNT(*) OVER (PARTITION BY skolenhetskod) AS total
    FROM placering
    WHERE ` + a.in("skolenhetskod", codes) + `
) p
WHERE rn = 1 OR (rn > ` + a.add(offset) + ` AND rn <= ` + a.add(end) + `)
ORDER BY skolenhetskod, id`
	err := s.query(ctx, OpPlacementsByUnit, len(codes), text, a, func(rows *sql.Rows) error {
		var rn, total int64
		pl, err := scanPlacement(rows, &rn, &total)
		if err != nil {
			return err
		}
		page := out[pl.SchoolUnitCode]
		page.Total = int(total)
		if rn > int64(offset) && rn <= int64(end) {
			page.Placements = append(page.Placements, pl)
		}
		out[pl.SchoolUnitCode] = page
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PlacementsByPerson returns each person's placements in id order, in one
// query. People without placements are absent from the map.
func (s *Store) PlacementsByPerson(ctx context.Context, pnrs []string) (map[string][]*model.Placement, error) {
	pnrs = distinct(pnrs)
	out := make(map[string][]*model.Placement, len(pnrs))
	if len(pnrs) == 0 {
		return out, nil
	}
	a := &args{d: s.dialect}
	text := `SELECT id, personnummer, skolenhetskod, grupp, startdatum, slutdatum, timmar_per_vecka
FROM placering
WHERE ` + a.in("personnummer", pnrs) + `
ORDER BY personnummer, id`
	err := s.query(ctx, OpPlacementsByPerson, len(pnrs), text, a, func(rows *sql.Rows) error {
		pl, err := scanPlacement(rows)
		if err != nil {
			return err
		}
		out[pl.PersonalNumber] = append(out[pl.PersonalNumber], pl)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanPlacement reads the placement columns, after any leading columns given
// in pre, in the order the queries above select them.
func scanPlacement(rows *sql.Rows, pre ...any) (*model.Placement, error) {
	pl := &model.Placement{}
	var start, end dateCol
	var hours sql.NullFloat64
	dest := append(pre, &pl.ID, &pl.PersonalNumber, &pl.SchoolUnitCode, &pl.Group, &start, &end, &hours)
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	if !start.valid {
		return nil, fmt.Errorf("placement %d: startdatum is NULL", pl.ID)
	}
	pl.StartDate, pl.EndDate = start.t, end.ptr()
	if hours.Valid {
		h := hours.Float64
		pl.HoursPerWeek = &h
	}
	return pl, nil
}

// DietsByPerson returns each person's special diets (specialkost) in
// alphabetical order, in one query. People without one are absent.
func (s *Store) DietsByPerson(ctx context.Context, pnrs []string) (map[string][]string, error) {
	pnrs = distinct(pnrs)
	out := make(map[string][]string, len(pnrs))
	if len(pnrs) == 0 {
		return out, nil
	}
	a := &args{d: s.dialect}
	text := `SELECT personnummer, kost
FROM specialkost
WHERE ` + a.in("personnummer", pnrs) + `
ORDER BY personnummer, kost`
	err := s.query(ctx, OpDietsByPerson, len(pnrs), text, a, func(rows *sql.Rows) error {
		var pnr, diet string
		if err := rows.Scan(&pnr, &diet); err != nil {
			return err
		}
		out[pnr] = append(out[pnr], diet)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AbsencesByPerson returns each person's days of absence (franvaro) ordered by
// date, in one query. People without absence are absent from the map. Rows of
// the same day are further ordered by hours, then reported last, so the order
// is fully determined.
func (s *Store) AbsencesByPerson(ctx context.Context, pnrs []string) (map[string][]model.Absence, error) {
	pnrs = distinct(pnrs)
	out := make(map[string][]model.Absence, len(pnrs))
	if len(pnrs) == 0 {
		return out, nil
	}
	a := &args{d: s.dialect}
	text := `SELECT personnummer, datum, timmar, anmald
FROM franvaro
WHERE ` + a.in("personnummer", pnrs) + `
ORDER BY personnummer, datum, timmar, anmald`
	err := s.query(ctx, OpAbsencesByPerson, len(pnrs), text, a, func(rows *sql.Rows) error {
		var pnr string
		var date dateCol
		var ab model.Absence
		if err := rows.Scan(&pnr, &date, &ab.Hours, &ab.Reported); err != nil {
			return err
		}
		if !date.valid {
			return fmt.Errorf("absence of %s: datum is NULL", model.MaskPersonalNumber(pnr))
		}
		ab.Date, ab.PersonalNumber = date.t, pnr
		out[pnr] = append(out[pnr], ab)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// distinct drops repeated keys, keeping the first occurrence's order. The
// Recorder is told the number of distinct keys, which is what the query asks for.
func distinct(keys []string) []string {
	if len(keys) < 2 {
		return keys
	}
	seen := make(map[string]struct{}, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}
