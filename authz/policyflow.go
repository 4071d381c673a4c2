package authz

// The policy workflow: how security staff change the access policy safely.
// A change is parsed and loaded into a scratch enforcer before anything is
// stored, refused if it would lock every administrator out or open level-3
// data to everyone, written against a version (so two editors cannot
// overwrite each other), optionally approved by a second security officer,
// and audited at every step. Applying it swaps it into the live Authorizer
// and tells the other replicas.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultAdminClient is the client application security officers administer
// the policy through (DOMAIN.md's policy editor); the lock-out guard rail
// asks whether some role can still administer the policy through it.
const DefaultAdminClient = "policy-editor"

// Defaults of the dry run's look at the access log.
const (
	DefaultDryRunWindow = 24 * time.Hour
	DefaultDryRunLimit  = 10000
)

// SeedAuthor is the author of the version a store is seeded with.
const SeedAuthor = "system"

// PolicyNotifier tells the other replicas that a new version is current.
type PolicyNotifier interface {
	PolicyApplied(ctx context.Context, version uint64) error
}

// PolicyFlowOptions configure a PolicyFlow.
type PolicyFlowOptions struct {
	// Store keeps versions, proposals and the audit (required).
	Store PolicyStore
	// Authorizer is the live policy this replica enforces (required).
	Authorizer *Authorizer
	// Roles is the role table: the guard rails and the dry run decide for a
	// principal of each role (required).
	Roles map[string]RoleGrant
	// RequireApproval makes every change wait for a second security officer.
	RequireApproval bool
	// Notifier tells other replicas about a new version; nil for one replica.
	Notifier PolicyNotifier
	// AccessLog is replayed by the dry run; nil skips that part.
	AccessLog AccessLog
	// DryRunWindow is how far back the dry run replays the access log
	// (default DefaultDryRunWindow), DryRunLimit how many entries at most
	// (default DefaultDryRunLimit).
	DryRunWindow time.Duration
	DryRunLimit  int
	// AdminClient is the policy editor's client (default DefaultAdminClient).
	AdminClient string
	// Seed is the policy text an empty store starts with as version 1
	// (default: the live Authorizer's rules); SeedComment says where it
	// came from.
	Seed        string
	SeedComment string
	// Logger gets reloads and notification failures (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// PolicyFlow is the policy workflow of one replica. Its methods are safe
// for concurrent use; concurrent changes are ordered by the store.
type PolicyFlow struct {
	opts PolicyFlowOptions
	a    *Authorizer

	mu  sync.Mutex // serialises swaps into the Authorizer
	bad uint64     // a stored version that does not load here, logged once
}

// Workflow errors beside the store's.
var (
	// ErrSelfApproval: the author of a change cannot approve it.
	ErrSelfApproval = errors.New("a change must be approved by another security officer than its author")
	// ErrNoChange: the proposed policy is the current one.
	ErrNoChange = errors.New("the proposed policy is the same as the current version")
)

// GuardRail is one reason a change is refused although every line is valid.
type GuardRail struct {
	// Name is "ADMIN_LOCKOUT", "LEVEL3_TO_EVERYONE" or "ADMIN_TO_EVERYONE".
	Name string
	// Detail explains it to security staff.
	Detail string
}

// Guard rail names.
const (
	RailAdminLockout    = "ADMIN_LOCKOUT"
	RailLevel3Everyone  = "LEVEL3_TO_EVERYONE"
	RailAdminEveryone   = "ADMIN_TO_EVERYONE"
	guardRailMaxSamples = 5
)

// GuardRailError refuses a change that would lock every administrator out,
// or open level-3 data to everyone.
type GuardRailError struct{ Rails []GuardRail }

func (e *GuardRailError) Error() string {
	msgs := make([]string, len(e.Rails))
	for i, r := range e.Rails {
		msgs[i] = r.Detail
	}
	return "refused by the guard rails: " + strings.Join(msgs, "; ")
}

// NewPolicyFlow checks the options, seeds an empty store and makes the
// store's current version live. It fails when the current version does not
// load against this gateway's schema, as a bad policy file would.
func NewPolicyFlow(ctx context.Context, opts PolicyFlowOptions) (*PolicyFlow, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("authz: policy flow needs a store")
	case opts.Authorizer == nil:
		return nil, errors.New("authz: policy flow needs the live Authorizer")
	case opts.Roles == nil:
		return nil, errors.New("authz: policy flow needs the role table")
	}
	opts.DryRunWindow = cmp.Or(opts.DryRunWindow, DefaultDryRunWindow)
	opts.DryRunLimit = cmp.Or(opts.DryRunLimit, DefaultDryRunLimit)
	opts.AdminClient = cmp.Or(opts.AdminClient, DefaultAdminClient)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &PolicyFlow{opts: opts, a: opts.Authorizer}
	seed := opts.Seed
	if seed == "" {
		seed = RulesText(opts.Authorizer.Rules())
	}
	seed = normalizeText(seed)
	now := opts.Now()
	comment := cmp.Or(opts.SeedComment, "the policy the gateway started with")
	seeded, err := opts.Store.Seed(ctx, PolicyVersion{
		Text: seed, Author: SeedAuthor, CreatedAt: now, Comment: comment, Diff: LineDiff("", seed),
	}, PolicyAuditEvent{At: now, Actor: SeedAuthor, Action: AuditApply, Version: 1, Comment: comment})
	if err != nil {
		return nil, err
	}
	if seeded {
		opts.Logger.Info("policy store seeded", "version", 1, "comment", comment)
	}
	if _, err := f.reload(ctx, true); err != nil {
		return nil, err
	}
	return f, nil
}

