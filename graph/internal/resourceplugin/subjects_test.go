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

// TestANullSubjectFailsClosedBesidePersonalData: a record whose subject
// field is null says "no person" only when it holds no other personal
// value; otherwise its person is unknown, which authorization counts as
// protected. WastePickup (the subject is its only personal scalar) keeps
// "no person"; a type with a personal name beside the subject gets the
// unknown subject.
func TestANullSubjectFailsClosedBesidePersonalData(t *testing.T) {
	str := types.NewPointer(types.Typ[types.String])
	scalar := &ast.Definition{Kind: ast.Scalar, Name: "String"}
	person := &ast.Definition{Kind: ast.Object, Name: "Person"}
	field := func(name string, def *ast.Definition, personal bool) *codegen.Field {
		fd := &ast.FieldDefinition{Name: name}
		if personal {
			fd.Directives = ast.DirectiveList{{Name: "personal"}}
		}
		return &codegen.Field{
			FieldDefinition: fd, GoFieldName: strings.ToUpper(name[:1]) + name[1:],
			TypeReference: &config.TypeReference{Definition: def, GO: str},
		}
	}
	res := &declare.Resource{System: &declare.System{Pos: declare.Pos{File: "schema/x.yaml"}},
		Subjects: []declare.Subject{{PartyID: "payerId"}}}

	for _, tc := range []struct {
		name    string
		fields  []*codegen.Field
		unknown bool
	}{
		{"the subject is the only personal scalar", []*codegen.Field{
			field("payerId", scalar, true), field("fraction", scalar, false), field("payer", person, true),
		}, false},
		{"a personal name beside the subject", []*codegen.Field{
			field("payerId", scalar, true), field("payerName", scalar, true),
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &codegen.Object{Definition: &ast.Definition{Name: "Thing", Kind: ast.Object}, Fields: tc.fields}
			got := (&Plugin{}).subjectsFunc(o, res, "model")
			if has := strings.Contains(got, "Subject{}) // unknown"); has != tc.unknown {
				t.Errorf("unknown subject written: %v, want %v:\n%s", has, tc.unknown, got)
			}
		})
	}
}
