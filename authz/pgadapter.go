package authz

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultCasbinTable is the table a PostgresAdapter uses when none is named,
// the name casbin's own adapters use.
const DefaultCasbinTable = "casbin_rule"

// casbinRuleColumns is how many rule fields (v0..v5) a row holds.
const casbinRuleColumns = 6

// casbinMigrationLock is the pg_advisory_xact_lock key that serialises the
// table setup of gateway instances starting together ("kgcasbin").
const casbinMigrationLock = 0x6b6763617362696e

// casbinTableName is what NewPostgresAdapter accepts as a table name: an
// unquoted lower-case PostgreSQL identifier of at most 63 bytes, so the name
// means the same quoted or not and is never truncated by the server.
var casbinTableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// PostgresAdapter stores Casbin policy rules in a PostgreSQL table, one rule
// a row: ptype, then v0..v5, unused fields empty. It implements Casbin's
// persist.Adapter, persist.BatchAdapter and their context variants, and adds
// ReplaceAll and Rules for applying and reading a policy version.
//
// The methods without a context use context.Background(), as Casbin calls
// them; prefer the *Ctx variants where a deadline is at hand.
type PostgresAdapter struct {
	pool  *pgxpool.Pool
	table string // quoted with pgx.Identifier: the only way it reaches SQL
}

