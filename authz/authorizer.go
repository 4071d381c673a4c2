package authz

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/casbin/casbin/v2"
	"github.com/maypok86/otter/v2"
)

// AuthorizerOptions configure an Authorizer.
type AuthorizerOptions struct {
	// Catalog is the schema's classification (required).
	Catalog *Catalog
	// Model is the Casbin model text; empty means DefaultModel().
	Model string
	// Policy is the policy (ParsePolicy); nil means no line, so nothing is allowed.
	Policy []Rule
	// Contracts are the information contracts (required: without contracts
	// no client may see anything, which is refused as a configuration error).
	Contracts *Contracts
	// Version numbers the initial policy (default 1).
	Version uint64
}

// Authorizer makes every access decision: the client's information contract
// and the Casbin policy must both allow. Decisions are memoized per
// (principal attributes, field, row level, policy version), so their cost does
// not grow with the length of a list. A policy change swaps in a new snapshot
// with an empty memo; a decision is never served from an older policy.
type Authorizer struct {
	catalog *Catalog
	model   string
	cur     atomic.Pointer[snapshot]
	mu      sync.Mutex // serialises Swap
}

type snapshot struct {
	version   uint64
	enf       *casbin.SyncedEnforcer
	rules     []Rule
	contracts *Contracts
	memo      *otter.Cache[memoKey, Decision]
}

// memoSize bounds one policy version's memo: distinct principal kinds
// times the fields they ask about.
const memoSize = 200_000

type memoKey struct {
	subject   string
	act, obj  string
	protected bool
}

// Decision is the outcome of one access question, with the reason.
type Decision struct {
	// Allow is the decision.
	Allow bool
	// Reason says why, in words security staff can read.
	Reason string
	// Rule is the policy line that decided, when one did.
	Rule string
	// Contract is the name of the client's contract, when it has one.
	Contract string
	// Level is the effective level of the data (after row-level raising).
	Level Level
	// PolicyVersion is the version of the policy that decided.
	PolicyVersion uint64
}

// NewAuthorizer compiles the model and loads the policy.
func NewAuthorizer(opts AuthorizerOptions) (*Authorizer, error) {
	if opts.Catalog == nil {
		return nil, errors.New("authz: NewAuthorizer needs the schema's catalog")
	}
	if opts.Contracts == nil {
		return nil, errors.New("authz: NewAuthorizer needs the information contracts")
	}
	if opts.Model == "" {
		opts.Model = DefaultModel()
	}
	if opts.Version == 0 {
		opts.Version = 1
	}
	a := &Authorizer{catalog: opts.Catalog, model: opts.Model}
	if err := a.Swap(opts.Version, opts.Policy, opts.Contracts); err != nil {
		return nil, err
	}
	return a, nil
}

// Swap makes rules and contracts (nil keeps the current contracts) the live
// policy under version. It fails, leaving the live policy untouched, when the
// rules do not load.
func (a *Authorizer) Swap(version uint64, rules []Rule, contracts *Contracts) error {
	enf, err := newEnforcer(a.model, rules)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if contracts == nil {
		if old := a.cur.Load(); old != nil {
			contracts = old.contracts
		}
	}
	memo, err := otter.New(&otter.Options[memoKey, Decision]{MaximumSize: memoSize})
	if err != nil {
		return fmt.Errorf("authz: decision memo: %w", err)
	}
	a.cur.Store(&snapshot{version: version, enf: enf, rules: slices.Clone(rules), contracts: contracts, memo: memo})
	return nil
}

// Check loads rules into a scratch enforcer without touching the live policy:
// the dry run of a proposed change.
func (a *Authorizer) Check(rules []Rule) (*Authorizer, error) {
	s := a.cur.Load()
	scratch := &Authorizer{catalog: a.catalog, model: a.model}
	if err := scratch.Swap(s.version+1, rules, s.contracts); err != nil {
		return nil, err
	}
	return scratch, nil
}

// Version is the live policy's version.
func (a *Authorizer) Version() uint64 { return a.cur.Load().version }

// Rules are the live policy's lines.
func (a *Authorizer) Rules() []Rule { return slices.Clone(a.cur.Load().rules) }

// Contracts are the live information contracts.
func (a *Authorizer) Contracts() *Contracts { return a.cur.Load().contracts }

// Catalog is the schema's classification.
func (a *Authorizer) Catalog() *Catalog { return a.catalog }

// Subject is a principal prepared for decisions: computed once per request.
type Subject struct {
	Principal *Principal
	key       string
	attrs     string
	purposes  []string // safe ones, sorted
}

