package authz_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kommungraf/kommungraf/authz"
)

// psBackend is one PolicyStore implementation under test, with a way to
// reach its database behind the store's back.
type psBackend struct {
	name string
	open func(t *testing.T) (authz.PolicyStore, psRaw)
}

// psRaw runs a statement directly on the store's database.
type psRaw struct {
	exec   func(stmt string) error
	casbin *authz.PostgresAdapter // PostgreSQL only
	reopen func(t *testing.T) authz.PolicyStore
}

func psBackends() []psBackend {
	return []psBackend{
		{"sqlite", func(t *testing.T) (authz.PolicyStore, psRaw) {
			t.Helper()
			path := filepath.Join(t.TempDir(), "policy.db")
			open := func(t *testing.T) authz.PolicyStore {
				t.Helper()
				s, err := authz.NewSQLitePolicyStore(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			s := open(t)
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return s, psRaw{exec: func(stmt string) error { _, err := db.Exec(stmt); return err }, reopen: open}
		}},
		{"postgres", func(t *testing.T) (authz.PolicyStore, psRaw) {
			t.Helper()
			pool := pgaPool(t)
			casbin := pgaAdapter(t, pool)
			open := func(t *testing.T) authz.PolicyStore {
				t.Helper()
				s, err := authz.NewPostgresPolicyStore(context.Background(), pool, casbin)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			return open(t), psRaw{exec: func(stmt string) error {
				_, err := pool.Exec(context.Background(), stmt)
				return err
			}, casbin: casbin, reopen: open}
		}},
	}
}

const (
	psV1 = "# first\np, role:a, Query.errand, read, *, clearance, allow\n"
	psV2 = "# second\np, role:a, Query.errand, read, *, clearance, allow\np, role:b, Query.person, read, *, clearance, allow\n"
)

func TestPolicyStore(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456000, time.UTC)
	for _, b := range psBackends() {
		t.Run(b.name, func(t *testing.T) {
			s, raw := b.open(t)
			if _, err := s.Current(ctx); !errors.Is(err, authz.ErrNoPolicyVersion) {
				t.Fatalf("Current of an empty store: %v, want ErrNoPolicyVersion", err)
			}
			seed := authz.PolicyVersion{Text: psV1, Author: authz.SeedAuthor, CreatedAt: at, Comment: "seed"}
			ev := authz.PolicyAuditEvent{At: at, Actor: authz.SeedAuthor, Action: authz.AuditApply, Comment: "seed"}
			if ok, err := s.Seed(ctx, seed, ev); err != nil || !ok {
				t.Fatalf("Seed = %v, %v", ok, err)
			}
			if ok, err := s.Seed(ctx, authz.PolicyVersion{Text: psV2, Author: "x"}); err != nil || ok {
				t.Fatalf("second Seed = %v, %v; want false: a seeded store keeps its versions", ok, err)
			}
			cur, err := s.Current(ctx)
			if err != nil || cur.Number != 1 || cur.Text != psV1 || !cur.CreatedAt.Equal(at) || cur.Author != authz.SeedAuthor {
				t.Fatalf("Current = %+v, %v", cur, err)
			}

			// Proposals are checked against the current version.
			p := authz.Proposal{BaseVersion: 1, Text: psV2, Author: "alice", Comment: "add b", CreatedAt: at, Diff: authz.LineDiff(psV1, psV2)}
			p1, err := s.Propose(ctx, p, authz.PolicyAuditEvent{At: at, Actor: "alice", Action: authz.AuditPropose, Version: 1})
			if err != nil || p1.ID == 0 || p1.Status != authz.ProposalProposed {
				t.Fatalf("Propose = %+v, %v", p1, err)
			}
			p2, err := s.Propose(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			stale := p
			stale.BaseVersion = 2
			var se *authz.StaleVersionError
			if _, err := s.Propose(ctx, stale); !errors.As(err, &se) || se.Base != 2 || se.Current != 1 || !errors.Is(err, authz.ErrStaleVersion) {
				t.Fatalf("Propose on version 2 = %v, want a StaleVersionError 2/1", err)
			}
			if open, err := s.Proposals(ctx, authz.ProposalProposed, 0); err != nil || len(open) != 2 || open[0].ID != p2.ID {
				t.Fatalf("Proposals(proposed) = %+v, %v; want both, newest first", open, err)
			}

			// Applying p1 makes version 2 and supersedes p2.
			v2, got, err := s.Apply(ctx, authz.ApplyRequest{Parent: 1, Text: psV2, Author: "alice", Comment: "add b", Diff: p1.Diff,
				ApprovedBy: "bob", At: at.Add(time.Minute), Proposal: &p1, Events: []authz.PolicyAuditEvent{
					{At: at, Actor: "bob", Action: authz.AuditApprove}, {At: at, Actor: "bob", Action: authz.AuditApply}}})
			if err != nil || v2.Number != 2 || v2.Parent != 1 || v2.ProposalID != p1.ID || v2.ApprovedBy != "bob" ||
				got.Status != authz.ProposalApplied || got.Version != 2 || got.DecidedBy != "bob" {
				t.Fatalf("Apply = %+v, %+v, %v", v2, got, err)
			}
			if p, err := s.Proposal(ctx, p2.ID); err != nil || p.Status != authz.ProposalSuperseded || p.Reason == "" {
				t.Fatalf("the other proposal after Apply: %+v, %v; want superseded with a reason", p, err)
			}
			if _, _, err := s.Apply(ctx, authz.ApplyRequest{Parent: 1, Text: psV1, Author: "carol"}); !errors.As(err, &se) || se.Current != 2 {
				t.Fatalf("Apply on version 1 = %v, want stale", err)
			}
			if _, _, err := s.Apply(ctx, authz.ApplyRequest{Parent: 2, Text: psV1, Author: "bob", Proposal: &p2}); !errors.Is(err, authz.ErrProposalClosed) {
				t.Fatalf("Apply of a superseded proposal = %v, want ErrProposalClosed", err)
			}
			if _, err := s.Proposal(ctx, 999); !errors.Is(err, authz.ErrPolicyNotFound) {
				t.Fatalf("Proposal(999) = %v", err)
			}
			if _, err := s.Version(ctx, 99); !errors.Is(err, authz.ErrPolicyNotFound) {
				t.Fatalf("Version(99) = %v", err)
			}

			// A proposal whose base moved on is superseded when applied.
			p3, err := s.Propose(ctx, authz.Proposal{BaseVersion: 2, Text: psV1, Author: "carol"})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Apply(ctx, authz.ApplyRequest{Parent: 2, Text: psV1, Author: "dave", Proposal: &authz.Proposal{BaseVersion: 2, Text: psV1, Author: "dave"}}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Apply(ctx, authz.ApplyRequest{Parent: 2, Text: psV1, Author: "carol", Proposal: &p3}); !errors.Is(err, authz.ErrProposalClosed) {
				t.Fatalf("Apply of a proposal superseded by a direct apply = %v", err)
			}

			// Reject closes a proposal once.
			p4, err := s.Propose(ctx, authz.Proposal{BaseVersion: 3, Text: psV2, Author: "carol"})
			if err != nil {
				t.Fatal(err)
			}
			if r, err := s.Reject(ctx, p4.ID, "bob", "too broad", at); err != nil || r.Status != authz.ProposalRejected || r.Reason != "too broad" {
				t.Fatalf("Reject = %+v, %v", r, err)
			}
			if _, err := s.Reject(ctx, p4.ID, "bob", "again", at); !errors.Is(err, authz.ErrProposalClosed) {
				t.Fatalf("second Reject = %v", err)
			}

			vs, err := s.Versions(ctx, 0)
			if err != nil || len(vs) != 3 || vs[0].Number != 3 || vs[2].Number != 1 {
				t.Fatalf("Versions = %+v, %v", vs, err)
			}
			if vs, err := s.Versions(ctx, 1); err != nil || len(vs) != 1 {
				t.Fatalf("Versions(1) = %d, %v", len(vs), err)
			}
			events, err := s.Audit(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range events {
				actions = append(actions, e.Action)
			}
			want := []string{"reject", "apply", "approve", "propose", "apply"}
			if !slices.Equal(actions, want) {
				t.Fatalf("audit actions %v, want %v (newest first)", actions, want)
			}
			if e := events[1]; e.ProposalID != p1.ID || e.Version != 2 || e.Actor != "bob" {
				t.Fatalf("apply event %+v: proposal and version are filled in", e)
			}
			if e := events[0]; e.ProposalID != p4.ID || e.Comment != "too broad" {
				t.Fatalf("reject event %+v", e)
			}

			// Versions and the audit are append-only, whoever asks.
			for _, stmt := range []string{
				"UPDATE policy_audit SET actor = 'mallory'", "DELETE FROM policy_audit",
				"UPDATE policy_versions SET rules = ''", "DELETE FROM policy_versions",
			} {
				if err := raw.exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s: %v, want refused as append-only", stmt, err)
				}
			}
			if b.name == "postgres" {
				if err := raw.exec("TRUNCATE policy_audit"); err == nil {
					t.Error("TRUNCATE policy_audit succeeded")
				}
				rules, err := raw.casbin.Rules(ctx, "p")
				if err != nil || len(rules) != 1 || rules[0][0] != "role:a" {
					t.Fatalf("casbin table %v, %v: want version 3's one rule", rules, err)
				}
			}

			// Everything survives a reopen.
			s2 := raw.reopen(t)
			if cur, err := s2.Current(ctx); err != nil || cur.Number != 3 || cur.Text != psV1 {
				t.Fatalf("Current after reopen = %+v, %v", cur, err)
			}
		})
	}
}

// Writers racing on the same version: exactly one wins, the others are
// told the version moved on.
func TestPolicyStoreConcurrentApply(t *testing.T) {
	ctx := context.Background()
	for _, b := range psBackends() {
		t.Run(b.name, func(t *testing.T) {
			s, _ := b.open(t)
			if _, err := s.Seed(ctx, authz.PolicyVersion{Text: psV1, Author: "system"}); err != nil {
				t.Fatal(err)
			}
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, errs[i] = s.Apply(ctx, authz.ApplyRequest{Parent: 1, Text: psV2, Author: "w",
						Proposal: &authz.Proposal{BaseVersion: 1, Text: psV2, Author: "w"}})
				}()
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, authz.ErrStaleVersion):
					t.Errorf("a losing writer got %v, want a stale version", err)
				}
			}
			if won != 1 {
				t.Fatalf("%d writers won, want exactly 1", won)
			}
			if cur, _ := s.Current(ctx); cur.Number != 2 {
				t.Fatalf("current version %d, want 2", cur.Number)
			}
		})
	}
}

