package authz

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// accessLogMigrationLock is the pg_advisory_xact_lock key that serialises
// the schema setup of gateway instances starting together ("kgaccess").
const accessLogMigrationLock = 0x6b67616363657373

// accessLogDDL creates the table, its indexes and the triggers that make it
// append-only. Every statement is idempotent.
var accessLogDDL = append([]string{
	`CREATE TABLE IF NOT EXISTS access_log (
		id         bigserial PRIMARY KEY,
		at         timestamptz NOT NULL,
		request_id text   NOT NULL DEFAULT '',
		subject    text   NOT NULL,
		client     text   NOT NULL,
		unit       text   NOT NULL DEFAULT '',
		roles      text[] NOT NULL DEFAULT '{}',
		purposes   text[] NOT NULL DEFAULT '{}',
		operation  text   NOT NULL DEFAULT '',
		fields     text[] NOT NULL DEFAULT '{}',
		persons    text[] NOT NULL DEFAULT '{}',
		denied     text[] NOT NULL DEFAULT '{}',
		outcome    text   NOT NULL CHECK (outcome IN ('served', 'denied', 'partial')),
		entry_id   text
	)`,
	`CREATE INDEX IF NOT EXISTS access_log_persons_idx ON access_log USING gin (persons)`,
	`CREATE INDEX IF NOT EXISTS access_log_at_idx ON access_log (at)`,
	// AccessEntry.ID, unique so that an entry offered twice (a spool
	// drained again after a crash) is stored once. Tables made before IDs
	// existed get the column here; adding a nullable column rewrites no row,
	// so the append-only triggers are not involved, and their rows keep
	// NULL, which the unique index allows any number of times.
	`ALTER TABLE access_log ADD COLUMN IF NOT EXISTS entry_id text`,
	`CREATE UNIQUE INDEX IF NOT EXISTS access_log_entry_id_idx ON access_log (entry_id)`,
	// AccessEntry.OperationID, added the same way: no row is rewritten.
	`ALTER TABLE access_log ADD COLUMN IF NOT EXISTS operation_id text NOT NULL DEFAULT ''`,
}, appendOnlyDDL("access_log_append_only", "access_log")...)

// PostgresAccessLog is an AccessLog in a PostgreSQL table, access_log, that
// triggers keep append-only. Needs PostgreSQL 14 or later.
type PostgresAccessLog struct {
	pool *pgxpool.Pool
}

// NewPostgresAccessLog connects to dsn and creates the access_log table if
// it is missing. schema, if not empty, is created if missing and becomes the
// connections' search_path, so the table lives there (tests use it to
// isolate themselves); otherwise the DSN's search_path applies.
func NewPostgresAccessLog(ctx context.Context, dsn string, schema string) (*PostgresAccessLog, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The DSN may hold a password: do not repeat it.
		return nil, fmt.Errorf("authz: access log database URL does not parse")
	}
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("authz: access log database: %w", err)
	}
	if err := migrateAccessLog(ctx, pool, schema); err != nil {
		pool.Close()
		return nil, err
	}
	return &PostgresAccessLog{pool: pool}, nil
}

func migrateAccessLog(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("authz: access log database: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(accessLogMigrationLock)); err != nil {
		return fmt.Errorf("authz: access log database: lock for setup: %w", err)
	}
	if schema != "" {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("authz: access log database: create schema %s: %w", schema, err)
		}
	}
	for _, stmt := range accessLogDDL {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("authz: access log database: set up table: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("authz: access log database: set up table: %w", err)
	}
	return nil
}

// Append inserts e, with a fresh ID if it has none. An entry whose ID the
// table holds already is not inserted again: storing is idempotent, so
// whoever retries after an error or a crash cannot duplicate an entry.
func (l *PostgresAccessLog) Append(ctx context.Context, e AccessEntry) error {
	e = withID(e)
	_, err := l.pool.Exec(ctx, `INSERT INTO access_log
		(entry_id, at, request_id, subject, client, unit, roles, purposes, operation, fields, persons, denied, outcome, operation_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (entry_id) DO NOTHING`,
		e.ID, e.Time.UTC(), e.RequestID, e.Subject, e.Client, e.Unit, nonNil(e.Roles), nonNil(e.Purposes),
		e.Operation, nonNil(e.Fields), nonNil(e.Persons), nonNil(e.Denied), e.Outcome, e.OperationID)
	if err != nil {
		return fmt.Errorf("authz: access log database: append: %w", err)
	}
	return nil
}

// Query selects the matching entries, newest first. Only the conditions in
// use are in the statement, so the planner can use the persons and at indexes.
func (l *PostgresAccessLog) Query(ctx context.Context, q AccessQuery) ([]AccessEntry, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.PersonHash != "" {
		where = append(where, "persons @> ARRAY["+arg(q.PersonHash)+"::text]")
	}
	if q.Subject != "" {
		where = append(where, "subject = "+arg(q.Subject))
	}
	if q.Client != "" {
		where = append(where, "client = "+arg(q.Client))
	}
	if !q.From.IsZero() {
		where = append(where, "at >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "at < "+arg(q.To))
	}
	if !q.IncludeSearches {
		where = append(where, "operation <> "+arg(OperationAccessLogSearch))
	}
	sql := `SELECT coalesce(entry_id, ''), at, request_id, subject, client, unit, roles, purposes, operation, fields, persons, denied, outcome, operation_id
		FROM access_log`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY at DESC, id DESC LIMIT " + arg(q.limit())

	rows, err := l.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("authz: access log database: query: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AccessEntry, error) {
		var e AccessEntry
		err := row.Scan(&e.ID, &e.Time, &e.RequestID, &e.Subject, &e.Client, &e.Unit, &e.Roles, &e.Purposes,
			&e.Operation, &e.Fields, &e.Persons, &e.Denied, &e.Outcome, &e.OperationID)
		e.Time = e.Time.UTC()
		e.Roles, e.Purposes, e.Fields = orNil(e.Roles), orNil(e.Purposes), orNil(e.Fields)
		e.Persons, e.Denied = orNil(e.Persons), orNil(e.Denied)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("authz: access log database: query: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// Close closes the connection pool.
func (l *PostgresAccessLog) Close() error {
	l.pool.Close()
	return nil
}

// nonNil maps nil to an empty array: pgx sends a nil slice as NULL.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// orNil maps an empty array to nil, as the JSON lines store returns it.
func orNil(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Interface guard.
var _ AccessLog = (*PostgresAccessLog)(nil)
