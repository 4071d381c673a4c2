package gateway_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kommungraf/kommungraf/sources/testenv"
)

// realIntrospection is the exact text a real client sends on page load.
func realIntrospection(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "graph", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestRealClientsIntrospect sends the introspection queries that GraphiQL
// (the bundled version, byte for byte) and graphql-js with every option on
// (graphql-codegen, Apollo Sandbox, Insomnia, Postman) send, in the shipped
// configuration with authorization on, every persona at once: those the
// policy lets introspect get the whole schema, the others FORBIDDEN.
func TestRealClientsIntrospect(t *testing.T) {
	d := newSecureDemo(t)
	queries := map[string]string{
		"graphiql":    realIntrospection(t, "introspection-graphiql.graphql"),
		"all-options": realIntrospection(t, "introspection-all-options.graphql"),
	}
	for client, q := range queries {
		for _, tc := range []struct {
			persona string
			allowed bool
		}{
			{"analyst", true}, {"case-officer", true}, {"preschool-admin", true},
			{"social-secretary", true}, {"security-officer", true},
			{"open-data", false}, {"", false},
		} {
			t.Run(client+"/"+nameOr(tc.persona, "anonymous"), func(t *testing.T) {
				t.Parallel()
				v := d
				if tc.persona != "" {
					v = d.as(t, tc.persona)
				}
				r := v.operation(t, "IntrospectionQuery", q)
				if refusedFreeForm(t, tc.persona, r) {
					return
				}
				if !tc.allowed {
					assertPaths(t, forbiddenPaths(t, r), []string{"__schema"})
					return
				}
				mustNoErrors(t, r)
				var data struct {
					Schema struct {
						QueryType struct{ Name string } `json:"queryType"`
						Types     []struct {
							Name   string
							Fields []struct{ Name string }
						}
						Directives []struct{ Name string }
					} `json:"__schema"`
				}
				if err := json.Unmarshal(r.Data, &data); err != nil {
					t.Fatal(err)
				}
				if data.Schema.QueryType.Name != "Query" {
					t.Fatalf("queryType %q", data.Schema.QueryType.Name)
				}
				fields := map[string]bool{}
				for _, ty := range data.Schema.Types {
					for _, f := range ty.Fields {
						fields[ty.Name+"."+f.Name] = true
					}
				}
				for _, want := range []string{"Query.person", "Query.errands", "Query.schoolUnits", "Person.guardians", "Placement.specialDiet", "Errand.stakeholders"} {
					if !fields[want] {
						t.Errorf("introspection lacks %s", want)
					}
				}
			})
		}
	}
}

// TestIntrospectionStaysBounded: the exemption from the depth limit is only
// for introspection's own type-reference chain; depth, aliases, tokens and
// fragment fan-out stay bounded for the callers allowed to introspect.
func TestIntrospectionStaysBounded(t *testing.T) {
	secure := newSecureDemo(t)
	d := secure.as(t, "analyst")
	bomb := "query Bomb { __schema { ...F0 } }\n" + testenv.FragmentBomb(40, "__Schema", "t%d: types { name }", "queryType { name }")
	// The same on Query without an alias, sent anonymously: before the
	// field limit, gqlgen's complexity walk expanded it spread by spread
	// (25 levels kept a core busy for 8 s after the client gave up).
	plain := "query Bomb { ...F0 }\n" + testenv.FragmentBomb(40, "Query", "", "__typename")
	// Full schema walks under one alias each: 5.6 KB that answered 13.5 MB.
	var walks strings.Builder
	walks.WriteString("query Walks { __schema { ")
	for i := range 49 {
		fmt.Fprintf(&walks, "a%d: types { ...T } ", i)
	}
	walks.WriteString("} }\nfragment T on __Type { name kind fields(includeDeprecated: true) { name type { name ofType { name } } } }")
	for _, tc := range []struct {
		name, query, code string
	}{
		{"ofType 25 deep", "query Deep { __type(name: \"Person\") { " + strings.Repeat("ofType { ", 25) + "name" + strings.Repeat(" }", 25) + " } }", "DEPTH_LIMIT_EXCEEDED"},
		{"data nested under an introspecting request", "query Mixed { __schema { queryType { name } } person(personalNumber: \"191212121212\") { " + strings.Repeat("guardians { ", 12) + "givenName" + strings.Repeat(" }", 12) + " } }", "DEPTH_LIMIT_EXCEEDED"},
		{"aliased introspection", "query Many { __schema { " + aliasedTypes(60) + " } }", "ALIAS_LIMIT_EXCEEDED"},
		{"fragments spread twice at 40 levels", bomb, "FIELD_LIMIT_EXCEEDED"}, // refused before validation compares its fields
		{"one field 9000 times (5 s of gqlparser's overlap rule)", "query Same {" + strings.Repeat(" __typename", 9000) + " }", "FIELD_LIMIT_EXCEEDED"},
		{"one field 64 times, 2016 pairs to compare", "query Pairs {" + strings.Repeat(" __typename", 64) + " }", "FIELD_LIMIT_EXCEEDED"},
		{"fragments spread twice at 40 levels, no alias", plain, "FIELD_LIMIT_EXCEEDED"},
		{"49 aliased walks of the schema", walks.String(), "ALIAS_LIMIT_EXCEEDED"},
		// Every operation walks the fragment again in validation: at 1,200
		// operations and 5,000 fields, 70 s of CPU and an 887 MB answer.
		{"400 operations spreading one fragment of 400 unknown fields", strings.Repeat("{...F}", 400) + "fragment F on Query {" + strings.Repeat(" x", 400) + " }", "FIELD_LIMIT_EXCEEDED"},
		{"over the token limit", "query Long { __schema { " + strings.Repeat("queryType { name } ", 4000) + " } }", "GRAPHQL_PARSE_FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := d.query(t, tc.query)
			if anon := secure.query(t, tc.query); tc.code == "FIELD_LIMIT_EXCEEDED" && anon.raw != r.raw {
				t.Fatalf("anonymous callers get another answer: %s", anon.raw)
			}
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != tc.code || string(r.Data) != "null" && len(r.Data) != 0 {
				t.Fatalf("want one %s and no data, got %s", tc.code, r.raw)
			}
		})
	}
}

func aliasedTypes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "t%d: types { name } ", i)
	}
	return b.String()
}

// BenchmarkIntrospection measures what GraphiQL's page load costs the
// gateway: the bundled GraphiQL's introspection query, byte for byte, as
// the analyst, in the shipped configuration (authorization on). It reports
// the median latency and the response size.
//
//	go test -run '^$' -bench BenchmarkIntrospection -benchtime 200x ./cmd/kommungraf/internal/gateway/
func BenchmarkIntrospection(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "graph", "testdata", "introspection-graphiql.graphql"))
	if err != nil {
		b.Fatal(err)
	}
	d := newSecureDemo(b).as(b, "analyst")
	lat := make([]time.Duration, 0, b.N)
	size := 0
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		r := d.operation(b, "IntrospectionQuery", string(raw))
		lat = append(lat, time.Since(start))
		if len(r.Errors) > 0 {
			b.Fatalf("errors: %s", r.raw)
		}
		size = len(r.raw)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(size)/1024, "response-KiB")
}