// Prepare computes what decisions need of p once, so that a request's
// thousands of field decisions cost a map lookup each.
func Prepare(p *Principal) *Subject {
	attrs := []string{"*"}
	if !p.Anonymous {
		attrs = append(attrs, "authenticated")
	}
	add := func(kind, v string) {
		// A value that could forge another attribute ("x|role:admin") or
		// hide in the log gives the principal nothing rather than something.
		if v != "" && safeAttr(v) {
			attrs = append(attrs, kind+v)
		}
	}
	for _, r := range p.Roles {
		add("role:", r)
	}
	add("unit:", p.Unit)
	add("client:", p.Client)
	add("subject:", p.Subject)
	joined := "|" + strings.Join(attrs, "|") + "|"
	purposes := slices.DeleteFunc(slices.Clone(p.Purposes), func(v string) bool { return !safeAttr(v) })
	slices.Sort(purposes)
	// The memo key is exactly what decisions read: the attribute set,
	// clearance and purposes (and, through the client, the contract).
	key := joined + "\x00" + strconv.Itoa(int(p.Clearance)) + "\x00" + strings.Join(purposes, "|")
	return &Subject{Principal: p, key: key, attrs: joined, purposes: purposes}
}

// safeAttr reports whether an identity attribute can stand in the
// "|"-separated attribute set as itself.
func safeAttr(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool { return r == '|' || r < ' ' || r == 0x7f })
}

// Decide answers whether s may read field f; protected says that the value
// belongs to a person with protected identity or a confidentiality marking,
// which raises a personal field to level 3.
func (a *Authorizer) Decide(s *Subject, f *Field, protected bool) Decision {
	return a.decide(s, ActRead, f.Key, f.Level, protected && f.Personal)
}

// DecideAction answers whether s may do act (introspect, admin) on obj.
func (a *Authorizer) DecideAction(s *Subject, act, obj string) Decision {
	return a.decide(s, act, obj, Negligible, false)
}

func (a *Authorizer) decide(s *Subject, act, obj string, level Level, protected bool) Decision {
	snap := a.cur.Load()
	k := memoKey{subject: s.key, act: act, obj: obj, protected: protected}
	if d, ok := snap.memo.GetIfPresent(k); ok {
		return d
	}
	d := snap.evaluate(s, act, obj, level, protected)
	snap.memo.Set(k, d)
	return d
}

func (snap *snapshot) evaluate(s *Subject, act, obj string, level Level, protected bool) Decision {
	p := s.Principal
	if protected {
		level = max(level, Severe)
	}
	d := Decision{Level: level, PolicyVersion: snap.version}
	contract := snap.contracts.ForClient(p.Client)
	if contract == nil {
		d.Reason = fmt.Sprintf("client %q has no information contract", p.Client)
		return d
	}
	d.Contract = contract.Name
	if act == ActRead {
		if !contract.Covers(obj) {
			d.Reason = fmt.Sprintf("%s is outside the information contract of client %q", obj, p.Client)
			return d
		}
		if level > contract.Ceiling {
			d.Reason = fmt.Sprintf("level %d is above the ceiling %d of client %q's information contract", level, contract.Ceiling, p.Client)
			return d
		}
	}
	purposes := []string{"*"}
	for _, pp := range s.purposes {
		if slices.Contains(contract.Purposes, pp) {
			purposes = append(purposes, pp)
		}
	}
	sub := casbinSubject{Attrs: s.attrs, Purposes: "|" + strings.Join(purposes, "|") + "|", Clearance: int(p.Clearance)}
	ok, explain, err := snap.enf.EnforceEx(sub, casbinObject{Field: obj, Level: int(level), Protected: protected}, act)
	if err != nil {
		d.Reason = "the policy could not be evaluated" // fail closed
		return d
	}
	if len(explain) > 0 {
		d.Rule = Rule(explain).String()
	}
	switch {
	case ok:
		d.Allow = true
		d.Reason = "allowed by the policy and the information contract"
	case d.Rule != "":
		d.Reason = "denied by a deny line of the policy"
	case protected && p.Clearance < Severe:
		d.Reason = "the data belongs to a person with protected identity, which needs clearance 3"
	case act == ActRow:
		d.Reason = fmt.Sprintf("no row line gives %s to the purposes the caller acts for (%s, narrowed by client %q's contract); a value that no row line names is read by no one",
			obj, strings.Join(purposes[1:], ", "), p.Client)
	default:
		d.Reason = "no policy line allows it"
	}
	return d
}
