package declare_test

import (
	"strings"
	"testing"
)

// rowSchema gives testSchema's Bin a purpose: its kind (@row), a String the
// declaration good maps once rowDecl adds it.
const rowSchema = `
extend type Bin @row(attribute: "kind") {
  kind: String
}
`

// rowDecl is good with Bin's kind mapped.
var rowDecl = strings.Replace(good, "      size: size\n", "      size: size\n      kind: kind\n", 1)

// TestRowOnADeclaredType: a declared type may carry @row when every resource
// of the type maps the attribute, a String, an ID or an enum; every other
// use is a problem located where it is fixed, and a listing of a @row type
// is refused (its upstream counts and pages the rows the gateway would
// remove).
func TestRowOnADeclaredType(t *testing.T) {
	if err := load(t, rowDecl, rowSchema); err != nil {
		t.Fatalf("a mapped String attribute: %v", err)
	}
	enum := "enum BinKind { MAT REST }\nextend type Bin @row(attribute: \"kind\") { kind: BinKind }\n"
	if err := load(t, rowDecl, enum); err != nil {
		t.Fatalf("a mapped enum attribute: %v", err)
	}
	// A second resource of the type must map it too.
	second := rowDecl + `  bin:
    type: Bin
    by: propertyId
    list: false
    http:
      one: { get: "api/bins/{key}" }
      records: bin
    fields:
      propertyId: propertyId
      size: size
      payerId: payer.partyId
    subjects:
      - partyId: payerId
`
	tests := []struct {
		name, yaml, schema string
		want               []string
	}{
		{name: "an attribute that is no field", yaml: good,
			schema: `extend type Bin @row(attribute: "colour")`,
			want:   []string{`schema/sopor.graphqls:17: type Bin: @row(attribute: "colour") names no field of Bin`}},
		{name: "an Int attribute", yaml: rowDecl,
			schema: "extend type Bin @row(attribute: \"kind\") {\n  kind: Int\n}\n",
			want:   []string{"schema/sopor.graphqls:18: type Bin: its @row attribute kind is a Int; want a String, an ID or an enum, not a list"}},
		{name: "a list attribute", yaml: rowDecl,
			schema: "extend type Bin @row(attribute: \"kind\") {\n  kind: [String!]\n}\n",
			want:   []string{"schema/sopor.graphqls:18: type Bin: its @row attribute kind is a [String!]; want a String, an ID or an enum, not a list"}},
		{name: "an attribute bound with @resource", yaml: good,
			schema: "extend type Bin @row(attribute: \"payerName\") {\n  payerName: String @resource(name: \"folkbokforing.personByParty\", key: \"payerId\")\n}\n",
			want:   []string{"schema/sopor.graphqls:18: type Bin: its @row attribute payerName is bound with @resource; it must be a field the records carry"}},
		{name: "a second resource that does not map it", yaml: strings.Replace(second, "list: false", "list: true", 1), schema: rowSchema,
			want: []string{`schema/sopor.yaml:28: resource sopor.bin: type Bin has @row(attribute: "kind") but the resource does not map kind: every resource of the type maps it`}},
		// A single row is the one the upstream chose among the key's rows
		// (a property's bin, a person's latest receipt): null in its place
		// would tell that a hidden row exists, where without it the upstream
		// would have chosen another. By the row's own ID too: the ID is not
		// known to be the row's.
		{name: "a single row", yaml: strings.Replace(second, "      size: size\n      payerId", "      size: size\n      kind: kind\n      payerId", 1), schema: rowSchema,
			want: []string{"schema/sopor.yaml:24: resource sopor.bin: type Bin has @row, and a single row (list: false) cannot serve it: " +
				"the upstream chooses the key's row before the gateway removes one the caller may not read, so null where the upstream would otherwise have chosen another row reveals the hidden one"}},
	}
	// A problem of the type is reported once, however many resources serve it.
	tests = append(tests, struct {
		name, yaml, schema string
		want               []string
	}{name: "an Int attribute of a type two resources serve", yaml: strings.Replace(second, "      size: size\n      payerId", "      size: size\n      kind: kind\n      payerId", 1),
		schema: "extend type Bin @row(attribute: \"kind\") {\n  kind: Int\n}\n",
		want:   []string{"1 problem(s)", "schema/sopor.graphqls:18: type Bin: its @row attribute kind is a Int"}})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := load(t, tc.yaml, tc.schema)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestRowOnAListingIsRefused: a listing of a @row type is refused at its
// page part, with the reason.
func TestRowOnAListingIsRefused(t *testing.T) {
	if err := load(t, listing, listingSchema); err != nil {
		t.Fatal(err)
	}
	err := load(t, listing, listingSchema+`extend type Emptying @row(attribute: "date")`)
	want := "schema/sopor.yaml:26: resource sopor.emptyings: type Emptying has @row, and a listing cannot serve it: the upstream counts and pages the rows before the gateway removes those the caller may not read, so totalCount, hasNextPage and the pages' sizes would reveal them"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}
