package authz_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/graph/gqlmodel"
	"github.com/kommungraf/kommungraf/sources/model"
)

type nopLog struct{}

func (nopLog) Append(context.Context, authz.AccessEntry) error { return nil }
func (nopLog) Query(context.Context, authz.AccessQuery) ([]authz.AccessEntry, error) {
	return nil, nil
}
func (nopLog) Close() error { return nil }

// fieldCtx is the context gqlgen gives a field of obj: the parent field's
// result is the object (a list element is stored as a pointer to its slot).
func fieldCtx(ctx context.Context, typ, field string, obj any) context.Context {
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Result: obj}) // becomes the parent
	return graphql.WithFieldContext(ctx, &graphql.FieldContext{
		Object: typ,
		Field:  graphql.CollectedField{Field: &ast.Field{Name: field, Alias: field}},
	})
}

var errRegistryDown = errors.New("registry down")

// fakePeople is the registry as the enforcement sees it: records by
// personnummer, parties, and counters of what was asked.
type fakePeople struct {
	now     time.Time
	persons map[string]*model.Person
	parties map[string]string
	lookups atomic.Int32 // Person
	fresh   atomic.Int32 // Fresh
	hidden  atomic.Int32 // Hidden
	down    bool         // Fresh fails
}

func (f *fakePeople) Person(_ context.Context, pnr string) (model.Protectable, error) {
	f.lookups.Add(1)
	if pnr == "down" {
		return nil, errRegistryDown
	}
	if p := f.persons[pnr]; p != nil {
		return p, nil
	}
	return nil, nil
}

func (f *fakePeople) Fresh(_ context.Context, pnr string) (model.Protectable, error) {
	f.fresh.Add(1)
	if f.down {
		return nil, errRegistryDown
	}
	if p := f.persons[pnr]; p != nil {
		cp := *p
		cp.FetchedAt = f.now
		return &cp, nil
	}
	return nil, nil
}

func (f *fakePeople) Hidden(context.Context, string) { f.hidden.Add(1) }

func (f *fakePeople) PersonalNumber(_ context.Context, party string) (string, error) {
	return f.parties[party], nil
}

