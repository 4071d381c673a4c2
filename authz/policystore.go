package authz

// The policy store keeps every applied policy version, the proposals waiting
// for a second security officer, and an append-only audit of every step. It
// is the truth the replicas converge on: the Authorizer of each replica only
// ever swaps in what the store calls the current version.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proposal statuses.
const (
	ProposalProposed   = "proposed"
	ProposalApplied    = "applied"
	ProposalRejected   = "rejected"
	ProposalSuperseded = "superseded"
)

// Audit actions.
const (
	AuditPropose = "propose"
	AuditApprove = "approve"
	AuditReject  = "reject"
	AuditApply   = "apply"
	AuditRestore = "restore"
)

// PolicyVersion is one applied policy.
type PolicyVersion struct {
	// Number counts versions from 1; a restore is a new number too.
	Number uint64
	// Text is the policy as it was proposed, comments included.
	Text string
	// Author wrote the change (a principal's Subject, or "system" for the seed).
	Author string
	// CreatedAt is when the version was applied.
	CreatedAt time.Time
	// Comment says why.
	Comment string
	// Diff is the line diff from the parent version (LineDiff).
	Diff string
	// Parent is the version this one replaced; 0 for the first.
	Parent uint64
	// ProposalID is the proposal the version came from; 0 for the seed.
	ProposalID int64
	// ApprovedBy is the second security officer, when approval was required.
	ApprovedBy string
}

// Proposal is a change to the policy, waiting for approval or decided.
type Proposal struct {
	// ID is assigned by the store.
	ID int64
	// BaseVersion is the version the change was written against; it is
	// applied only while that is still the current version.
	BaseVersion uint64
	// Text is the whole proposed policy.
	Text string
	// Author proposed it.
	Author string
	// Comment says why.
	Comment string
	// CreatedAt is when it was proposed.
	CreatedAt time.Time
	// Status is ProposalProposed, ProposalApplied, ProposalRejected or
	// ProposalSuperseded (another change was applied first).
	Status string
	// DecidedBy, DecidedAt and Reason record the decision.
	DecidedBy string
	DecidedAt time.Time
	Reason    string
	// Diff is the line diff from the base version.
	Diff string
	// Restores is the version whose rules the proposal brings back, if any.
	Restores uint64
	// Version is the version the proposal became once applied.
	Version uint64
}

// PolicyAuditEvent is one line of the policy audit: who did what, when, why.
type PolicyAuditEvent struct {
	ID         int64
	At         time.Time
	Actor      string
	Action     string // AuditPropose, AuditApprove, AuditReject, AuditApply, AuditRestore
	ProposalID int64
	Version    uint64
	Comment    string
	Detail     string
}

// ApplyRequest makes a new version current, in one transaction with its
// proposal's status and its audit events.
type ApplyRequest struct {
	// Parent must be the current version, or Apply fails with a
	// *StaleVersionError and changes nothing (an existing proposal is then
	// marked superseded).
	Parent uint64
	// Text, Author, Comment and Diff describe the new version.
	Text, Author, Comment, Diff string
	// ApprovedBy is the approver, if the change needed one.
	ApprovedBy string
	// At is the time of the change.
	At time.Time
	// Proposal, when not nil, is the change's proposal: with ID 0 a new
	// proposal stored as applied at once, else an existing proposal that must
	// still be proposed (ErrProposalClosed otherwise) and becomes applied.
	Proposal *Proposal
	// Events are appended to the audit; an event's ProposalID and Version,
	// when 0, are filled in with the proposal's id and the new version.
	Events []PolicyAuditEvent
}

