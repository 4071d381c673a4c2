package declare_test

import (
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// nestedSchema gives Bin a nested object (its container) and a nested list
// of personal objects (its fee lines, about the payer: the list is personal
// data too).
const nestedSchema = `
extend type Bin {
  container: Container
  lines: [FeeLine!] @classification(level: 1) @personal
}
type Container @classification(level: 0) @owner(name: "Sopor (Tekniska nämnden)") { litres: Int kind: String }
type FeeLine @classification(level: 1) @personal @owner(name: "Sopor (Tekniska nämnden)") { text: String amount: Float }
`

// nestedGood is good with the two nested parts, at lines 17 and 18.
var nestedGood = strings.Replace(good, "      payerId: payer.partyId\n", `      payerId: payer.partyId
      container: { path: container, fields: { litres: sizeLitres, kind: type } }
      lines: { path: invoice.lines, fields: { text: text, amount: amountSek } }
`, 1)

func TestNestedParts(t *testing.T) {
	if err := load(t, nestedGood, nestedSchema); err != nil {
		t.Fatal(err)
	}
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(nestedGood)}})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Resource("sopor.bins")
	c, l := r.Field("container"), r.Field("lines")
	if c == nil || !c.Nested || strings.Join(c.Path, ".") != "container" || c.Field("litres") == nil || strings.Join(c.Field("kind").Path, ".") != "type" ||
		l == nil || strings.Join(l.Path, ".") != "invoice.lines" || strings.Join(l.Field("amount").Path, ".") != "amountSek" || r.Field("size").Nested {
		t.Fatalf("parsed %+v", r.Fields)
	}
	// Without a path, the part's fields are the record's own.
	flat := strings.Replace(nestedGood, "{ path: container, fields:", "{ fields:", 1)
	if err := load(t, flat, nestedSchema); err != nil {
		t.Fatal(err)
	}
}