var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func newFixture(t *testing.T) (*authz.Enforcement, *fakePeople, map[string]authz.RoleGrant) {
	t.Helper()
	a, roles := defaultAuthorizer(t)
	h, _ := authz.NewPersonHasher(make([]byte, 32))
	people := &fakePeople{now: now, persons: map[string]*model.Person{
		"198001011234": {PersonalNumber: "198001011234", GivenName: "Skyddad", ProtectedIdentity: true, FetchedAt: now},
		"199001011230": {PersonalNumber: "199001011230", GivenName: "Öppen", FetchedAt: now},
	}, parties: map[string]string{"party-prot": "198001011234", "party-plain": "199001011230"}}
	log, err := authz.NewAsyncAccessLog(authz.AsyncAccessLogOptions{Store: nopLog{}, SpoolPath: filepath.Join(t.TempDir(), "spool.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	e, err := authz.NewEnforcement(authz.EnforcementOptions{
		Authorizer: a, AccessLog: log, Hasher: h, People: people, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return e, people, roles
}

func asPersona(t *testing.T, roles map[string]authz.RoleGrant, persona string) context.Context {
	t.Helper()
	p, err := authz.PersonaPrincipal(persona, roles)
	if err != nil {
		t.Fatal(err)
	}
	return authz.NewContext(context.Background(), p)
}

// TestRowLevelRuleOnEveryPersonalObject: the row-level rule applies to each
// kind of object that carries a person's data, whichever way gqlgen hands
// the object over; the registry is asked only where it changes the answer,
// and a failing lookup never opens the field.
func TestRowLevelRuleOnEveryPersonalObject(t *testing.T) {
	e, people, roles := newFixture(t)
	prot, plain := people.persons["198001011234"], people.persons["199001011230"]
	placement := &model.Placement{PersonalNumber: "198001011234", Group: "Blå"}
	plainPlacement := &model.Placement{PersonalNumber: "199001011230", Group: "Röd"}
	unknownPlacement := &model.Placement{PersonalNumber: "200001011239", Group: "Grön"}
	owner := &model.PropertyOwner{PersonalNumber: "198001011234", Name: "Skyddad Ägare"}
	org := &model.PropertyOwner{OrganisationNumber: "212000-1880", Name: "Örebro kommun"}
	absence := &model.Absence{PersonalNumber: "198001011234", Hours: 2}
	address := &model.Address{PersonalNumber: "198001011234", City: "GÖTEBORG"}
	errandProt := &model.Errand{ErrandNumber: "BYGG-2025-000001", CaseType: "BYGGLOV", Description: "x",
		Stakeholders: []*model.Stakeholder{{PartyID: "party-plain"}, {PartyID: "party-prot"}}}
	errandPlain := &model.Errand{ErrandNumber: "BYGG-2025-000002", CaseType: "BYGGLOV", Description: "y",
		Stakeholders: []*model.Stakeholder{{PartyID: "party-plain"}}}
	errandUnknownParty := &model.Errand{ErrandNumber: "BYGG-2025-000003", CaseType: "BYGGLOV", Description: "z",
		Stakeholders: []*model.Stakeholder{{PartyID: "party-nobody"}}}
	// A declared record whose subject is null names a person it does not
	// identify (model.Subject{}): the access log could record its data as
	// no one's only, so it is served to no one, clearance 3 included.
	ekb := "EKONOMISKT_BISTAND"
	unnamedReceipt := &gqlmodel.Receipt{CaseType: &ekb}
	tests := []struct {
		persona, typ, field string
		obj                 any
		allowed             bool
		lookups             int32
	}{
		{"case-officer", "Person", "givenName", prot, false, 0},
		{"case-officer", "Person", "givenName", &prot, false, 0}, // a list element
		{"case-officer", "Person", "givenName", plain, true, 0},
		{"social-secretary", "Person", "givenName", prot, true, 0},
		{"preschool-admin", "Placement", "group", placement, false, 1},
		{"preschool-admin", "Placement", "group", &plainPlacement, true, 1},
		{"preschool-admin", "Placement", "group", unknownPlacement, false, 1}, // unknown counts as protected
		{"social-secretary", "Placement", "group", placement, true, 0},        // clearance 3: no need to ask
		{"preschool-admin", "Absence", "hours", absence, false, 1},
		{"case-officer", "Address", "city", address, false, 1},
		{"case-officer", "PropertyOwner", "name", owner, false, 1},
		{"case-officer", "PropertyOwner", "name", &org, true, 0},    // a legal person
		{"case-officer", "Placement", "group", placement, false, 0}, // denied anyway: no lookup
		{"case-officer", "Errand", "description", errandProt, false, 2},
		{"case-officer", "Errand", "description", errandPlain, true, 1},
		{"case-officer", "Errand", "description", errandUnknownParty, false, 0},
		{"social-secretary", "Receipt", "caseType", unnamedReceipt, false, 0},
		{"social-secretary", "Receipt", "caseType", &unnamedReceipt, false, 0},
		{"case-officer", "Receipt", "caseType", unnamedReceipt, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.persona+" "+tc.typ+"."+tc.field, func(t *testing.T) {
			ctx := fieldCtx(asPersona(t, roles, tc.persona), tc.typ, tc.field, tc.obj)
			people.lookups.Store(0)
			called := false
			_, err := e.InterceptField(ctx, func(context.Context) (any, error) { called = true; return "value", nil })
			if called != tc.allowed || (err == nil) != tc.allowed {
				t.Errorf("resolver called %v, err %v; want allowed %v", called, err, tc.allowed)
			}
			if n := people.lookups.Load(); n != tc.lookups {
				t.Errorf("registry asked %d times, want %d", n, tc.lookups)
			}
		})
	}
	t.Run("a failing lookup is the field's error, never an open field", func(t *testing.T) {
		ctx := fieldCtx(asPersona(t, roles, "preschool-admin"), "Placement", "group", &model.Placement{PersonalNumber: "down"})
		called := false
		_, err := e.InterceptField(ctx, func(context.Context) (any, error) { called = true; return "value", nil })
		if called || !errors.Is(err, errRegistryDown) {
			t.Fatalf("called %v, err %v", called, err)
		}
	})
	t.Run("a field outside the catalog is never served", func(t *testing.T) {
		ctx := fieldCtx(asPersona(t, roles, "social-secretary"), "Person", "password", plain)
		if _, err := e.InterceptField(ctx, func(context.Context) (any, error) { t.Fatal("resolved"); return nil, nil }); err == nil {
			t.Fatal("no error")
		}
	})
}

// TestProtectedPersonIsHiddenLikeAnUnknownOne: a field whose value is a
// person answers, for a caller not cleared for protected identities, with
// the protected person removed: null for one person, left out of a list,
// and no error, exactly as for a personnummer the registry does not know.
func TestProtectedPersonIsHiddenLikeAnUnknownOne(t *testing.T) {
	e, people, roles := newFixture(t)
	prot, plain := people.persons["198001011234"], people.persons["199001011230"]
	child := &model.Person{PersonalNumber: "201801011238", GivenName: "Barn", FetchedAt: now}
	for _, tc := range []struct {
		persona, typ, field string
		parent, value       any
		want                any
	}{
		{"case-officer", "Query", "person", nil, prot, nil},
		{"case-officer", "Query", "person", nil, plain, plain},
		{"social-secretary", "Query", "person", nil, prot, prot},
		{"case-officer", "Stakeholder", "person", &model.Stakeholder{PartyID: "party-prot"}, prot, nil},
		{"preschool-admin", "Placement", "child", &model.Placement{PersonalNumber: prot.PersonalNumber}, prot, nil},
		{"preschool-admin", "Person", "guardians", child, []*model.Person{plain, prot}, []*model.Person{plain}},
		{"social-secretary", "Person", "guardians", child, []*model.Person{plain, prot}, []*model.Person{plain, prot}},
		{"case-officer", "PropertyOwner", "person", &model.PropertyOwner{PersonalNumber: prot.PersonalNumber}, prot, nil},
	} {
		t.Run(tc.persona+" "+tc.typ+"."+tc.field, func(t *testing.T) {
			ctx := fieldCtx(asPersona(t, roles, tc.persona), tc.typ, tc.field, tc.parent)
			got, err := e.InterceptField(ctx, func(context.Context) (any, error) { return tc.value, nil })
			if err != nil {
				t.Fatalf("error %v: a hidden person must answer like an unknown one, without an error", err)
			}
			if !sameValue(got, tc.want) {
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func sameValue(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case []*model.Person:
		g, ok := got.([]*model.Person)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range g {
			if g[i] != w[i] {
				return false
			}
		}
		return true
	}
	return got == want
}

// TestProtectionFlagPastItsBound: a flag older than the bound is asked
// again of the registry; when the registry cannot answer, the person counts
// as protected.
func TestProtectionFlagPastItsBound(t *testing.T) {
	e, people, roles := newFixture(t)
	old := &model.Person{PersonalNumber: "199001011230", GivenName: "Öppen", FetchedAt: now.Add(-2 * authz.DefaultProtectionMaxAge)}
	ctx := fieldCtx(asPersona(t, roles, "case-officer"), "Query", "person", nil)
	got, err := e.InterceptField(ctx, func(context.Context) (any, error) { return old, nil })
	if err != nil || got != old || people.fresh.Load() != 1 {
		t.Fatalf("got %v, %v after %d fresh lookups; want the person after one", got, err, people.fresh.Load())
	}
	people.down = true
	ctx = fieldCtx(asPersona(t, roles, "case-officer"), "Query", "person", nil)
	if got, err = e.InterceptField(ctx, func(context.Context) (any, error) { return old, nil }); err != nil || got != nil {
		t.Fatalf("registry down, flag past its bound: got %v, %v; want the person hidden", got, err)
	}
	ctx = fieldCtx(asPersona(t, roles, "case-officer"), "Person", "givenName", old)
	if _, err = e.InterceptField(ctx, func(context.Context) (any, error) { return "Öppen", nil }); err == nil {
		t.Fatal("a field of a person whose flag could not be refreshed was served")
	}
	fresh := &model.Person{PersonalNumber: "199001011230", GivenName: "Öppen", FetchedAt: now.Add(-time.Second)}
	before := people.fresh.Load()
	ctx = fieldCtx(asPersona(t, roles, "case-officer"), "Query", "person", nil)
	if got, err = e.InterceptField(ctx, func(context.Context) (any, error) { return fresh, nil }); err != nil || got != fresh || people.fresh.Load() != before {
		t.Fatalf("a fresh flag: got %v, %v, %d more lookups", got, err, people.fresh.Load()-before)
	}
}

// TestRowsOutsidePurposeAreRemoved: errands whose case type the caller's
// purposes do not cover are removed from a field's value, whatever field
// returns them; a case type no row line names is read by no one.
func TestRowsOutsidePurposeAreRemoved(t *testing.T) {
	e, _, roles := newFixture(t)
	bygg := &model.Errand{ErrandNumber: "BYGG-2025-000001", CaseType: "BYGGLOV"}
	ekb := &model.Errand{ErrandNumber: "EKB-2024-000001", CaseType: "EKONOMISKT_BISTAND"}
	odd := &model.Errand{ErrandNumber: "XYZ-2024-000001", CaseType: "NO_SUCH_TYPE"}
	for _, tc := range []struct {
		persona, typ, field string
		value, want         any
	}{
		{"case-officer", "Query", "errand", bygg, bygg},
		{"case-officer", "Query", "errand", ekb, nil},
		{"case-officer", "Query", "errand", odd, nil},
		{"social-secretary", "Query", "errand", ekb, ekb},
		{"social-secretary", "Query", "errand", bygg, nil},
		{"social-secretary", "Query", "errand", odd, nil},
		{"case-officer", "ErrandEdge", "node", ekb, nil},
		{"social-secretary", "Person", "errands", []*model.Errand{bygg, ekb, odd}, []*model.Errand{ekb}},
		{"case-officer", "Person", "errands", []*model.Errand{ekb}, nil}, // emptied: null, as for no errands
	} {
		t.Run(tc.persona+" "+tc.typ+"."+tc.field, func(t *testing.T) {
			var parent any
			if tc.typ == "Person" {
				parent = &model.Person{PersonalNumber: "199001011230", FetchedAt: now}
			}
			ctx := fieldCtx(asPersona(t, roles, tc.persona), tc.typ, tc.field, parent)
			got, err := e.InterceptField(ctx, func(context.Context) (any, error) { return tc.value, nil })
			if err != nil {
				t.Fatalf("error %v: a row outside the purposes answers like no row", err)
			}
			switch w := tc.want.(type) {
			case nil:
				if got != nil {
					t.Fatalf("got %#v, want null", got)
				}
			case []*model.Errand:
				g, _ := got.([]*model.Errand)
				if len(g) != len(w) || (len(g) > 0 && g[0] != w[0]) {
					t.Fatalf("got %v, want %v", got, w)
				}
			default:
				if got != tc.want {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	t.Run("row values pushed down", func(t *testing.T) {
		a, _ := defaultAuthorizer(t)
		for persona, want := range map[string]string{"case-officer": "BYGGLOV", "social-secretary": "EKONOMISKT_BISTAND", "preschool-admin": "FORSKOLEPLATS", "analyst": "", "open-data": ""} {
			p, _ := authz.PersonaPrincipal(persona, roles)
			if got := strings.Join(a.RowValues(authz.Prepare(p), "Errand"), ","); got != want {
				t.Errorf("%s: row values %q, want %q", persona, got, want)
			}
		}
		if got := e.RowValues(context.Background(), "Errand"); len(got) != 0 {
			t.Errorf("outside an operation: %v, want none", got)
		}
	})
}

// TestPersonalDataNeedsRoomInTheAccessLog: when the access log can promise
// no room (queue and spool full), personal fields are withheld with
// ACCESS_LOG_UNAVAILABLE and their resolvers never run, while open data is
// still served; when room returns, so does the data.
func TestPersonalDataNeedsRoomInTheAccessLog(t *testing.T) {
	a, roles := defaultAuthorizer(t)
	h, _ := authz.NewPersonHasher(make([]byte, 32))
	log, err := authz.NewAsyncAccessLog(authz.AsyncAccessLogOptions{Store: nopLog{}, Buffer: 1, SpoolMaxEntries: 1,
		SpoolPath: filepath.Join(t.TempDir(), "spool.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	people := &fakePeople{now: now, persons: map[string]*model.Person{}}
	e, err := authz.NewEnforcement(authz.EnforcementOptions{Authorizer: a, AccessLog: log, Hasher: h, People: people, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var held []*authz.AccessTicket
	for {
		tk, err := log.Reserve()
		if err != nil {
			if !errors.Is(err, authz.ErrAccessLogUnavailable) {
				t.Fatal(err)
			}
			break
		}
		held = append(held, tk)
	}
	plain := &model.Person{PersonalNumber: "199001011230", GivenName: "Öppen", FetchedAt: now}
	called := false
	ctx := fieldCtx(asPersona(t, roles, "social-secretary"), "Person", "givenName", plain)
	_, err = e.InterceptField(ctx, func(context.Context) (any, error) { called = true; return "Öppen", nil })
	if called || err == nil || !strings.Contains(fmt.Sprint(err), "access log") {
		t.Fatalf("personal field with a full access log: called %v, err %v", called, err)
	}
	if code := codeOf(err); code != authz.CodeAccessLogUnavailable {
		t.Fatalf("code %q, want %s", code, authz.CodeAccessLogUnavailable)
	}
	ctx = fieldCtx(asPersona(t, roles, "social-secretary"), "SchoolUnit", "name", &model.SchoolUnit{Name: "Förskolan Ekorren"})
	if got, err := e.InterceptField(ctx, func(context.Context) (any, error) { return "Förskolan Ekorren", nil }); err != nil || got != "Förskolan Ekorren" {
		t.Fatalf("open data with a full access log: %v, %v", got, err)
	}
	for _, tk := range held {
		tk.Release()
	}
	ctx = fieldCtx(asPersona(t, roles, "social-secretary"), "Person", "givenName", plain)
	if got, err := e.InterceptField(ctx, func(context.Context) (any, error) { return "Öppen", nil }); err != nil || got != "Öppen" {
		t.Fatalf("with room again: %v, %v", got, err)
	}
}

func codeOf(err error) string {
	var ge *gqlerror.Error
	if errors.As(err, &ge) {
		c, _ := ge.Extensions["code"].(string)
		return c
	}
	return ""
}
