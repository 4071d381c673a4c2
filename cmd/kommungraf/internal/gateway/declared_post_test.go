package gateway_test

import (
	"os"
	"strings"
	"testing"

	"github.com/kommungraf/kommungraf/cmd/kommungraf/internal/config"
	"github.com/kommungraf/kommungraf/graph/declared"
	"github.com/kommungraf/kommungraf/sources/declare"
)

// TestDeclaredPOSTSystem: the pickups declared as the simulator's search
// form (testdata/avfall-post.yaml: post with a JSON body) answer as the
// GET batch form does, all the page's properties in one POST, counted
// under the declaration's names; warm, none; an argument is a POST of its
// own (two in one document, two POSTs); with maxKeys: 4 the page's properties are split into POSTs of at
// most four.
func TestDeclaredPOSTSystem(t *testing.T) {
	w := testWorld()
	files := withDeclaration(t, "testdata/avfall-post.yaml")
	d := startDeclared(t, w, files, config.DeclaredSource{})

	properties := checkPickups(t, d, w, "post-cold")
	search := func(id string) (int64, int64) {
		c := d.gw.Sim().Stats.Request(id)["avfall"]
		if c["pickups"].Calls != 0 {
			t.Errorf("%s: %d GET batch calls: the declaration POSTs", id, c["pickups"].Calls)
		}
		return c["pickups-search"].Calls, c["pickups-search"].Keys
	}
	if properties < 5 {
		t.Fatalf("%d properties on the page: too few to split", properties)
	}
	if calls, keys := search("post-cold"); calls != 1 || keys != int64(properties) {
		t.Errorf("cold: %d searches for %d keys, want one for the page's %d properties", calls, keys, properties)
	}
	checkPickups(t, d, w, "post-warm")
	if calls, _ := search("post-warm"); calls != 0 {
		t.Errorf("warm: %d searches, want none: the record cache answers", calls)
	}
	checkPickupsOf(t, d, w, "post-mat", "MAT")
	if calls, keys := search("post-mat"); calls != 1 || keys != int64(properties) {
		t.Errorf("fraction MAT: %d searches for %d keys, want one for the page's %d properties", calls, keys, properties)
	}
	// Two fractions in one document: a POST each, never one for both.
	raw := postAs(t, d, "case-officer", "post-two", `{ errands(first: 50, caseType: "BYGGLOV") { edges { node { property {
    rest: wastePickups(fraction: REST) { fraction } paper: wastePickups(fraction: PAPPER) { fraction } } } } } }`)
	if strings.Contains(string(raw), `"errors"`) || !strings.Contains(string(raw), `"fraction":"REST"`) || !strings.Contains(string(raw), `"fraction":"PAPPER"`) {
		t.Fatalf("two fractions: %.2000s", raw)
	}
	if calls, keys := search("post-two"); calls != 2 || keys != int64(2*properties) {
		t.Errorf("two fractions: %d searches for %d keys, want two of the page's %d properties each", calls, keys, properties)
	}
	if n := metric(t, d, `kommungraf_upstream_calls_total{operation="pickups",outcome="ok",source="avfall"}`); n != "4" {
		t.Errorf("metrics count %s avfall pickups searches, want 4", n)
	}

	split := withDeclaration(t, "testdata/avfall-post.yaml")
	split[len(split)-1].Data = []byte(strings.Replace(string(split[len(split)-1].Data), "maxKeys: 100", "maxKeys: 4", 1))
	d = startDeclared(t, w, split, config.DeclaredSource{})
	checkPickups(t, d, w, "post-split")
	if calls, keys := search("post-split"); calls != int64((properties+3)/4) || keys != int64(properties) {
		t.Errorf("maxKeys 4: %d searches for %d keys, want %d for the page's %d properties", calls, keys, (properties+3)/4, properties)
	}
}

// TestStartRefusesBadPOSTDeclarations: a POST without a body, a
// placeholder inside a text of the body, a parent field the type does not
// have or that is a resolver's, and one the generated resolvers do not
// pass each stop the start, located in the declaration or the schema.
func TestStartRefusesBadPOSTDeclarations(t *testing.T) {
	decl, err := os.ReadFile("testdata/avfall-post.yaml")
	if err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []declare.File {
		if !strings.Contains(string(decl), old) {
			t.Fatalf("the declaration has no %q", old)
		}
		return withFile(declared.Files(), "schema/avfall.yaml", []byte(strings.Replace(string(decl), old, new, 1)))
	}
	const body = `body: { propertyIds: "{keys}", fraction: "{args.fraction}" }`
	for _, tc := range []startCase{{
		name:         "a post without a body",
		declarations: replace("        "+body+"\n", ""),
		want:         []string{"source declarations: ", "schema/avfall.yaml:19: resource avfall.pickups.http.batch: a POST needs its body"},
	}, {
		name:         "a placeholder inside a text",
		declarations: replace(body, `body: { propertyIds: "a{keys}", fraction: "{args.fraction}" }`),
		want:         []string{`schema/avfall.yaml:21: resource avfall.pickups.http.batch.body.propertyIds "a{keys}": a placeholder is a whole value`},
	}, {
		name:         "a parent field the type does not have",
		declarations: replace(body, `body: { propertyIds: "{keys}", fraction: "{args.fraction}", area: "{parent.nope}" }`),
		want:         []string{"schema/avfall.graphqls:", "Property.wastePickups: resource avfall.pickups's call (schema/avfall.yaml:19) uses {parent.nope}, but Property has no field nope"},
	}, {
		name:         "a parent field that is a resolver's",
		declarations: replace(body, `body: { propertyIds: "{keys}", fraction: "{args.fraction}", area: "{parent.wastePickups}" }`),
		want:         []string{"uses {parent.wastePickups}, but Property.wastePickups is a resolver's field"},
	}, {
		name:         "a parent field the generated resolvers do not pass",
		declarations: replace(body, `body: { propertyIds: "{keys}", fraction: "{args.fraction}", area: "{parent.designation}" }`),
		want:         []string{"schema/avfall.yaml:19: resource avfall.pickups's call uses {parent.designation}, which the generated resolvers do not pass", "run go generate"},
	}} {
		t.Run(tc.name, func(t *testing.T) { failStart(t, tc) })
	}
}
