package graph

import (
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// boundedOverlapRule replaces gqlparser's OverlappingFieldsCanBeMerged.
// That rule compares every pair of fields that answer under the same
// response path, so its time grows with the square of their number: a
// document of 9,000 `__typename`s, within the parser's token limit, kept a
// core busy for 5 s, for anyone, before any limit of ours looked at it
// (shapeLimit runs after validation). This rule measures the document
// first, in time linear in its length, and runs the original only on a
// document within bounds:
//   - at most maxFields fields with every fragment spread expanded, over
//     all of the document's operations and fragments (the same measure as
//     shapeLimit's, which still gives the executed operation its own
//     answer);
//   - at most maxOverlapPairs pairs of fields under one response path
//     (`a.b` of `{ a { b } a { b } }` holds two fields, one pair).
//
// A document past either bound is refused with FIELD_LIMIT_EXCEEDED and
// never compared; one within them is validated exactly as before.
const boundedOverlapRule = "BoundedOverlappingFieldsCanBeMerged"

// overlapLimitRule names the rule of a bounds error (the errors of the
// overlap comparison itself keep boundedOverlapRule); the error presenter
// codes it FIELD_LIMIT_EXCEEDED.
const overlapLimitRule = "OverlapLimit"

// maxOverlapPairs bounds the pairs the overlap rule compares. GraphiQL's
// introspection query has none, the demo's five operations 4 in all; 2,000 pairs
// take well under a millisecond.
const maxOverlapPairs = 2000

// validationRules is gqlparser's default rule set with the overlap rule
// bounded.
func validationRules(maxFields int) func() *rules.Rules {
	return func() *rules.Rules {
		r := rules.NewDefaultRules()
		r.RemoveRule(rules.OverlappingFieldsCanBeMergedRule.Name)
		r.AddRule(boundedOverlapRule, boundedOverlap(maxFields))
		return r
	}
}

func boundedOverlap(maxFields int) core.RuleFunc {
	return func(observers *core.Events, addError core.AddErrFunc) {
		checked := false
		observers.OnOperation(func(w *core.Walker, _ *ast.OperationDefinition) {
			if checked {
				return
			}
			checked = true
			if msg := overlapBounds(w.Document, maxFields); msg != "" {
				addError(core.Message("%s", msg), func(err *gqlerror.Error) { err.Rule = overlapLimitRule })
				return
			}
			own := &core.Events{}
			rules.OverlappingFieldsCanBeMergedRule.RuleFunc(own, addError)
			core.Walk(w.Schema, w.Document, own)
		})
	}
}

// overlapBounds returns why doc is past the overlap rule's bounds, or "".
func overlapBounds(doc *ast.QueryDocument, maxFields int) string {
	m := &shapeMeter{frags: doc.Fragments, memo: map[string]shape{}}
	fields := 0
	for _, op := range doc.Operations {
		fields = satAdd(fields, m.measure(op.SelectionSet, 0).fields)
	}
	for _, f := range doc.Fragments {
		fields = satAdd(fields, m.fragment(f.Name, 1).fields)
	}
	if fields > maxFields {
		return "the document selects more than " + strconv.Itoa(maxFields) + " fields once its fragments are expanded"
	}
	// Within maxFields expanded fields, walking the expansion is bounded too.
	c := &pairCounter{frags: doc.Fragments, paths: map[string]int{}}
	for _, op := range doc.Operations {
		c.walk(op.SelectionSet, "", 0)
	}
	for _, f := range doc.Fragments {
		c.walk(f.SelectionSet, f.Name+":", 0)
	}
	if c.pairs > maxOverlapPairs {
		return "the document repeats fields under one response name more than its limit allows (" + strconv.Itoa(maxOverlapPairs) + " pairs)"
	}
	return ""
}

// pairCounter counts the fields under each response path of an expanded
// selection and the pairs among them.
type pairCounter struct {
	frags ast.FragmentDefinitionList
	paths map[string]int
	pairs int
}

func (c *pairCounter) walk(set ast.SelectionSet, path string, nesting int) {
	if nesting > maxFragmentNesting {
		return // a cycle; NoFragmentCycles reports it
	}
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			name := s.Alias
			if name == "" {
				name = s.Name
			}
			p := path + "." + name
			c.pairs = satAdd(c.pairs, c.paths[p]) // the new field pairs with each before it
			c.paths[p]++
			c.walk(s.SelectionSet, p, nesting)
		case *ast.InlineFragment:
			c.walk(s.SelectionSet, path, nesting)
		case *ast.FragmentSpread:
			if f := c.frags.ForName(s.Name); f != nil {
				c.walk(f.SelectionSet, path, nesting+1)
			}
		}
	}
}
