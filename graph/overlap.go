package graph

import (
	"context"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/kommungraf/kommungraf/graph/operations"
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

// Bounds on what gqlparser's validation does beside the overlap rule's
// pairs. Its walker walks every operation and every fragment definition on
// its own, each time entering every fragment it reaches: one 5,000-field
// fragment spread by 1,200 operations (17 KB) is walked 1.2 million times,
// 6 million field visits, every rule run on each and every unknown field an
// error (70 s of CPU, 10 GB allocated, an 887 MB answer). Its overlap rule
// compares the fragment spreads of a selection with each other, every pair
// of spreads, and every pair of fragments they reach.
const (
	// maxWalk bounds the nodes (selections, directives, arguments and
	// their values) gqlparser's walker visits over all its walks: twice
	// the parser's token limit, so a document of one operation and one
	// fragment, each node walked twice, always fits.
	maxWalk = 2 * operations.MaxTokens
	// maxSpreadPairs bounds the pairs of fragment spreads the overlap rule
	// loops over, selection by selection, walk by walk.
	maxSpreadPairs = 20000
	// maxFragments bounds the fragments a document defines or spreads:
	// the overlap rule may compare each pair of them (memoized, a pair at
	// a time). At this bound no chain of spreads is deeper than
	// maxFragmentNesting, so the fields measure below is exact.
	maxFragments = maxFragmentNesting
)

// documentBound refuses a document past overlapBounds before gqlgen
// validates it: refusing inside validation (the rule above) stops only
// the overlap rule's own comparisons, while the walker and every other
// rule go on over the whole document. It runs among the parameter
// mutators, after the trusted operations have put the document in place;
// a document in the query cache has been validated already and is not
// parsed again.
type documentBound struct {
	maxFields int
	validated graphql.Cache[*ast.QueryDocument]
}

func (documentBound) ExtensionName() string                   { return "DocumentBound" }
func (documentBound) Validate(graphql.ExecutableSchema) error { return nil }

func (b documentBound) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if p.Query == "" {
		return nil
	}
	if _, ok := b.validated.Get(ctx, p.Query); ok {
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, operations.MaxTokens)
	if err != nil {
		return nil // the executor parses it again and answers the parse error
	}
	if msg := overlapBounds(doc, b.maxFields); msg != "" {
		e := gqlerror.Errorf("%s", msg)
		errcode.Set(e, CodeFieldsExceeded)
		return e
	}
	return nil
}

// overlapBounds returns why doc is past the bounds of validation, or "".
// Every measure is linear in the document or stops at its bound.
func overlapBounds(doc *ast.QueryDocument, maxFields int) string {
	names := map[string]bool{}
	for _, f := range doc.Fragments {
		names[f.Name] = true
	}
	own := map[string]*ownCost{}
	roots := make([]*ownCost, 0, len(doc.Operations)+len(doc.Fragments))
	for _, op := range doc.Operations {
		c := &ownCost{seen: map[string]bool{}}
		c.nodes = satAdd(c.nodes, c.directives(op.Directives))
		for _, v := range op.VariableDefinitions {
			c.nodes = satAdd(c.nodes, 1+c.value(v.DefaultValue)+c.directives(v.Directives))
		}
		c.pairsOf(c.set(op.SelectionSet))
		roots = append(roots, c)
	}
	for _, f := range doc.Fragments {
		c := &ownCost{seen: map[string]bool{}}
		c.nodes = satAdd(c.nodes, c.directives(f.Directives))
		c.pairsOf(c.set(f.SelectionSet))
		roots = append(roots, c)
		if own[f.Name] == nil { // spreads reach the first of duplicate names, as the walker's
			own[f.Name] = c
		}
	}
	for _, c := range roots {
		for _, name := range c.spreads {
			names[name] = true
		}
	}
	if len(doc.Fragments) > maxFragments || len(names) > maxFragments {
		return "the document defines or spreads more than " + strconv.Itoa(maxFragments) + " fragments"
	}
	// The walker: each root, and once each fragment it reaches.
	walk, spreadPairs := 0, 0
	for _, root := range roots {
		visited := map[string]bool{}
		stack := []*ownCost{root}
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			walk, spreadPairs = satAdd(walk, c.nodes), satAdd(spreadPairs, c.setPairs)
			if walk > maxWalk {
				return "the document's operations and fragments walk more than " + strconv.Itoa(maxWalk) + " selections, arguments and directives once each fragment they reach is counted"
			}
			if spreadPairs > maxSpreadPairs {
				return "the document spreads fragments side by side more than its limit allows (" + strconv.Itoa(maxSpreadPairs) + " pairs)"
			}
			for _, name := range c.spreads {
				if f := own[name]; f != nil && !visited[name] {
					visited[name] = true
					stack = append(stack, f)
				}
			}
		}
	}
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
	// Within maxFields expanded fields, walking the expansion is bounded
	// too: the counter enters only fragments that select fields.
	// The rule compares fields within one operation or fragment definition
	// (and what it spreads), never across two: each has its own paths.
	c := &pairCounter{meter: m, frags: doc.Fragments, paths: map[string]int{}}
	for i, op := range doc.Operations {
		c.walk(op.SelectionSet, "#"+strconv.Itoa(i)+":", 0)
	}
	for _, f := range doc.Fragments {
		c.walk(f.SelectionSet, f.Name+":", 0)
	}
	if c.pairs > maxOverlapPairs {
		return "the document repeats fields under one response name more than its limit allows (" + strconv.Itoa(maxOverlapPairs) + " pairs)"
	}
	return ""
}