// A Casbin table that does not hold the current version is brought up to it
// when the store opens.
func TestPostgresPolicyStoreSyncsCasbinTable(t *testing.T) {
	ctx := context.Background()
	pool := pgaPool(t)
	casbin := pgaAdapter(t, pool)
	open := func(pool *pgxpool.Pool) authz.PolicyStore {
		s, err := authz.NewPostgresPolicyStore(ctx, pool, casbin)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s := open(pool)
	if _, err := s.Seed(ctx, authz.PolicyVersion{Text: psV2, Author: "system"}); err != nil {
		t.Fatal(err)
	}
	if err := casbin.ReplaceAll(ctx, [][]string{{"role:x", "Query.errand", "read", "*", "0", "allow"}}, "p"); err != nil {
		t.Fatal(err)
	}
	open(pool)
	rules, err := casbin.Rules(ctx, "p")
	if err != nil || len(rules) != 2 || rules[1][0] != "role:b" {
		t.Fatalf("casbin table after reopening: %v, %v; want version 1's two rules", rules, err)
	}
}

func TestLineDiff(t *testing.T) {
	tests := []struct {
		name, a, b, want string
	}{
		{"equal", "p, a\np, b\n", "p, a\np, b", ""},
		{"trailing spaces and CRLF do not count", "p, a  \r\np, b\r\n", "p, a\np, b\n", ""},
		{"one line removed", "1\n2\n3\n4\n5\n6\n7\n", "1\n2\n3\n5\n6\n7\n",
			"@@ -2,5 +2,4 @@\n  2\n  3\n- 4\n  5\n  6\n"},
		{"one line added at the end", "1\n2\n3\n", "1\n2\n3\n4\n", "@@ -2,2 +2,3 @@\n  2\n  3\n+ 4\n"},
		{"a line changed", "1\n2\n", "1\nzwei\n", "@@ -1,2 +1,2 @@\n  1\n- 2\n+ zwei\n"},
		{"from nothing", "", "a\nb\n", "@@ -1,0 +1,2 @@\n+ a\n+ b\n"},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "x\n2\n3\n4\n5\n6\n7\n8\n9\ny\n",
			"@@ -1,3 +1,3 @@\n- 1\n+ x\n  2\n  3\n@@ -8,3 +8,3 @@\n  8\n  9\n- 10\n+ y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := authz.LineDiff(tt.a, tt.b); got != tt.want {
				t.Errorf("LineDiff\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
