package authz_test

import (
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/authz"
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

// TestRowLevelRuleOnEveryPersonalObject: the row-level rule applies to each
// kind of object that carries a person's data, whichever way gqlgen hands
// the object over; the registry is asked only where it changes the answer,
// and a failing lookup never opens the field.
func TestRowLevelRuleOnEveryPersonalObject(t *testing.T) {
	a, roles := defaultAuthorizer(t)
	h, _ := authz.NewPersonHasher(make([]byte, 32))
	protected := map[string]bool{"198001011234": true}
	lookups := 0
	lookupErr := errors.New("registry down")
	e, err := authz.NewEnforcement(authz.EnforcementOptions{
		Authorizer: a, AccessLog: nopLog{}, Hasher: h,
		Protected: func(_ context.Context, pnr string) (bool, error) {
			lookups++
			if pnr == "down" {
				return false, lookupErr
			}
			return protected[pnr], nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	prot := &model.Person{PersonalNumber: "198001011234", GivenName: "Skyddad", ProtectedIdentity: true}
	plain := &model.Person{PersonalNumber: "199001011230", GivenName: "Öppen"}
	placement := &model.Placement{PersonalNumber: "198001011234", Group: "Blå"}
	plainPlacement := &model.Placement{PersonalNumber: "199001011230", Group: "Röd"}
	owner := &model.PropertyOwner{PersonalNumber: "198001011234", Name: "Skyddad Ägare"}
	org := &model.PropertyOwner{OrganisationNumber: "212000-1880", Name: "Örebro kommun"}
	tests := []struct {
		persona, typ, field string
		obj                 any
		allowed             bool
		lookups             int
	}{
		{"case-officer", "Person", "givenName", prot, false, 0},
		{"case-officer", "Person", "givenName", &prot, false, 0}, // a list element
		{"case-officer", "Person", "givenName", plain, true, 0},
		{"social-secretary", "Person", "givenName", prot, true, 0},
		{"preschool-admin", "Placement", "group", placement, false, 1},
		{"preschool-admin", "Placement", "group", &plainPlacement, true, 1},
		{"social-secretary", "Placement", "group", placement, true, 0}, // clearance 3: no need to ask
		{"case-officer", "PropertyOwner", "name", owner, false, 1},
		{"case-officer", "PropertyOwner", "name", &org, true, 0},    // a legal person
		{"case-officer", "Placement", "group", placement, false, 0}, // denied anyway: no lookup
	}
	for _, tc := range tests {
		t.Run(tc.persona+" "+tc.typ+"."+tc.field, func(t *testing.T) {
			p, _ := authz.PersonaPrincipal(tc.persona, roles)
			ctx := fieldCtx(authz.NewContext(context.Background(), p), tc.typ, tc.field, tc.obj)
			lookups = 0
			called := false
			_, err := e.InterceptField(ctx, func(context.Context) (any, error) { called = true; return "value", nil })
			if called != tc.allowed || (err == nil) != tc.allowed {
				t.Errorf("resolver called %v, err %v; want allowed %v", called, err, tc.allowed)
			}
			if lookups != tc.lookups {
				t.Errorf("registry asked %d times, want %d", lookups, tc.lookups)
			}
		})
	}
	t.Run("a failing lookup is the field's error, never an open field", func(t *testing.T) {
		p, _ := authz.PersonaPrincipal("preschool-admin", roles)
		ctx := fieldCtx(authz.NewContext(context.Background(), p), "Placement", "group", &model.Placement{PersonalNumber: "down"})
		called := false
		_, err := e.InterceptField(ctx, func(context.Context) (any, error) { called = true; return "value", nil })
		if called || !errors.Is(err, lookupErr) {
			t.Fatalf("called %v, err %v", called, err)
		}
	})
	t.Run("a field outside the catalog is never served", func(t *testing.T) {
		p, _ := authz.PersonaPrincipal("social-secretary", roles)
		ctx := fieldCtx(authz.NewContext(context.Background(), p), "Person", "password", plain)
		if _, err := e.InterceptField(ctx, func(context.Context) (any, error) { t.Fatal("resolved"); return nil, nil }); err == nil {
			t.Fatal("no error")
		}
	})
}
