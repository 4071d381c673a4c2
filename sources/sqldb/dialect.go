package sqldb

import (
	"fmt"
	"strings"
)

// sqliteMaxVars is SQLITE_MAX_VARIABLE_NUMBER of the SQLite that
// modernc.org/sqlite embeds (3.32 and later): the most parameters one
// statement may bind.
const sqliteMaxVars = 32766

// MaxKeyedKeys is the most keys one keyed query (PrepareKeyed) may ask for
// on either database: SQLite binds one parameter per key, and PostgreSQL's
// IN list, padded to a power of two, stays within the 65535 parameters of
// its protocol.
const MaxKeyedKeys = sqliteMaxVars

// dialect is the one place where the queries differ between the drivers: how
// a parameter is written and how "column is one of these keys" is asked.
// Everything else in the store is plain SQL that both accept.
type dialect struct {
	postgres bool
}

// args collects the parameters of one query and writes their placeholders,
// so a query never contains a value, only "$n" or "?".
type args struct {
	d    dialect
	vals []any
}

// add binds v and returns its placeholder.
func (a *args) add(v any) string {
	a.vals = append(a.vals, v)
	if a.d.postgres {
		return fmt.Sprintf("$%d", len(a.vals))
	}
	return "?"
}

// in binds keys and returns the condition "column is one of keys".
// PostgreSQL takes the whole list as one text[] parameter, so the statement
// text is the same for every batch size and its prepared plan is reused.
// SQLite has no array type: it gets one placeholder per key.
func (a *args) in(column string, keys []string) string {
	if a.d.postgres {
		return column + " = ANY(" + a.add(keys) + ")"
	}
	var b strings.Builder
	b.WriteString(column)
	b.WriteString(" IN (")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.add(k))
	}
	b.WriteString(")")
	return b.String()
}

// check reports a query that binds more parameters than the driver allows.
func (a *args) check() error {
	if !a.d.postgres && len(a.vals) > sqliteMaxVars {
		return fmt.Errorf("%d parameters exceed SQLite's limit of %d: make the batch smaller", len(a.vals), sqliteMaxVars)
	}
	return nil
}

// AdvisoryLockKey is the PostgreSQL advisory lock (pg_advisory_xact_lock)
// that Migrate and the seeder hold while they change the schema or replace
// the data, so that they run one at a time. Two gateways creating the same
// table at once would collide in the catalog, and CREATE INDEX IF NOT EXISTS
// waiting on a table that a seeder is truncating, while the seeder waits on
// another table the migration holds, is a deadlock. On SQLite the write
// transaction (BEGIN IMMEDIATE, see sqliteDSN) does the same job.
const AdvisoryLockKey int64 = 1880_0004 // kommunkod 1880, upstream system 4

// migrateLock is run first in the migration transaction.
func (d dialect) migrateLock() string {
	if d.postgres {
		return fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", AdvisoryLockKey)
	}
	return ""
}

// existing returns a query counting which of the named tables and indexes
// exist (in the search_path on PostgreSQL), so that Migrate can leave a
// complete schema alone without taking a single lock.
func (d dialect) existing(names []string) (string, *args) {
	a := &args{d: d}
	if d.postgres {
		return "SELECT COUNT(*) FROM unnest(" + a.add(names) + "::text[]) AS n(name) WHERE to_regclass(n.name) IS NOT NULL", a
	}
	return "SELECT COUNT(*) FROM sqlite_master WHERE " + a.in("name", names), a
}