// TestBadNestedPartsAreLocated: each mistake in a nested part, or in the
// schema type it maps, is a located problem.
func TestBadNestedPartsAreLocated(t *testing.T) {
	deep := strings.Replace(good, "      payerId: payer.partyId\n", `      payerId: payer.partyId
      a: { fields: { b: { fields: { c: { fields: { d: { fields: { e: x } } } } } } } }
`, 1)
	tests := []struct {
		name, yaml, schema string
		want               []string
	}{
		{name: "an unknown nested field",
			yaml: strings.Replace(nestedGood, "kind: type }", "kind: type, colour: colour }", 1),
			want: []string{`schema/sopor.yaml:17: resource sopor.bins: Container has no field "colour"`}},
		{name: "a nested type's field left unmapped",
			yaml: strings.Replace(nestedGood, ", kind: type }", " }", 1),
			want: []string{"schema/sopor.yaml:17: resource sopor.bins (Bin.container): field Container.kind is neither mapped in the nested part's fields nor bound with @resource"}},
		{name: "a scalar mapped with a nested part",
			yaml: strings.Replace(nestedGood, "      size: size\n", "      size: { path: size, fields: { litres: litres } }\n", 1),
			want: []string{"schema/sopor.yaml:15: resource sopor.bins: field Bin.size is a Int, not an object type: map it with a path (size: size), not a nested part"}},
		{name: "an object mapped as a scalar path",
			yaml: strings.Replace(nestedGood, "      container: { path: container, fields: { litres: sizeLitres, kind: type } }\n", "      container: container\n", 1),
			want: []string{"schema/sopor.yaml:17: resource sopor.bins: field Bin.container is an object of type Container: map it with a nested part"}},
		{name: "a list of objects mapped as a scalar path",
			yaml: strings.Replace(nestedGood, "      lines: { path: invoice.lines, fields: { text: text, amount: amountSek } }\n", "      lines: invoice.lines\n", 1),
			want: []string{"schema/sopor.yaml:18: resource sopor.bins: field Bin.lines is an object of type FeeLine: map it with a nested part"}},
		{name: "a list of objects without a path",
			yaml: strings.Replace(nestedGood, "{ path: invoice.lines, fields:", "{ fields:", 1),
			want: []string{"schema/sopor.yaml:18: resource sopor.bins: field Bin.lines is a list of FeeLine: its nested part needs the path of the list in the record"}},
		{name: "a nested type without a classification",
			yaml:   nestedGood,
			schema: strings.Replace(nestedSchema, "type Container @classification(level: 0) @owner", "type Container @owner", 1),
			want:   []string{"schema/sopor.graphqls:22: field Container.litres has no @classification, on itself or on its type (resource sopor.bins, nested in Bin.container)"}},
		{name: "a nested type without an owner",
			yaml:   nestedGood,
			schema: strings.Replace(nestedSchema, `type Container @classification(level: 0) @owner(name: "Sopor (Tekniska nämnden)")`, "type Container @classification(level: 0)", 1),
			want:   []string{"schema/sopor.yaml:17: resource sopor.bins (Bin.container): type Container has no @owner"}},
		{name: "a nested type of another owner",
			yaml:   nestedGood,
			schema: strings.Replace(nestedSchema, `type Container @classification(level: 0) @owner(name: "Sopor (Tekniska nämnden)")`, `type Container @classification(level: 0) @owner(name: "Geodata")`, 1),
			want:   []string{`schema/sopor.yaml:17: resource sopor.bins (Bin.container): type Container has @owner(name: "Geodata") but system sopor is owned by "Sopor (Tekniska nämnden)"`}},
		{name: "a nested personal type without subjects",
			yaml: strings.Replace(nestedGood, "    subjects:\n      - partyId: payerId\n", "", 1),
			want: []string{"schema/sopor.yaml:6: resource sopor.bins: type Bin holds personal data (@personal) but the declaration has no subjects"}},
		{name: "a nested personal type with no subject named",
			yaml: strings.Replace(nestedGood, "    subjects:\n      - partyId: payerId\n", "    subjects: []\n", 1),
			want: []string{"schema/sopor.yaml:19: resource sopor.bins: type Bin maps personal data (payerId, lines, lines.text, lines.amount) but subjects is empty"}},
		{name: "a nested type that is a resource's record type",
			yaml:   strings.Replace(nestedGood, "      size: size\n", "      size: size\n      twin: { path: twin, fields: { propertyId: id, size: size, payerId: p } }\n", 1),
			schema: nestedSchema + "extend type Bin { twin: Bin }",
			want:   []string{"schema/sopor.yaml:16: resource sopor.bins (Bin.twin): Bin is a resource's record type; a nested part's type is decoded only within its record"}},
		{name: "a nested type with level-3 data in an unsealed cache",
			yaml:   strings.Replace(nestedGood, "kind: type }", "kind: type, diet: diet }", 1),
			schema: nestedSchema + "extend type Container { diet: String @classification(level: 3) }",
			want:   []string{"schema/sopor.yaml:6: resource sopor.bins: type Bin has level-3 fields, so its records must be sealed in the cache: set level3: true"}},
		// Whether a bin has fee lines, and how many, tells that a person
		// is invoiced: the list is read under the lines' own rules.
		{name: "a list of personal objects that is not personal itself", yaml: nestedGood,
			schema: strings.Replace(nestedSchema, "lines: [FeeLine!] @classification(level: 1) @personal", "lines: [FeeLine!]", 1),
			want: []string{"schema/sopor.graphqls:20: field Bin.lines holds FeeLine, whose fields hold personal data: mark it @personal and classify it at level 1 or above, " +
				"or whether it is null and how many it holds is served without the part's rules (resource sopor.bins)"}},
		{name: "a personal list classified below its objects", yaml: nestedGood,
			schema: strings.Replace(nestedSchema, "lines: [FeeLine!] @classification(level: 1) @personal", "lines: [FeeLine!] @classification(level: 0) @personal", 1),
			want:   []string{"schema/sopor.graphqls:20: field Bin.lines holds FeeLine, whose fields hold personal data: mark it @personal and classify it at level 1 or above"}},
		{name: "a nested type with @row", yaml: nestedGood,
			schema: nestedSchema + `extend type Container @row(attribute: "kind")`,
			want:   []string{"schema/sopor.yaml:17: resource sopor.bins (Bin.container): type Container has @row, which a nested part's type does not support"}},
		{name: "a nested type with health data in an unsealed cache",
			yaml:   strings.Replace(nestedGood, "amount: amountSek }", "amount: amountSek, diet: diet }", 1),
			schema: nestedSchema + "extend type FeeLine { diet: String @health }",
			want:   []string{"schema/sopor.yaml:6: resource sopor.bins: type Bin has health data (@health), so its records must be sealed in the cache: set level3: true"}},
		{name: "nested deeper than the bound",
			yaml: deep,
			want: []string{"schema/sopor.yaml:17: resource sopor.bins.fields.a.fields.b.fields.c.fields.d: nested deeper than 4 levels"}},
		{name: "a nested part with an unknown key",
			yaml: strings.Replace(nestedGood, "{ path: container, fields:", "{ path: container, list: true, fields:", 1),
			want: []string{`schema/sopor.yaml:17: resource sopor.bins.fields.container: unknown key "list" (want path, fields)`}},
	}
	// The same resource read from a database: its nested parts group the
	// row's columns, one object each.
	sql := strings.NewReplacer("connector: http\nprobe: api/health\n", "connector: sql\n",
		"    http:\n      batch: { get: \"api/bins?ids={keys}\", maxKeys: 50 }\n      records: items\n", "    sql: { query: \"SELECT * FROM bins WHERE id IN ({keys})\", key: id }\n").Replace(nestedGood)
	tests = append(tests, []struct {
		name, yaml, schema string
		want               []string
	}{
		{name: "an sql part with a path",
			yaml: sql,
			want: []string{"schema/sopor.yaml:14: resource sopor.bins: field Bin.container: an sql record's nested part groups columns of the row: leave out its path",
				"schema/sopor.yaml:15: resource sopor.bins: field Bin.lines is a list of FeeLine, which only an http resource maps"}},
	}...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			schema := tc.schema
			if schema == "" {
				schema = nestedSchema
			}
			wantProblems(t, tc.yaml, schema, tc.want)
		})
	}
}

// TestShapeFollowsTheNestedParts: a nested part's path, its fields and
// their paths are part of the records' shape (the cache keys), so a record
// cached before a nested mapping changed is never read after it.
func TestShapeFollowsTheNestedParts(t *testing.T) {
	base := binsShape(t, nestedGood)
	if base == binsShape(t, good) {
		t.Fatal("the nested parts left the shape as it was without them")
	}
	for name, decl := range map[string]string{
		"a nested field's path":  strings.Replace(nestedGood, "litres: sizeLitres", "litres: litres", 1),
		"a nested part's path":   strings.Replace(nestedGood, "path: invoice.lines", "path: invoice.rows", 1),
		"a nested part's fields": strings.Replace(nestedGood, ", kind: type }", " }", 1),
		"the path left out":      strings.Replace(nestedGood, "{ path: container, fields:", "{ fields:", 1),
		"a scalar instead":       strings.Replace(nestedGood, "{ path: container, fields: { litres: sizeLitres, kind: type } }", "container", 1),
	} {
		if got := binsShape(t, decl); got == base {
			t.Errorf("%s kept the shape %s", name, base)
		}
	}
}