// PolicyStore keeps policy versions, proposals and the audit. Every method
// that changes something checks the version it builds on inside its own
// transaction, so two writers can never overwrite each other.
type PolicyStore interface {
	// Current is the newest version; ErrNoPolicyVersion when there is none.
	Current(ctx context.Context) (PolicyVersion, error)
	// Version returns version n, or an error wrapping ErrPolicyNotFound.
	Version(ctx context.Context, n uint64) (PolicyVersion, error)
	// Versions lists versions newest first, at most limit (0: all).
	Versions(ctx context.Context, limit int) ([]PolicyVersion, error)
	// Seed stores v as version 1 with its events when the store is empty,
	// and reports whether it did.
	Seed(ctx context.Context, v PolicyVersion, events ...PolicyAuditEvent) (bool, error)
	// Propose stores p as proposed, with its events, if p.BaseVersion is
	// still current (*StaleVersionError otherwise).
	Propose(ctx context.Context, p Proposal, events ...PolicyAuditEvent) (Proposal, error)
	// Proposal returns one proposal, or an error wrapping ErrPolicyNotFound.
	Proposal(ctx context.Context, id int64) (Proposal, error)
	// Proposals lists proposals newest first, of one status ("" for all).
	Proposals(ctx context.Context, status string, limit int) ([]Proposal, error)
	// Apply makes a new version current (see ApplyRequest).
	Apply(ctx context.Context, req ApplyRequest) (PolicyVersion, Proposal, error)
	// Reject marks a proposed proposal rejected, with its audit event.
	Reject(ctx context.Context, id int64, actor, reason string, at time.Time) (Proposal, error)
	// Audit lists audit events newest first, at most limit (0: all).
	Audit(ctx context.Context, limit int) ([]PolicyAuditEvent, error)
	// Close releases the store.
	Close() error
}

// Errors of the policy store and workflow.
var (
	// ErrNoPolicyVersion: the store holds no version yet (not seeded).
	ErrNoPolicyVersion = errors.New("authz: the policy store holds no version")
	// ErrPolicyNotFound is wrapped when a proposal or version does not exist.
	ErrPolicyNotFound = errors.New("not found")
	// ErrStaleVersion is what every *StaleVersionError is.
	ErrStaleVersion = errors.New("the policy has changed since")
	// ErrProposalClosed: the proposal was already applied, rejected or superseded.
	ErrProposalClosed = errors.New("the proposal is no longer open")
)

// StaleVersionError refuses a change written against a version that is no
// longer current: somebody else's change was applied in between.
type StaleVersionError struct {
	Base, Current uint64
}

func (e *StaleVersionError) Error() string {
	return fmt.Sprintf("the change was written against version %d, but version %d is current: reload and apply your change to it", e.Base, e.Current)
}

// Is makes errors.Is(err, ErrStaleVersion) true.
func (e *StaleVersionError) Is(target error) bool { return target == ErrStaleVersion }

// sqlPolicyStore is the PolicyStore over database/sql, for PostgreSQL (pgx)
// and SQLite (modernc.org/sqlite) alike; dialect holds what differs.
type sqlPolicyStore struct {
	db *sql.DB
	d  policyDialect
	// writeMu lets one transaction of this process at a time wait for the
	// writers' lock: a PostgreSQL writer holding it needs a second pooled
	// connection for the Casbin table, which waiting writers would
	// otherwise exhaust.
	writeMu sync.Mutex
}

// policyDialect is what differs between the databases.
type policyDialect struct {
	postgres bool
	// lock serialises writers inside a transaction (PostgreSQL: an advisory
	// lock; SQLite transactions are BEGIN IMMEDIATE and need none).
	lock string
	// beforeCommit runs inside an applying transaction, after the new
	// version is written and before the commit (PostgreSQL: the Casbin table).
	beforeCommit func(ctx context.Context, text string) error
	// close releases what the dialect holds beside db.
	close func() error
}