// NewPostgresAdapter returns an adapter over table (DefaultCasbinTable if
// empty) in pool's search_path, creating the table and its unique index over
// (ptype, v0..v5) if they are missing. table must match
// ^[a-z_][a-z0-9_]{0,62}$. The pool stays the caller's to close.
func NewPostgresAdapter(ctx context.Context, pool *pgxpool.Pool, table string) (*PostgresAdapter, error) {
	if pool == nil {
		return nil, errors.New("authz: casbin adapter: no database pool")
	}
	if table == "" {
		table = DefaultCasbinTable
	}
	if !casbinTableName.MatchString(table) {
		return nil, fmt.Errorf("authz: casbin adapter: table name %q is not a lower-case identifier (^[a-z_][a-z0-9_]{0,62}$)", table)
	}
	a := &PostgresAdapter{pool: pool, table: pgx.Identifier{table}.Sanitize()}
	if err := a.migrate(ctx, table); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *PostgresAdapter) migrate(ctx context.Context, table string) error {
	// The index is named after the table; a long table name is cut so the
	// index name stays within PostgreSQL's 63 bytes instead of being
	// truncated by the server (with a NOTICE) to something unexpected.
	const suffix = "_rule_key"
	index := table[:min(len(table), 63-len(suffix))] + suffix
	ddl := []string{
		`CREATE TABLE IF NOT EXISTS ` + a.table + ` (
			id    bigserial PRIMARY KEY,
			ptype text NOT NULL,
			v0    text NOT NULL DEFAULT '',
			v1    text NOT NULL DEFAULT '',
			v2    text NOT NULL DEFAULT '',
			v3    text NOT NULL DEFAULT '',
			v4    text NOT NULL DEFAULT '',
			v5    text NOT NULL DEFAULT ''
		)`,
		`CREATE UNIQUE INDEX IF NOT EXISTS ` + pgx.Identifier{index}.Sanitize() + ` ON ` + a.table +
			` (ptype, v0, v1, v2, v3, v4, v5)`,
	}
	return a.inTx(ctx, "set up table "+table, func(tx pgx.Tx) error {
		// CREATE ... IF NOT EXISTS still races with itself across sessions.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(casbinMigrationLock)); err != nil {
			return fmt.Errorf("lock for setup: %w", err)
		}
		for _, stmt := range ddl {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
}

// inTx runs fn in a transaction and commits it if fn succeeds. what names
// the operation in the error.
func (a *PostgresAdapter) inTx(ctx context.Context, what string, fn func(pgx.Tx) error) error {
	tx, err := a.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("authz: casbin adapter: %s: %w", what, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return fmt.Errorf("authz: casbin adapter: %s: %w", what, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("authz: casbin adapter: %s: %w", what, err)
	}
	return nil
}

// LoadPolicy loads all rules into m. See LoadPolicyCtx.
func (a *PostgresAdapter) LoadPolicy(m model.Model) error {
	return a.LoadPolicyCtx(context.Background(), m)
}

// LoadPolicyCtx loads all rules into m, in id order, through
// persist.LoadPolicyArray with trailing empty fields trimmed, as Casbin's own
// adapters do. A row whose ptype is empty or not defined by m is an error
// naming the row's id: skipping it would silently change the policy, and
// LoadPolicyArray panics on an empty ptype.
func (a *PostgresAdapter) LoadPolicyCtx(ctx context.Context, m model.Model) error {
	rows, err := a.pool.Query(ctx, `SELECT id, ptype, v0, v1, v2, v3, v4, v5 FROM `+a.table+` ORDER BY id`)
	if err != nil {
		return fmt.Errorf("authz: casbin adapter: load policy: %w", err)
	}
	type row struct {
		id   int64
		rule []string // ptype, v0..v5
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		x := row{rule: make([]string, 1+casbinRuleColumns)}
		dest := []any{&x.id}
		for i := range x.rule {
			dest = append(dest, &x.rule[i])
		}
		return x, r.Scan(dest...)
	})
	if err != nil {
		return fmt.Errorf("authz: casbin adapter: load policy: %w", err)
	}
	for _, r := range all {
		ptype := r.rule[0]
		if ptype == "" {
			return fmt.Errorf("authz: casbin adapter: load policy: row id %d has an empty ptype", r.id)
		}
		if _, ok := m[ptype[:1]][ptype]; !ok {
			return fmt.Errorf("authz: casbin adapter: load policy: row id %d has ptype %q, which the model does not define", r.id, ptype)
		}
		if err := persist.LoadPolicyArray(casbinTrim(r.rule), m); err != nil {
			return fmt.Errorf("authz: casbin adapter: load policy: row id %d: %w", r.id, err)
		}
	}
	return nil
}

// SavePolicy replaces all rows with m's rules. See SavePolicyCtx.
func (a *PostgresAdapter) SavePolicy(m model.Model) error {
	return a.SavePolicyCtx(context.Background(), m)
}

// SavePolicyCtx replaces all rows with m's p and g rules in one transaction,
// ptypes in name order and each ptype's rules in m's order.
func (a *PostgresAdapter) SavePolicyCtx(ctx context.Context, m model.Model) error {
	var ins casbinInsert
	for _, sec := range []string{"p", "g"} {
		for _, ptype := range slices.Sorted(maps.Keys(m[sec])) {
			for _, rule := range m[sec][ptype].Policy {
				if err := ins.add(ptype, rule); err != nil {
					return fmt.Errorf("authz: casbin adapter: save policy: %w", err)
				}
			}
		}
	}
	return a.inTx(ctx, "save policy", func(tx pgx.Tx) error {
		if err := a.lockTable(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+a.table); err != nil {
			return err
		}
		return a.insert(ctx, tx, &ins)
	})
}

// ReplaceAll replaces the rows of ptype with rules, each rule without the
// leading ptype, in one transaction: applying a new policy version either
// happens completely or not at all. Rows of other ptypes stay.
func (a *PostgresAdapter) ReplaceAll(ctx context.Context, rules [][]string, ptype string) error {
	if ptype == "" {
		return errors.New("authz: casbin adapter: replace rules: empty ptype")
	}
	var ins casbinInsert
	for _, rule := range rules {
		if err := ins.add(ptype, rule); err != nil {
			return fmt.Errorf("authz: casbin adapter: replace %s rules: %w", ptype, err)
		}
	}
	return a.inTx(ctx, "replace "+ptype+" rules", func(tx pgx.Tx) error {
		if err := a.lockTable(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM `+a.table+` WHERE ptype = $1`, ptype); err != nil {
			return err
		}
		return a.insert(ctx, tx, &ins)
	})
}

// Rules returns the rules of ptype in id order, each without the ptype and
// with trailing empty fields trimmed.
func (a *PostgresAdapter) Rules(ctx context.Context, ptype string) ([][]string, error) {
	rows, err := a.pool.Query(ctx, `SELECT v0, v1, v2, v3, v4, v5 FROM `+a.table+` WHERE ptype = $1 ORDER BY id`, ptype)
	if err != nil {
		return nil, fmt.Errorf("authz: casbin adapter: read %s rules: %w", ptype, err)
	}
	rules, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
		v := make([]string, casbinRuleColumns)
		if err := r.Scan(&v[0], &v[1], &v[2], &v[3], &v[4], &v[5]); err != nil {
			return nil, err
		}
		return casbinTrim(v), nil
	})
	if err != nil {
		return nil, fmt.Errorf("authz: casbin adapter: read %s rules: %w", ptype, err)
	}
	return rules, nil
}

// AddPolicy adds a rule. See AddPolicyCtx.
func (a *PostgresAdapter) AddPolicy(sec string, ptype string, rule []string) error {
	return a.AddPolicyCtx(context.Background(), sec, ptype, rule)
}

// AddPolicyCtx adds a rule. A rule already stored is left as it is: the
// table then holds what was asked for, whoever stored it first.
func (a *PostgresAdapter) AddPolicyCtx(ctx context.Context, sec string, ptype string, rule []string) error {
	return a.AddPoliciesCtx(ctx, sec, ptype, [][]string{rule})
}

// AddPolicies adds rules. See AddPoliciesCtx.
func (a *PostgresAdapter) AddPolicies(sec string, ptype string, rules [][]string) error {
	return a.AddPoliciesCtx(context.Background(), sec, ptype, rules)
}

// AddPoliciesCtx adds rules in one statement, so either all are stored or
// none. Rules already stored are left as they are.
func (a *PostgresAdapter) AddPoliciesCtx(ctx context.Context, _ string, ptype string, rules [][]string) error {
	var ins casbinInsert
	for _, rule := range rules {
		if err := ins.add(ptype, rule); err != nil {
			return fmt.Errorf("authz: casbin adapter: add %s rules: %w", ptype, err)
		}
	}
	if err := a.insert(ctx, a.pool, &ins); err != nil {
		return fmt.Errorf("authz: casbin adapter: add %s rules: %w", ptype, err)
	}
	return nil
}

// RemovePolicy removes a rule. See RemovePolicyCtx.
func (a *PostgresAdapter) RemovePolicy(sec string, ptype string, rule []string) error {
	return a.RemovePolicyCtx(context.Background(), sec, ptype, rule)
}

// RemovePolicyCtx removes a rule; removing a rule that is not stored is not
// an error.
func (a *PostgresAdapter) RemovePolicyCtx(ctx context.Context, sec string, ptype string, rule []string) error {
	return a.RemovePoliciesCtx(ctx, sec, ptype, [][]string{rule})
}

// RemovePolicies removes rules. See RemovePoliciesCtx.
func (a *PostgresAdapter) RemovePolicies(sec string, ptype string, rules [][]string) error {
	return a.RemovePoliciesCtx(context.Background(), sec, ptype, rules)
}

// RemovePoliciesCtx removes rules in one statement; rules that are not
// stored are ignored.
func (a *PostgresAdapter) RemovePoliciesCtx(ctx context.Context, _ string, ptype string, rules [][]string) error {
	var del casbinInsert // the same arrays, matched instead of inserted
	for _, rule := range rules {
		if err := del.add(ptype, rule); err != nil {
			return fmt.Errorf("authz: casbin adapter: remove %s rules: %w", ptype, err)
		}
	}
	if del.len() == 0 {
		return nil
	}
	_, err := a.pool.Exec(ctx, `DELETE FROM `+a.table+` WHERE (ptype, v0, v1, v2, v3, v4, v5) IN (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]))`,
		del.args()...)
	if err != nil {
		return fmt.Errorf("authz: casbin adapter: remove %s rules: %w", ptype, err)
	}
	return nil
}

// RemoveFilteredPolicy removes the rules matching a filter. See
// RemoveFilteredPolicyCtx.
func (a *PostgresAdapter) RemoveFilteredPolicy(sec string, ptype string, fieldIndex int, fieldValues ...string) error {
	return a.RemoveFilteredPolicyCtx(context.Background(), sec, ptype, fieldIndex, fieldValues...)
}

// RemoveFilteredPolicyCtx removes the rules of ptype whose fields from
// fieldIndex on equal fieldValues; an empty value matches any field, as in
// Casbin's model.
func (a *PostgresAdapter) RemoveFilteredPolicyCtx(ctx context.Context, _ string, ptype string, fieldIndex int, fieldValues ...string) error {
	if fieldIndex < 0 || fieldIndex+len(fieldValues) > casbinRuleColumns {
		return fmt.Errorf("authz: casbin adapter: remove filtered %s rules: fields %d..%d are outside v0..v%d",
			ptype, fieldIndex, fieldIndex+len(fieldValues)-1, casbinRuleColumns-1)
	}
	where := []string{"ptype = $1"}
	args := []any{ptype}
	for i, v := range fieldValues {
		if v == "" {
			continue
		}
		args = append(args, v)
		// The column name comes from a number checked above, never from input.
		where = append(where, "v"+strconv.Itoa(fieldIndex+i)+" = $"+strconv.Itoa(len(args)))
	}
	if _, err := a.pool.Exec(ctx, `DELETE FROM `+a.table+` WHERE `+strings.Join(where, " AND "), args...); err != nil {
		return fmt.Errorf("authz: casbin adapter: remove filtered %s rules: %w", ptype, err)
	}
	return nil
}

// lockTable keeps other writers out until tx ends, so two replacements
// running together cannot leave the union of both behind. Readers go on
// reading the old rules meanwhile.
func (a *PostgresAdapter) lockTable(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `LOCK TABLE `+a.table+` IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("lock table: %w", err)
	}
	return nil
}

// casbinExecer is what insert needs: a pool or a transaction.
type casbinExecer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insert stores ins's rules in one statement; duplicates, in ins or in the
// table, are skipped.
func (a *PostgresAdapter) insert(ctx context.Context, db casbinExecer, ins *casbinInsert) error {
	if ins.len() == 0 {
		return nil
	}
	_, err := db.Exec(ctx, `INSERT INTO `+a.table+` (ptype, v0, v1, v2, v3, v4, v5)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
		ON CONFLICT DO NOTHING`, ins.args()...)
	return err
}

// casbinInsert gathers rules column by column, so any number of them go to
// the server as seven array parameters of one statement.
type casbinInsert struct {
	cols [1 + casbinRuleColumns][]string // ptype, v0..v5
}

// add appends rule (without its ptype), padding it to six fields.
func (c *casbinInsert) add(ptype string, rule []string) error {
	if ptype == "" {
		return errors.New("empty ptype")
	}
	if len(rule) > casbinRuleColumns {
		return fmt.Errorf("rule %q has %d fields, the table holds at most %d", rule, len(rule), casbinRuleColumns)
	}
	c.cols[0] = append(c.cols[0], ptype)
	for i := range casbinRuleColumns {
		v := ""
		if i < len(rule) {
			v = rule[i]
		}
		c.cols[1+i] = append(c.cols[1+i], v)
	}
	return nil
}

func (c *casbinInsert) len() int { return len(c.cols[0]) }

func (c *casbinInsert) args() []any {
	args := make([]any, len(c.cols))
	for i, col := range c.cols {
		args[i] = col
	}
	return args
}

// casbinTrim drops trailing empty fields, which stand for unused columns.
func casbinTrim(v []string) []string {
	n := len(v)
	for n > 0 && v[n-1] == "" {
		n--
	}
	return v[:n]
}

// Interface guards.
var (
	_ persist.Adapter             = (*PostgresAdapter)(nil)
	_ persist.BatchAdapter        = (*PostgresAdapter)(nil)
	_ persist.ContextAdapter      = (*PostgresAdapter)(nil)
	_ persist.ContextBatchAdapter = (*PostgresAdapter)(nil)
)
