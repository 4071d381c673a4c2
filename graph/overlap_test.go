package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/rules"

	"github.com/kommungraf/kommungraf/sources/testenv"
)

// validate parses q and validates it with the rules the handler uses.
func validate(t testing.TB, q string) gqlerror.List {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return validator.ValidateWithRules(NewExecutableSchema(Config{}).Schema(), doc, validationRules(2000)())
}

func pairs(t *testing.T, q string) int {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: q})
	if err != nil {
		t.Fatal(err)
	}
	m := &shapeMeter{frags: doc.Fragments, memo: map[string]shape{}}
	c := &pairCounter{meter: m, frags: doc.Fragments, paths: map[string]int{}}
	for i, op := range doc.Operations {
		c.walk(op.SelectionSet, "#"+strconv.Itoa(i)+":", 0)
	}
	for _, f := range doc.Fragments {
		c.walk(f.SelectionSet, f.Name+":", 0)
	}
	return c.pairs
}

// TestRealDocumentsPassTheOverlapBound: the documents real clients send
// (GraphiQL's introspection, both variants, and every demo operation)
// validate as before and stay far inside the bound.
func TestRealDocumentsPassTheOverlapBound(t *testing.T) {
	docs := map[string]string{}
	for _, name := range []string{"introspection-graphiql.graphql", "introspection-all-options.graphql"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		docs[name] = string(b)
	}
	b, err := os.ReadFile(filepath.Join("operations", "demo.graphql"))
	if err != nil {
		t.Fatal(err)
	}
	docs["operations/demo.graphql"] = string(b)
	for name, q := range docs {
		if errs := validate(t, q); len(errs) != 0 {
			t.Errorf("%s: %v", name, errs)
		}
		p := pairs(t, q)
		t.Logf("%s: %d pairs", name, p)
		if p > maxOverlapPairs/10 {
			t.Errorf("%s has %d pairs, within a tenth of the bound %d expected", name, p, maxOverlapPairs)
		}
	}
}

// TestOverlapStillFindsConflicts: within the bounds, conflicting fields are
// refused as by gqlparser's own rule, also through fragments.
func TestOverlapStillFindsConflicts(t *testing.T) {
	for _, q := range []string{
		`{ errands(first: 1) { totalCount } errands(first: 2) { totalCount } }`,
		`{ x: __typename x: errands { totalCount } }`,
		`{ ...A ...B } fragment A on Query { e: errands(first: 1) { totalCount } } fragment B on Query { e: errands(first: 3) { totalCount } }`,
	} {
		errs := validate(t, q)
		if len(errs) == 0 {
			t.Errorf("%s: validated, want a conflict", q)
			continue
		}
		for _, e := range errs {
			if e.Rule != boundedOverlapRule || !strings.Contains(e.Message, "conflict") {
				t.Errorf("%s: %s (rule %s), want the overlap rule's conflict", q, e.Message, e.Rule)
			}
		}
	}
	// Reference: gqlparser's own rule finds them too.
	doc, _ := parser.ParseQuery(&ast.Source{Input: `{ errands(first: 1) { totalCount } errands(first: 2) { totalCount } }`})
	if errs := validator.ValidateWithRules(NewExecutableSchema(Config{}).Schema(), doc, rules.NewDefaultRules()); len(errs) == 0 {
		t.Fatal("gqlparser's rule finds no conflict in the reference document")
	}
}

// TestHostileDocumentsAreNotCompared: documents whose comparison would be
// quadratic are refused by the bound, with its own rule name (coded
// FIELD_LIMIT_EXCEEDED by the error presenter), and nothing else.
func TestHostileDocumentsAreNotCompared(t *testing.T) {
	nested := strings.Repeat("errands { edges { node { errandNumber } } } ", 45)
	for name, q := range map[string]string{
		"9000 × __typename":             "{" + strings.Repeat(" __typename", 9000) + " }",
		"64 × __typename (2016 pairs)":  "{" + strings.Repeat(" __typename", 64) + " }",
		"45 × a nested selection":       "{ " + nested + "}",
		"an unused fragment of repeats": "{ __typename } fragment F on Query {" + strings.Repeat(" __typename", 500) + " }",
		"repeats through spreads": "{ ...A ...A ...A ...A ...A ...A ...A ...A } fragment A on Query { ...B ...B ...B ...B ...B ...B ...B ...B } " +
			"fragment B on Query { __typename }",
	} {
		errs := validate(t, q)
		if len(errs) == 0 {
			t.Errorf("%s: validated", name)
			continue
		}
		if errs[0].Rule != overlapLimitRule {
			t.Errorf("%s: first error %q (rule %s), want the overlap bound", name, errs[0].Message, errs[0].Rule)
		}
		for _, e := range errs {
			if e.Rule == boundedOverlapRule {
				t.Errorf("%s: the overlap rule ran: %s", name, e.Message)
			}
		}
	}
	// Just inside: 63 × __typename is 1953 pairs and validates.
	if errs := validate(t, "{"+strings.Repeat(" __typename", 63)+" }"); len(errs) != 0 {
		t.Errorf("63 × __typename: %v", errs)
	}
}

