package resourceplugin

import (
	"go/types"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// TestRowAttributeIsTheFieldsValue: RowAttribute gives the attribute
// field's value, "" for null (which authz reads to no one), and no value
// for another name; an attribute whose Go type is no string stops go
// generate, located at the @row.
func TestRowAttributeIsTheFieldsValue(t *testing.T) {
	kind := types.NewNamed(types.NewTypeName(0, nil, "BinKind", nil), types.Typ[types.String], nil)
	res := &declare.Resource{System: &declare.System{Pos: declare.Pos{File: "schema/x.yaml"}}}
	row := &ast.Directive{Name: "row", Arguments: ast.ArgumentList{{Name: "attribute", Value: &ast.Value{Raw: "kind", Kind: ast.StringValue}}},
		Position: &ast.Position{Line: 7, Src: &ast.Source{Name: "../schema/x.graphqls"}}}
	object := func(goType types.Type) *codegen.Object {
		return &codegen.Object{Definition: &ast.Definition{Name: "Bin", Kind: ast.Object}, Fields: []*codegen.Field{{
			FieldDefinition: &ast.FieldDefinition{Name: "kind"}, GoFieldName: "Kind", GoFieldType: codegen.GoFieldVariable,
			TypeReference: &config.TypeReference{GO: goType},
		}}}
	}
	for goType, want := range map[types.Type]string{
		types.NewPointer(types.Typ[types.String]): "return declaredString(r.Kind), true",
		kind: "return string(r.Kind), true",
	} {
		got, err := rowFunc(object(goType), res, row)
		if err != nil || !strings.Contains(got, want) || !strings.Contains(got, "if name != \"kind\" {\n\t\treturn \"\", false") {
			t.Errorf("%s: %v\n%s", goType, err, got)
		}
	}
	if _, err := rowFunc(object(types.NewPointer(types.Typ[types.Int])), res, row); err == nil || !strings.HasPrefix(err.Error(), "schema/x.graphqls:7: Bin's @row attribute kind is a *int, not a string") {
		t.Errorf("an Int attribute: %v", err)
	}
}
