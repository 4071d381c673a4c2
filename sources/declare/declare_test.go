package declare_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// testSchema is a small schema in the project's style, with the project's
// own directives, in which the declarations below are checked.
const testSchema = `
type Query @classification(level: 0) @owner(name: "K") { property(id: ID!): Property }

type Property @classification(level: 0) @owner(name: "Geodata") {
  objectId: ID
  bins: [Bin!] @resource(name: "sopor.bins", key: "objectId")
}

type Bin @classification(level: 0) @owner(name: "Sopor (Tekniska nämnden)") {
  propertyId: ID
  size: Int
  payerId: ID @classification(level: 1) @personal
  payer: Person @classification(level: 2) @personal @resource(name: "folkbokforing.personByParty", key: "payerId")
}

type Person @classification(level: 1) @owner(name: "Folkbokföringen") @personal { name: String }
`

// good is a declaration that fits testSchema; each case breaks it.
const good = `system: sopor
owner: Sopor (Tekniska nämnden)
connector: http
probe: api/health
resources:
  bins:
    type: Bin
    by: propertyId
    list: true
    http:
      batch: { get: "api/bins?ids={keys}", maxKeys: 50 }
      records: items
    fields:
      propertyId: propertyId
      size: size
      payerId: payer.partyId
    subjects:
      - partyId: payerId
    cache: { ttl: 1h }
`

var builtins = []declare.Builtin{{Name: "folkbokforing.personByParty", Type: "Person"}}

func schema(t *testing.T, extra string) *ast.Schema {
	t.Helper()
	dirs, err := os.ReadFile("../../schema/directives.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	s, gerr := gqlparser.LoadSchema(
		&ast.Source{Name: "schema/directives.graphqls", Input: string(dirs)},
		&ast.Source{Name: "schema/sopor.graphqls", Input: testSchema + extra},
	)
	if gerr != nil {
		t.Fatal(gerr)
	}
	return s
}

func load(t *testing.T, yaml, extraSchema string) error {
	t.Helper()
	_, err := declare.Load([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(yaml)}}, schema(t, extraSchema), builtins)
	return err
}

// wantProblems loads yaml with extraSchema and wants declare.Problems
// saying each of want.
func wantProblems(t *testing.T, yaml, extraSchema string, want []string) {
	t.Helper()
	err := load(t, yaml, extraSchema)
	var ps declare.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v, want declare.Problems", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say\n  %s\nit says\n%s", w, err)
		}
	}
}

func TestGoodDeclaration(t *testing.T) {
	if err := load(t, good, ""); err != nil {
		t.Fatal(err)
	}
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(good)}})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Resource("sopor.bins")
	if r == nil || !r.List || r.HTTP.Batch.MaxKeys != 50 || strings.Join(r.HTTP.Records, ".") != "items" ||
		strings.Join(r.Field("payerId").Path, ".") != "payer.partyId" || r.Subjects[0].PartyID != "payerId" || r.Cache.TTL.String() != "1h0m0s" {
		t.Fatalf("parsed %+v", r)
	}
}

