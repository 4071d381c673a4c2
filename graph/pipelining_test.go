package graph_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/kommungraf/kommungraf/graph"
)

// TestNoBranchWaitsForAnother keeps every branch of a query free to reach its
// upstreams in the same round as its siblings.
//
// gqlgen resolves an object's fields without a resolver ("inline") one after
// another, each with its whole subtree, before it starts the fields with a
// resolver. An inline field whose subtree loads something therefore holds
// back every sibling that loads something too: with Errand.stakeholders
// inline, Q1's properties waited for the stakeholders' party lookup and
// registry calls, and Q1 took four upstream rounds instead of three (issue
// 10, item 3). So on every object, an inline field may reach a resolver only
// when it is the one field of its type that does; otherwise it is declared
// with `resolver: true` in gqlgen.yml.
func TestNoBranchWaitsForAnother(t *testing.T) {
	s := graph.NewExecutableSchema(graph.Config{}).Schema()
	resolved := resolverFields(t)
	if len(resolved) == 0 {
		t.Fatal("found no resolver fields in graph.ResolverRoot")
	}

	// loads reports whether a value of the named type has a resolver field
	// anywhere below it (cycles, such as Person.guardians, count once).
	memo := map[string]bool{}
	var loads func(name string, seen map[string]bool) bool
	loads = func(name string, seen map[string]bool) bool {
		if v, ok := memo[name]; ok {
			return v
		}
		def := s.Types[name]
		if def == nil || def.Kind != ast.Object || seen[name] {
			return false
		}
		seen[name] = true
		found := false
		for _, f := range def.Fields {
			if resolved[name][strings.ToLower(f.Name)] || loads(f.Type.Name(), seen) {
				found = true
				break
			}
		}
		memo[name] = found
		return found
	}

	var checked int
	for name, def := range s.Types {
		if def.Kind != ast.Object || strings.HasPrefix(name, "__") || def == s.Query {
			continue // the root's fields all have resolvers
		}
		var loading, inline []string
		for _, f := range def.Fields {
			switch {
			case resolved[name][strings.ToLower(f.Name)]:
				loading = append(loading, f.Name)
			case loads(f.Type.Name(), map[string]bool{}):
				loading = append(loading, f.Name)
				inline = append(inline, f.Name)
			}
		}
		checked++
		if len(inline) > 0 && len(loading) > 1 {
			slices.Sort(inline)
			t.Errorf("%s: inline field(s) %v load below them and would hold back %v; declare them `resolver: true` in gqlgen.yml",
				name, inline, loading)
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d object types", checked)
	}
	// The field that motivated the rule stays a resolver.
	if !resolved["Errand"]["stakeholders"] {
		t.Error("Errand.stakeholders has no resolver")
	}
}

// resolverFields lists, per GraphQL type, the fields that have a resolver:
// the methods of the generated XxxResolver interfaces, lower-cased.
func resolverFields(t *testing.T) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	root := reflect.TypeFor[graph.ResolverRoot]()
	for i := range root.NumMethod() {
		m := root.Method(i)
		iface := m.Type.Out(0)
		if iface.Kind() != reflect.Interface {
			t.Fatalf("ResolverRoot.%s returns %s", m.Name, iface)
		}
		fields := map[string]bool{}
		for j := range iface.NumMethod() {
			fields[strings.ToLower(iface.Method(j).Name)] = true
		}
		out[m.Name] = fields
	}
	return out
}