// q turns the ? placeholders of a statement into $1, $2, ... for PostgreSQL.
func (d policyDialect) q(stmt string) string {
	if !d.postgres {
		return stmt
	}
	var b strings.Builder
	n := 0
	for _, r := range stmt {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sqliteTime is how times are stored in SQLite: fixed width, so text order
// is time order.
const sqliteTime = "2006-01-02T15:04:05.000000000Z"

func (d policyDialect) t(t time.Time) any {
	if t.IsZero() {
		if d.postgres {
			return nil
		}
		return ""
	}
	if d.postgres {
		return t.UTC()
	}
	return t.UTC().Format(sqliteTime)
}

// dbTime scans a time stored by either dialect.
type dbTime struct{ t time.Time }

func (d *dbTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		d.t = time.Time{}
	case time.Time:
		d.t = x.UTC()
	case string:
		return d.parse(x)
	case []byte:
		return d.parse(string(x))
	default:
		return fmt.Errorf("time: unexpected %T", v)
	}
	return nil
}

func (d *dbTime) parse(s string) error {
	if s == "" {
		d.t = time.Time{}
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time %q: %w", s, err)
	}
	d.t = t.UTC()
	return nil
}

func (s *sqlPolicyStore) Close() error {
	err := s.db.Close()
	if s.d.close != nil {
		err = errors.Join(err, s.d.close())
	}
	return err
}

// inTx runs fn in a transaction holding the writers' lock.
func (s *sqlPolicyStore) inTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("authz: policy store: %s: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if s.d.lock != "" {
		if _, err := tx.ExecContext(ctx, s.d.lock); err != nil {
			return fmt.Errorf("authz: policy store: %s: lock: %w", what, err)
		}
	}
	if err := fn(tx); err != nil {
		var stale *StaleVersionError
		if errors.As(err, &stale) || errors.Is(err, ErrPolicyNotFound) || errors.Is(err, ErrProposalClosed) {
			return err
		}
		return fmt.Errorf("authz: policy store: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("authz: policy store: %s: commit: %w", what, err)
	}
	return nil
}

type rowScanner interface{ Scan(dest ...any) error }

const versionColumns = `number, rules, author, created_at, comment, diff, parent, proposal_id, approved_by`

func scanVersion(r rowScanner) (PolicyVersion, error) {
	var v PolicyVersion
	var n, parent int64
	var at dbTime
	err := r.Scan(&n, &v.Text, &v.Author, &at, &v.Comment, &v.Diff, &parent, &v.ProposalID, &v.ApprovedBy)
	v.Number, v.Parent, v.CreatedAt = uint64(n), uint64(parent), at.t
	return v, err
}

const proposalColumns = `id, base_version, rules, author, comment, created_at, status, decided_by, decided_at, reason, diff, restores, version`

func scanProposal(r rowScanner) (Proposal, error) {
	var p Proposal
	var base, restores, version int64
	var created, decided dbTime
	err := r.Scan(&p.ID, &base, &p.Text, &p.Author, &p.Comment, &created, &p.Status, &p.DecidedBy, &decided,
		&p.Reason, &p.Diff, &restores, &version)
	p.BaseVersion, p.Restores, p.Version = uint64(base), uint64(restores), uint64(version)
	p.CreatedAt, p.DecidedAt = created.t, decided.t
	return p, err
}

const auditColumns = `id, at, actor, action, proposal_id, version, comment, detail`

func scanAudit(r rowScanner) (PolicyAuditEvent, error) {
	var e PolicyAuditEvent
	var at dbTime
	var version int64
	err := r.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.ProposalID, &version, &e.Comment, &e.Detail)
	e.At, e.Version = at.t, uint64(version)
	return e, err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *sqlPolicyStore) currentNumber(ctx context.Context, q querier) (uint64, error) {
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) FROM policy_versions`).Scan(&n); err != nil {
		return 0, err
	}
	return uint64(n), nil
}

// Current is the newest version.
func (s *sqlPolicyStore) Current(ctx context.Context) (PolicyVersion, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM policy_versions ORDER BY number DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return PolicyVersion{}, ErrNoPolicyVersion
	}
	if err != nil {
		return PolicyVersion{}, fmt.Errorf("authz: policy store: current version: %w", err)
	}
	return v, nil
}

// Version returns version n.
func (s *sqlPolicyStore) Version(ctx context.Context, n uint64) (PolicyVersion, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, s.d.q(`SELECT `+versionColumns+` FROM policy_versions WHERE number = ?`), int64(n)))
	if errors.Is(err, sql.ErrNoRows) {
		return PolicyVersion{}, fmt.Errorf("policy version %d: %w", n, ErrPolicyNotFound)
	}
	if err != nil {
		return PolicyVersion{}, fmt.Errorf("authz: policy store: version %d: %w", n, err)
	}
	return v, nil
}

func limitClause(limit int) string {
	if limit <= 0 {
		return ""
	}
	return " LIMIT " + strconv.Itoa(limit)
}

func collect[T any](rows *sql.Rows, err error, scan func(rowScanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// Versions lists versions newest first.
func (s *sqlPolicyStore) Versions(ctx context.Context, limit int) ([]PolicyVersion, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+versionColumns+` FROM policy_versions ORDER BY number DESC`+limitClause(limit))
	vs, err := collect(rows, err, scanVersion)
	if err != nil {
		return nil, fmt.Errorf("authz: policy store: versions: %w", err)
	}
	return vs, nil
}

func (s *sqlPolicyStore) insertVersion(ctx context.Context, tx *sql.Tx, v PolicyVersion) error {
	_, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO policy_versions (`+versionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		int64(v.Number), v.Text, v.Author, s.d.t(v.CreatedAt), v.Comment, v.Diff, int64(v.Parent), v.ProposalID, v.ApprovedBy)
	return err
}