// TestBadDeclarationsAreLocated: each kind of mistake in a declaration, or
// in a binding in the schema, is a problem located in the file to fix.
func TestBadDeclarationsAreLocated(t *testing.T) {
	tests := []struct {
		name, yaml, schema string
		// want are the problems, each "file:line: message" in part.
		want []string
	}{
		{name: "a misspelt key",
			yaml: strings.Replace(good, "    list: true", "    lsit: true", 1),
			want: []string{"schema/sopor.yaml:7: resource sopor.bins: list is required (true or false)",
				`schema/sopor.yaml:9: resource sopor.bins: unknown key "lsit"`}},
		{name: "not YAML",
			yaml: good + "  - [unclosed\n",
			want: []string{"schema/sopor.yaml:5: not YAML"}},
		{name: "an unknown record type",
			yaml: strings.Replace(good, "type: Bin", "type: Bins", 1),
			want: []string{"schema/sopor.yaml:7: resource sopor.bins: type Bins is not an object type of the schema",
				`schema/sopor.graphqls:6: Property.bins is of type Bin but resource sopor.bins has records of type Bins`}},
		{name: "a field the type does not have",
			yaml: strings.Replace(good, "      size: size", "      size: size\n      colour: colour", 1),
			want: []string{`schema/sopor.yaml:16: resource sopor.bins: Bin has no field "colour"`}},
		{name: "a field neither mapped nor bound",
			yaml: strings.Replace(good, "      size: size\n", "", 1),
			want: []string{"schema/sopor.yaml:13: resource sopor.bins: field Bin.size is neither mapped in fields nor bound with @resource"}},
		{name: "another owner",
			yaml: strings.Replace(good, "owner: Sopor (Tekniska nämnden)", "owner: Sopor AB", 1),
			want: []string{`schema/sopor.yaml:7: resource sopor.bins: type Bin has @owner(name: "Sopor (Tekniska nämnden)") but system sopor is owned by "Sopor AB"`}},
		{name: "personal data without subjects",
			yaml: strings.Replace(good, "    subjects:\n      - partyId: payerId\n", "", 1),
			want: []string{"schema/sopor.yaml:6: resource sopor.bins: type Bin holds personal data (@personal) but the declaration has no subjects"}},
		{name: "a subject that is not mapped",
			yaml: strings.Replace(good, "partyId: payerId", "partyId: payer", 1),
			want: []string{`schema/sopor.yaml:18: resource sopor.bins: subject field "payer" is not a field mapped in fields`}},
		{name: "one record per key for a list field",
			yaml: strings.Replace(good, "list: true", "list: false", 1),
			want: []string{"schema/sopor.graphqls:6: Property.bins is a list but resource sopor.bins answers one record per key (list: false)"}},
		{name: "by is not a mapped field",
			yaml: strings.Replace(good, "by: propertyId", "by: property", 1),
			want: []string{`schema/sopor.yaml:8: resource sopor.bins: by "property" is not a field mapped in fields`}},
		{name: "the batch form without {keys} in its query",
			yaml: strings.Replace(good, `"api/bins?ids={keys}"`, `"api/{keys}/bins"`, 1),
			want: []string{`schema/sopor.yaml:11: resource sopor.bins.http.batch.get "api/{keys}/bins": {keys} belongs in the query (?ids={keys})`}},
		{name: "a template that leaves the system",
			yaml: strings.Replace(good, `"api/bins?ids={keys}"`, `"https://evil.example/bins?ids={keys}"`, 1),
			want: []string{`schema/sopor.yaml:11: resource sopor.bins.http.batch.get "https://evil.example/bins?ids={keys}": want a path relative to the system's URL`}},
		{name: "a builtin part in a system that is not built in",
			yaml: strings.Replace(good, "      records: items\n", "      records: items\n    builtin: { form: one }\n", 1),
			want: []string{
				"schema/sopor.yaml:13: resource sopor.bins: a builtin part is a Go loader's; system sopor is not builtin: true",
				"schema/sopor.yaml:13: resource sopor.bins: a builtin resource has no http part",
			}},
		{name: "a builtin form no Go loader has",
			yaml: builtinDecl("form: many, maxKeys: 10", "level3: true"),
			want: []string{
				`schema/sopor.yaml:10: resource sopor.people.builtin.form "many": want batch, one or page`,
				"schema/sopor.yaml:10: resource sopor.people.builtin.maxKeys: only the batch form carries many keys per call",
			}},
		{name: "a Go loader's level-3 records not sealed",
			yaml:   builtinDecl("form: batch, maxKeys: 10", "level3: false"),
			schema: `extend type Person { protected: Boolean @classification(level: 3) }`,
			want:   []string{"schema/sopor.yaml:6: resource sopor.people: type Person has level-3 or health data, so its records must be sealed in the cache: set level3: true"}},
		{name: "a Go loader's personal records without subjects",
			yaml: strings.Replace(builtinDecl("form: one", "level3: true"), "    subjects: model\n", "", 1),
			want: []string{"schema/sopor.yaml:6: resource sopor.people: type Person holds personal data (@personal) but the declaration has no subjects"}},
		{name: "subjects: model on a declared call",
			yaml: strings.Replace(good, "    subjects:\n      - partyId: payerId\n", "    subjects: model\n", 1),
			want: []string{"schema/sopor.yaml:17: resource sopor.bins: subjects: model is for a Go loader's records (builtin)"}},
		{name: "a binding to no resource",
			yaml:   good,
			schema: `extend type Property { more: [Bin!] @resource(name: "sopor.bin", key: "objectId") }`,
			want:   []string{`schema/sopor.graphqls:17: Property.more: @resource(name: "sopor.bin") names no declared resource (known: folkbokforing.personByParty, sopor.bins)`}},
		{name: "a key the parent does not have",
			yaml:   good,
			schema: `extend type Property { more: [Bin!] @resource(name: "sopor.bins", key: "id") }`,
			want:   []string{`schema/sopor.graphqls:17: Property.more: @resource key "id" is not a field of Property`}},
		{name: "a binding of the wrong type",
			yaml:   good,
			schema: `extend type Property { owner: Bin @resource(name: "folkbokforing.personByParty", key: "objectId") }`,
			want:   []string{`schema/sopor.graphqls:17: Property.owner is of type Bin but resource folkbokforing.personByParty has records of type Person`}},
		{name: "an unclassified field",
			yaml:   good,
			schema: `type Unclassified @owner(name: "K") { x: Int } extend type Property { u: Unclassified @classification(level: 0) @resource(name: "sopor.u", key: "objectId") }`,
			want:   []string{`@resource(name: "sopor.u") names no declared resource`}},
		{name: "level-3 fields in a cache that is not sealed",
			yaml:   strings.Replace(good, "      size: size\n", "      size: size\n      diet: diet\n", 1),
			schema: `extend type Bin { diet: String @classification(level: 3) }`,
			want:   []string{"schema/sopor.yaml:6: resource sopor.bins: type Bin has level-3 fields, so its records must be sealed in the cache: set level3: true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantProblems(t, tc.yaml, tc.schema, tc.want) })
	}
}

// TestEveryProblemIsReported: three independent mistakes in one file are
// three located problems, in file order, not the first only.
func TestEveryProblemIsReported(t *testing.T) {
	yaml := strings.NewReplacer(
		"probe: api/health", "probe: /api/health",
		"      size: size", "      size: size\n      colour: colour",
		"cache: { ttl: 1h }", "cache: { ttl: an hour }",
	).Replace(good)
	err := load(t, yaml, "")
	var ps declare.Problems
	if !errors.As(err, &ps) || len(ps) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
	for i, want := range []string{"schema/sopor.yaml:4:", "schema/sopor.yaml:16:", "schema/sopor.yaml:20:"} {
		if !strings.HasPrefix(ps[i].String(), want) {
			t.Errorf("problem %d: %s, want it at %s", i, ps[i], want)
		}
	}
	if !strings.HasPrefix(err.Error(), "3 problem(s) in the source declarations:\n  schema/sopor.yaml:4: ") {
		t.Errorf("message %q", err.Error())
	}
}

// builtinDecl is a built-in system with one Go loader's resource, whose
// builtin part and sealing are given.
func builtinDecl(form, level3 string) string {
	return `system: sopor
owner: Folkbokföringen
connector: soap
builtin: true
resources:
  people:
    type: Person
    by: name
    list: false
    builtin: { ` + form + ` }
    subjects: model
    ` + level3 + `
`
}

// TestABuiltinSystemTakesResources: a built-in system (builtin: true)
// declares its Go loaders' identity (builtin part: form, most keys per
// call; subjects from its Go model; sealing), its system-wide cache policy
// and its defaults, and may declare further resources with a call of the
// connector, which run on its client and configuration.
func TestABuiltinSystemTakesResources(t *testing.T) {
	const decl = `system: geodata
owner: Geodata
connector: http
builtin: true
probe: conformance
defaults: { maxConcurrent: 16, costBudget: 300 }
cache: { ttl: 1h, negativeTTL: 10m }
resources:
  parcels:
    type: Parcel
    list: false
    http:
      one: { get: "parcels/{key}" }
    fields: { id: id }
  property:
    type: Property
    by: objectId
    list: false
    builtin: { form: batch, maxKeys: 100 }
    subjects: model
    level3: true
`
	set, err := declare.Parse([]declare.File{{Name: "schema/geodata.yaml", Data: []byte(decl)}})
	if err != nil {
		t.Fatal(err)
	}
	sys := set.System("geodata")
	if sys == nil || !sys.Builtin || sys.Probe != "conformance" || !sys.CacheDeclared || sys.Cache.TTL.String() != "1h0m0s" ||
		sys.Defaults.MaxConcurrent != 16 || sys.Defaults.CostBudget != 300 {
		t.Fatalf("parsed %+v", sys)
	}
	// A built-in system's resources keep its configured policy, whose
	// default the system's cache is: they declare none of their own.
	if r := set.Resource("geodata.parcels"); r.CacheDeclared || r.Builtin != nil {
		t.Fatalf("parcels parsed %+v", r)
	}
	r := set.Resource("geodata.property")
	if r == nil || r.Builtin == nil || r.Builtin.Form != declare.FormBatch || r.Builtin.MaxKeys != 100 || !r.SubjectsFromModel || !r.Level3 || r.Subjects != nil {
		t.Fatalf("property parsed %+v", r)
	}
}

// TestShapeFollowsWhatTheRecordsHold: a resource's shape (part of its
// record cache keys) changes with the mapping, the call, the subjects and
// the sealing, and not with comments, blank lines or the cache policy.
func TestShapeFollowsWhatTheRecordsHold(t *testing.T) {
	base := binsShape(t, good)
	if len(base) != 12 {
		t.Fatalf("shape %q: want 12 hex digits", base)
	}
	for name, decl := range map[string]string{
		"comments and blank lines": strings.Replace(good, "resources:\n", "# the bins\n\nresources:\n", 1),
		"cache policy":             strings.Replace(good, "cache: { ttl: 1h }", "cache: { ttl: 5m, staleIfError: 1h }", 1),
	} {
		if got := binsShape(t, decl); got != base {
			t.Errorf("%s changed the shape: %s, was %s", name, got, base)
		}
	}
	for name, decl := range map[string]string{
		"a field's path":  strings.Replace(good, "payerId: payer.partyId", "payerId: payer.id", 1),
		"a new field":     strings.Replace(good, "size: size\n", "size: size\n      colour: colour\n", 1),
		"the call":        strings.Replace(good, "api/bins?ids={keys}", "api/v2/bins?ids={keys}", 1),
		"the records":     strings.Replace(good, "records: items", "records: data.items", 1),
		"level 3 sealing": strings.Replace(good, "cache: { ttl: 1h }", "cache: { ttl: 1h }\n    level3: true", 1),
	} {
		if got := binsShape(t, decl); got == base {
			t.Errorf("%s kept the shape %s", name, base)
		}
	}
}

// binsShape is the shape of sopor.bins declared by decl.
func binsShape(t *testing.T, decl string) string {
	t.Helper()
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(decl)}})
	if err != nil {
		t.Fatal(err)
	}
	return set.Resource("sopor.bins").Shape()
}