// BenchmarkHostileDocument validates the 9,000-field document with the
// handler's rules and with gqlparser's defaults; ratio is defaults ÷ ours.
//
//	go test -run '^$' -bench BenchmarkHostileDocument -count 5 ./graph/
func BenchmarkHostileDocument(b *testing.B) {
	q := "{" + strings.Repeat(" __typename", 9000) + " }"
	schema := NewExecutableSchema(Config{}).Schema()
	run := func(r func() *rules.Rules) float64 {
		doc, err := parser.ParseQuery(&ast.Source{Input: q})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		validator.ValidateWithRules(schema, doc, r())
		return float64(time.Since(start))
	}
	var ours, theirs float64
	for b.Loop() {
		ours += run(validationRules(2000))
		theirs += run(rules.NewDefaultRules)
	}
	b.ReportMetric(ours/float64(b.N)/1e6, "bounded-ms/op")
	b.ReportMetric(theirs/float64(b.N)/1e6, "gqlparser-ms/op")
	b.ReportMetric(theirs/ours, "ratio")
}

// serve posts q to a handler built with the production defaults and
// returns the decoded answer.
func serve(t *testing.T, q string) (errs []struct {
	Message    string
	Extensions map[string]any
}, took time.Duration) {
	t.Helper()
	srv := NewHandler(HandlerOptions{})
	body, err := json.Marshal(map[string]any{"query": q})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	start := time.Now()
	srv.ServeHTTP(rec, req)
	took = time.Since(start)
	var out struct {
		Errors []struct {
			Message    string
			Extensions map[string]any
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("answer: %v", err)
	}
	return out.Errors, took
}

// TestValidationWorkIsBounded: documents that cost gqlparser's validation
// far more than their length, through the real handler. Each is refused
// before validation with one FIELD_LIMIT_EXCEEDED: refused inside it, the
// walker and every other rule still went over the whole document (the
// first one, grown to 1,200 operations and 5,000 fields, took 70 s of CPU,
// 10 GB and answered 887 MB), and the field-less bomb made the bound's own
// count of pairs exponential (2.8 s at 22 levels, 1 KB).
func TestValidationWorkIsBounded(t *testing.T) {
	repeat := func(n int, format string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, format, i)
		}
		return b.String()
	}
	for name, q := range map[string]string{
		// Every operation walks the fragment again.
		"200 operations × a fragment of 200 unknown fields": strings.Repeat("{...F}", 200) + "fragment F on Query {" + repeat(200, " x%[1]d") + " }",
		// Every fragment definition walks the rest of the chain.
		"a chain of field-less fragments": "{ ...C0 }" + repeat(60, " fragment C%[1]d on Query { ...C%[1]d_ }") + func() string {
			var b strings.Builder
			for i := range 60 {
				fmt.Fprintf(&b, " fragment C%d_ on Query { ...C%d }", i, i+1)
			}
			return b.String()
		}(),
		// The overlap rule compares every pair of spreads in a selection.
		"2,400 spreads side by side": "{" + strings.Repeat(" ...A ...B", 1200) + " } fragment A on Query { ...U } fragment B on Query { ...U }",
		// ... and every pair of fragments they reach.
		"65 distinct fragments": "{" + repeat(65, " ...F%[1]d") + " }" + repeat(65, " fragment F%[1]d on Query { a%[1]d: __typename }"),
	} {
		t.Run(name, func(t *testing.T) {
			errs, took := serve(t, q)
			t.Logf("%d bytes, %d errors, %v", len(q), len(errs), took)
			if len(errs) != 1 {
				t.Fatalf("%d errors, want one FIELD_LIMIT_EXCEEDED (first: %+v)", len(errs), errs[:min(len(errs), 1)])
			}
			if c := errs[0].Extensions["code"]; c != CodeFieldsExceeded {
				t.Errorf("code %v (%s), want %s", c, errs[0].Message, CodeFieldsExceeded)
			}
		})
	}
	// Within the bounds, validation answers as before. Field-less
	// fragments that each spread the next twice (2^40 spreads, no field)
	// are within them: the walker enters each fragment once per walk, and
	// the count of pairs, which expanded them all, no longer enters a
	// fragment without fields.
	for name, q := range map[string]string{
		"an unknown field":           "{ ...F } fragment F on Query { nosuchfield }",
		"a field-less fragment bomb": "{ ...F0 }\n" + testenv.FragmentBomb(40, "Query", "", "...U"),
	} {
		errs, took := serve(t, q)
		t.Logf("%s: %d errors, %v", name, len(errs), took)
		if len(errs) == 0 {
			t.Errorf("%s: validated", name)
		}
		for _, e := range errs {
			if e.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
				t.Errorf("%s: %s (%v), want GRAPHQL_VALIDATION_FAILED", name, e.Message, e.Extensions["code"])
			}
		}
	}
}

// TestRequestErrorsAreCapped: within the validation bounds, gqlparser
// still reports an unknown directive each time it walks it (19 operations
// × a fragment of 50 unknown fields with 18 unknown directives each: 3 KB
// that answered 18,000 errors, 5 MB). An answer without data keeps its
// first 100 errors and says how many more there were.
func TestRequestErrorsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString(strings.Repeat("{...F}", 19) + "fragment F on Query {")
	for i := range 50 {
		fmt.Fprintf(&b, " x%d%s", i, strings.Repeat(" @d", 18))
	}
	b.WriteString(" }")
	errs, took := serve(t, b.String())
	t.Logf("%d bytes, %d errors, %v", b.Len(), len(errs), took)
	if len(errs) != maxRequestErrors+1 {
		t.Fatalf("%d errors, want %d and one that says how many more", len(errs), maxRequestErrors+1)
	}
	last := errs[len(errs)-1]
	if !strings.HasSuffix(last.Message, "more errors not shown") || last.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
		t.Errorf("last error %q (%v)", last.Message, last.Extensions["code"])
	}
	// A few errors are answered as they are.
	if errs, _ := serve(t, "{ nosuchfield }"); len(errs) != 1 {
		t.Errorf("one unknown field: %d errors", len(errs))
	}
}
