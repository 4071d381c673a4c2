package authz

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// policyStoreLock is the pg_advisory_xact_lock key that serialises the
// policy store's writers across replicas ("kgpolicy").
const policyStoreLock = 0x6b67706f6c696379

// postgresPolicyDDL creates the tables in PostgreSQL. Versions and the audit
// are append-only: triggers refuse UPDATE, DELETE and TRUNCATE, whoever runs
// them (as for access_log, let another role own the tables in production).
var postgresPolicyDDL = append([]string{
	`CREATE TABLE IF NOT EXISTS policy_versions (
		number      bigint      PRIMARY KEY CHECK (number > 0),
		rules       text        NOT NULL,
		author      text        NOT NULL,
		created_at  timestamptz NOT NULL,
		comment     text        NOT NULL DEFAULT '',
		diff        text        NOT NULL DEFAULT '',
		parent      bigint      NOT NULL DEFAULT 0,
		proposal_id bigint      NOT NULL DEFAULT 0,
		approved_by text        NOT NULL DEFAULT ''
	)`,
	`CREATE TABLE IF NOT EXISTS policy_proposals (
		id           bigserial   PRIMARY KEY,
		base_version bigint      NOT NULL,
		rules        text        NOT NULL,
		author       text        NOT NULL,
		comment      text        NOT NULL DEFAULT '',
		created_at   timestamptz NOT NULL,
		status       text        NOT NULL CHECK (status IN ('proposed', 'applied', 'rejected', 'superseded')),
		decided_by   text        NOT NULL DEFAULT '',
		decided_at   timestamptz,
		reason       text        NOT NULL DEFAULT '',
		diff         text        NOT NULL DEFAULT '',
		restores     bigint      NOT NULL DEFAULT 0,
		version      bigint      NOT NULL DEFAULT 0
	)`,
	`CREATE INDEX IF NOT EXISTS policy_proposals_status_idx ON policy_proposals (status)`,
	`CREATE TABLE IF NOT EXISTS policy_audit (
		id          bigserial   PRIMARY KEY,
		at          timestamptz NOT NULL,
		actor       text        NOT NULL,
		action      text        NOT NULL CHECK (action IN ('propose', 'approve', 'reject', 'apply', 'restore')),
		proposal_id bigint      NOT NULL DEFAULT 0,
		version     bigint      NOT NULL DEFAULT 0,
		comment     text        NOT NULL DEFAULT '',
		detail      text        NOT NULL DEFAULT ''
	)`,
}, appendOnlyDDL("policy_append_only", "policy_audit", "policy_versions")...)

// NewPostgresPolicyStore keeps the policy store in PostgreSQL, in pool's
// search_path, creating its tables if they are missing (PostgreSQL 14 or
// later). Replicas sharing the database share the store: writers are
// serialised by an advisory lock, so a version check and the write that
// depends on it are one step.
//
// With casbin (not nil), every applied version's rules are also written to
// the Casbin table through casbin.ReplaceAll before the version commits,
// in version order, so the table always holds the current policy; at start
// the table is brought up to the current version if it differs. The pool
// stays the caller's to close.
func NewPostgresPolicyStore(ctx context.Context, pool *pgxpool.Pool, casbin *PostgresAdapter) (PolicyStore, error) {
	if pool == nil {
		return nil, errors.New("authz: policy store: no database pool")
	}
	s := &sqlPolicyStore{
		db: stdlib.OpenDBFromPool(pool),
		d:  policyDialect{postgres: true, lock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", int64(policyStoreLock))},
	}
	if casbin != nil {
		s.d.beforeCommit = func(ctx context.Context, text string) error { return mirrorCasbin(ctx, casbin, text) }
	}
	if err := s.migrate(ctx, postgresPolicyDDL); err != nil {
		s.db.Close()
		return nil, err
	}
	if casbin != nil {
		if err := s.syncCasbin(ctx, casbin); err != nil {
			s.db.Close()
			return nil, err
		}
	}
	return s, nil
}

// mirrorCasbin writes a version's rules to the Casbin table.
func mirrorCasbin(ctx context.Context, casbin *PostgresAdapter, text string) error {
	rules, err := ParsePolicy(text, nil)
	if err != nil {
		return fmt.Errorf("casbin table: %w", err)
	}
	lines := make([][]string, len(rules))
	for i, r := range rules {
		lines[i] = r
	}
	if err := casbin.ReplaceAll(ctx, lines, "p"); err != nil {
		return fmt.Errorf("casbin table: %w", err)
	}
	return nil
}

// syncCasbin brings the Casbin table to the current version, under the
// writers' lock so it cannot undo a version applied meanwhile.
func (s *sqlPolicyStore) syncCasbin(ctx context.Context, casbin *PostgresAdapter) error {
	return s.inTx(ctx, "sync the casbin table", func(tx *sql.Tx) error {
		v, err := scanVersion(tx.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM policy_versions ORDER BY number DESC LIMIT 1`))
		if errors.Is(err, sql.ErrNoRows) {
			return nil // Seed writes it
		}
		if err != nil {
			return err
		}
		want, err := ParsePolicy(v.Text, nil)
		if err != nil {
			return fmt.Errorf("version %d: %w", v.Number, err)
		}
		have, err := casbin.Rules(ctx, "p")
		if err != nil {
			return err
		}
		if slices.EqualFunc(have, want, func(a []string, b Rule) bool { return slices.Equal(a, b) }) {
			return nil
		}
		return mirrorCasbin(ctx, casbin, v.Text)
	})
}
