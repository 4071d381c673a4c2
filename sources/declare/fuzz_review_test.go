package declare_test

import (
	"os"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/sources/declare"
)

// FuzzReviewLoad: no declaration, however malformed, panics the parser or
// the schema check; each is accepted or refused with problems.
func FuzzReviewLoad(f *testing.F) {
	f.Add(good)
	f.Add("system: sopor\nresources:\n  bins: [1, 2]\n")
	f.Add("system: sopor\nresources:\n  bins:\n    subjects: {a: b}\n    http: x\n")
	f.Add("? [a, b]\n: c\n")
	f.Add("a: &x [*x]\n")
	f.Add("system: sopor\nresources: &r\n  bins: *r\n")
	f.Add("--- !!binary aGVsbG8=\n")
	dirs, err := os.ReadFile("../../schema/directives.graphqls")
	if err != nil {
		f.Fatal(err)
	}
	s, gerr := gqlparser.LoadSchema(
		&ast.Source{Name: "schema/directives.graphqls", Input: string(dirs)},
		&ast.Source{Name: "schema/sopor.graphqls", Input: testSchema},
	)
	if gerr != nil {
		f.Fatal(gerr)
	}
	f.Fuzz(func(t *testing.T, data string) {
		files := []declare.File{{Name: "schema/sopor.yaml", Data: []byte(data)}}
		_, _ = declare.Parse(files)
		_, _ = declare.Load(files, s, builtins)
	})
}
