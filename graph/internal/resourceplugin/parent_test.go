package resourceplugin

import (
	"slices"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/codegen"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// TestParentFieldsGoWithTheKey: a call's {parent.<field>} makes the
// generated resolver pass obj's Go field with the key, under
// parent.<field>; a field that is a resolver, or a method, is refused at
// go generate.
func TestParentFieldsGoWithTheKey(t *testing.T) {
	set, err := declare.Parse([]declare.File{{Name: "schema/sopor.yaml", Data: []byte(`system: sopor
owner: Sopor
connector: http
probe: api/health
resources:
  bins:
    type: Bin
    by: propertyId
    list: true
    http:
      batch: { post: "api/bins/{parent.area}", body: { ids: "{keys}", kind: "{args.kind}", code: "{parent.code}" } }
    fields: { propertyId: propertyId }
`)}})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Resource("sopor.bins")
	field := func(name string, kind codegen.GoFieldType, resolver bool) *codegen.Field {
		return &codegen.Field{
			FieldDefinition: &ast.FieldDefinition{Name: name}, GoFieldName: strings.ToUpper(name[:1]) + name[1:],
			GoFieldType: kind, IsResolver: resolver,
		}
	}
	obj := func(fields ...*codegen.Field) *codegen.Object {
		return &codegen.Object{Definition: &ast.Definition{Name: "Property", Kind: ast.Object}, Fields: fields}
	}
	got, err := parentArgs(obj(field("objectId", codegen.GoFieldVariable, false), field("area", codegen.GoFieldVariable, false), field("code", codegen.GoFieldVariable, false)), r)
	if want := []string{`"parent.area", obj.Area`, `"parent.code", obj.Code`}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("parent args %q (%v), want %q", got, err, want)
	}
	for _, tc := range []struct {
		name string
		code *codegen.Field
		want string
	}{
		{"a resolver", field("code", codegen.GoFieldVariable, true), "{parent.code}: Property.code must be a plain field of the generated model"},
		{"a method", field("code", codegen.GoFieldMethod, false), "{parent.code}: Property.code must be a plain field of the generated model"},
		{"no such field", field("kode", codegen.GoFieldVariable, false), "{parent.code}: Property has no field code"},
	} {
		if _, err := parentArgs(obj(field("area", codegen.GoFieldVariable, false), tc.code), r); err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
