package authz

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// sqlitePolicyDDL creates the tables in SQLite. Versions and the audit are
// append-only: triggers refuse UPDATE and DELETE.
var sqlitePolicyDDL = []string{
	`CREATE TABLE IF NOT EXISTS policy_versions (
		number      INTEGER PRIMARY KEY CHECK (number > 0),
		rules       TEXT    NOT NULL,
		author      TEXT    NOT NULL,
		created_at  TEXT    NOT NULL,
		comment     TEXT    NOT NULL DEFAULT '',
		diff        TEXT    NOT NULL DEFAULT '',
		parent      INTEGER NOT NULL DEFAULT 0,
		proposal_id INTEGER NOT NULL DEFAULT 0,
		approved_by TEXT    NOT NULL DEFAULT ''
	)`,
	`CREATE TABLE IF NOT EXISTS policy_proposals (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		base_version INTEGER NOT NULL,
		rules        TEXT    NOT NULL,
		author       TEXT    NOT NULL,
		comment      TEXT    NOT NULL DEFAULT '',
		created_at   TEXT    NOT NULL,
		status       TEXT    NOT NULL CHECK (status IN ('proposed', 'applied', 'rejected', 'superseded')),
		decided_by   TEXT    NOT NULL DEFAULT '',
		decided_at   TEXT    NOT NULL DEFAULT '',
		reason       TEXT    NOT NULL DEFAULT '',
		diff         TEXT    NOT NULL DEFAULT '',
		restores     INTEGER NOT NULL DEFAULT 0,
		version      INTEGER NOT NULL DEFAULT 0
	)`,
	`CREATE INDEX IF NOT EXISTS policy_proposals_status_idx ON policy_proposals (status)`,
	`CREATE TABLE IF NOT EXISTS policy_audit (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		at          TEXT    NOT NULL,
		actor       TEXT    NOT NULL,
		action      TEXT    NOT NULL CHECK (action IN ('propose', 'approve', 'reject', 'apply', 'restore')),
		proposal_id INTEGER NOT NULL DEFAULT 0,
		version     INTEGER NOT NULL DEFAULT 0,
		comment     TEXT    NOT NULL DEFAULT '',
		detail      TEXT    NOT NULL DEFAULT ''
	)`,
	`CREATE TRIGGER IF NOT EXISTS policy_audit_no_update BEFORE UPDATE ON policy_audit
		BEGIN SELECT RAISE(ABORT, 'policy_audit is append-only: UPDATE is not allowed'); END`,
	`CREATE TRIGGER IF NOT EXISTS policy_audit_no_delete BEFORE DELETE ON policy_audit
		BEGIN SELECT RAISE(ABORT, 'policy_audit is append-only: DELETE is not allowed'); END`,
	`CREATE TRIGGER IF NOT EXISTS policy_versions_no_update BEFORE UPDATE ON policy_versions
		BEGIN SELECT RAISE(ABORT, 'policy_versions is append-only: UPDATE is not allowed'); END`,
	`CREATE TRIGGER IF NOT EXISTS policy_versions_no_delete BEFORE DELETE ON policy_versions
		BEGIN SELECT RAISE(ABORT, 'policy_versions is append-only: DELETE is not allowed'); END`,
}

// NewSQLitePolicyStore opens (creating it if needed) the policy store in the
// SQLite file at path: for a single gateway instance and the demo. Other
// replicas cannot share it; use NewPostgresPolicyStore for those.
func NewSQLitePolicyStore(ctx context.Context, path string) (PolicyStore, error) {
	if path == "" {
		return nil, errors.New("authz: policy store: no SQLite file given")
	}
	dsn := path
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	// BEGIN IMMEDIATE takes the write lock at the start of every
	// transaction, so checking the current version and writing the next one
	// cannot interleave with another writer; busy_timeout makes the other
	// wait instead of failing.
	dsn += sep + "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("authz: policy store %s: %w", path, err)
	}
	s := &sqlPolicyStore{db: db}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("authz: policy store %s: %w", path, err)
	}
	if err := s.migrate(ctx, sqlitePolicyDDL); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
