package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kommungraf/kommungraf/sources/declare"
	"github.com/kommungraf/kommungraf/sources/loaders"
)

// CodeCostExceeded: the operation's estimated upstream calls exceed a budget.
const CodeCostExceeded = "COST_LIMIT_EXCEEDED"

// CostHeader is the request header that asks for the estimate in the
// response's extensions.cost ("1" or "true"); a request's
// "extensions": {"cost": true} asks the same.
const CostHeader = "X-Kommungraf-Cost"

// Page sizes of the paginated fields (first: 1 to maxPage, default
// defaultPage), and the sizes assumed of the lists that have no page
// argument: the complexity limit (setComplexity) and the cost estimate
// both read them.
const (
	defaultPage = 20
	maxPage     = 100
	// defaultListSize is assumed of a list field listSizes does not name.
	defaultListSize = 10
)

// listSizes are the assumed lengths of lists without a page argument: a
// person has about two guardians, ...
var listSizes = map[string]int{
	"Person.guardians":    2,
	"Person.children":     4,
	"Person.errands":      5,
	"Person.placements":   2,
	"Errand.stakeholders": 3,
	"Property.owners":     2,
}

// pagedFields take first (and after).
var pagedFields = map[string]bool{"Query.errands": true, "Query.schoolUnits": true, "Query.properties": true, "SchoolUnit.placements": true}

// upstreamCall is what resolving a field once costs one upstream: calls
// per parent object, before dedupe, caching and batching (an upper bound).
type upstreamCall struct {
	system string
	calls  int
}

// The built-in systems, by their declared names (the loaders' constants).
const (
	registry = loaders.SourceRegistry
	errands  = loaders.SourceErrands
	geodata  = loaders.SourceGeodata
	school   = loaders.SourceSchool
)

// fieldCalls are the upstream calls of the hand-written resolvers (the
// resolvers package): the registry has no batch form, so every person is
// a call of its own. Fields bound with @resource are read from the schema
// (their resource's system, one call each) unless named here.
var fieldCalls = map[string][]upstreamCall{
	"Query.person":                 {{registry, 1}},
	"Query.errand":                 {{errands, 1}},
	"Query.errands":                {{errands, 1}},
	"Query.property":               {{geodata, 1}},
	"Query.properties":             {{geodata, 1}},
	"Query.schoolUnit":             {{school, 1}},
	"Query.schoolUnits":            {{school, 1}},
	"Person.guardians":             {{registry, listSizes["Person.guardians"]}},
	"Person.children":              {{registry, listSizes["Person.children"]}},
	"Person.placements":            {{school, 1}},
	"Person.errands":               {{errands, 2}}, // the party lookup, then the errands
	"Errand.property":              {{geodata, 1}},
	"Stakeholder.person":           {{errands, 1}, {registry, 1}},
	"Property.owners":              {{geodata, 1}},
	"PropertyOwner.person":         {{registry, 1}},
	"SchoolUnit.property":          {{geodata, 1}},
	"SchoolUnit.placements":        {{school, 1}},
	"Placement.child":              {{registry, 1}},
	"Placement.schoolUnit":         {{school, 1}},
	"Placement.specialDiet":        {{school, 1}},
	"Placement.absences":           {{school, 1}},
	"WastePickup.invoiceRecipient": {{errands, 1}, {registry, 1}},
}

// costLimit estimates, before any resolver runs, how many calls an
// operation makes to each upstream: every field's calls times the objects
// it is resolved for, which the page sizes (first, or the default) and
// the assumed list sizes multiply down the tree. Fields that share a
// response key are merged as execution merges them, fragments expanded.
// An operation over the budget of any upstream is refused with
// COST_LIMIT_EXCEEDED and the estimate; the estimate is put in the
// response's extensions.cost when the request asks (CostHeader).
type costLimit struct {
	budgets       map[string]int
	defaultBudget int
	// calls are fieldCalls with the @resource bindings of the schema.
	calls map[string][]upstreamCall
	// paged are pagedFields with the fields bound to declared listings.
	paged map[string]bool
	// listings are the fields bound to declared listings, with their
	// paging: such a field's calls are the upstream pages a client page
	// of first records takes (declare.Page.Calls).
	listings map[string]*declare.Page
	// declared are the source declarations, for the listings' paging.
	declared *declare.Set
}

func newCostLimit(budgets map[string]int, defaultBudget int, declared *declare.Set) *costLimit {
	return &costLimit{budgets: budgets, defaultBudget: defaultBudget, calls: maps.Clone(fieldCalls), paged: maps.Clone(pagedFields), listings: map[string]*declare.Page{}, declared: declared}
}

func (*costLimit) ExtensionName() string { return "CostLimit" }

// Validate reads the schema's @resource bindings: a declared system's
// field costs one call to it per parent object.
func (c *costLimit) Validate(es graphql.ExecutableSchema) error {
	for _, def := range es.Schema().Types {
		for _, f := range def.Fields {
			key := def.Name + "." + f.Name
			d := f.Directives.ForName("resource")
			if d == nil || c.calls[key] != nil {
				continue
			}
			arg := d.Arguments.ForName("name")
			if arg == nil || arg.Value == nil {
				return fmt.Errorf("cost: %s: @resource without a name", key)
			}
			system, _, _ := strings.Cut(arg.Value.Raw, ".")
			if p := c.declared.Resource(arg.Value.Raw).Paging(); p != nil {
				c.listings[key] = p
			}
			if c.listings[key] != nil || f.Arguments.ForName(declare.ArgFirst) != nil {
				c.paged[key] = true // a listing: its page multiplies what is below
			}
			c.calls[key] = []upstreamCall{{system, 1}}
		}
	}
	return nil
}

