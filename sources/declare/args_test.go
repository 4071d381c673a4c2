package declare_test

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// withArgs is good with a resource whose call takes the bound field's
// arguments: year as a path segment, kind as a query value.
const withArgs = good + `  binsOf:
    type: Bin
    by: propertyId
    list: true
    http:
      batch: { get: "api/{args.year}/bins?ids={keys}&kind={args.kind}" }
      records: items
    fields:
      propertyId: propertyId
      size: size
      payerId: payer.partyId
    subjects:
      - partyId: payerId
`

// argsSchema binds binsOf with arguments; line 3 is the field.
const argsSchema = `
extend type Property {
  binsOf(kind: BinKind, year: Int!): [Bin!] @resource(name: "sopor.binsOf", key: "objectId")
}
enum BinKind { PAPER GLASS }
input BinFilter { kind: BinKind }
`

func TestGoodArguments(t *testing.T) {
	if err := load(t, withArgs, argsSchema); err != nil {
		t.Fatal(err)
	}
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(withArgs)}})
	if err != nil {
		t.Fatal(err)
	}
	want := []declare.ArgRef{{Name: "year", InPath: true}, {Name: "kind"}}
	if got := set.Resource("sopor.binsOf").Args(); !slices.Equal(got, want) {
		t.Fatalf("args %v, want %v", got, want)
	}
	if got := set.Resource("sopor.bins").Args(); len(got) != 0 {
		t.Fatalf("a call without arguments has %v", got)
	}
}

// TestBadArgumentsAreLocated: each way a bound field's arguments and its
// resource's call can disagree is a problem at the line to fix.
func TestBadArgumentsAreLocated(t *testing.T) {
	// The line of the field in the schema: testSchema's lines, then argsSchema's third.
	field := "schema/sopor.graphqls:" + itoa(strings.Count(testSchema, "\n")+3) + ": "
	call := "schema/sopor.yaml:" + itoa(strings.Count(good, "\n")+6) + ": "
	tests := []struct {
		name, yaml, schema string
		want               []string
	}{
		{name: "the call names an argument the field does not have",
			yaml:   strings.Replace(withArgs, "{args.kind}", "{args.colour}", 1),
			schema: argsSchema,
			want: []string{field + "Property.binsOf: resource sopor.binsOf's call (" + strings.TrimSuffix(call, ": ") + ") uses {args.colour}, but the field has no argument colour",
				field + "Property.binsOf(kind): resource sopor.binsOf's call"}},
		{name: "an input object argument",
			yaml:   withArgs,
			schema: strings.Replace(argsSchema, "kind: BinKind,", "kind: BinFilter,", 1),
			want:   []string{field + "Property.binsOf(kind: BinFilter): an argument of a field bound with @resource is a built-in scalar"}},
		{name: "a list argument",
			yaml:   withArgs,
			schema: strings.Replace(argsSchema, "kind: BinKind,", "kind: [BinKind!],", 1),
			want:   []string{field + "Property.binsOf(kind: [BinKind!]): an argument of a field bound with @resource is a built-in scalar"}},
		{name: "a custom scalar argument",
			yaml:   withArgs,
			schema: strings.Replace(argsSchema, "kind: BinKind,", "kind: Date,", 1),
			want:   []string{field + "Property.binsOf(kind: Date): an argument of a field bound with @resource is a built-in scalar (ID, String, Int, Float, Boolean) or an enum"}},
		{name: "a nullable path segment",
			yaml:   withArgs,
			schema: strings.Replace(argsSchema, "year: Int!", "year: Int", 1),
			want:   []string{field + "Property.binsOf(year: Int): the argument is a path segment of sopor.binsOf's call: make it non-null (Int!)"}},
		{name: "an argument the call does not use",
			yaml:   strings.Replace(withArgs, "&kind={args.kind}", "", 1),
			schema: argsSchema,
			want:   []string{field + "Property.binsOf(kind): resource sopor.binsOf's call (" + strings.TrimSuffix(call, ": ") + ") does not use {args.kind}: the argument would change nothing"}},
		{name: "part of a path segment",
			yaml:   strings.Replace(withArgs, "api/{args.year}/bins", "api/y{args.year}/bins", 1),
			schema: argsSchema,
			want:   []string{call + `resource sopor.binsOf.http.batch.get "api/y{args.year}/bins?ids={keys}&kind={args.kind}": an argument is a whole path segment`}},
		{name: "part of a query value",
			yaml:   strings.Replace(withArgs, "kind={args.kind}", "kind=x{args.kind}", 1),
			schema: argsSchema,
			want:   []string{call + `resource sopor.binsOf.http.batch.get "api/{args.year}/bins?ids={keys}&kind=x{args.kind}": an argument is a whole query value`}},
		{name: "an argument twice",
			yaml:   strings.Replace(withArgs, "kind={args.kind}", "kind={args.kind}&k={args.kind}", 1),
			schema: argsSchema,
			want:   []string{call + `resource sopor.binsOf.http.batch.get "api/{args.year}/bins?ids={keys}&kind={args.kind}&k={args.kind}": {args.kind} more than once`}},
		{name: "another placeholder",
			yaml:   strings.Replace(withArgs, "{args.kind}", "{arg.kind}", 1),
			schema: argsSchema,
			want:   []string{call + `resource sopor.binsOf.http.batch.get "api/{args.year}/bins?ids={keys}&kind={arg.kind}": only {keys}, {args.<name>} and {parent.<field>} may be in braces`}},
		{name: "arguments on a field bound to a built-in loader",
			yaml:   good,
			schema: `extend type Bin { payerOf(kind: BinKind): Person @classification(level: 2) @personal @resource(name: "folkbokforing.personByParty", key: "payerId") } enum BinKind { A }`,
			want:   []string{"Bin.payerOf: a field bound with @resource to a built-in loader takes no arguments"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantProblems(t, tc.yaml, tc.schema, tc.want) })
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestArgsKeys: a key's arguments are part of its loader key, equal
// arguments give equal prefixes whatever their order, and any key reads
// back whole.
func TestArgsKeys(t *testing.T) {
	a := declare.ArgsKey("p1", url.Values{"kind": {"PAPER"}, "year": {"2026"}})
	b := declare.ArgsKey("p1", url.Values{"year": {"2026"}, "kind": {"PAPER"}})
	c := declare.ArgsKey("p1", url.Values{"kind": {"GLASS"}, "year": {"2026"}})
	if a != b || a == c || a == declare.ArgsKey("p1", nil) {
		t.Fatalf("keys %q %q %q", a, b, c)
	}
	for _, key := range []string{"p1", "a\nb", "kind=X&year=1", "\n\n", ""} {
		args := url.Values{"kind": {"x\ny&z=1"}}
		g, gotArgs, gotKey, err := declare.ParseArgsKey(declare.ArgsKey(key, args))
		if err != nil || gotKey != key || gotArgs.Get("kind") != "x\ny&z=1" || len(gotArgs) != 1 || strings.Contains(g, "\n") {
			t.Fatalf("%q: read back %q %v %q (%v)", key, g, gotArgs, gotKey, err)
		}
	}
}

// sqlArgs is an sql system whose binsOf query uses {args.kind} twice and
// {args.year} once; line 17 is its query.
const sqlArgs = `system: sopor
owner: Sopor (Tekniska nämnden)
connector: sql
resources:
  bins:
    type: Bin
    by: propertyId
    list: true
    sql: { query: "SELECT fastighet, storlek FROM karl WHERE fastighet IN ({keys})", key: fastighet }
    fields: { propertyId: fastighet, size: storlek, payerId: betalare }
    subjects: [{ partyId: payerId }]
  binsOf:
    type: Bin
    by: propertyId
    list: true
    sql:
      query: >-
        SELECT fastighet, storlek FROM karl WHERE fastighet IN ({keys})
        AND ({args.kind} IS NULL OR slag = {args.kind}) AND ar = {args.year}
      key: fastighet
    fields: { propertyId: fastighet, size: storlek, payerId: betalare }
    subjects: [{ partyId: payerId }]
`

// TestSQLArguments: an sql query's {args.<name>} are the field's
// arguments, each once however often the query uses it, checked as an
// HTTP call's are; a SOAP resource still takes none.
func TestSQLArguments(t *testing.T) {
	if err := load(t, sqlArgs, argsSchema); err != nil {
		t.Fatal(err)
	}
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(sqlArgs)}})
	if err != nil {
		t.Fatal(err)
	}
	want := []declare.ArgRef{{Name: "kind"}, {Name: "year"}}
	if got := set.Resource("sopor.binsOf").Args(); !slices.Equal(got, want) {
		t.Fatalf("args %v, want %v", got, want)
	}
	field := "schema/sopor.graphqls:" + itoa(strings.Count(testSchema, "\n")+3) + ": "
	for name, tc := range map[string]struct{ yaml, want string }{
		"an argument the field lacks": {strings.Replace(sqlArgs, "{args.year}", "{args.when}", 1),
			field + "Property.binsOf: resource sopor.binsOf's call (schema/sopor.yaml:17) uses {args.when}, but the field has no argument when"},
		"an argument the query ignores": {strings.Replace(sqlArgs, " AND ar = {args.year}", "", 1),
			field + "Property.binsOf(year): resource sopor.binsOf's call (schema/sopor.yaml:17) does not use {args.year}"},
	} {
		t.Run(name, func(t *testing.T) {
			err := load(t, tc.yaml, argsSchema)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to say\n  %s", err, tc.want)
			}
		})
	}
}

