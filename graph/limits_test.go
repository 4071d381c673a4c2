package graph

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/kommungraf/kommungraf/sources/testenv"
)

// checkShape parses and validates q against the served schema, as the
// handler does, and runs the shape limit with the shipped defaults.
func checkShape(t *testing.T, q string) *gqlerror.Error {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(NewExecutableSchema(Config{}).Schema(), q)
	if errs != nil {
		t.Fatalf("query does not validate: %v", errs)
	}
	oc := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]}
	return shapeLimit{maxDepth: 12, maxIntrospectionDepth: 20, maxAliases: 50, maxFields: 2000}.MutateOperationContext(context.Background(), oc)
}

func code(err *gqlerror.Error) string {
	if err == nil {
		return ""
	}
	c, _ := err.Extensions["code"].(string)
	return c
}

// nest wraps leaf in n levels of field.
func nest(field string, n int, leaf string) string {
	return strings.Repeat(field+" { ", n) + leaf + strings.Repeat(" }", n)
}

func TestShapeLimits(t *testing.T) {
	introspection := func(name string) string {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	aliases := func(n int) string {
		var b strings.Builder
		b.WriteString("{ ")
		for i := range n {
			fmt.Fprintf(&b, "u%d: schoolUnit(code: \"12345678\") { name } ", i)
		}
		return b.String() + "}"
	}
	// Each fragment spreads the next twice: 2^40 spreads of the last one.
	bomb := "{ ...F0 }\n" + testenv.FragmentBomb(40, "Query", "a%d: __typename", "x: __typename")
	// The same without aliases: 2^40 fields once expanded, which gqlgen's
	// complexity walk would expand one by one.
	plain := "{ ...F0 }\n" + testenv.FragmentBomb(40, "Query", "", "__typename")
	chain := func(n int) string {
		var b strings.Builder
		b.WriteString("{ ...C0 }\n")
		for i := range n {
			fmt.Fprintf(&b, "fragment C%d on Query { ...C%d }\n", i, i+1)
		}
		fmt.Fprintf(&b, "fragment C%d on Query { __typename }\n", n)
		return b.String()
	}

	for _, tc := range []struct {
		name, query, want string
	}{
		// graphql-js getIntrospectionQuery with every option on: 15 levels.
		{"introspection, all options", introspection("introspection-all-options.graphql"), ""},
		// The bundled GraphiQL's own page-load query, byte for byte.
		{"introspection, GraphiQL", introspection("introspection-graphiql.graphql"), ""},
		{"data at the depth limit", "{ person(personalNumber: \"191212121212\") { " + nest("guardians", 10, "givenName") + " } }", ""},
		{"data one level too deep", "{ person(personalNumber: \"191212121212\") { " + nest("guardians", 11, "givenName") + " } }", CodeDepthExceeded},
		{"introspection does not lift the data limit", "{ __typename person(personalNumber: \"191212121212\") { " + nest("guardians", 11, "givenName") + " } __schema { queryType { name } } }", CodeDepthExceeded},
		{"introspection 20 deep", "{ __type(name: \"Person\") { " + nest("ofType", 18, "name") + " } }", ""},
		{"introspection 21 deep", "{ __type(name: \"Person\") { " + nest("ofType", 19, "name") + " } }", CodeDepthExceeded},
		{"50 aliases", aliases(50), ""},
		{"51 aliases", aliases(51), CodeAliasExceeded},
		{"an alias inside introspection", "{ __schema { " + aliasList(1) + " } }", CodeAliasExceeded},
		{"an alias inside __type", "{ __type(name: \"Person\") { n: name } }", CodeAliasExceeded},
		{"aliased root __type lookups count as data aliases", "{ a: __type(name: \"Person\") { name } b: __type(name: \"Errand\") { name } }", ""},
		{"fragment spread twice at each of 40 levels, with an alias", bomb, CodeAliasExceeded},
		{"fragment spread twice at each of 40 levels", plain, CodeFieldsExceeded},
		{"2000 fields expanded", "{ " + strings.Repeat("__typename ", 2000) + "}", ""},
		{"2001 fields expanded", "{ " + strings.Repeat("__typename ", 2001) + "}", CodeFieldsExceeded},
		{"64 fragments inside each other", chain(63), ""},
		{"65 fragments inside each other", chain(65), CodeDepthExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkShape(t, tc.query)
			if got := code(err); got != tc.want {
				t.Fatalf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func aliasList(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "t%d: types { name } ", i)
	}
	return b.String()
}

// TestListingComplexity: every field bound to a declared listing has the
// complexity of a connection, its page times what is below it, as the
// hand-written connections have; none is left at gqlgen's default.
func TestListingComplexity(t *testing.T) {
	var c ComplexityRoot
	setComplexity(&c)
	seen := 0
	for _, def := range parsedSchema.Types {
		for _, f := range def.Fields {
			if f.Directives.ForName("resource") == nil || f.Arguments.ForName("first") == nil {
				continue
			}
			seen++
			fn, ok := complexityFunc(&c, def.Name, f.Name)
			if !ok {
				t.Errorf("%s.%s: no complexity func set", def.Name, f.Name)
				continue
			}
			hundred := 100
			if got := fn(5, &hundred, nil); got != 501 {
				t.Errorf("%s.%s(first: 100) over 5: complexity %d, want 501", def.Name, f.Name, got)
			}
			if got := fn(5, nil, nil); got != 1+defaultPage*5 {
				t.Errorf("%s.%s over 5: complexity %d, want %d", def.Name, f.Name, got, 1+defaultPage*5)
			}
		}
	}
	if seen == 0 {
		t.Fatal("the schema has no field bound to a declared listing")
	}
}

// complexityFunc finds the generated complexity func of typ.field.
func complexityFunc(c *ComplexityRoot, typ, field string) (func(int, *int, *string) int, bool) {
	v := reflect.ValueOf(c).Elem().FieldByName(typ)
	if !v.IsValid() {
		return nil, false
	}
	v = v.FieldByName(strings.ToUpper(field[:1]) + field[1:])
	if !v.IsValid() || v.IsNil() {
		return nil, false
	}
	if fn, ok := v.Interface().(func(int, *int, *string) int); ok {
		return fn, true
	}
	// A listing with arguments of its own: they are nil here.
	t := v.Type()
	if t.NumIn() < 3 || t.In(0) != reflect.TypeFor[int]() || t.In(1) != reflect.TypeFor[*int]() || t.In(2) != reflect.TypeFor[*string]() {
		return nil, false
	}
	return func(child int, first *int, after *string) int {
		in := []reflect.Value{reflect.ValueOf(child), reflect.ValueOf(first), reflect.ValueOf(after)}
		for i := 3; i < t.NumIn(); i++ {
			in = append(in, reflect.Zero(t.In(i)))
		}
		return int(v.Call(in)[0].Int())
	}, true
}