// ownCost is what gqlparser's walk does within one operation or fragment
// definition, its spreads not followed: the nodes it visits, the pairs of
// spreads the overlap rule loops over in its selection sets, and the
// fragments it spreads.
type ownCost struct {
	nodes, setPairs int
	spreads         []string
	seen            map[string]bool
}

// set counts set's nodes and returns the spreads the overlap rule collects
// in it (its own and its inline fragments').
func (c *ownCost) set(set ast.SelectionSet) (spreads int) {
	for _, s := range set {
		c.nodes = satAdd(c.nodes, 1)
		switch s := s.(type) {
		case *ast.Field:
			for _, a := range s.Arguments {
				c.nodes = satAdd(c.nodes, c.value(a.Value))
			}
			c.nodes = satAdd(c.nodes, c.directives(s.Directives))
			c.pairsOf(c.set(s.SelectionSet))
		case *ast.InlineFragment:
			c.nodes = satAdd(c.nodes, c.directives(s.Directives))
			n := c.set(s.SelectionSet)
			c.pairsOf(n)
			spreads = satAdd(spreads, n)
		case *ast.FragmentSpread:
			c.nodes = satAdd(c.nodes, c.directives(s.Directives))
			spreads = satAdd(spreads, 1)
			if !c.seen[s.Name] {
				c.seen[s.Name] = true
				c.spreads = append(c.spreads, s.Name)
			}
		}
	}
	return spreads
}

func (c *ownCost) pairsOf(spreads int) {
	if spreads > 1 {
		c.setPairs = satAdd(c.setPairs, satMul(spreads, spreads-1)/2)
	}
}

func (c *ownCost) directives(ds ast.DirectiveList) int {
	n := 0
	for _, d := range ds {
		n = satAdd(n, 1)
		for _, a := range d.Arguments {
			n = satAdd(n, c.value(a.Value))
		}
	}
	return n
}

func (c *ownCost) value(v *ast.Value) int {
	if v == nil {
		return 0
	}
	n := 1
	for _, ch := range v.Children {
		n = satAdd(n, c.value(ch.Value))
	}
	return n
}

// pairCounter counts the fields under each response path of an expanded
// selection and the pairs among them.
type pairCounter struct {
	meter *shapeMeter
	frags ast.FragmentDefinitionList
	paths map[string]int
	pairs int
}

func (c *pairCounter) walk(set ast.SelectionSet, path string, nesting int) {
	if nesting > maxFragmentNesting || c.pairs > maxOverlapPairs {
		return // a cycle (NoFragmentCycles reports it), or the answer is known
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
			// A fragment that selects no field adds no pair; entering it
			// could only repeat the walk (2^n times for n fragments that
			// each spread the next twice).
			if f := c.frags.ForName(s.Name); f != nil && c.meter.fragment(s.Name, nesting+1).fields > 0 {
				c.walk(f.SelectionSet, path, nesting+1)
			}
		}
	}
}
