package operations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MemoryStore keeps the operations in the process: the demo's, seeded
// from its file at start. Pushes last until the process ends.
type MemoryStore struct {
	mu  sync.Mutex
	ops map[string]*Operation
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{ops: map[string]*Operation{}} }

func (m *MemoryStore) Get(_ context.Context, id string) (*Operation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ops[id], nil
}

func (m *MemoryStore) Put(_ context.Context, ops []*Operation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, op := range ops {
		if _, ok := m.ops[op.ID]; !ok {
			m.ops[op.ID] = op
		}
	}
	return nil
}

func (m *MemoryStore) List(context.Context) ([]*Operation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Values(m.ops)), nil
}

func (m *MemoryStore) Close() error { return nil }

// PostgresStore keeps the operations in PostgreSQL (table
// kommungraf_operations), shared by every replica. A registered operation
// is never changed: pushing the same document again keeps the first
// registration, and another document is another id.
type PostgresStore struct {
	pool *pgxpool.Pool
}

const createOperations = `CREATE TABLE IF NOT EXISTS kommungraf_operations (
	id        text PRIMARY KEY,
	name      text NOT NULL,
	document  text NOT NULL,
	fields    jsonb NOT NULL,
	pushed_by text NOT NULL DEFAULT '',
	pushed_at timestamptz NOT NULL DEFAULT now()
)`

// OpenPostgres connects to dsn and creates the table if it is missing.
func OpenPostgres(ctx context.Context, dsn string) (*PostgresStore, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("operations store: %w", err)
	}
	if _, err := pool.Exec(ctx, createOperations); err != nil {
		pool.Close()
		return nil, fmt.Errorf("operations store: creating its table: %w", err)
	}
	return &PostgresStore{pool: pool}, nil
}

func (p *PostgresStore) Get(ctx context.Context, id string) (*Operation, error) {
	row := p.pool.QueryRow(ctx, `SELECT id, name, document, fields, pushed_by, pushed_at FROM kommungraf_operations WHERE id = $1`, id)
	op, err := scanOperation(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return op, err
}

func (p *PostgresStore) Put(ctx context.Context, ops []*Operation) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, op := range ops {
		fields, _ := json.Marshal(op.Fields)
		if _, err := tx.Exec(ctx, `INSERT INTO kommungraf_operations (id, name, document, fields, pushed_by, pushed_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
			op.ID, op.Name, op.Document, fields, op.PushedBy, op.PushedAt); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func (p *PostgresStore) List(ctx context.Context) ([]*Operation, error) {
	rows, err := p.pool.Query(ctx, `SELECT id, name, document, fields, pushed_by, pushed_at FROM kommungraf_operations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Operation
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	return out, rows.Err()
}

func (p *PostgresStore) Close() error {
	p.pool.Close()
	return nil
}

func scanOperation(row pgx.Row) (*Operation, error) {
	var op Operation
	var fields []byte
	if err := row.Scan(&op.ID, &op.Name, &op.Document, &fields, &op.PushedBy, &op.PushedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(fields, &op.Fields); err != nil {
		return nil, fmt.Errorf("operation %s: fields: %w", op.ID, err)
	}
	return &op, nil
}