// soapArgs is a soap system whose binsOf request takes {args.kind} and
// {args.year}; its soap part starts at line 17.
const soapArgs = `system: sopor
owner: Sopor (Tekniska nämnden)
connector: soap
resources:
  bins:
    type: Bin
    by: propertyId
    list: true
    soap: { wsdl: karl.wsdl, operation: Karl, request: { Fastighet: "{key}" } }
    fields: { propertyId: fastighet, size: storlek, payerId: betalare }
    subjects: [{ partyId: payerId }]
  binsOf:
    type: Bin
    by: propertyId
    list: true
    soap:
      wsdl: karl.wsdl
      operation: Karl
      request:
        Fastighet: "{key}"
        Slag: "{args.kind}"
        Ar: "{args.year}"
    fields: { propertyId: fastighet, size: storlek, payerId: betalare }
    subjects: [{ partyId: payerId }]
`

// TestSOAPArgumentsAreTheFields: a soap request's {args.<name>} are the
// bound field's arguments, matched with them as an HTTP call's are.
func TestSOAPArgumentsAreTheFields(t *testing.T) {
	if err := load(t, soapArgs, argsSchema); err != nil {
		t.Fatal(err)
	}
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(soapArgs)}})
	if err != nil {
		t.Fatal(err)
	}
	// In the order of the request's paths.
	want := []declare.ArgRef{{Name: "year"}, {Name: "kind"}}
	if got := set.Resource("sopor.binsOf").Args(); !slices.Equal(got, want) {
		t.Fatalf("args %v, want %v", got, want)
	}
	err = load(t, strings.Replace(soapArgs, `Ar: "{args.year}"`, `Ar: "2026"`, 1), argsSchema)
	if want := "Property.binsOf(year): resource sopor.binsOf's call (schema/sopor.yaml:17) does not use {args.year}"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to say\n  %s", err, want)
	}
}
