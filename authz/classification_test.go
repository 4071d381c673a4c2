package authz_test

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/authz"
	"github.com/kommungraf/kommungraf/graph"
)

// directive declares @classification the way schema/directives.graphqls does.
const directive = `directive @classification(level: Int!) on OBJECT | FIELD_DEFINITION
`

// loadSchema parses a test schema; it must be valid GraphQL.
func loadSchema(t *testing.T, sdl string) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "test.graphqls", Input: directive + sdl})
	if err != nil {
		t.Fatalf("test schema does not load: %v", err)
	}
	return s
}

func TestClassifyRealSchema(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	cat, err := authz.Classify(schema)
	if err != nil {
		t.Fatalf("the served schema does not classify: %v", err)
	}

	tests := []struct {
		typ, field string
		want       authz.Level
	}{
		// Query: the entry points.
		{"Query", "person", authz.Significant},
		{"Query", "errand", authz.Moderate},
		{"Query", "errands", authz.Moderate},
		{"Query", "property", authz.Negligible},
		{"Query", "schoolUnit", authz.Negligible},
		{"Query", "schoolUnits", authz.Negligible},
		// Person: names and address 1, identity and family 2, the protection flags 3.
		{"Person", "personalNumber", authz.Significant},
		{"Person", "givenName", authz.Moderate},
		{"Person", "middleName", authz.Moderate},
		{"Person", "surname", authz.Moderate},
		{"Person", "address", authz.Moderate},
		{"Person", "protectedIdentity", authz.Severe},
		{"Person", "confidentialityMarking", authz.Severe},
		{"Person", "guardians", authz.Significant},
		{"Person", "children", authz.Significant},
		{"Person", "placements", authz.Significant},
		{"Person", "errands", authz.Significant},
		{"Address", "street", authz.Moderate},
		{"Address", "postalCode", authz.Moderate},
		{"Address", "city", authz.Moderate},
		{"Address", "forwarding", authz.Severe},
		// Errands: number, type and status 1; description and decisions 2.
		{"Errand", "errandNumber", authz.Moderate},
		{"Errand", "caseType", authz.Moderate},
		{"Errand", "status", authz.Moderate},
		{"Errand", "description", authz.Significant},
		{"Errand", "decisions", authz.Significant},
		{"Errand", "stakeholders", authz.Moderate},
		{"Stakeholder", "partyId", authz.Moderate},
		{"Stakeholder", "role", authz.Moderate},
		{"Stakeholder", "person", authz.Significant},
		{"Decision", "outcome", authz.Significant},
		{"Decision", "decidedAt", authz.Significant},
		{"ErrandConnection", "edges", authz.Negligible},
		{"ErrandConnection", "totalCount", authz.Moderate},
		// Property: public register, owners are personal data.
		{"Property", "objectId", authz.Negligible},
		{"Property", "designation", authz.Negligible},
		{"Property", "areaM2", authz.Negligible},
		{"Property", "geometry", authz.Negligible},
		{"Property", "owners", authz.Moderate},
		{"PropertyOwner", "name", authz.Moderate},
		{"PropertyOwner", "share", authz.Moderate},
		{"PropertyOwner", "organisationNumber", authz.Negligible},
		{"PropertyOwner", "person", authz.Significant},
		// School: unit facts 0, placements and absence 2, special diet 3.
		{"SchoolUnit", "code", authz.Negligible},
		{"SchoolUnit", "name", authz.Negligible},
		{"SchoolUnit", "placements", authz.Significant},
		{"Placement", "child", authz.Significant},
		{"Placement", "group", authz.Significant},
		{"Placement", "startDate", authz.Significant},
		{"Placement", "hoursPerWeek", authz.Significant},
		{"Placement", "specialDiet", authz.Severe},
		{"Placement", "absences", authz.Significant},
		{"Absence", "date", authz.Significant},
		{"PlacementConnection", "totalCount", authz.Significant},
		{"SchoolUnitConnection", "totalCount", authz.Negligible},
		{"PageInfo", "hasNextPage", authz.Negligible},
	}
	for _, tc := range tests {
		t.Run(tc.typ+"."+tc.field, func(t *testing.T) {
			got, ok := cat.Level(tc.typ, tc.field)
			if !ok || got != tc.want {
				t.Errorf("Level(%s, %s) = %d, %v; want %d, true", tc.typ, tc.field, got, ok, tc.want)
			}
		})
	}

	t.Run("every field of every object type is in the catalog", func(t *testing.T) {
		n := 0
		for name, def := range schema.Types {
			if def.BuiltIn || def.Kind != ast.Object || strings.HasPrefix(name, "__") {
				continue
			}
			for _, f := range def.Fields {
				if strings.HasPrefix(f.Name, "__") {
					continue
				}
				n++
				if l, ok := cat.Level(name, f.Name); !ok || l < authz.Negligible || l > authz.MaxServed {
					t.Errorf("%s.%s: level %d, known %v", name, f.Name, l, ok)
				}
			}
		}
		if cat.Len() != n {
			t.Errorf("catalog has %d fields, the schema %d", cat.Len(), n)
		}
	})

	t.Run("unknown fields are not in the catalog", func(t *testing.T) {
		for _, k := range [][2]string{{"Person", "password"}, {"Nope", "givenName"}, {"Query", "__schema"}, {"Query", "__type"}} {
			if l, ok := cat.Level(k[0], k[1]); ok {
				t.Errorf("Level(%s, %s) = %d, true; want unknown", k[0], k[1], l)
			}
		}
	})
}

