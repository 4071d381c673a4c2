package sqldb

import (
	"context"
	"database/sql"
	_ "embed"
	"fmt"
	"strings"
)

// schemaSQL creates the tables and indexes if they are missing. It is the
// same text for both drivers.
//
//go:embed schema.sql
var schemaSQL string

// schemaStatements drops the comment lines of schemaSQL and splits the rest
// at semicolons.
func schemaStatements() []string {
	var code []string
	for _, line := range strings.Split(schemaSQL, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			code = append(code, line)
		}
	}
	var out []string
	for _, stmt := range strings.Split(strings.Join(code, "\n"), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

// Migrate creates the tables and indexes that do not exist yet, in one
// transaction. It never alters or drops anything, so it is safe to run at
// every start. When everything exists already, which is the usual case, it
// only reads the catalog: CREATE ... IF NOT EXISTS would still lock each
// table. Otherwise it works under AdvisoryLockKey on PostgreSQL.
func (s *Store) Migrate(ctx context.Context) error {
	const op = "migrate"
	stmts := schemaStatements()
	names := schemaObjects(stmts)
	if done, err := s.migrated(ctx, s.db, names); err != nil || done {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	defer tx.Rollback()
	if lock := s.dialect.migrateLock(); lock != "" {
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return s.fail(ctx, op, err)
		}
	}
	// Another process may have migrated while this one waited for the lock.
	// PostgreSQL can answer this from a catalog cache that predates the other
	// commit and say "missing"; the IF NOT EXISTS statements are then
	// harmless, because the lock keeps seeders out meanwhile.
	if done, err := s.migrated(ctx, tx, names); err != nil || done {
		return err
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return s.fail(ctx, op, fmt.Errorf("%s: %w", firstLine(stmt), err))
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// migrated reports whether every table and index of the schema exists.
func (s *Store) migrated(ctx context.Context, q rowQuerier, names []string) (bool, error) {
	text, a := s.dialect.existing(names)
	var n int
	if err := q.QueryRowContext(ctx, text, a.vals...).Scan(&n); err != nil {
		return false, s.fail(ctx, "migrate", err)
	}
	return n == len(names), nil
}

// rowQuerier is a *sql.DB or a *sql.Tx.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaObjects returns the names the statements create:
// "CREATE TABLE IF NOT EXISTS name" and "CREATE INDEX IF NOT EXISTS name".
func schemaObjects(stmts []string) []string {
	var names []string
	for _, stmt := range stmts {
		f := strings.Fields(stmt)
		if len(f) > 5 && f[0] == "CREATE" && f[3] == "NOT" && f[4] == "EXISTS" {
			names = append(names, f[5])
		}
	}
	return names
}

// firstLine names a statement in an error without quoting all of it.
func firstLine(stmt string) string {
	line, _, _ := strings.Cut(stmt, "\n")
	return strings.TrimSuffix(strings.TrimSpace(line), " (")
}
