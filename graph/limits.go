package graph

import (
	"context"
	"math"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// shapeLimit refuses an operation by its shape before any resolver runs:
// data selections nested deeper than maxDepth, introspection (the subtree
// of a root __schema or __type field) deeper than maxIntrospectionDepth, and
// more than maxAliases aliased fields. The parser's token limit and the
// complexity limit apply to introspection like to everything else.
//
// Fragments are measured once each and the result reused wherever they are
// spread, so a document of fragments that each spread the next one twice
// costs linear time here, not exponential.
type shapeLimit struct {
	maxDepth, maxIntrospectionDepth, maxAliases int
}

func (shapeLimit) ExtensionName() string                   { return "ShapeLimit" }
func (shapeLimit) Validate(graphql.ExecutableSchema) error { return nil }

func (l shapeLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := &shapeMeter{frags: oc.Doc.Fragments, memo: map[string]shape{}}
	var data, intro shape
	for _, sel := range oc.Operation.SelectionSet {
		f, ok := sel.(*ast.Field)
		if !ok || (f.Name != "__schema" && f.Name != "__type") {
			data = data.merge(m.measure(ast.SelectionSet{sel}, 0))
			continue
		}
		intro = intro.merge(m.measure(ast.SelectionSet{sel}, 0))
	}
	switch {
	case data.depth > l.maxDepth:
		err := gqlerror.Errorf("operation is nested %d levels deep, which exceeds the limit of %d", data.depth, l.maxDepth)
		errcode.Set(err, CodeDepthExceeded)
		return err
	case intro.depth > l.maxIntrospectionDepth:
		err := gqlerror.Errorf("introspection is nested %d levels deep, which exceeds the limit of %d", intro.depth, l.maxIntrospectionDepth)
		errcode.Set(err, CodeDepthExceeded)
		return err
	case data.aliases+intro.aliases > l.maxAliases:
		err := gqlerror.Errorf("operation uses %d aliases, which exceeds the limit of %d", satAdd(data.aliases, intro.aliases), l.maxAliases)
		errcode.Set(err, CodeAliasExceeded)
		return err
	}
	return nil
}

// shape is what shapeLimit measures of a selection set.
type shape struct{ depth, aliases int }

func (s shape) merge(o shape) shape {
	return shape{depth: max(s.depth, o.depth), aliases: satAdd(s.aliases, o.aliases)}
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
