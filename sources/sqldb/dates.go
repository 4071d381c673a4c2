package sqldb

import (
	"fmt"
	"time"
)

// dateCol scans a DATE column on either driver into a UTC midnight:
// PostgreSQL (pgx) delivers a time.Time; SQLite stores 'YYYY-MM-DD' text,
// which modernc.org/sqlite turns into a time.Time for a column declared DATE
// but hands over as a string when the declared type is lost (an expression, a
// view). Both forms are accepted, and the time of day and zone are dropped so
// that a date read from either database compares equal.
type dateCol struct {
	t     time.Time
	valid bool
}

// Scan implements sql.Scanner.
func (d *dateCol) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d = dateCol{}
		return nil
	case time.Time:
		d.t, d.valid = time.Date(x.Year(), x.Month(), x.Day(), 0, 0, 0, 0, time.UTC), true
		return nil
	case string:
		return d.parse(x)
	case []byte:
		return d.parse(string(x))
	}
	return fmt.Errorf("date column: unexpected %T", v)
}

func (d *dateCol) parse(s string) error {
	if len(s) > len(time.DateOnly) {
		s = s[:len(time.DateOnly)] // "2026-01-01 00:00:00+00:00" from an older writer
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return fmt.Errorf("date column: %w", err)
	}
	d.t, d.valid = t, true
	return nil
}

// ptr returns the date, or nil for NULL.
func (d dateCol) ptr() *time.Time {
	if !d.valid {
		return nil
	}
	t := d.t
	return &t
}
