package graph

import (
	"context"
	"math"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// shapeLimit refuses an operation by its shape before any resolver runs,
// and before the complexity limit walks it:
//   - data selections nested deeper than maxDepth, and introspection (the
//     subtree of a root __schema or __type field) deeper than
//     maxIntrospectionDepth;
//   - more than maxAliases aliased fields, and any alias inside an
//     introspection subtree: an aliased `types` list walks the whole schema
//     again for each alias, and no introspecting client aliases there;
//   - more than maxFields fields once every fragment spread is expanded.
//     gqlgen's complexity walk (and anything else that expands spreads)
//     takes time in proportion to that number, which a document of
//     fragments that each spread the next one twice makes exponential in
//     its length: 1 KB that would keep a core busy for hours.
//
// The parser's token limit and the complexity limit apply to introspection
// like to everything else. Fragments are measured once each and the result
// reused wherever they are spread, so this walk is linear in the document.
type shapeLimit struct {
	maxDepth, maxIntrospectionDepth, maxAliases, maxFields int
}

func (shapeLimit) ExtensionName() string                   { return "ShapeLimit" }
func (shapeLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (l shapeLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := &shapeMeter{frags: oc.Doc.Fragments, memo: map[string]shape{}}
	data, intro := l.measure(m, oc.Operation.SelectionSet)
	switch {
	case data.depth >= math.MaxInt32 || intro.depth >= math.MaxInt32:
		err := gqlerror.Errorf("fragments are spread inside each other more than %d deep", maxFragmentNesting)
		errcode.Set(err, CodeDepthExceeded)
		return err
	case data.depth > l.maxDepth:
		err := gqlerror.Errorf("operation is nested %d levels deep, which exceeds the limit of %d", data.depth, l.maxDepth)
		errcode.Set(err, CodeDepthExceeded)
		return err
	case intro.depth > l.maxIntrospectionDepth:
		err := gqlerror.Errorf("introspection is nested %d levels deep, which exceeds the limit of %d", intro.depth, l.maxIntrospectionDepth)
		errcode.Set(err, CodeDepthExceeded)
		return err
	case intro.aliases > 0:
		err := gqlerror.Errorf("aliases are not allowed inside __schema or __type")
		errcode.Set(err, CodeAliasExceeded)
		return err
	case data.aliases > l.maxAliases:
		err := gqlerror.Errorf("operation uses %d aliases, which exceeds the limit of %d", data.aliases, l.maxAliases)
		errcode.Set(err, CodeAliasExceeded)
		return err
	case satAdd(data.fields, intro.fields) > l.maxFields:
		err := gqlerror.Errorf("operation selects %d fields once its fragments are expanded, which exceeds the limit of %d", satAdd(data.fields, intro.fields), l.maxFields)
		errcode.Set(err, CodeFieldsExceeded)
		return err
	}
	return nil
}

// measure splits the operation's root selections into data and
// introspection (a root __schema or __type field, aliased or not; aliases
// on the root introspection field itself count as data aliases, since
// each costs only one lookup of the root).
func (l shapeLimit) measure(m *shapeMeter, root ast.SelectionSet) (data, intro shape) {
	for _, sel := range root {
		f, ok := sel.(*ast.Field)
		if !ok || (f.Name != "__schema" && f.Name != "__type") {
			data = data.merge(m.measure(ast.SelectionSet{sel}, 0))
			continue
		}
		sub := m.measure(f.SelectionSet, 0)
		sub.depth++
		sub.fields = satAdd(sub.fields, 1)
		intro = intro.merge(sub)
		if f.Alias != "" && f.Alias != f.Name {
			data.aliases = satAdd(data.aliases, 1)
		}
	}
	return data, intro
}

// shape is what shapeLimit measures of a selection set: its depth, and
// its aliases and fields with every fragment spread expanded.
type shape struct{ depth, aliases, fields int }

func (s shape) merge(o shape) shape {
	return shape{depth: max(s.depth, o.depth), aliases: satAdd(s.aliases, o.aliases), fields: satAdd(s.fields, o.fields)}
}

type shapeMeter struct {
	frags ast.FragmentDefinitionList
	memo  map[string]shape
}

// maxFragmentNesting backstops fragment cycles, which validation already
// rejects before extensions run.
const maxFragmentNesting = 64

func (m *shapeMeter) measure(set ast.SelectionSet, nesting int) shape {
	var out shape
	if nesting > maxFragmentNesting {
		return shape{depth: math.MaxInt32}
	}
	for _, s := range set {
		var sh shape
		switch s := s.(type) {
		case *ast.Field:
			sh = m.measure(s.SelectionSet, nesting)
			sh.depth++
			sh.fields = satAdd(sh.fields, 1)
			if s.Alias != "" && s.Alias != s.Name {
				sh.aliases = satAdd(sh.aliases, 1)
			}
		case *ast.InlineFragment:
			sh = m.measure(s.SelectionSet, nesting)
		case *ast.FragmentSpread:
			sh = m.fragment(s.Name, nesting+1)
		}
		out = out.merge(sh)
	}
	return out
}

func (m *shapeMeter) fragment(name string, nesting int) shape {
	if sh, ok := m.memo[name]; ok {
		return sh
	}
	f := m.frags.ForName(name)
	if f == nil {
		return shape{}
	}
	sh := m.measure(f.SelectionSet, nesting)
	m.memo[name] = sh
	return sh
}

// satAdd adds without overflowing: a fragment spread n times in m places
// multiplies its aliases.
func satAdd(a, b int) int {
	if a > math.MaxInt32-b {
		return math.MaxInt32
	}
	return a + b
}