func (s *sqlPolicyStore) insertEvents(ctx context.Context, tx *sql.Tx, events []PolicyAuditEvent, proposal int64, version uint64) error {
	for _, e := range events {
		if e.ProposalID == 0 {
			e.ProposalID = proposal
		}
		if e.Version == 0 {
			e.Version = version
		}
		if e.At.IsZero() {
			e.At = time.Now()
		}
		_, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO policy_audit (at, actor, action, proposal_id, version, comment, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			s.d.t(e.At), e.Actor, e.Action, e.ProposalID, int64(e.Version), e.Comment, e.Detail)
		if err != nil {
			return fmt.Errorf("audit %s: %w", e.Action, err)
		}
	}
	return nil
}

// Seed stores v as version 1 when the store is empty.
func (s *sqlPolicyStore) Seed(ctx context.Context, v PolicyVersion, events ...PolicyAuditEvent) (bool, error) {
	seeded := false
	err := s.inTx(ctx, "seed", func(tx *sql.Tx) error {
		cur, err := s.currentNumber(ctx, tx)
		if err != nil || cur != 0 {
			return err
		}
		v.Number, v.Parent = 1, 0
		if v.CreatedAt.IsZero() {
			v.CreatedAt = time.Now()
		}
		if err := s.insertVersion(ctx, tx, v); err != nil {
			return err
		}
		if err := s.insertEvents(ctx, tx, events, 0, 1); err != nil {
			return err
		}
		if s.d.beforeCommit != nil {
			if err := s.d.beforeCommit(ctx, v.Text); err != nil {
				return err
			}
		}
		seeded = true
		return nil
	})
	return seeded, err
}

func (s *sqlPolicyStore) insertProposal(ctx context.Context, tx *sql.Tx, p Proposal) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, s.d.q(`INSERT INTO policy_proposals
		(base_version, rules, author, comment, created_at, status, decided_by, decided_at, reason, diff, restores, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		int64(p.BaseVersion), p.Text, p.Author, p.Comment, s.d.t(p.CreatedAt), p.Status, p.DecidedBy, s.d.t(p.DecidedAt),
		p.Reason, p.Diff, int64(p.Restores), int64(p.Version)).Scan(&id)
	return id, err
}

// Propose stores p as proposed if its base is still current.
func (s *sqlPolicyStore) Propose(ctx context.Context, p Proposal, events ...PolicyAuditEvent) (Proposal, error) {
	err := s.inTx(ctx, "propose", func(tx *sql.Tx) error {
		cur, err := s.currentNumber(ctx, tx)
		if err != nil {
			return err
		}
		if cur != p.BaseVersion {
			return &StaleVersionError{Base: p.BaseVersion, Current: cur}
		}
		p.Status, p.DecidedBy, p.DecidedAt, p.Reason, p.Version = ProposalProposed, "", time.Time{}, "", 0
		if p.CreatedAt.IsZero() {
			p.CreatedAt = time.Now()
		}
		if p.ID, err = s.insertProposal(ctx, tx, p); err != nil {
			return err
		}
		return s.insertEvents(ctx, tx, events, p.ID, 0)
	})
	if err != nil {
		return Proposal{}, err
	}
	return p, nil
}

func (s *sqlPolicyStore) proposal(ctx context.Context, q querier, id int64) (Proposal, error) {
	p, err := scanProposal(q.QueryRowContext(ctx, s.d.q(`SELECT `+proposalColumns+` FROM policy_proposals WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return Proposal{}, fmt.Errorf("proposal %d: %w", id, ErrPolicyNotFound)
	}
	return p, err
}

// Proposal returns one proposal.
func (s *sqlPolicyStore) Proposal(ctx context.Context, id int64) (Proposal, error) {
	p, err := s.proposal(ctx, s.db, id)
	if err != nil && !errors.Is(err, ErrPolicyNotFound) {
		return Proposal{}, fmt.Errorf("authz: policy store: proposal %d: %w", id, err)
	}
	return p, err
}

