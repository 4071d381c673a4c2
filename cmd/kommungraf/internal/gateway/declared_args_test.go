package gateway_test

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestDeclaredArgumentReachesTheSystem: Property.wasteCollections(fraction:)
// passes its argument to the emptyings register (schema/tomningar.yaml:
// ?fraction={args.fraction}) under the production configuration. The page
// holds that fraction's emptyings only, in the system's order, counted as
// the system counts them; each fraction is its own upstream call and its
// own record-cache entry (warm, the same fraction makes no call, another
// does);
// a value that is not a fraction is refused before any call.
func TestDeclaredArgumentReachesTheSystem(t *testing.T) {
	d := startDemo(t, nil, 0, false) // the demo: record cache on
	designation, all := richestProperty(t)
	count := map[string]int{}
	for _, c := range all {
		count[c.Fraction]++
	}
	var fractions []string
	for _, f := range []string{"MAT", "REST", "PAPPER", "PLAST", "GLAS", "METALL", "TRADGARD"} {
		if count[f] > 0 && count[f] < len(all) && len(fractions) < 2 {
			fractions = append(fractions, f)
		}
	}
	if len(fractions) < 2 {
		t.Fatalf("the richest property's emptyings are of %v: two fractions are wanted", count)
	}
	page := func(id, args string) collectionsPage {
		t.Helper()
		var r collectionsPage
		raw := postAs(t, d, "case-officer", id, collectionsQuery(designation, args))
		if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) > 0 || r.Data.Property.WasteCollections == nil {
			t.Fatalf("%s: %s (%v)", args, raw, err)
		}
		return r
	}
	calls := func(id string) int64 { return d.gw.Sim().Stats.Request(id)["avfall"]["collections"].Calls }
	for i, fraction := range fractions {
		var want []string
		for _, c := range all {
			if c.Fraction == fraction {
				want = append(want, c.ID)
			}
		}
		if len(want) == 0 || len(want) == len(all) {
			t.Fatalf("%s: %d of %d emptyings: the filter would show nothing", fraction, len(want), len(all))
		}
		id := fmt.Sprintf("fraction-%d", i)
		c := page(id, fmt.Sprintf("(first: 100, fraction: %s)", fraction)).Data.Property.WasteCollections
		var got []string
		for _, e := range c.Edges {
			if e.Node.Fraction != fraction {
				t.Fatalf("%s: a %s emptying on the page", fraction, e.Node.Fraction)
			}
			got = append(got, e.Node.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want[:min(100, len(want))]) || c.TotalCount == nil || *c.TotalCount != len(want) {
			t.Fatalf("%s: %d emptyings (total %v), want %d", fraction, len(got), c.TotalCount, len(want))
		}
		if n := calls(id); n == 0 {
			t.Errorf("%s, cold: no upstream call", fraction)
		}
		page(id+"-warm", fmt.Sprintf("(first: 100, fraction: %s)", fraction))
		if n := calls(id + "-warm"); n != 0 {
			t.Errorf("%s, warm: %d upstream calls, want none", fraction, n)
		}
	}
	// Without the argument: every fraction, a window of its own.
	c := page("fraction-none", "(first: 100)").Data.Property.WasteCollections
	if c.TotalCount == nil || *c.TotalCount != len(all) || calls("fraction-none") == 0 {
		t.Fatalf("no fraction: total %v of %d after %d calls", c.TotalCount, len(all), calls("fraction-none"))
	}
	// Not a fraction: the document is refused, nothing is asked.
	for i, args := range []string{`(fraction: "../MAT")`, `(fraction: PAPER)`, `(fraction: "MAT&x=1")`} {
		id := fmt.Sprintf("fraction-bad-%d", i)
		raw := postCoded(t, d, "case-officer", id, collectionsQuery(designation, args))
		var r collectionsPage
		if err := json.Unmarshal(raw, &r); err != nil || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("%s: %s", args, raw)
		}
		if n := calls(id); n != 0 {
			t.Errorf("%s: %d upstream calls", args, n)
		}
	}
}