// RulesText renders rules as a policy file.
func RulesText(rules []Rule) string {
	var b strings.Builder
	for _, r := range rules {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func normalizeText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// RequireApproval reports whether changes wait for a second officer.
func (f *PolicyFlow) RequireApproval() bool { return f.opts.RequireApproval }

// Store is the flow's store, for reading versions, proposals and the audit.
func (f *PolicyFlow) Store() PolicyStore { return f.opts.Store }

// Reload makes the store's current version live if it is not already: the
// periodic reload and the reaction to another replica's announcement. It
// reports whether it swapped.
func (f *PolicyFlow) Reload(ctx context.Context) (bool, error) { return f.reload(ctx, false) }

func (f *PolicyFlow) reload(ctx context.Context, force bool) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, err := f.opts.Store.Current(ctx)
	if err != nil {
		return false, err
	}
	live := f.a.Version()
	if v.Number == live && !force {
		return false, nil
	}
	if err := f.swapLocked(v); err != nil {
		if force {
			return false, err
		}
		if f.bad != v.Number {
			f.bad = v.Number
			f.opts.Logger.Error("policy version does not load here: keeping the live policy", "version", v.Number, "live", live, "error", err)
		}
		return false, err
	}
	f.opts.Logger.Info("policy reloaded", "version", v.Number, "previous", live)
	return true, nil
}

// swapLocked makes v live; f.mu is held.
func (f *PolicyFlow) swapLocked(v PolicyVersion) error {
	rules, err := ParsePolicy(v.Text, f.a.Catalog())
	if err != nil {
		return fmt.Errorf("authz: policy version %d: %w", v.Number, err)
	}
	if err := f.a.Swap(v.Number, rules, nil); err != nil {
		return fmt.Errorf("authz: policy version %d: %w", v.Number, err)
	}
	return nil
}

// applied makes a version this replica just stored live and announces it.
func (f *PolicyFlow) applied(ctx context.Context, v PolicyVersion) {
	f.mu.Lock()
	if f.a.Version() < v.Number { // a reload may already have brought it, or a later one
		if err := f.swapLocked(v); err != nil {
			f.opts.Logger.Error("applied policy version does not load", "version", v.Number, "error", err)
		}
	}
	f.mu.Unlock()
	if f.opts.Notifier != nil {
		if err := f.opts.Notifier.PolicyApplied(ctx, v.Number); err != nil {
			f.opts.Logger.Warn("other replicas not told of the new policy version; they pick it up at their periodic reload",
				"version", v.Number, "error", err)
		}
	}
}

// check parses text, loads it into a scratch enforcer and, with rails,
// applies the guard rails. The live policy is never touched.
func (f *PolicyFlow) check(text string, rails bool) (*Authorizer, error) {
	rules, err := ParsePolicy(text, f.a.Catalog())
	if err != nil {
		return nil, err
	}
	scratch, err := f.a.Check(rules)
	if err != nil {
		return nil, &PolicyError{Lines: []LineError{{Msg: err.Error()}}}
	}
	if rails {
		if gr := f.guardRails(scratch); len(gr) > 0 {
			return nil, &GuardRailError{Rails: gr}
		}
	}
	return scratch, nil
}

// guardRails lists what the scratch policy would break.
func (f *PolicyFlow) guardRails(scratch *Authorizer) []GuardRail {
	var out []GuardRail
	if !f.someoneAdministers(scratch) {
		out = append(out, GuardRail{Name: RailAdminLockout, Detail: fmt.Sprintf(
			"after this change no role could administer the policy through %s: every administrator would be locked out", f.opts.AdminClient)})
	}
	if open := f.level3ForEveryone(scratch); len(open) > 0 {
		out = append(out, GuardRail{Name: RailLevel3Everyone, Detail: "this change grants level-3 data to everyone: " + strings.Join(open, ", ")})
	}
	for _, s := range everyone(scratch) {
		for _, obj := range adminObjects {
			if d := scratch.DecideAction(s, ActAdmin, obj); d.Allow {
				out = append(out, GuardRail{Name: RailAdminEveryone, Detail: fmt.Sprintf(
					"this change lets %s administer %s (%s)", whoIs(s), obj, d.Rule)})
				return out
			}
		}
	}
	return out
}

// everyone are the callers that hold no role: anonymous, and an
// authenticated principal of each contracted client at full clearance.
func everyone(scratch *Authorizer) []*Subject {
	out := []*Subject{Prepare(AnonymousPrincipal())}
	for _, c := range scratch.Contracts().List() {
		out = append(out, Prepare(&Principal{Client: c.Client, Clearance: Severe, Method: "guard-rail"}))
	}
	return out
}

func whoIs(s *Subject) string {
	if s.Principal.Anonymous {
		return "anonymous callers"
	}
	return "any authenticated user of client " + s.Principal.Client
}

// someoneAdministers asks, for a principal of each role through the admin
// client (with each unit the policy names, since a line may grant by unit),
// whether it may administer the policy.
func (f *PolicyFlow) someoneAdministers(scratch *Authorizer) bool {
	units := []string{""}
	for _, r := range scratch.Rules() {
		if u, ok := strings.CutPrefix(r[colSub], "unit:"); ok && !slices.Contains(units, u) {
			units = append(units, u)
		}
	}
	for _, role := range slices.Sorted(maps.Keys(f.opts.Roles)) {
		for _, unit := range units {
			p := NewPrincipal("", f.opts.AdminClient, []string{role}, unit, "guard-rail", f.opts.Roles)
			if scratch.DecideAction(Prepare(p), ActAdmin, ObjPolicy).Allow {
				return true
			}
		}
	}
	return false
}

// level3ForEveryone lists level-3 fields that a principal without any role
// could read: anonymous, or authenticated with clearance 3 through any
// client that has a contract.
func (f *PolicyFlow) level3ForEveryone(scratch *Authorizer) []string {
	var open []string
	n := 0
	subjects := everyone(scratch)
	for _, fld := range scratch.Catalog().Fields() {
		// Level-3 fields, and every personal field of a protected person
		// (raised to level 3 by the row-level rule).
		if fld.Level < Severe && !fld.Personal {
			continue
		}
		for _, s := range subjects {
			d := scratch.Decide(s, fld, true)
			if fld.Level >= Severe && !d.Allow {
				d = scratch.Decide(s, fld, false)
			}
			if d.Allow {
				if n++; n <= guardRailMaxSamples {
					open = append(open, fmt.Sprintf("%s to %s (%s)", fld.Key, whoIs(s), d.Rule))
				}
				break
			}
		}
	}
	if n > guardRailMaxSamples {
		open = append(open, fmt.Sprintf("and %d more", n-guardRailMaxSamples))
	}
	return open
}

// ProposeResult is a stored proposal and whether it took effect.
type ProposeResult struct {
	Proposal Proposal
	// Applied is true when no approval was required: Version is then live.
	Applied bool
	Version uint64
}

// Propose submits the whole new policy text, written against baseVersion.
// Invalid lines give a *PolicyError, a guard rail a *GuardRailError, a base
// that is no longer current a *StaleVersionError; in every case nothing is
// stored and the live policy is unchanged. Without RequireApproval the
// change is applied at once.
func (f *PolicyFlow) Propose(ctx context.Context, actor string, baseVersion uint64, text, comment string) (ProposeResult, error) {
	return f.propose(ctx, actor, baseVersion, normalizeText(text), comment, 0)
}

func (f *PolicyFlow) propose(ctx context.Context, actor string, base uint64, text, comment string, restores uint64) (ProposeResult, error) {
	if actor == "" {
		return ProposeResult{}, errors.New("authz: a change needs an author")
	}
	if _, err := f.check(text, true); err != nil {
		return ProposeResult{}, err
	}
	cur, err := f.opts.Store.Current(ctx)
	if err != nil {
		return ProposeResult{}, err
	}
	if base != cur.Number {
		return ProposeResult{}, &StaleVersionError{Base: base, Current: cur.Number}
	}
	diff := LineDiff(cur.Text, text)
	if diff == "" {
		return ProposeResult{}, ErrNoChange
	}
	now := f.opts.Now()
	p := Proposal{BaseVersion: base, Text: text, Author: actor, Comment: comment, CreatedAt: now, Diff: diff, Restores: restores}
	events := []PolicyAuditEvent{{At: now, Actor: actor, Action: AuditPropose, Version: base, Comment: comment}}
	if restores != 0 {
		events[0] = PolicyAuditEvent{At: now, Actor: actor, Action: AuditRestore, Version: restores, Comment: comment,
			Detail: fmt.Sprintf("brings back the rules of version %d", restores)}
	}
	if f.opts.RequireApproval {
		p, err := f.opts.Store.Propose(ctx, p, events...)
		if err != nil {
			return ProposeResult{}, err
		}
		return ProposeResult{Proposal: p}, nil
	}
	events = append(events, PolicyAuditEvent{At: now, Actor: actor, Action: AuditApply, Comment: comment,
		Detail: "no approval required"})
	v, p, err := f.opts.Store.Apply(ctx, ApplyRequest{
		Parent: base, Text: text, Author: actor, Comment: comment, Diff: diff, At: now, Proposal: &p, Events: events,
	})
	if err != nil {
		return ProposeResult{}, err
	}
	f.applied(ctx, v)
	return ProposeResult{Proposal: p, Applied: true, Version: v.Number}, nil
}

// Approve applies a proposal on behalf of a second security officer: not
// its author, and only while its base version is still current (otherwise
// a *StaleVersionError, and the proposal is superseded). The guard rails are
// checked again: the role table or the contracts may have changed.
func (f *PolicyFlow) Approve(ctx context.Context, actor string, id int64) (PolicyVersion, Proposal, error) {
	p, err := f.opts.Store.Proposal(ctx, id)
	if err != nil {
		return PolicyVersion{}, Proposal{}, err
	}
	switch {
	case p.Status == ProposalSuperseded:
		cur, err := f.opts.Store.Current(ctx)
		if err != nil {
			return PolicyVersion{}, Proposal{}, err
		}
		return PolicyVersion{}, Proposal{}, &StaleVersionError{Base: p.BaseVersion, Current: cur.Number}
	case p.Status != ProposalProposed:
		return PolicyVersion{}, Proposal{}, fmt.Errorf("proposal %d is %s: %w", id, p.Status, ErrProposalClosed)
	case actor == "" || actor == p.Author:
		return PolicyVersion{}, Proposal{}, ErrSelfApproval
	}
	if _, err := f.check(p.Text, true); err != nil {
		return PolicyVersion{}, Proposal{}, err
	}
	now := f.opts.Now()
	v, p, err := f.opts.Store.Apply(ctx, ApplyRequest{
		Parent: p.BaseVersion, Text: p.Text, Author: p.Author, Comment: p.Comment, Diff: p.Diff, ApprovedBy: actor,
		At: now, Proposal: &p, Events: []PolicyAuditEvent{
			{At: now, Actor: actor, Action: AuditApprove, Comment: p.Comment, Detail: "proposed by " + p.Author},
			{At: now, Actor: actor, Action: AuditApply, Comment: p.Comment, Detail: "proposed by " + p.Author + ", approved by " + actor},
		},
	})
	if err != nil {
		return PolicyVersion{}, Proposal{}, err
	}
	f.applied(ctx, v)
	return v, p, nil
}

// Reject closes a proposal without applying it.
func (f *PolicyFlow) Reject(ctx context.Context, actor string, id int64, reason string) (Proposal, error) {
	if actor == "" {
		return Proposal{}, errors.New("authz: a rejection needs an actor")
	}
	return f.opts.Store.Reject(ctx, id, actor, reason, f.opts.Now())
}

// Restore proposes the rules of an earlier version as a new change against
// the current one, under the same approval rule as any change.
func (f *PolicyFlow) Restore(ctx context.Context, actor string, version uint64, comment string) (ProposeResult, error) {
	old, err := f.opts.Store.Version(ctx, version)
	if err != nil {
		return ProposeResult{}, err
	}
	cur, err := f.opts.Store.Current(ctx)
	if err != nil {
		return ProposeResult{}, err
	}
	comment = cmp.Or(comment, fmt.Sprintf("restore version %d", version))
	return f.propose(ctx, actor, cur.Number, old.Text, comment, version)
}

// DecisionChange is one decision a change would turn around.
type DecisionChange struct {
	// Role is the role of the principal (or "anonymous"), Client its client.
	Role, Client string
	// Action is read for fields, row for Field = Type(attribute=value),
	// admin or introspect for Field = policy, accesslog, cache or schema.
	Action string
	Field  string
	// Protected: the value belongs to a person with protected identity.
	Protected bool
	// Before and After are the decisions under the live and the new policy.
	Before, After bool
	// Rule is the line that decides after the change (or before, when no
	// line decides after it).
	Rule string
	// Reason is the reason of the decision after the change.
	Reason string
}

// RecentImpact is the access log's view of a change: of the requests in the
// window, how many would have been answered differently.
type RecentImpact struct {
	Examined, Changed int
	// Since is the window's start.
	Since time.Time
	// Unavailable says that the access log could not be read.
	Unavailable bool
}

// DryRunReport is what a proposed policy would change.
type DryRunReport struct {
	// BaseVersion is the live version compared against.
	BaseVersion uint64
	Changes     []DecisionChange
	Recent      RecentImpact
	// GuardRails lists what would refuse the change if it were proposed.
	GuardRails []GuardRail
}

// roleSubject is a principal the dry run and the catalog decide for.
type roleSubject struct {
	role, client string
	s            *Subject
}

// roleSubjects are a principal for each role of the role table with each of
// its typical clients (those whose contracts serve one of the role's
// purposes, or every client when none does), and the anonymous caller.
func (f *PolicyFlow) roleSubjects(a *Authorizer) []roleSubject {
	out := []roleSubject{{role: "anonymous", client: AnonymousPrincipal().Client, s: Prepare(AnonymousPrincipal())}}
	contracts := a.Contracts().List()
	for _, role := range slices.Sorted(maps.Keys(f.opts.Roles)) {
		g := f.opts.Roles[role]
		var clients []string
		for _, c := range contracts {
			if slices.ContainsFunc(c.Purposes, func(p string) bool { return slices.Contains(g.Purposes, p) }) {
				clients = append(clients, c.Client)
			}
		}
		if len(clients) == 0 {
			for _, c := range contracts {
				clients = append(clients, c.Client)
			}
		}
		for _, c := range clients {
			p := NewPrincipal("", c, []string{role}, "", "dry-run", f.opts.Roles)
			out = append(out, roleSubject{role: role, client: c, s: Prepare(p)})
		}
	}
	return out
}

// actionObjects are the non-field questions the dry run also compares.
var actionObjects = []struct{ act, obj string }{
	{ActAdmin, ObjPolicy}, {ActAdmin, ObjAccessLog}, {ActAdmin, ObjCache}, {ActIntrospect, ObjSchema},
}

// DryRun compares text with the live policy without storing anything: the
// decisions that change for each role and field, the guard rails the change
// would trip, and how many requests of the access log's recent window would
// have been answered differently. Invalid lines give a *PolicyError.
func (f *PolicyFlow) DryRun(ctx context.Context, text string) (DryRunReport, error) {
	scratch, err := f.check(normalizeText(text), false)
	if err != nil {
		return DryRunReport{}, err
	}
	live := f.a
	r := DryRunReport{BaseVersion: live.Version(), GuardRails: f.guardRails(scratch), Changes: []DecisionChange{}}
	for _, rs := range f.roleSubjects(live) {
		for _, fld := range live.Catalog().Fields() {
			for _, protected := range []bool{false, true} {
				if protected && !fld.Personal {
					continue
				}
				before, after := live.Decide(rs.s, fld, protected), scratch.Decide(rs.s, fld, protected)
				if before.Allow != after.Allow {
					r.Changes = append(r.Changes, change(rs, ActRead, fld.Key, protected, before, after))
				}
			}
		}
		for _, ao := range actionObjects {
			before, after := live.DecideAction(rs.s, ao.act, ao.obj), scratch.DecideAction(rs.s, ao.act, ao.obj)
			if before.Allow != after.Allow {
				r.Changes = append(r.Changes, change(rs, ao.act, ao.obj, false, before, after))
			}
		}
		// Rows with a purpose: every value either policy's row lines name.
		for _, typ := range live.Catalog().RowTypes() {
			attr := live.Catalog().RowAttribute(typ)
			for _, v := range sortedUnion(live.AllRowValues(typ), scratch.AllRowValues(typ)) {
				before, after := live.DecideRow(rs.s, typ, v), scratch.DecideRow(rs.s, typ, v)
				if before.Allow != after.Allow {
					r.Changes = append(r.Changes, change(rs, ActRow, RowObject(typ, attr, v), false, before, after))
				}
			}
		}
	}
	r.Recent = f.recent(ctx, live, scratch)
	return r, nil
}

func sortedUnion(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func change(rs roleSubject, act, obj string, protected bool, before, after Decision) DecisionChange {
	return DecisionChange{Role: rs.role, Client: rs.client, Action: act, Field: obj, Protected: protected,
		Before: before.Allow, After: after.Allow, Rule: cmp.Or(after.Rule, before.Rule), Reason: after.Reason}
}

// recent replays the access log's window: each entry's fields, served and
// denied, are decided again for the entry's principal under both policies.
// An entry counts as changed when some field's decision differs between
// the two and the live decision is what the entry recorded: a field denied
// for another reason (a person's protected identity, say) stays denied.
// Row-level decisions are not replayed (the log does not say which persons
// had protected identity): fields are decided as for an ordinary person.
func (f *PolicyFlow) recent(ctx context.Context, live, scratch *Authorizer) RecentImpact {
	since := f.opts.Now().Add(-f.opts.DryRunWindow)
	ri := RecentImpact{Since: since}
	if f.opts.AccessLog == nil {
		return ri
	}
	entries, err := f.opts.AccessLog.Query(ctx, AccessQuery{From: since, Limit: f.opts.DryRunLimit})
	if err != nil {
		f.opts.Logger.Warn("dry run: the access log could not be read", "error", err)
		ri.Unavailable = true
		return ri
	}
	cat := live.Catalog()
	for i := range entries {
		e := &entries[i]
		s := Prepare(entryPrincipal(e, f.opts.Roles))
		ri.Examined++
		type asked struct {
			key    string
			served bool
		}
		keys := make([]asked, 0, len(e.Fields)+len(e.Denied))
		for _, k := range e.Fields {
			keys = append(keys, asked{k, true})
		}
		for _, d := range e.Denied {
			k, _, _ := strings.Cut(d, "@")
			keys = append(keys, asked{k, false})
		}
		for _, k := range keys {
			typ, name, ok := strings.Cut(k.key, ".")
			if !ok {
				continue
			}
			var before, after Decision
			if fld := cat.Field(typ, name); fld != nil {
				before, after = live.Decide(s, fld, false), scratch.Decide(s, fld, false)
			} else if typ == "Query" && strings.HasPrefix(name, "__") {
				before, after = live.DecideAction(s, ActIntrospect, ObjSchema), scratch.DecideAction(s, ActIntrospect, ObjSchema)
			} else {
				continue
			}
			if before.Allow != after.Allow && before.Allow == k.served {
				ri.Changed++
				break
			}
		}
	}
	return ri
}

// entryPrincipal rebuilds the principal of an access log entry: its roles,
// unit, client and purposes as recorded, its clearance from the role table.
func entryPrincipal(e *AccessEntry, roles map[string]RoleGrant) *Principal {
	anon := AnonymousPrincipal()
	if e.Subject == anon.Subject && e.Client == anon.Client && len(e.Roles) == 0 {
		return anon
	}
	p := NewPrincipal(e.Subject, e.Client, e.Roles, e.Unit, "", roles)
	if len(e.Purposes) > 0 {
		p.Purposes = slices.Clone(e.Purposes)
	}
	return p
}

// RoleAccess is whether one role, through one client, may read a field.
type RoleAccess struct {
	Role, Client string
	// Allowed is the decision for an ordinary person's value,
	// ProtectedAllowed for a person with protected identity.
	Allowed, ProtectedAllowed bool
}

// FieldAccess is a field of the catalog with who may read it.
type FieldAccess struct {
	Field *Field
	// Access holds a line per role and typical client (as in the dry run).
	Access []RoleAccess
	// Clients are the clients whose contracts cover the field at its level.
	Clients []string
	// Rules are the live read lines whose object matches the field.
	Rules []string
	// Rows are, for a field of a type whose rows carry a purpose, the live
	// row lines: which rows of the type are read for which purpose.
	Rows []RowPurpose
}

// RowPurpose is one row line as the catalog shows it.
type RowPurpose struct {
	// Object is Type(attribute=value), Value the attribute's value.
	Object string `json:"object"`
	Value  string `json:"value"`
	// Purpose is the purpose the rows belong to, Subject whom the line
	// names, Effect allow or deny.
	Purpose string `json:"purpose"`
	Subject string `json:"subject"`
	Effect  string `json:"effect"`
}

// Catalog is the field catalog with the live policy's decisions: every
// classified field, and which roles, clients and lines may see it.
func (f *PolicyFlow) Catalog() []FieldAccess {
	a := f.a
	subjects := f.roleSubjects(a)
	rules := a.Rules()
	contracts := a.Contracts().List()
	fields := a.Catalog().Fields()
	out := make([]FieldAccess, 0, len(fields))
	for _, fld := range fields {
		fa := FieldAccess{Field: fld, Access: make([]RoleAccess, 0, len(subjects)), Clients: []string{}, Rules: []string{}}
		for _, rs := range subjects {
			fa.Access = append(fa.Access, RoleAccess{Role: rs.role, Client: rs.client,
				Allowed: a.Decide(rs.s, fld, false).Allow, ProtectedAllowed: a.Decide(rs.s, fld, true).Allow})
		}
		for _, c := range contracts {
			if c.Covers(fld.Key) && fld.Level <= c.Ceiling {
				fa.Clients = append(fa.Clients, c.Client)
			}
		}
		for _, r := range rules {
			if r[colAct] == ActRead && matchGlob(fld.Key, r[colObj]) {
				fa.Rules = append(fa.Rules, r.String())
			}
			if typ, _, v, ok := ParseRowObject(r[colObj]); ok && r[colAct] == ActRow && typ == fld.Type {
				fa.Rows = append(fa.Rows, RowPurpose{Object: r[colObj], Value: v, Purpose: r[colPurpose], Subject: r[colSub], Effect: r[colEft]})
			}
		}
		out = append(out, fa)
	}
	return out
}
