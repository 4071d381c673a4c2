package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Count is one UTC day's count of one item for one client application:
// the catalog's durable figures. Items are ItemRequests, ItemSource+system,
// ItemResource+system.resource, ItemField+Type.field (operations that read
// them), and, with no client, ItemCalls+system and ItemOK+system (upstream
// calls, and those that answered).
type Count struct {
	// Day is the UTC day, YYYY-MM-DD.
	Day    string
	Client string
	Item   string
	N      int64
}

// The items counted.
const (
	ItemRequests = "requests"
	ItemSource   = "source:"
	ItemResource = "resource:"
	ItemField    = "field:"
	ItemCalls    = "calls:"
	ItemOK       = "ok:"
)

// Store keeps the counts. Add adds to what is stored (two gateway
// instances on one database each add theirs); Since returns every count
// of day and the days after.
type Store interface {
	Add(ctx context.Context, counts []Count) error
	Since(ctx context.Context, day string) ([]Count, error)
	Close() error
}

// usageMigrationLock serialises the table's setup between instances
// starting together on one PostgreSQL ("kgusage").
const usageMigrationLock = 0x6b67757361676500

const usageDDL = `CREATE TABLE IF NOT EXISTS integration_usage (
	day    text   NOT NULL,
	client text   NOT NULL,
	item   text   NOT NULL,
	n      bigint NOT NULL,
	PRIMARY KEY (day, client, item)
)`

// PostgresStore keeps the counts in PostgreSQL, table integration_usage:
// the access log's database when it has one.
type PostgresStore struct {
	pool *pgxpool.Pool
}

// OpenPostgres connects to dsn and creates integration_usage if missing.
// schema, if not empty, is created and becomes the search_path (tests).
func OpenPostgres(ctx context.Context, dsn, schema string) (*PostgresStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("catalog: usage database URL does not parse") // it may hold a password
	}
	if schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("catalog: usage database: %w", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(usageMigrationLock)); err != nil {
			return err
		}
		if schema != "" {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, usageDDL)
		return err
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("catalog: usage database: set up table: %w", err)
	}
	return &PostgresStore{pool: pool}, nil
}

// Add adds counts in one transaction.
func (s *PostgresStore) Add(ctx context.Context, counts []Count) error {
	b := &pgx.Batch{}
	for _, c := range counts {
		b.Queue(`INSERT INTO integration_usage (day, client, item, n) VALUES ($1, $2, $3, $4)
			ON CONFLICT (day, client, item) DO UPDATE SET n = integration_usage.n + EXCLUDED.n`, c.Day, c.Client, c.Item, c.N)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return fmt.Errorf("catalog: usage database: add: %w", err)
	}
	return nil
}

// Since returns the counts of day and later.
func (s *PostgresStore) Since(ctx context.Context, day string) ([]Count, error) {
	rows, err := s.pool.Query(ctx, `SELECT day, client, item, n FROM integration_usage WHERE day >= $1 ORDER BY day, client, item`, day)
	if err != nil {
		return nil, fmt.Errorf("catalog: usage database: read: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Count, error) {
		var c Count
		err := r.Scan(&c.Day, &c.Client, &c.Item, &c.N)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: usage database: read: %w", err)
	}
	return out, nil
}

// Close closes the pool.
func (s *PostgresStore) Close() error {
	s.pool.Close()
	return nil
}

// SQLiteStore keeps the counts in a SQLite file, next to the access log's
// file when the access log has no database: one gateway instance.
type SQLiteStore struct {
	db *sql.DB
}

// OpenSQLite opens (creating) the file at path.
func OpenSQLite(ctx context.Context, path string) (*SQLiteStore, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("catalog: usage file %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, usageDDL); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("catalog: usage file %s: %w", path, err)
	}
	return &SQLiteStore{db: db}, nil
}

// Add adds counts in one transaction.
func (s *SQLiteStore) Add(ctx context.Context, counts []Count) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: usage file: add: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, c := range counts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO integration_usage (day, client, item, n) VALUES (?, ?, ?, ?)
			ON CONFLICT (day, client, item) DO UPDATE SET n = n + excluded.n`, c.Day, c.Client, c.Item, c.N); err != nil {
			return fmt.Errorf("catalog: usage file: add: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("catalog: usage file: add: %w", err)
	}
	return nil
}

// Since returns the counts of day and later.
func (s *SQLiteStore) Since(ctx context.Context, day string) ([]Count, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT day, client, item, n FROM integration_usage WHERE day >= ? ORDER BY day, client, item`, day)
	if err != nil {
		return nil, fmt.Errorf("catalog: usage file: read: %w", err)
	}
	defer rows.Close()
	var out []Count
	for rows.Next() {
		var c Count
		if err := rows.Scan(&c.Day, &c.Client, &c.Item, &c.N); err != nil {
			return nil, fmt.Errorf("catalog: usage file: read: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: usage file: read: %w", err)
	}
	return out, nil
}

// Close closes the file.
func (s *SQLiteStore) Close() error { return s.db.Close() }

// Day is t's UTC day as the store keeps it.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

var (
	_ Store = (*PostgresStore)(nil)
	_ Store = (*SQLiteStore)(nil)
)