// Proposals lists proposals newest first.
func (s *sqlPolicyStore) Proposals(ctx context.Context, status string, limit int) ([]Proposal, error) {
	stmt := `SELECT ` + proposalColumns + ` FROM policy_proposals`
	var args []any
	if status != "" {
		stmt += ` WHERE status = ?`
		args = append(args, status)
	}
	rows, err := s.db.QueryContext(ctx, s.d.q(stmt+` ORDER BY id DESC`+limitClause(limit)), args...)
	ps, err := collect(rows, err, scanProposal)
	if err != nil {
		return nil, fmt.Errorf("authz: policy store: proposals: %w", err)
	}
	return ps, nil
}

// Apply makes a new version current.
func (s *sqlPolicyStore) Apply(ctx context.Context, req ApplyRequest) (PolicyVersion, Proposal, error) {
	if req.At.IsZero() {
		req.At = time.Now()
	}
	var v PolicyVersion
	var p Proposal
	var stale error
	err := s.inTx(ctx, "apply", func(tx *sql.Tx) error {
		if req.Proposal != nil && req.Proposal.ID != 0 {
			old, err := s.proposal(ctx, tx, req.Proposal.ID)
			if err != nil {
				return err
			}
			if old.Status != ProposalProposed {
				return fmt.Errorf("proposal %d is %s: %w", old.ID, old.Status, ErrProposalClosed)
			}
			p = old
		}
		cur, err := s.currentNumber(ctx, tx)
		if err != nil {
			return err
		}
		if cur != req.Parent {
			stale = &StaleVersionError{Base: req.Parent, Current: cur}
			if p.ID == 0 {
				return stale
			}
			// The proposal can never be applied now: say so, and commit that.
			_, err := tx.ExecContext(ctx, s.d.q(`UPDATE policy_proposals SET status = ?, decided_at = ?, reason = ? WHERE id = ?`),
				ProposalSuperseded, s.d.t(req.At), fmt.Sprintf("version %d was applied after version %d, which this proposal was written against", cur, req.Parent), p.ID)
			return err
		}
		n := cur + 1
		switch {
		case req.Proposal == nil:
		case p.ID == 0: // a new proposal, applied at once
			p = *req.Proposal
			p.Status, p.DecidedBy, p.DecidedAt, p.Version = ProposalApplied, req.ApprovedBy, req.At, n
			if p.CreatedAt.IsZero() {
				p.CreatedAt = req.At
			}
			if p.ID, err = s.insertProposal(ctx, tx, p); err != nil {
				return err
			}
		default:
			p.Status, p.DecidedBy, p.DecidedAt, p.Version = ProposalApplied, req.ApprovedBy, req.At, n
			if _, err := tx.ExecContext(ctx, s.d.q(`UPDATE policy_proposals SET status = ?, decided_by = ?, decided_at = ?, version = ? WHERE id = ? AND status = ?`),
				p.Status, p.DecidedBy, s.d.t(p.DecidedAt), int64(n), p.ID, ProposalProposed); err != nil {
				return err
			}
		}
		v = PolicyVersion{Number: n, Text: req.Text, Author: req.Author, CreatedAt: req.At, Comment: req.Comment,
			Diff: req.Diff, Parent: cur, ProposalID: p.ID, ApprovedBy: req.ApprovedBy}
		if err := s.insertVersion(ctx, tx, v); err != nil {
			return err
		}
		// Every other open proposal was written against an older version.
		if _, err := tx.ExecContext(ctx, s.d.q(`UPDATE policy_proposals SET status = ?, decided_at = ?, reason = ? WHERE status = ? AND id <> ?`),
			ProposalSuperseded, s.d.t(req.At), fmt.Sprintf("version %d was applied first", n), ProposalProposed, p.ID); err != nil {
			return err
		}
		if err := s.insertEvents(ctx, tx, req.Events, p.ID, n); err != nil {
			return err
		}
		if s.d.beforeCommit != nil {
			return s.d.beforeCommit(ctx, v.Text)
		}
		return nil
	})
	if err == nil && stale != nil {
		err = stale
	}
	if err != nil {
		return PolicyVersion{}, Proposal{}, err
	}
	return v, p, nil
}