func TestClassifyTypeLevelAndOverrides(t *testing.T) {
	schema := loadSchema(t, `
type Query @classification(level: 1) {
  a: A
  b: B @classification(level: 3)
}
type A @classification(level: 2) {
  inherited: String
  lowered: String @classification(level: 0)
  raised: String @classification(level: 3)
}
type B {
  own: Int @classification(level: 1)
}
"Interfaces, inputs, enums and scalars carry no fields that resolve data of their own."
interface Named { name: String }
input Filter { q: String }
enum Colour { RED }
scalar Odd
`)
	cat, err := authz.Classify(schema)
	if err != nil {
		t.Fatalf("Classify: %v", err)
	}
	want := map[[2]string]authz.Level{
		{"Query", "a"}: 1, {"Query", "b"}: 3,
		{"A", "inherited"}: 2, {"A", "lowered"}: 0, {"A", "raised"}: 3,
		{"B", "own"}: 1,
	}
	for k, w := range want {
		if got, ok := cat.Level(k[0], k[1]); !ok || got != w {
			t.Errorf("Level(%s, %s) = %d, %v; want %d", k[0], k[1], got, ok, w)
		}
	}
	if cat.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", cat.Len(), len(want))
	}
}

func TestClassifyRefuses(t *testing.T) {
	const noDirective = "has no @classification, on itself or on its type"
	tests := []struct {
		name string
		sdl  string
		want string
	}{
		{
			name: "one unclassified field",
			sdl: `type Query @classification(level: 0) { a: A }
type A { ok: String @classification(level: 1) secret: String }`,
			want: "unclassified schema:\n  field A.secret " + noDirective,
		},
		{
			name: "every unclassified field is named, in two types",
			sdl: `type Query @classification(level: 0) { a: A c: C }
type A { ok: String @classification(level: 1) secret: String }
type C { z: String w: Int @classification(level: 2) }`,
			want: "unclassified schema:\n  field A.secret " + noDirective + "\n  field C.z " + noDirective,
		},
		{
			name: "unclassified root field",
			sdl:  `type Query { a: String b: String @classification(level: 0) }`,
			want: "unclassified schema:\n  field Query.a " + noDirective,
		},
		{
			name: "level 4 on a field",
			sdl:  `type Query @classification(level: 0) { secret: String @classification(level: 4) }`,
			want: "unclassified schema:\n  field Query.secret: level 4 is not served: want 0 to 3",
		},
		{
			name: "level -1 on a field",
			sdl:  `type Query @classification(level: 0) { odd: String @classification(level: -1) }`,
			want: "unclassified schema:\n  field Query.odd: level -1 is not served: want 0 to 3",
		},
		{
			name: "level 4 on a type leaves its fields unclassified",
			sdl: `type Query @classification(level: 0) { t: T }
type T @classification(level: 4) { x: String y: String @classification(level: 1) }`,
			want: "unclassified schema:\n  type T: level 4 is not served: want 0 to 3\n  field T.x " + noDirective,
		},
		{
			name: "level -1 on a type",
			sdl: `type Query @classification(level: 0) { t: T }
type T @classification(level: -1) { x: String }`,
			want: "unclassified schema:\n  type T: level -1 is not served: want 0 to 3\n  field T.x " + noDirective,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cat, err := authz.Classify(loadSchema(t, tc.sdl))
			if cat != nil {
				t.Errorf("Classify returned a catalog of %d fields with the error", cat.Len())
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("Classify error\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestClassifyRowAttributes: a @row attribute is a String, an ID or an
// enum field of the type, not a list (the policy names its values as
// words); anything else stops the start.
func TestClassifyRowAttributes(t *testing.T) {
	const row = "directive @row(attribute: String!) on OBJECT\nenum Kind { A B }\n"
	for attrType, ok := range map[string]bool{"String": true, "ID": true, "Kind": true, "Int": false, "[String!]": false, "Kind!": true} {
		sdl := row + `type Query @classification(level: 0) { t: T }
type T @classification(level: 0) @row(attribute: "k") { k: ` + attrType + ` }`
		cat, err := authz.Classify(loadSchema(t, sdl))
		switch {
		case ok && (err != nil || cat.RowAttribute("T") != "k"):
			t.Errorf("%s: %v", attrType, err)
		case !ok && (err == nil || !strings.Contains(err.Error(), `type T: @row(attribute: "k") names no String, ID or enum field of the type`)):
			t.Errorf("%s: accepted (%v)", attrType, err)
		}
	}
}