// Estimate is an operation's estimated calls per upstream.
type Estimate map[string]int

func (c *costLimit) budget(system string) int {
	if b, ok := c.budgets[system]; ok {
		return b
	}
	return c.defaultBudget
}

// report is the estimate as clients see it: per upstream, its calls and
// its budget.
func (c *costLimit) report(e Estimate) map[string]any {
	out := make(map[string]any, len(e))
	for sys, n := range e {
		out[sys] = map[string]int{"calls": n, "budget": c.budget(sys)}
	}
	return out
}

func (c *costLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := &costMeter{calls: c.calls, paged: c.paged, listings: c.listings, frags: oc.Doc.Fragments, vars: oc.Variables}
	est := Estimate{}
	m.selection(oc.Operation.SelectionSet, 1, est, 0)
	oc.Stats.SetExtension(c.ExtensionName(), est)
	for _, sys := range slices.Sorted(maps.Keys(est)) {
		if budget := c.budget(sys); est[sys] > budget {
			err := gqlerror.Errorf("operation is estimated to make %d calls to %s, over the budget of %d per request: ask for smaller pages or fewer related records", est[sys], sys, budget)
			errcode.Set(err, CodeCostExceeded)
			err.Extensions["cost"] = c.report(est)
			return err
		}
	}
	return nil
}

// InterceptResponse adds the estimate to extensions.cost when asked.
func (c *costLimit) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp == nil || !graphql.HasOperationContext(ctx) {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	est, ok := oc.Stats.GetExtension(c.ExtensionName()).(Estimate)
	if !ok || !costRequested(oc) {
		return resp
	}
	if resp.Extensions == nil {
		resp.Extensions = map[string]any{}
	}
	resp.Extensions["cost"] = c.report(est)
	return resp
}

func costRequested(oc *graphql.OperationContext) bool {
	switch strings.ToLower(oc.Headers.Get(CostHeader)) {
	case "1", "true":
		return true
	}
	v, _ := oc.Extensions["cost"].(bool)
	return v
}

type costMeter struct {
	calls    map[string][]upstreamCall
	paged    map[string]bool
	listings map[string]*declare.Page
	frags    ast.FragmentDefinitionList
	vars     map[string]any
}

// selection adds to est the calls of set resolved for n parent objects.
func (m *costMeter) selection(set ast.SelectionSet, n int, est Estimate, nesting int) {
	if nesting > maxFragmentNesting {
		return // validation refuses fragment cycles before this runs
	}
	var keys []string
	groups := map[string][]*ast.Field{}
	m.collect(set, groups, &keys, nesting)
	for _, key := range keys {
		fields := groups[key]
		f := fields[0]
		if f.ObjectDefinition == nil || strings.HasPrefix(f.Name, "__") {
			continue // introspection reads no upstream
		}
		name := f.ObjectDefinition.Name + "." + f.Name
		for _, c := range m.calls[name] {
			calls := c.calls
			if p := m.listings[name]; p != nil {
				calls = p.Calls(m.first(f))
			}
			est[c.system] = satAdd(est[c.system], satMul(n, calls))
		}
		var child ast.SelectionSet
		for _, f := range fields {
			child = append(child, f.SelectionSet...)
		}
		if len(child) > 0 {
			m.selection(child, satMul(n, m.size(name, f)), est, nesting+1)
		}
	}
}

// collect groups the fields of set, fragments expanded, by response key,
// in order.
func (m *costMeter) collect(set ast.SelectionSet, groups map[string][]*ast.Field, keys *[]string, nesting int) {
	if nesting > maxFragmentNesting {
		return
	}
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			key := s.Alias
			if key == "" {
				key = s.Name
			}
			if _, ok := groups[key]; !ok {
				*keys = append(*keys, key)
			}
			groups[key] = append(groups[key], s)
		case *ast.InlineFragment:
			m.collect(s.SelectionSet, groups, keys, nesting+1)
		case *ast.FragmentSpread:
			if f := m.frags.ForName(s.Name); f != nil {
				m.collect(f.SelectionSet, groups, keys, nesting+1)
			}
		}
	}
}

// size is how many objects field f resolves to for each parent: its page
// for a paginated field, the assumed size of another list, else 1.
func (m *costMeter) size(name string, f *ast.Field) int {
	if m.paged[name] {
		return m.first(f)
	}
	if f.Definition == nil || f.Definition.Type.Elem == nil {
		return 1
	}
	if f.Name == "edges" && strings.HasSuffix(f.ObjectDefinition.Name, "Connection") {
		return 1 // the page of the connection's field counted them
	}
	if s, ok := listSizes[name]; ok {
		return s
	}
	return defaultListSize
}

// first is a paginated field's page size: its first, or the default.
func (m *costMeter) first(f *ast.Field) int {
	first, ok := intArg(f.ArgumentMap(m.vars)["first"])
	if !ok || first < 1 {
		return defaultPage
	}
	return min(first, maxPage)
}

func intArg(v any) (int, bool) {
	switch v := v.(type) {
	case int:
		return v, true
	case int32:
		return int(v), true
	case int64:
		return int(min(v, math.MaxInt32)), true
	case float64:
		return int(min(v, math.MaxInt32)), true
	case json.Number:
		n, err := v.Int64()
		return int(min(n, math.MaxInt32)), err == nil
	}
	return 0, false
}

// satMul multiplies without overflowing.
func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt32/b {
		return math.MaxInt32
	}
	return a * b
}

var (
	_ graphql.HandlerExtension        = (*costLimit)(nil)
	_ graphql.OperationContextMutator = (*costLimit)(nil)
	_ graphql.ResponseInterceptor     = (*costLimit)(nil)
)