// Reject marks a proposed proposal rejected.
func (s *sqlPolicyStore) Reject(ctx context.Context, id int64, actor, reason string, at time.Time) (Proposal, error) {
	if at.IsZero() {
		at = time.Now()
	}
	var p Proposal
	err := s.inTx(ctx, "reject", func(tx *sql.Tx) error {
		var err error
		if p, err = s.proposal(ctx, tx, id); err != nil {
			return err
		}
		if p.Status != ProposalProposed {
			return fmt.Errorf("proposal %d is %s: %w", id, p.Status, ErrProposalClosed)
		}
		p.Status, p.DecidedBy, p.DecidedAt, p.Reason = ProposalRejected, actor, at, reason
		if _, err := tx.ExecContext(ctx, s.d.q(`UPDATE policy_proposals SET status = ?, decided_by = ?, decided_at = ?, reason = ? WHERE id = ?`),
			p.Status, p.DecidedBy, s.d.t(at), reason, id); err != nil {
			return err
		}
		return s.insertEvents(ctx, tx, []PolicyAuditEvent{{At: at, Actor: actor, Action: AuditReject, Version: p.BaseVersion, Comment: reason}}, id, 0)
	})
	if err != nil {
		return Proposal{}, err
	}
	return p, nil
}

// Audit lists audit events newest first.
func (s *sqlPolicyStore) Audit(ctx context.Context, limit int) ([]PolicyAuditEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM policy_audit ORDER BY id DESC`+limitClause(limit))
	es, err := collect(rows, err, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("authz: policy store: audit: %w", err)
	}
	return es, nil
}

// migrate runs the dialect's DDL in one transaction.
func (s *sqlPolicyStore) migrate(ctx context.Context, ddl []string) error {
	return s.inTx(ctx, "set up tables", func(tx *sql.Tx) error {
		for _, stmt := range ddl {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
}

// LineDiff is a unified-style diff of two policy texts, line by line: hunks
// headed "@@ -a,n +b,m @@", with two lines of context ("  "), removed lines
// ("- ") and added lines ("+ "). Equal texts give "". Trailing spaces and
// Windows line ends do not count as changes.
func LineDiff(before, after string) string {
	a, b := diffLines(before), diffLines(after)
	ops := diffOps(a, b)
	const context = 2
	var out strings.Builder
	// Walk the ops, emitting hunks around changes.
	i := 0
	for i < len(ops) {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(0, i-context)
		end := i
		// Extend the hunk while changes are within 2*context of each other.
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j
				continue
			}
			if j-end > 2*context {
				break
			}
		}
		stop := min(len(ops), end+context+1)
		aStart, bStart, aN, bN := ops[start].a, ops[start].b, 0, 0
		for _, op := range ops[start:stop] {
			if op.kind != '+' {
				aN++
			}
			if op.kind != '-' {
				bN++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", aStart+1, aN, bStart+1, bN)
		for _, op := range ops[start:stop] {
			out.WriteByte(op.kind)
			out.WriteByte(' ')
			out.WriteString(op.text)
			out.WriteByte('\n')
		}
		i = stop
	}
	return out.String()
}

func diffLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimRight(s, "\n \t")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return lines
}

type diffOp struct {
	kind byte // ' ', '-', '+'
	text string
	a, b int // the line's index in a and b (before it, for + and -)
}

// maxDiffCells bounds the longest-common-subsequence table; beyond it the
// diff is "everything removed, everything added", still correct.
const maxDiffCells = 4 << 20

func diffOps(a, b []string) []diffOp {
	// Strip the common prefix and suffix: policy changes are usually small.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []diffOp
	for k := 0; k < pre; k++ {
		ops = append(ops, diffOp{' ', a[k], k, k})
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	if len(ma)*len(mb) > maxDiffCells {
		for k, l := range ma {
			ops = append(ops, diffOp{'-', l, pre + k, pre})
		}
		for k, l := range mb {
			ops = append(ops, diffOp{'+', l, pre + len(ma), pre + k})
		}
	} else {
		// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
		w := len(mb) + 1
		lcs := make([]int32, (len(ma)+1)*w)
		for i := len(ma) - 1; i >= 0; i-- {
			for j := len(mb) - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
				} else {
					lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(ma) || j < len(mb) {
			switch {
			case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
				ops = append(ops, diffOp{' ', ma[i], pre + i, pre + j})
				i++
				j++
			case i < len(ma) && (j == len(mb) || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
				ops = append(ops, diffOp{'-', ma[i], pre + i, pre + j})
				i++
			default:
				ops = append(ops, diffOp{'+', mb[j], pre + i, pre + j})
				j++
			}
		}
	}
	for k := 0; k < suf; k++ {
		ia, ib := len(a)-suf+k, len(b)-suf+k
		ops = append(ops, diffOp{' ', a[ia], ia, ib})
	}
	return ops
}

// Interface guard.
var _ PolicyStore = (*sqlPolicyStore)(nil)
