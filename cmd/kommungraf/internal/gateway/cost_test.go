package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// costRequest posts body (a JSON request) with header set, as auth.
func (d *demo) costRequest(t *testing.T, body string, header map[string]string) (int, response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.srv.URL+"/graphql", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	if d.auth != "" {
		req.Header.Set("Authorization", d.auth)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r response
	var ext struct {
		Extensions map[string]any `json:"extensions"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	_ = json.Unmarshal(raw, &ext)
	r.raw = string(raw)
	return resp.StatusCode, r, ext.Extensions
}

func queryBody(q string) string {
	b, _ := json.Marshal(map[string]any{"query": q})
	return string(b)
}

// cost is extensions.cost as the gateway writes it: calls and budget per upstream.
func cost(calls map[string]int, budgets map[string]int) map[string]any {
	out := map[string]any{}
	for sys, n := range calls {
		out[sys] = map[string]any{"calls": float64(n), "budget": float64(budgets[sys])}
	}
	return out
}

var defaultBudgets = map[string]int{"folkbokforing": 2000, "etjanst": 5000, "geodata": 5000, "skoldatabas": 5000, "avfall": 5000}

// TestCostOfTheDemoQueries: Q1 and Q2 are within the default budgets, and
// their estimates are in extensions.cost when asked for by header or by
// the request's extensions, not otherwise.
func TestCostOfTheDemoQueries(t *testing.T) {
	d := newSecureDemo(t)
	for _, tc := range []struct {
		name, persona, query string
		calls                map[string]int
	}{
		// 50 errands (1 list call); their 50 properties and owners; 3
		// stakeholders each, a party lookup and a registry call per person.
		{"Q1", "case-officer", q1, map[string]int{"etjanst": 151, "geodata": 100, "folkbokforing": 150}},
		// 20 units (1 list call), their properties and placement pages (20
		// each); 30 placements per unit: a diet and a child each, and the
		// child's 2 guardians: 600 + 1200 registry calls.
		{"Q2", "preschool-admin", q2, map[string]int{"skoldatabas": 621, "geodata": 20, "folkbokforing": 1800}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := d.as(t, tc.persona)
			want := cost(tc.calls, defaultBudgets)
			status, r, ext := v.costRequest(t, queryBody(tc.query), map[string]string{"X-Kommungraf-Cost": "1"})
			forbiddenPaths(t, r) // protected persons' fields only
			if status != http.StatusOK || !reflect.DeepEqual(ext["cost"], want) {
				t.Fatalf("status %d, extensions.cost %v\n want %v", status, ext["cost"], want)
			}
			body := `{"query":` + strings.TrimPrefix(queryBody(tc.query), `{"query":`)
			body = strings.TrimSuffix(body, "}") + `,"extensions":{"cost":true}}`
			if _, r, ext := v.costRequest(t, body, nil); !reflect.DeepEqual(ext["cost"], want) {
				t.Fatalf("by request extension: extensions.cost %v, errors %v", ext["cost"], r.Errors)
			} else {
				forbiddenPaths(t, r)
			}
			if _, _, ext := v.costRequest(t, queryBody(tc.query), nil); ext["cost"] != nil {
				t.Fatalf("extensions.cost %v without asking", ext["cost"])
			}
		})
	}
}

// TestCostBoundsBeforeAnyCall: 500 aliases of person(...) and a family
// tree over the registry's budget are refused before any upstream call
// (the simulators' counters stay at zero), with the estimate.
func TestCostBoundsBeforeAnyCall(t *testing.T) {
	d := newSecureDemo(t).as(t, "social-secretary")
	pnr := testWorld().People[0].PersonalNumber
	aliases := func(n int, sel string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " p%d: person(personalNumber: %q) %s", i, pnr, sel)
		}
		return b.String() + " }"
	}
	for _, tc := range []struct {
		name, query, code string
		cost              map[string]any
	}{
		{"500 aliases of person", aliases(500, "{ givenName }"), "ALIAS_LIMIT_EXCEEDED", nil},
		// 50 x (1 + 4 children + 8 of their guardians + 32 of their children).
		{"50 family trees", aliases(50, "{ children { guardians { children { givenName } } } }"), "COST_LIMIT_EXCEEDED",
			cost(map[string]int{"folkbokforing": 2250}, defaultBudgets)},
		// 100 errands of 3 stakeholders, each with 5 errands of 3 more.
		{"errands of stakeholders", `{ errands(first: 100) { edges { node { stakeholders { person { errands { stakeholders { person { givenName } } } } } } } } }`, "COST_LIMIT_EXCEEDED",
			cost(map[string]int{"etjanst": 1 + 300 + 600 + 4500, "folkbokforing": 300 + 4500}, defaultBudgets)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.gw.Sim().Stats.Reset()
			status, r, _ := d.costRequest(t, queryBody(tc.query), nil)
			if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != tc.code || string(r.Data) != "null" {
				t.Fatalf("status %d: %s", status, r.raw)
			}
			if tc.cost != nil && !reflect.DeepEqual(r.Errors[0].Extensions["cost"], tc.cost) {
				t.Fatalf("estimate %v\n want %v", r.Errors[0].Extensions["cost"], tc.cost)
			}
			for sys, ops := range d.gw.Sim().Stats.Snapshot() {
				for op, c := range ops {
					if c.Calls != 0 {
						t.Errorf("%s %s called %d times before the refusal", sys, op, c.Calls)
					}
				}
			}
		})
	}
}

// TestValidationErrorsHideTheSchema: gqlparser's suggestions name fields,
// arguments, types and enum values; only callers who may introspect (the
// analyst in GraphiQL) get them. The messages are exact.
func TestValidationErrorsHideTheSchema(t *testing.T) {
	d := newSecureDemo(t)
	for _, tc := range []struct {
		kind, query, bare, hint string
	}{
		{"field", `{ person(personalNumber: "191212121212") { givenNam } }`,
			`Cannot query field "givenNam" on type "Person".`, ` Did you mean "givenName"?`},
		{"argument", `{ person(personalNumbr: "191212121212") { givenName } }`,
			`Unknown argument "personalNumbr" on field "Query.person".`, ` Did you mean "personalNumber"?`},
		{"enum value", `{ errands(status: DECIDD) { totalCount } }`,
			`Value "DECIDD" does not exist in "ErrandStatus" enum.`, ` Did you mean the enum value "DECIDED"?`},
		{"enum value as a string", `{ errands(status: "DECIDED") { totalCount } }`,
			`Enum "ErrandStatus" cannot represent non-enum value: "DECIDED".`, ` Did you mean the enum value "DECIDED" or "RECEIVED"?`},
		{"type", `{ person(personalNumber: "191212121212") { ...F } } fragment F on Persn { givenName }`,
			`Unknown type "Persn".`, ` Did you mean "Person"?`},
		{"inline fragment's field", `{ schoolUnits { edges { node { ... on SchoolUnit { nam } } } } }`,
			`Cannot query field "nam" on type "SchoolUnit".`, ` Did you mean "name"?`},
	} {
		for _, who := range []struct {
			persona string
			hinted  bool
		}{{"", false}, {"open-data", false}, {"analyst", true}} {
			t.Run(tc.kind+"/"+nameOr(who.persona, "anonymous"), func(t *testing.T) {
				v := d
				if who.persona != "" {
					v = d.as(t, who.persona)
				}
				r := v.query(t, tc.query)
				if refusedFreeForm(t, who.persona, r) {
					return // refused before the schema is consulted: nothing of it shows
				}
				if len(r.Errors) == 0 || r.Errors[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
					t.Fatalf("%s", r.raw)
				}
				want := tc.bare
				if who.hinted {
					want += tc.hint
				}
				if r.Errors[0].Message != want {
					t.Fatalf("message %q\n want %q", r.Errors[0].Message, want)
				}
				for _, e := range r.Errors {
					if !who.hinted && strings.Contains(e.Message, "Did you mean") {
						t.Fatalf("a suggestion for a caller who may not see the schema: %q", e.Message)
					}
				}
			})
		}
	}
}
