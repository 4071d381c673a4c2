package authz_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/authz"
)

// The demo's policy lines the tests change.
const (
	pfAddressLine = "p, role:case-officer, Address.*, read, bygglov, clearance, allow"
	pfAdminLine   = `p, role:security-officer, "{policy,accesslog,cache}", admin, *, 0, allow`
)

type pfFixture struct {
	flow  *authz.PolicyFlow
	a     *authz.Authorizer
	roles map[string]authz.RoleGrant
	store authz.PolicyStore
	log   *authz.JSONLAccessLog
	now   time.Time
}

// newPolicyFlow is the demo's policy, roles and contracts behind a flow on a
// fresh SQLite store, with an access log the dry run replays.
func newPolicyFlow(t *testing.T, requireApproval bool) *pfFixture {
	t.Helper()
	store, err := authz.NewSQLitePolicyStore(context.Background(), filepath.Join(t.TempDir(), "policy.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newPolicyFlowOn(t, store, requireApproval, nil)
}

func newPolicyFlowOn(t *testing.T, store authz.PolicyStore, requireApproval bool, notifier authz.PolicyNotifier) *pfFixture {
	t.Helper()
	a, roles := defaultAuthorizer(t)
	log, err := authz.NewJSONLAccessLog(filepath.Join(t.TempDir(), "access.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	fx := &pfFixture{a: a, roles: roles, store: store, log: log, now: time.Now()}
	fx.flow, err = authz.NewPolicyFlow(context.Background(), authz.PolicyFlowOptions{
		Store: store, Authorizer: a, Roles: roles, RequireApproval: requireApproval, Notifier: notifier,
		AccessLog: log, Seed: authz.DefaultPolicy(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return fx.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// without removes a line of the demo's policy.
func without(t *testing.T, text, line string) string {
	t.Helper()
	out := strings.Replace(text, line+"\n", "", 1)
	if out == text {
		t.Fatalf("the policy has no line %q", line)
	}
	return out
}

// decide is persona x field under the live policy of fx.
func (fx *pfFixture) decide(t *testing.T, persona, field string) bool {
	t.Helper()
	p, err := authz.PersonaPrincipal(persona, fx.roles)
	if err != nil {
		t.Fatal(err)
	}
	typ, name, _ := strings.Cut(field, ".")
	f := fx.a.Catalog().Field(typ, name)
	if f == nil {
		t.Fatalf("no field %s", field)
	}
	return fx.a.Decide(authz.Prepare(p), f, false).Allow
}

// unchanged asserts that nothing took effect: version 1 is live and stored.
func (fx *pfFixture) unchanged(t *testing.T) {
	t.Helper()
	cur, err := fx.store.Current(context.Background())
	if err != nil || cur.Number != 1 || fx.a.Version() != 1 || !fx.decide(t, "case-officer", "Address.city") {
		t.Fatalf("the live policy changed: store %d (%v), live %d", cur.Number, err, fx.a.Version())
	}
	if ps, _ := fx.store.Proposals(context.Background(), "", 0); len(ps) != 0 {
		t.Fatalf("a refused change left %d proposals", len(ps))
	}
}

func TestProposeRefusesInvalidLines(t *testing.T) {
	base := authz.DefaultPolicy()
	tests := []struct {
		name, line, msg string
	}{
		{"wrong field count", "p, role:case-officer, Address.city, read, bygglov, allow", "6 fields, want 7"},
		{"leading comma", ", role:case-officer, Address.city, read, bygglov, clearance, allow", "starts with its type"},
		{"a level that does not parse", "p, role:case-officer, Address.city, read, bygglov, clearance), allow", `level "clearance)"`},
		{"an object glob that does not parse", "p, role:case-officer, [, read, bygglov, clearance, allow", `object "[" is not a valid glob`},
		{"an unknown action", "p, role:case-officer, Address.city, write, bygglov, clearance, allow", `action "write"`},
		{"a field the schema does not have", "p, role:case-officer, Address.planet, read, bygglov, clearance, allow", "matches no field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newPolicyFlow(t, false)
			text := base + tt.line + "\n"
			want := strings.Count(text, "\n")
			_, err := fx.flow.Propose(context.Background(), "demo-security-officer", 1, text, "broken")
			var pe *authz.PolicyError
			if !errors.As(err, &pe) || len(pe.Lines) != 1 || pe.Lines[0].Line != want || !strings.Contains(pe.Lines[0].Msg, tt.msg) {
				t.Fatalf("Propose = %v, want a PolicyError for line %d: %s", err, want, tt.msg)
			}
			fx.unchanged(t)
			if _, err := fx.flow.DryRun(context.Background(), text); !errors.As(err, &pe) {
				t.Fatalf("DryRun = %v, want the same PolicyError", err)
			}
		})
	}
}

func TestProposeGuardRails(t *testing.T) {
	base := authz.DefaultPolicy()
	tests := []struct {
		name, text, rail string
	}{
		{"no role can administer the policy", without(t, base, pfAdminLine), authz.RailAdminLockout},
		{"administration denied to every role", base + "p, *, policy, admin, *, 3, deny\n", authz.RailAdminLockout},
		{"health data to every authenticated user", base + "p, authenticated, Placement.specialDiet, read, *, 3, allow\n", authz.RailLevel3Everyone},
		{"everything at level 3 to everyone", base + "p, *, *, read, *, 3, allow\n", authz.RailLevel3Everyone},
		{"the protection flag to everyone at their clearance", base + "p, authenticated, Person.protectedIdentity, read, *, clearance, allow\n", authz.RailLevel3Everyone},
		{"protected persons' names to everyone", base + "p, authenticated, Person.givenName, read, *, 3, allow\n", authz.RailLevel3Everyone},
		{"policy administration to everyone", base + "p, authenticated, policy, admin, *, 0, allow\n", authz.RailAdminEveryone},
		{"the access log to anonymous callers", base + "p, *, accesslog, admin, *, 0, allow\n", authz.RailAdminEveryone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newPolicyFlow(t, false)
			_, err := fx.flow.Propose(context.Background(), "demo-security-officer", 1, tt.text, "")
			var gr *authz.GuardRailError
			if !errors.As(err, &gr) || !slices.ContainsFunc(gr.Rails, func(r authz.GuardRail) bool { return r.Name == tt.rail }) {
				t.Fatalf("Propose = %v, want guard rail %s", err, tt.rail)
			}
			fx.unchanged(t)
			rep, err := fx.flow.DryRun(context.Background(), tt.text)
			if err != nil || len(rep.GuardRails) == 0 || rep.GuardRails[0].Name != tt.rail {
				t.Fatalf("DryRun = %+v, %v: want the guard rail reported", rep.GuardRails, err)
			}
		})
	}
	t.Run("a unit may hold the administration", func(t *testing.T) {
		fx := newPolicyFlow(t, false)
		text := without(t, base, pfAdminLine) + `p, unit:Informationssäkerhet, "{policy,accesslog,cache}", admin, *, 0, allow` + "\n"
		if _, err := fx.flow.Propose(context.Background(), "demo-security-officer", 1, text, ""); err != nil {
			t.Fatalf("Propose = %v, want it applied: the unit's officers can still administer", err)
		}
	})
}

func TestProposeStaleVersion(t *testing.T) {
	fx := newPolicyFlow(t, false)
	ctx := context.Background()
	text := without(t, authz.DefaultPolicy(), pfAddressLine)
	var se *authz.StaleVersionError
	for _, base := range []uint64{0, 2} {
		if _, err := fx.flow.Propose(ctx, "demo-security-officer", base, text, ""); !errors.As(err, &se) || se.Current != 1 {
			t.Fatalf("Propose on version %d = %v, want stale", base, err)
		}
	}
	fx.unchanged(t)
	// Two officers start from version 1; the second to propose loses.
	if _, err := fx.flow.Propose(ctx, "demo-security-officer", 1, text, "first"); err != nil {
		t.Fatal(err)
	}
	other := authz.DefaultPolicy() + "p, role:analyst, Errand.description, read, statistik, clearance, allow\n"
	if _, err := fx.flow.Propose(ctx, "demo-security-officer-2", 1, other, "second"); !errors.As(err, &se) || se.Base != 1 || se.Current != 2 {
		t.Fatalf("the second Propose = %v, want stale 1/2", err)
	}
	if fx.a.Version() != 2 || fx.decide(t, "case-officer", "Address.city") || fx.decide(t, "analyst", "Errand.description") {
		t.Fatal("the first change must be live and the second must not")
	}
	if _, err := fx.flow.Propose(ctx, "demo-security-officer", 2, text, "again"); !errors.Is(err, authz.ErrNoChange) {
		t.Fatalf("proposing the current policy = %v, want ErrNoChange", err)
	}
}

func TestProposeWithoutApprovalApplies(t *testing.T) {
	fx := newPolicyFlow(t, false)
	ctx := context.Background()
	res, err := fx.flow.Propose(ctx, "demo-security-officer", 1, without(t, authz.DefaultPolicy(), pfAddressLine), "no addresses")
	if err != nil || !res.Applied || res.Version != 2 || res.Proposal.Status != authz.ProposalApplied {
		t.Fatalf("Propose = %+v, %v", res, err)
	}
	if fx.a.Version() != 2 || fx.decide(t, "case-officer", "Address.city") {
		t.Fatal("the change is not live")
	}
	if !fx.decide(t, "case-officer", "Person.givenName") {
		t.Fatal("the change took more than the address")
	}
	v, _ := fx.store.Current(ctx)
	if v.Author != "demo-security-officer" || v.Comment != "no addresses" || !strings.Contains(v.Diff, "- "+pfAddressLine) {
		t.Fatalf("version 2 = %+v", v)
	}
	assertAudit(t, fx.store, "apply", "propose", "apply")
}

func TestApproval(t *testing.T) {
	ctx := context.Background()
	text := without(t, authz.DefaultPolicy(), pfAddressLine)
	t.Run("the author cannot approve, a second officer can", func(t *testing.T) {
		fx := newPolicyFlow(t, true)
		res, err := fx.flow.Propose(ctx, "demo-security-officer", 1, text, "no addresses")
		if err != nil || res.Applied || res.Proposal.Status != authz.ProposalProposed {
			t.Fatalf("Propose = %+v, %v; want it waiting for approval", res, err)
		}
		if fx.a.Version() != 1 || !fx.decide(t, "case-officer", "Address.city") {
			t.Fatal("a proposal took effect before approval")
		}
		if _, _, err := fx.flow.Approve(ctx, "demo-security-officer", res.Proposal.ID); !errors.Is(err, authz.ErrSelfApproval) {
			t.Fatalf("approval by the author = %v, want ErrSelfApproval", err)
		}
		v, p, err := fx.flow.Approve(ctx, "demo-security-officer-2", res.Proposal.ID)
		if err != nil || v.Number != 2 || v.ApprovedBy != "demo-security-officer-2" || v.Author != "demo-security-officer" || p.Status != authz.ProposalApplied {
			t.Fatalf("Approve = %+v, %+v, %v", v, p, err)
		}
		if fx.a.Version() != 2 || fx.decide(t, "case-officer", "Address.city") {
			t.Fatal("the approved change is not live")
		}
		if _, _, err := fx.flow.Approve(ctx, "demo-security-officer-2", res.Proposal.ID); !errors.Is(err, authz.ErrProposalClosed) {
			t.Fatalf("approving twice = %v", err)
		}
		assertAudit(t, fx.store, "apply", "approve", "propose", "apply")
	})
	t.Run("a proposal whose base moved on is refused", func(t *testing.T) {
		fx := newPolicyFlow(t, true)
		first, err := fx.flow.Propose(ctx, "demo-security-officer", 1, text, "first")
		if err != nil {
			t.Fatal(err)
		}
		second, err := fx.flow.Propose(ctx, "demo-security-officer", 1, authz.DefaultPolicy()+"p, role:analyst, Errand.description, read, statistik, clearance, allow\n", "second")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := fx.flow.Approve(ctx, "demo-security-officer-2", first.Proposal.ID); err != nil {
			t.Fatal(err)
		}
		var se *authz.StaleVersionError
		if _, _, err := fx.flow.Approve(ctx, "demo-security-officer-2", second.Proposal.ID); !errors.As(err, &se) || se.Current != 2 {
			t.Fatalf("approving a proposal written against version 1 = %v, want stale", err)
		}
		if p, _ := fx.store.Proposal(ctx, second.Proposal.ID); p.Status != authz.ProposalSuperseded {
			t.Fatalf("the stale proposal is %s, want superseded", p.Status)
		}
		if fx.decide(t, "analyst", "Errand.description") {
			t.Fatal("the stale proposal took effect")
		}
	})
	t.Run("rejected", func(t *testing.T) {
		fx := newPolicyFlow(t, true)
		res, err := fx.flow.Propose(ctx, "demo-security-officer", 1, text, "")
		if err != nil {
			t.Fatal(err)
		}
		p, err := fx.flow.Reject(ctx, "demo-security-officer-2", res.Proposal.ID, "the case officers need addresses")
		if err != nil || p.Status != authz.ProposalRejected || p.DecidedBy != "demo-security-officer-2" {
			t.Fatalf("Reject = %+v, %v", p, err)
		}
		if _, _, err := fx.flow.Approve(ctx, "demo-security-officer-2", res.Proposal.ID); !errors.Is(err, authz.ErrProposalClosed) {
			t.Fatalf("approving a rejected proposal = %v", err)
		}
		if fx.a.Version() != 1 {
			t.Fatal("a rejected proposal took effect")
		}
		assertAudit(t, fx.store, "reject", "propose", "apply")
	})
	t.Run("the guard rails are checked again at approval", func(t *testing.T) {
		fx := newPolicyFlow(t, true)
		res, err := fx.flow.Propose(ctx, "demo-security-officer", 1, text, "")
		if err != nil {
			t.Fatal(err)
		}
		// The role table changes under the proposal: no security-officer role any more.
		delete(fx.roles, "security-officer")
		var gr *authz.GuardRailError
		if _, _, err := fx.flow.Approve(ctx, "demo-security-officer-2", res.Proposal.ID); !errors.As(err, &gr) {
			t.Fatalf("Approve = %v, want the lock-out guard rail", err)
		}
	})
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	for _, approval := range []bool{false, true} {
		name := "without approval"
		if approval {
			name = "with approval"
		}
		t.Run(name, func(t *testing.T) {
			fx := newPolicyFlow(t, approval)
			res, err := fx.flow.Propose(ctx, "demo-security-officer", 1, without(t, authz.DefaultPolicy(), pfAddressLine), "no addresses")
			if err != nil {
				t.Fatal(err)
			}
			if approval {
				if _, _, err := fx.flow.Approve(ctx, "demo-security-officer-2", res.Proposal.ID); err != nil {
					t.Fatal(err)
				}
			}
			if fx.decide(t, "case-officer", "Address.city") {
				t.Fatal("setup: the address is still readable")
			}
			if _, err := fx.flow.Restore(ctx, "demo-security-officer", 2, ""); !errors.Is(err, authz.ErrNoChange) {
				t.Fatalf("restoring the current version = %v, want ErrNoChange", err)
			}
			if _, err := fx.flow.Restore(ctx, "demo-security-officer", 9, ""); !errors.Is(err, authz.ErrPolicyNotFound) {
				t.Fatalf("restoring version 9 = %v", err)
			}
			r, err := fx.flow.Restore(ctx, "demo-security-officer", 1, "")
			if err != nil || r.Proposal.Restores != 1 || r.Applied == approval || r.Proposal.Comment != "restore version 1" {
				t.Fatalf("Restore = %+v, %v", r, err)
			}
			if approval {
				if fx.a.Version() != 2 {
					t.Fatal("a restore took effect before approval")
				}
				if _, _, err := fx.flow.Approve(ctx, "demo-security-officer-2", r.Proposal.ID); err != nil {
					t.Fatal(err)
				}
			}
			v1, _ := fx.store.Version(ctx, 1)
			v3, err := fx.store.Current(ctx)
			if err != nil || v3.Number != 3 || v3.Text != v1.Text || fx.a.Version() != 3 {
				t.Fatalf("version 3 = %d (%v), live %d; want version 1's rules", v3.Number, err, fx.a.Version())
			}
			if !fx.decide(t, "case-officer", "Address.city") {
				t.Fatal("the restore did not give the address back")
			}
			events, _ := fx.store.Audit(ctx, 0)
			if !slices.ContainsFunc(events, func(e authz.PolicyAuditEvent) bool { return e.Action == authz.AuditRestore && e.Version == 1 }) {
				t.Fatalf("no restore of version 1 in the audit: %+v", events)
			}
		})
	}
}

func TestDryRun(t *testing.T) {
	fx := newPolicyFlow(t, false)
	ctx := context.Background()
	appendEntry := func(e authz.AccessEntry) {
		t.Helper()
		if err := fx.log.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	recent := fx.now.Add(-time.Hour)
	officer := authz.AccessEntry{Time: recent, Subject: "demo-case-officer", Client: "bygglov-app", Unit: "Bygg- och miljönämnden",
		Roles: []string{"case-officer"}, Purposes: []string{"bygglov"}, Outcome: authz.OutcomeServed}
	withCity := officer
	withCity.Fields = []string{"Address.city", "Person.givenName"}
	namesOnly := officer
	namesOnly.Fields = []string{"Person.givenName", "Person.surname"}
	deniedCity := officer
	deniedCity.Denied, deniedCity.Outcome = []string{"Address.city@errand.stakeholders.0.person.address.city"}, authz.OutcomeDenied
	old := withCity
	old.Time = fx.now.Add(-25 * time.Hour)
	preschool := authz.AccessEntry{Time: recent, Subject: "demo-preschool-admin", Client: "preschool-app", Roles: []string{"preschool-admin"},
		Purposes: []string{"forskoleplacering"}, Fields: []string{"Address.city"}, Outcome: authz.OutcomeServed}
	for _, e := range []authz.AccessEntry{withCity, namesOnly, deniedCity, old, preschool} {
		appendEntry(e)
	}

	rep, err := fx.flow.DryRun(ctx, without(t, authz.DefaultPolicy(), pfAddressLine))
	if err != nil {
		t.Fatal(err)
	}
	find := func(role, client, field string, protected bool) *authz.DecisionChange {
		for i, c := range rep.Changes {
			if c.Role == role && c.Client == client && c.Field == field && c.Protected == protected {
				return &rep.Changes[i]
			}
		}
		return nil
	}
	c := find("case-officer", "bygglov-app", "Address.city", false)
	if c == nil || !c.Before || c.After || c.Action != authz.ActRead {
		t.Fatalf("case-officer x Address.city: %+v, want allowed before and denied after (changes: %+v)", c, rep.Changes)
	}
	for _, c := range rep.Changes {
		if c.Role != "case-officer" || !strings.HasPrefix(c.Field, "Address.") || c.After {
			t.Errorf("unexpected change %+v", c)
		}
	}
	if find("case-officer", "bygglov-app", "Address.city", true) != nil {
		t.Error("a protected person's address was never readable by the case officer: it cannot change")
	}
	// The case officer's request that served Address.city and the one that
	// was denied it are examined; only the first would be answered
	// differently (the denial stays a denial). The old entry is outside the
	// window, the preschool administrator keeps her access.
	if rep.Recent.Examined != 4 || rep.Recent.Changed != 1 || rep.Recent.Unavailable {
		t.Fatalf("recent = %+v, want 4 examined, 1 changed", rep.Recent)
	}
	if rep.BaseVersion != 1 || len(rep.GuardRails) != 0 || fx.a.Version() != 1 {
		t.Fatalf("dry run: base %d, rails %v, live %d", rep.BaseVersion, rep.GuardRails, fx.a.Version())
	}

	t.Run("granting shows up too", func(t *testing.T) {
		deniedChildren := officer
		deniedChildren.Denied, deniedChildren.Outcome = []string{"Person.children@person.children"}, authz.OutcomeDenied
		appendEntry(deniedChildren)
		rep, err := fx.flow.DryRun(ctx, authz.DefaultPolicy()+"p, role:case-officer, Person.children, read, bygglov, clearance, allow\n")
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Changes) != 1 || rep.Changes[0].Field != "Person.children" || rep.Changes[0].Before || !rep.Changes[0].After ||
			!strings.Contains(rep.Changes[0].Rule, "Person.children") {
			t.Fatalf("changes %+v", rep.Changes)
		}
		if rep.Recent.Examined != 5 || rep.Recent.Changed != 1 {
			t.Fatalf("recent = %+v, want the denied request for children counted", rep.Recent)
		}
	})
	t.Run("administration changes are reported", func(t *testing.T) {
		rep, err := fx.flow.DryRun(ctx, authz.DefaultPolicy()+"p, role:analyst, cache, admin, *, 0, allow\n")
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Changes) == 0 || rep.Changes[0].Action != authz.ActAdmin || rep.Changes[0].Field != authz.ObjCache || rep.Changes[0].Role != "analyst" {
			t.Fatalf("changes %+v", rep.Changes)
		}
	})
}

func TestCatalogView(t *testing.T) {
	fx := newPolicyFlow(t, false)
	var city *authz.FieldAccess
	for _, fa := range fx.flow.Catalog() {
		if fa.Field.Key == "Address.city" {
			city = &fa
		}
	}
	if city == nil {
		t.Fatal("no Address.city in the catalog")
	}
	i := slices.IndexFunc(city.Access, func(a authz.RoleAccess) bool { return a.Role == "case-officer" && a.Client == "bygglov-app" })
	if i < 0 || !city.Access[i].Allowed || city.Access[i].ProtectedAllowed {
		t.Fatalf("case-officer access to Address.city: %+v", city.Access)
	}
	if !slices.Contains(city.Rules, pfAddressLine) || !slices.Contains(city.Clients, "bygglov-app") || slices.Contains(city.Clients, "anonymous") {
		t.Fatalf("rules %v, clients %v", city.Rules, city.Clients)
	}
}

// Two replicas on one store: the second picks up the first's change when it
// reloads, and a reload with nothing new swaps nothing.
func TestReloadFollowsTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.db")
	open := func() authz.PolicyStore {
		s, err := authz.NewSQLitePolicyStore(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := newPolicyFlowOn(t, open(), false, nil), newPolicyFlowOn(t, open(), false, nil)
	ctx := context.Background()
	if _, err := a.flow.Propose(ctx, "demo-security-officer", 1, without(t, authz.DefaultPolicy(), pfAddressLine), ""); err != nil {
		t.Fatal(err)
	}
	if !b.decide(t, "case-officer", "Address.city") {
		t.Fatal("b changed before it reloaded")
	}
	if swapped, err := b.flow.Reload(ctx); err != nil || !swapped || b.a.Version() != 2 || b.decide(t, "case-officer", "Address.city") {
		t.Fatalf("Reload = %v, %v; live %d", swapped, err, b.a.Version())
	}
	if swapped, err := b.flow.Reload(ctx); err != nil || swapped {
		t.Fatalf("second Reload = %v, %v; want nothing to do", swapped, err)
	}
	// A store that already holds versions is not reseeded: a third replica
	// starts at version 2 whatever its seed says.
	c := newPolicyFlowOn(t, open(), false, nil)
	if c.a.Version() != 2 || c.decide(t, "case-officer", "Address.city") {
		t.Fatalf("a replica starting later is at version %d", c.a.Version())
	}
}

func assertAudit(t *testing.T, s authz.PolicyStore, want ...string) {
	t.Helper()
	events, err := s.Audit(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Action)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit %v, want %v (newest first)", got, want)
	}
}

// TestDryRunAndCatalogShowDeclaredRowPurposes: the same for a declared
// type with @row (Receipt, schema/etjanst.yaml): the dry run replays a
// change to its row lines, refuses a line on another attribute, and the
// catalog shows its rows' purposes.
func TestDryRunAndCatalogShowDeclaredRowPurposes(t *testing.T) {
	fx := newPolicyFlow(t, false)
	const byggLine = "p, *, Receipt(caseType=BYGGLOV), row, bygglov, 0, allow"
	rep, err := fx.flow.DryRun(context.Background(), without(t, authz.DefaultPolicy(), byggLine))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) != 1 || rep.Changes[0].Role != "case-officer" || rep.Changes[0].Action != authz.ActRow ||
		rep.Changes[0].Field != "Receipt(caseType=BYGGLOV)" || !rep.Changes[0].Before || rep.Changes[0].After {
		t.Fatalf("changes %+v: want the case officer losing bygglov receipts only", rep.Changes)
	}
	if _, err := fx.flow.DryRun(context.Background(), authz.DefaultPolicy()+"p, *, Receipt(receiptNumber=KV-1), row, bygglov, 0, allow\n"); err == nil {
		t.Error("a row line on an attribute the schema does not declare was accepted")
	}
	catalogShowsRowPurposes(t, fx, "Receipt.caseType")
}

// TestDryRunAndCatalogShowRowPurposes: a change to the row table is
// replayed by the dry run (who gains or loses which rows), and the field
// catalog shows, for a type whose rows carry a purpose, which rows are read
// for which purpose.
func TestDryRunAndCatalogShowRowPurposes(t *testing.T) {
	fx := newPolicyFlow(t, false)
	const ekbLine = "p, *, Errand(caseType=EKONOMISKT_BISTAND), row, socialtjanst, 0, allow"
	rep, err := fx.flow.DryRun(context.Background(), without(t, authz.DefaultPolicy(), ekbLine)+
		"p, role:analyst, Errand(caseType=BYGGLOV), row, statistik, 0, allow\n")
	if err != nil {
		t.Fatal(err)
	}
	var lost, gained bool
	for _, c := range rep.Changes {
		if c.Action != authz.ActRow {
			t.Errorf("a row change reported as %+v", c)
			continue
		}
		switch {
		case c.Role == "social-secretary" && c.Field == "Errand(caseType=EKONOMISKT_BISTAND)" && c.Before && !c.After:
			lost = true
		case c.Role == "analyst" && c.Field == "Errand(caseType=BYGGLOV)" && !c.Before && c.After:
			gained = true
		default:
			t.Errorf("unexpected change %+v", c)
		}
	}
	if !lost || !gained {
		t.Fatalf("changes %+v: want the social secretary losing EKB rows and the analyst gaining bygglov rows", rep.Changes)
	}
	if _, err := fx.flow.DryRun(context.Background(), authz.DefaultPolicy()+"p, *, Errand(caseType=*), row, *, 0, allow\n"); err == nil {
		t.Error("a glob as a row value was accepted")
	}
	if _, err := fx.flow.DryRun(context.Background(), authz.DefaultPolicy()+"p, *, Errand(status=DECIDED), row, bygglov, 0, allow\n"); err == nil {
		t.Error("a row line on an attribute the schema does not declare was accepted")
	}

	catalogShowsRowPurposes(t, fx, "Errand.description")
}

// catalogShowsRowPurposes: the field catalog shows, for field (of a type
// whose rows carry a purpose), the demo policy's purpose of each case type.
func catalogShowsRowPurposes(t *testing.T, fx *pfFixture, field string) {
	t.Helper()
	for _, fa := range fx.flow.Catalog() {
		if fa.Field.Key != field {
			continue
		}
		purposes := map[string]string{}
		for _, r := range fa.Rows {
			purposes[r.Value] = r.Purpose
		}
		want := map[string]string{"BYGGLOV": "bygglov", "FORSKOLEPLATS": "forskoleplacering", "ELEVRESA": "skolskjuts", "EKONOMISKT_BISTAND": "socialtjanst"}
		if !maps.Equal(purposes, want) {
			t.Fatalf("catalog rows of %s: %v, want %v", field, purposes, want)
		}
		return
	}
	t.Fatalf("no %s in the catalog", field)
}
